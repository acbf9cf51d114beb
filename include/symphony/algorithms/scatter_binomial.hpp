// symphony/algorithms/scatter_binomial.hpp: scatter down a binomial tree.
//
// The root holds one block of `size()` length-prefixed segments in relative-rank order. Every rank
// receives from its parent the block of its whole subtree (a contiguous range of relative ranks),
// keeps the first segment, and sends each child the slice covering the child's subtree, largest
// subtree first.
// Cost for p ranks of m bytes each: ceil(log2 p) rounds; a rank whose subtree spans s ranks
// receives s * m bytes once; the root sends (p - 1) * m, the total moved is about
// (m * p / 2) * log2 p. No rank but the root copies a payload: slices are sent from the buffer
// they arrived in.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "../detail/segments.hpp"
#include "binomial_tree.hpp"

namespace symphony::algorithms {

/// At the root, `block`/`size` holds the segments of every relative rank; elsewhere it is ignored.
/// `take_own(data, size)` is called on every rank with its own value's bytes. `segments` is
/// scratch (overwritten): a caller that keeps it between calls allocates nothing.
template <class Context, class TakeOwn>
void scatter_binomial(Context& ctx, int root, const std::byte* block, std::size_t size,
                      TakeOwn&& take_own, std::vector<detail::segment>& segments) {
  const binomial_tree tree(ctx.size(), root);
  const int me = ctx.rank();
  std::optional<decltype(ctx.receive(0, 0))> received;
  if (me != root) {
    received.emplace(ctx.receive(tree.parent(me), 0));
    block = received->data();
    size = received->size();
  }
  // This rank's block covers relative ranks [v, v + span): segment i belongs to relative v + i.
  const auto span = static_cast<std::size_t>(tree.span(me));
  if (!detail::split_segments(block, size, span, segments))
    ctx.fail(me == root ? me : tree.parent(me),
             "received a scatter block that is not " + std::to_string(span) + " values");

  const int v = tree.relative(me);
  for (const int child : tree.children_deepest_first(me)) {
    const auto first = static_cast<std::size_t>(tree.relative(child) - v);
    const auto last = first + static_cast<std::size_t>(tree.span(child)) - 1;
    ctx.send(child, 0, block + segments[first].offset,
             segments[last].end() - segments[first].offset);
  }
  take_own(segments.front().data, segments.front().size);
}

}  // namespace symphony::algorithms
