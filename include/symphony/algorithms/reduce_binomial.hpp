// symphony/algorithms/reduce_binomial.hpp: reduce up a binomial tree.
//
// Each rank combines its children's partial results into its own value, smallest subtree first,
// then sends the result to its parent. Because a subtree is a contiguous range of relative ranks
// and children are taken in order, every partial result is `x[v] op x[v+1] op ... op x[v+span-1]`
// in relative-rank order. For an operator that may not be commutative the tree is therefore
// rooted at rank 0 (relative = absolute order, as MPI requires) and the result takes one extra
// hop from rank 0 to the root; a commutative operator roots the tree at the root directly.
// Cost for p ranks and m bytes: ceil(log2 p) rounds (+1 for a non-commutative operator and a root
// other than 0); every rank but the tree's root sends m bytes once, (p - 1) * m in all, and p - 1
// combinations are computed, at most ceil(log2 p) by any one rank.
#pragma once

#include <utility>

#include "../detail/serialization.hpp"
#include "binomial_tree.hpp"
#include "context.hpp"

namespace symphony::algorithms {

/// Leaves the reduction in the root's `value`; the other ranks' `value` is left holding their
/// subtree's partial result (whatever they sent on). Reduces in place: no copy of `value`.
/// `combine(acc, later, from)` must set acc = acc op later; `from` is the rank `later` came from,
/// for error messages.
template <class Context, class T, class Combine>
void reduce_binomial_in_place(Context& ctx, int root, T& value, Combine&& combine,
                              bool commutative) {
  const int me = ctx.rank();
  const int tree_root = commutative ? root : 0;
  const binomial_tree tree(ctx.size(), tree_root);

  T incoming{};
  for (const int child : tree.children(me)) {
    const auto message = ctx.receive(child, 0);
    if constexpr (combines_payload_v<Combine, T>) {
      combine(value, message.data(), message.size(), false, child);  // in place
    } else {
      decode_from(ctx, message, child, incoming);
      combine(value, incoming, child);
    }
  }
  if (me != tree_root) {
    const auto bytes = detail::encode_value(value);
    ctx.send(tree.parent(me), 0, bytes.data(), bytes.size());
  } else if (me != root) {
    const auto bytes = detail::encode_value(value);
    ctx.send(root, 1, bytes.data(), bytes.size());
  }
  if (me == root && me != tree_root) {
    const auto message = ctx.receive(tree_root, 1);
    decode_from(ctx, message, tree_root, value);
  }
}

}  // namespace symphony::algorithms
