// symphony/algorithms/broadcast_scatter_allgather.hpp: broadcast of a long payload as a scatter
// followed by an allgather (van de Geijn; Barnett et al., 1994).
//
// The payload's m bytes are cut into p - 1 nearly equal chunks, one for each non-root: chunk c
// belongs to relative rank c = 1 .. p - 1 (relative = (rank - root) mod p). A binomial scatter
// (binomial_tree.hpp) gives every rank the chunks of its subtree in one message per tree edge,
// the root sending slices of its own buffer, m bytes in all. A ring allgather among the non-roots
// (relative 1 -> 2 -> ... -> p - 1 -> 1; the root already has everything) then passes each chunk
// on from rank to rank, and a rank never sends a chunk its neighbour already holds from the
// scatter, so every non-root receives each byte of the payload exactly once.
// Cost for p ranks and m bytes: ceil(log2 p) + p - 2 rounds; the root sends m bytes, every
// non-root receives m and sends at most about 2m (against ceil(log2 p) m sent by the binomial
// tree's root and its inner ranks), so the time grows like 2m / bandwidth instead of
// m log2 p / bandwidth. Every rank must know m beforehand (the communicator announces it first
// when the type does not fix it).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "binomial_tree.hpp"
#include "schedule.hpp"

namespace symphony::algorithms {

/// At the root `data` holds the `size`-byte payload; elsewhere the payload is written to `out`,
/// which has room for `size` bytes. `size` must be the same on every rank.
template <class Context>
void broadcast_scatter_allgather(Context& ctx, int root, const std::byte* data, std::size_t size,
                                 std::byte* out) {
  constexpr auto id = algorithm_id::scatter_allgather;
  const int p = ctx.size();
  if (p == 1) return;
  const int me = ctx.rank();
  const binomial_tree tree(p, root);
  const int v = tree.relative(me);
  const std::byte* payload = me == root ? data : out;
  const int q = p - 1;  // non-roots, each owning one chunk
  // Byte range of chunks [c, c + n) of relative ranks c >= 1: contiguous in the payload.
  const auto chunks = [&](int c, int n) {
    const auto first = block_of(size, static_cast<std::size_t>(q), static_cast<std::size_t>(c - 1));
    const auto last =
        block_of(size, static_cast<std::size_t>(q), static_cast<std::size_t>(c + n - 2));
    return std::pair<std::size_t, std::size_t>{first.first, last.end() - first.first};
  };
  // After the scatter relative rank w >= 1 holds the chunks of its subtree.
  const auto holds = [&](int w, int c) { return c >= w && c < w + tree.span(tree.absolute(w)); };
  const auto check_size = [&](int from, std::size_t got, std::size_t due) {
    if (got != due)
      ctx.fail(from, "sent " + std::to_string(got) + " bytes of a " + std::to_string(size) +
                         "-byte broadcast where " + std::to_string(due) + " were due");
  };

  // Scatter: every non-root's subtree slice in one message from its parent.
  const auto scatter_step = make_step(id, 0, 0);
  if (me != root) {
    const auto [first, count] = chunks(v, tree.span(me));
    const int parent = tree.parent(me);
    const auto m = ctx.receive(parent, scatter_step);
    check_size(parent, m.size(), count);
    if (count != 0) std::memcpy(out + first, m.data(), count);
  }
  for (const int child : tree.children_deepest_first(me)) {
    const auto [first, count] = chunks(tree.relative(child), tree.span(child));
    ctx.send(child, scatter_step, payload + first, count);
  }
  if (me == root) return;

  // Ring allgather among the non-roots (member i = relative rank i + 1), skipping the chunks the
  // receiver holds.
  const int i = v - 1;
  const auto member = [&](int k) { return ((k % q) + q) % q + 1; };  // relative rank of member k
  const int next_v = member(i + 1);
  const int next = tree.absolute(next_v);
  const int prev = tree.absolute(member(i - 1));
  std::optional<decltype(ctx.receive(0, 0))> last;  // the chunk received in the previous round
  for (int s = 0; s + 1 < q; ++s) {
    const auto step = make_step(id, 1, static_cast<std::uint32_t>(s));
    const int send_c = member(i - s);
    if (!holds(next_v, send_c)) {
      if (last) {
        ctx.forward(next, step, *last);
      } else {
        const auto [first, count] = chunks(send_c, 1);
        ctx.send(next, step, payload + first, count);
      }
    }
    last.reset();
    const int recv_c = member(i - 1 - s);
    if (!holds(v, recv_c)) {
      last.emplace(ctx.receive(prev, step));
      const auto [first, count] = chunks(recv_c, 1);
      check_size(prev, last->size(), count);
      if (count != 0) std::memcpy(out + first, last->data(), count);
    }
  }
}

}  // namespace symphony::algorithms
