// symphony/algorithms/barrier_dissemination.hpp: the dissemination barrier (Hensgen, Finkel and
// Manber, 1988).
//
// In round k = 0, 1, ... every rank sends an empty message to rank + 2^k and waits for one from
// rank - 2^k (mod p). After ceil(log2 p) rounds every rank has heard, directly or indirectly, from
// every other, so no rank leaves before all have entered. Works for any p, no root.
// Cost: ceil(log2 p) rounds of one empty message per rank; no rank is a hotspot.
#pragma once

#include <cstdint>

namespace symphony::algorithms {

template <class Context>
void barrier_dissemination(Context& ctx) {
  const int p = ctx.size();
  const int me = ctx.rank();
  std::uint32_t round = 0;
  for (int distance = 1; distance < p; distance <<= 1, ++round) {
    ctx.send((me + distance) % p, round, nullptr, 0);
    ctx.receive((me - distance + p) % p, round);
  }
}

}  // namespace symphony::algorithms
