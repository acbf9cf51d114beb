// symphony/algorithms/reduce_scatter_ring.hpp: reduce-scatter around a ring, for commutative
// operators.
//
// The vector is cut into p slots. Slot b starts at rank b + 1 with that rank's copy and travels
// once around the ring (b + 1 -> b + 2 -> ... -> b), each rank combining its own copy into the
// partial result before passing it on; after p - 1 rounds rank b holds slot b reduced over all
// ranks. In round s rank r sends slot r - 1 - s to r + 1 and receives slot r - 2 - s from r - 1
// (mod p), so every rank sends and receives in every round and no link carries more than one
// slot at a time. The partial results are combined starting from rank b + 1, not rank 0: the
// operator must be commutative.
// Cost for p ranks and m bytes: p - 1 rounds; every rank sends and receives m (p - 1) / p bytes
// and combines as many, for any p (no folding: better than recursive halving when p is not a
// power of two and the vector is long, worse in rounds when it is short).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "schedule.hpp"

namespace symphony::algorithms {

/// Reduces `buffer` (an element_buffer) so that rank r ends with slot r = elements
/// [offsets[r], offsets[r + 1]) reduced over all ranks (offsets has p + 1 entries). Messages use
/// steps make_step(id, phase, s) for round s.
template <class Context, class Buffer>
void reduce_scatter_ring(Context& ctx, Buffer& buffer, const std::vector<std::size_t>& offsets,
                         algorithm_id id, std::uint32_t phase) {
  const int p = ctx.size();
  const int me = ctx.rank();
  const int next = (me + 1) % p;
  const int prev = (me - 1 + p) % p;
  const auto slot = [&](int s) {
    const auto i = static_cast<std::size_t>(((s % p) + p) % p);
    return std::pair<std::size_t, std::size_t>{offsets[i], offsets[i + 1] - offsets[i]};
  };
  for (int s = 0; s + 1 < p; ++s) {
    const auto step = make_step(id, phase, static_cast<std::uint32_t>(s));
    {
      const auto [first, count] = slot(me - 1 - s);
      const auto bytes = buffer.pack(first, count);
      ctx.send(next, step, bytes.data(), bytes.size());
    }
    const auto [first, count] = slot(me - 2 - s);
    const auto m = ctx.receive(prev, step);
    const std::string problem =
        buffer.combine(first, count, m.data(), m.size(), /*incoming_first=*/true);
    if (!problem.empty()) ctx.fail(prev, problem);
  }
}

}  // namespace symphony::algorithms
