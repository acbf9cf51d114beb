// symphony/algorithms/gather_binomial.hpp: gather up a binomial tree.
//
// Each rank starts a block with its own value, appends its children's blocks smallest subtree
// first (each child's block covers the next contiguous relative ranks), and sends the block to its
// parent. The root ends with every value in relative-rank order. Values may differ in size: a
// block is a sequence of length-prefixed segments (detail/segments.hpp).
// Cost for p ranks of m bytes each: ceil(log2 p) rounds; a rank whose subtree spans s ranks sends
// s * m bytes once, so the root receives (p - 1) * m and the total moved is about
// (m * p / 2) * log2 p; every byte is copied once per tree level into the growing block.
#pragma once

#include <cstddef>
#include <vector>

#include "../detail/segments.hpp"
#include "binomial_tree.hpp"

namespace symphony::algorithms {

/// Every rank passes its own encoded value. The root's `block` becomes `size()` segments, segment
/// i holding the value of relative rank i (absolute rank (root + i) % size); others' is emptied.
/// Its capacity is reused: a caller that keeps it between calls allocates nothing.
template <class Context>
void gather_binomial(Context& ctx, int root, const std::byte* data, std::size_t size,
                     std::vector<std::byte>& block) {
  const binomial_tree tree(ctx.size(), root);
  const int me = ctx.rank();
  block.clear();
  detail::append_segment(block, data, size);
  for (const int child : tree.children(me)) {
    const auto message = ctx.receive(child, 0);
    block.insert(block.end(), message.data(), message.data() + message.size());
  }
  if (me != root) {
    ctx.send(tree.parent(me), 0, block.data(), block.size());
    block.clear();
  }
}

}  // namespace symphony::algorithms
