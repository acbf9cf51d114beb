// symphony/algorithms/broadcast_binomial.hpp: broadcast down a binomial tree.
//
// Every rank but the root receives the payload once from its parent, then forwards it to its own
// children, largest subtree first so that the deepest branch starts earliest.
// Cost for p ranks and m bytes: ceil(log2 p) rounds; every non-root receives m bytes once,
// (p - 1) * m bytes in all; the root sends ceil(log2 p) * m. Best for short messages (latency
// bound); long messages want scatter + allgather (see the performance notes).
#pragma once

#include <cstddef>
#include <optional>

#include "binomial_tree.hpp"

namespace symphony::algorithms {

/// At the root, `data`/`size` is the payload and the result is empty. Elsewhere `data` is ignored
/// and the result is the message received from the parent (already forwarded to the children).
template <class Context>
auto broadcast_binomial(Context& ctx, int root, const std::byte* data, std::size_t size)
    -> std::optional<decltype(ctx.receive(0, 0))> {
  const binomial_tree tree(ctx.size(), root);
  std::optional<decltype(ctx.receive(0, 0))> received;
  if (ctx.rank() != root) received.emplace(ctx.receive(tree.parent(ctx.rank()), 0));
  for (const int child : tree.children_deepest_first(ctx.rank())) {
    if (received)
      ctx.forward(child, 0, *received);  // shares the received buffer: no copy per child
    else
      ctx.send(child, 0, data, size);
  }
  return received;
}

}  // namespace symphony::algorithms
