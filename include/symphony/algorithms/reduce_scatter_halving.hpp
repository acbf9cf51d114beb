// symphony/algorithms/reduce_scatter_halving.hpp: reduce-scatter by recursive halving, in rank
// order.
//
// Every rank holds a vector cut into p' = power_of_two_floor(p) slots (contiguous element ranges).
// Ranks are first folded onto p' virtual ranks (schedule.hpp: the even rank of each of the first
// p - p' pairs sends its whole vector to the odd one, which combines it in front of its own).
// Then in round k = 0, 1, ..., log2 p' - 1 virtual rank v exchanges with v xor 2^k: of the slots
// it still holds, it sends the half its partner keeps and combines the half it keeps with the
// partner's copy. The rank whose bit k is set keeps the upper half. Taking the lowest bit first
// means every partial result covers an aligned group of consecutive virtual ranks, combined lower
// group first: the operator need not be commutative. Virtual rank v ends with slot
// reverse_bits(v) reduced over all ranks.
// Cost for p ranks and m bytes: log2 p' rounds (+1 when p is not a power of two); each virtual
// rank sends and receives m/2 + m/4 + ... = m (p' - 1) / p' bytes and combines as many; the folded
// pairs move m more. Best for short and medium vectors and for any operator; the ring
// (reduce_scatter_ring.hpp) moves fewer bytes when p is not a power of two.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "schedule.hpp"

namespace symphony::algorithms {

/// The slots a rank holds after reduce_scatter_halving: [first_slot, first_slot + 1), or nothing
/// for a rank that sat out (virtual_rank == -1).
struct halving_result {
  int virtual_rank = -1;
  int slot = -1;
};

/// Reduces `buffer` (an element_buffer) across all ranks so that each rank that does not sit out
/// ends with one slot fully reduced. `offsets` has p' + 1 entries: slot s is elements
/// [offsets[s], offsets[s+1]). Messages use steps make_step(id, 0, 0) for the fold and
/// make_step(id, 1, k) for round k. A rank that sits out has sent its whole buffer and returns
/// {-1, -1}; its buffer is unchanged.
template <class Context, class Buffer>
halving_result reduce_scatter_halving(Context& ctx, Buffer& buffer,
                                      const std::vector<std::size_t>& offsets, algorithm_id id) {
  const int me = ctx.rank();
  const folding fold(ctx.size());
  const auto range = [&](int lo, int hi) {
    return std::pair<std::size_t, std::size_t>{
        offsets[static_cast<std::size_t>(lo)],
        offsets[static_cast<std::size_t>(hi)] - offsets[static_cast<std::size_t>(lo)]};
  };
  const auto check = [&](const std::string& problem, int from) {
    if (!problem.empty()) ctx.fail(from, problem);
  };

  const int slots = fold.virtual_size();
  if (fold.sits_out(me)) {
    const auto [first, count] = range(0, slots);
    const auto bytes = buffer.pack(first, count);
    ctx.send(me + 1, make_step(id, 0, 0), bytes.data(), bytes.size());
    return {};
  }
  if (fold.absorbs(me)) {
    const auto [first, count] = range(0, slots);
    const auto m = ctx.receive(me - 1, make_step(id, 0, 0));
    check(buffer.combine(first, count, m.data(), m.size(), /*incoming_first=*/true), me - 1);
  }

  const int v = fold.virtual_rank(me);
  int lo = 0;
  int hi = slots;
  std::uint32_t round = 0;
  for (int mask = 1; mask < slots; mask <<= 1, ++round) {
    const int partner = fold.real_rank(v ^ mask);
    const int half = (hi - lo) / 2;
    const bool upper = (v & mask) != 0;
    const int keep_lo = upper ? lo + half : lo;
    const int send_lo = upper ? lo : lo + half;
    {
      const auto [first, count] = range(send_lo, send_lo + half);
      const auto bytes = buffer.pack(first, count);
      ctx.send(partner, make_step(id, 1, round), bytes.data(), bytes.size());
    }
    const auto [first, count] = range(keep_lo, keep_lo + half);
    const auto m = ctx.receive(partner, make_step(id, 1, round));
    // The partner's group is below ours exactly when our bit is set.
    check(buffer.combine(first, count, m.data(), m.size(), /*incoming_first=*/upper), partner);
    lo = keep_lo;
    hi = keep_lo + half;
  }
  return {v, lo};
}

}  // namespace symphony::algorithms
