// symphony/algorithms/allreduce_recursive_doubling.hpp: allreduce of whole values by recursive
// doubling, in rank order.
//
// Ranks are folded onto p' = power_of_two_floor(p) virtual ranks (schedule.hpp): the even rank of
// each of the first p - p' pairs sends its value to the odd one, which combines it in front of its
// own. In round k = 0, 1, ... virtual rank v exchanges its partial result with v xor 2^k and
// combines the two, the lower group's first, so after round k every rank holds the reduction of
// its aligned group of 2^(k+1) consecutive virtual ranks, in rank order: the operator need not be
// commutative, and both partners compute the same expression from the same operands, so every
// rank ends with the same result. Finally the odd ranks of the folded pairs send the result back.
// Cost for p ranks and m bytes: log2 p' rounds, +2 when p is not a power of two (the fold and the
// hand-back; as they delay only the folded pairs, the chain of dependent messages grows by 1 or
// 2); every rank sends m bytes per round and computes one combination per round. Best for short
// values; long vectors want Rabenseifner or the ring (m log2 p bytes here against about 2m).
#pragma once

#include <cstdint>
#include <utility>

#include "../detail/serialization.hpp"
#include "context.hpp"
#include "schedule.hpp"

namespace symphony::algorithms {

/// Returns the reduction of every rank's `value` on every rank. `combine(acc, later, from)` must
/// set acc = acc op later; `from` names the rank `later` came from, for error messages.
template <class Context, class T, class Combine>
T allreduce_recursive_doubling(Context& ctx, T value, Combine&& combine) {
  constexpr auto id = algorithm_id::recursive_doubling;
  const int me = ctx.rank();
  const folding fold(ctx.size());

  if (fold.sits_out(me)) {
    {
      const auto bytes = detail::encode_value(value);
      ctx.send(me + 1, make_step(id, 0, 0), bytes.data(), bytes.size());
    }
    const auto m = ctx.receive(me + 1, make_step(id, 2, 0));
    decode_from(ctx, m, me + 1, value);
    return value;
  }
  T incoming{};
  if (fold.absorbs(me)) {
    const auto m = ctx.receive(me - 1, make_step(id, 0, 0));
    if constexpr (combines_payload_v<Combine, T>) {
      combine(value, m.data(), m.size(), true, me - 1);  // in place: no decoded copy
    } else {
      decode_from(ctx, m, me - 1, incoming);
      combine(incoming, value, me - 1);  // the lower rank's value first
      value = std::move(incoming);
      incoming = T{};
    }
  }

  const int v = fold.virtual_rank(me);
  std::uint32_t round = 0;
  for (int mask = 1; mask < fold.virtual_size(); mask <<= 1, ++round) {
    const int partner = fold.real_rank(v ^ mask);
    {
      const auto bytes = detail::encode_value(value);
      ctx.send(partner, make_step(id, 1, round), bytes.data(), bytes.size());
    }
    const auto m = ctx.receive(partner, make_step(id, 1, round));
    if constexpr (combines_payload_v<Combine, T>) {
      combine(value, m.data(), m.size(), (v & mask) != 0, partner);
    } else {
      decode_from(ctx, m, partner, incoming);
      if (v & mask) {  // the partner's group comes first
        combine(incoming, value, partner);
        std::swap(value, incoming);
      } else {
        combine(value, incoming, partner);
      }
    }
  }
  if (fold.absorbs(me)) {
    const auto bytes = detail::encode_value(value);
    ctx.send(me - 1, make_step(id, 2, 0), bytes.data(), bytes.size());
  }
  return value;
}

}  // namespace symphony::algorithms
