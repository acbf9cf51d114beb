// symphony/algorithms/allreduce_rabenseifner.hpp: allreduce of a long vector as a reduce-scatter
// by recursive halving followed by an allgather by recursive doubling (Rabenseifner, 1997).
//
// The vector is cut into p' = power_of_two_floor(p) nearly equal blocks. Recursive halving
// (reduce_scatter_halving.hpp) leaves each of the p' virtual ranks with one block reduced over all
// ranks; the allgather retraces the halving rounds backwards, each round exchanging everything a
// rank holds with the partner that holds the adjacent blocks, so the held range doubles. Ranks
// folded away at the start (p not a power of two) get the whole result from their partner.
// Combining follows rank order, but the blocking needs an element-wise operator: the communicator
// uses it for vectors of arithmetic elements with a built-in operator.
// Cost for p ranks and m bytes: 2 log2 p' rounds (+2 when p is not a power of two); each virtual
// rank sends 2 m (p' - 1) / p' bytes, about 2m, instead of recursive doubling's m log2 p, and
// combines m (p' - 1) / p' bytes; a folded pair moves 2m more.
#pragma once

#include <cstdint>
#include <vector>

#include "reduce_scatter_halving.hpp"
#include "schedule.hpp"

namespace symphony::algorithms {

/// Leaves every rank's `buffer` (an element_buffer) holding the reduction of all ranks' buffers.
/// `offsets` is scratch (overwritten): a caller that keeps it between calls allocates nothing.
template <class Context, class Buffer>
void allreduce_rabenseifner(Context& ctx, Buffer& buffer, std::vector<std::size_t>& offsets) {
  constexpr auto id = algorithm_id::rabenseifner;
  const int me = ctx.rank();
  const folding fold(ctx.size());
  const int slots = fold.virtual_size();
  offsets.resize(static_cast<std::size_t>(slots) + 1);
  for (int s = 0; s <= slots; ++s)
    offsets[static_cast<std::size_t>(s)] =
        s == slots
            ? buffer.size()
            : block_of(buffer.size(), static_cast<std::size_t>(slots), static_cast<std::size_t>(s))
                  .first;
  const auto check = [&](const std::string& problem, int from) {
    if (!problem.empty()) ctx.fail(from, problem);
  };

  const halving_result held = reduce_scatter_halving(ctx, buffer, offsets, id);
  if (held.virtual_rank < 0) {  // sat out: the partner sends the whole result
    const auto m = ctx.receive(me + 1, make_step(id, 3, 0));
    check(buffer.assign(0, buffer.size(), m.data(), m.size()), me + 1);
    return;
  }

  // Recursive doubling over slots, undoing the halving rounds from the last one.
  const int v = held.virtual_rank;
  int lo = held.slot;
  int hi = held.slot + 1;
  const int rounds = ceil_log2(slots);
  for (int k = rounds - 1; k >= 0; --k) {
    const int mask = 1 << k;
    const int partner = fold.real_rank(v ^ mask);
    const int width = hi - lo;
    const auto step = make_step(id, 2, static_cast<std::uint32_t>(k));
    {
      const auto bytes = buffer.pack(
          offsets[static_cast<std::size_t>(lo)],
          offsets[static_cast<std::size_t>(hi)] - offsets[static_cast<std::size_t>(lo)]);
      ctx.send(partner, step, bytes.data(), bytes.size());
    }
    const int other_lo = (v & mask) ? lo - width : hi;
    const auto first = offsets[static_cast<std::size_t>(other_lo)];
    const auto count = offsets[static_cast<std::size_t>(other_lo + width)] - first;
    const auto m = ctx.receive(partner, step);
    check(buffer.assign(first, count, m.data(), m.size()), partner);
    lo = (v & mask) ? other_lo : lo;
    hi = lo + 2 * width;
  }
  if (fold.absorbs(me)) {
    const auto bytes = buffer.pack(0, buffer.size());
    ctx.send(me - 1, make_step(id, 3, 0), bytes.data(), bytes.size());
  }
}

/// The same with a table of block offsets of its own (one allocation per call).
template <class Context, class Buffer>
void allreduce_rabenseifner(Context& ctx, Buffer& buffer) {
  std::vector<std::size_t> offsets;
  allreduce_rabenseifner(ctx, buffer, offsets);
}

}  // namespace symphony::algorithms
