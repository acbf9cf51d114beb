// symphony/algorithms/allreduce_ring.hpp: allreduce of a long vector around a ring, for
// commutative operators and any number of ranks.
//
// A ring reduce-scatter (reduce_scatter_ring.hpp) leaves rank r with slot r of p reduced over all
// ranks; a ring allgather then passes every reduced slot once around the ring: in round s rank r
// sends slot r - s to r + 1 and receives slot r - 1 - s from r - 1 (mod p).
// Cost for p ranks and m bytes: 2 (p - 1) rounds; every rank sends and receives
// 2 m (p - 1) / p bytes (the bandwidth lower bound) and combines m (p - 1) / p, for any p. Used
// for long vectors when p is not a power of two, where Rabenseifner would fold ranks and move 2m
// more over the folded pairs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "reduce_scatter_ring.hpp"
#include "schedule.hpp"

namespace symphony::algorithms {

/// Leaves every rank's `buffer` (an element_buffer) holding the reduction of all ranks' buffers.
/// `offsets` is scratch (overwritten): a caller that keeps it between calls allocates nothing.
template <class Context, class Buffer>
void allreduce_ring(Context& ctx, Buffer& buffer, std::vector<std::size_t>& offsets) {
  constexpr auto id = algorithm_id::ring;
  const int p = ctx.size();
  const int me = ctx.rank();
  offsets.resize(static_cast<std::size_t>(p) + 1);
  for (int s = 0; s < p; ++s)
    offsets[static_cast<std::size_t>(s)] =
        block_of(buffer.size(), static_cast<std::size_t>(p), static_cast<std::size_t>(s)).first;
  offsets.back() = buffer.size();
  reduce_scatter_ring(ctx, buffer, offsets, id, 0);

  const int next = (me + 1) % p;
  const int prev = (me - 1 + p) % p;
  const auto slot = [&](int s) {
    const auto i = static_cast<std::size_t>(((s % p) + p) % p);
    return std::pair<std::size_t, std::size_t>{offsets[i], offsets[i + 1] - offsets[i]};
  };
  for (int s = 0; s + 1 < p; ++s) {
    const auto step = make_step(id, 1, static_cast<std::uint32_t>(s));
    {
      const auto [first, count] = slot(me - s);
      const auto bytes = buffer.pack(first, count);
      ctx.send(next, step, bytes.data(), bytes.size());
    }
    const auto [first, count] = slot(me - 1 - s);
    const auto m = ctx.receive(prev, step);
    const std::string problem = buffer.assign(first, count, m.data(), m.size());
    if (!problem.empty()) ctx.fail(prev, problem);
  }
}

/// The same with a table of block offsets of its own (one allocation per call).
template <class Context, class Buffer>
void allreduce_ring(Context& ctx, Buffer& buffer) {
  std::vector<std::size_t> offsets;
  allreduce_ring(ctx, buffer, offsets);
}

}  // namespace symphony::algorithms
