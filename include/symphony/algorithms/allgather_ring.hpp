// symphony/algorithms/allgather_ring.hpp: allgather around a ring.
//
// Every travelling value goes once around the ring: in round s rank r passes the value of rank
// r - s on to r + 1 and receives the value of rank r - 1 - s from r - 1 (mod p), p - 1 rounds in
// all. A value received is forwarded as it arrived (the transport shares the buffer where it
// can): no rank copies or re-encodes anything. Values may differ in size. Only the ranks marked
// as travelling send their value; the others' rounds are skipped by every rank alike, which lets
// a caller move only the long values this way (allgather in communicator.hpp).
// Cost for p ranks and m bytes per value: p - 1 rounds; every rank sends and receives (p - 1) m
// bytes, only to and from its neighbours. Best for long values; short ones want Bruck's
// ceil(log2 p) rounds.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "schedule.hpp"

namespace symphony::algorithms {

/// `travels[r]` says whether rank r's value goes around (the same on every rank); `own` is this
/// rank's encoded value (sent only if travels[rank]). `received(rank, message&&)` is handed every
/// other travelling rank's value once this rank no longer needs it (after forwarding it).
template <class Context, class Received>
void allgather_ring(Context& ctx, const std::byte* own, std::size_t size,
                    const std::vector<bool>& travels, algorithm_id id, std::uint32_t phase,
                    Received&& received) {
  const int p = ctx.size();
  const int me = ctx.rank();
  const int next = (me + 1) % p;
  const int prev = (me - 1 + p) % p;
  const auto of = [&](int r) { return ((r % p) + p) % p; };
  std::optional<decltype(ctx.receive(0, 0))> last;  // the value received in the previous round
  int last_from = -1;
  for (int s = 0; s + 1 < p; ++s) {
    const auto step = make_step(id, phase, static_cast<std::uint32_t>(s));
    if (travels[static_cast<std::size_t>(of(me - s))]) {
      if (s == 0)
        ctx.send(next, step, own, size);
      else
        ctx.forward(next, step, *last);
    }
    if (last) received(last_from, std::move(*last));
    last.reset();
    last_from = of(me - 1 - s);
    if (travels[static_cast<std::size_t>(last_from)]) last.emplace(ctx.receive(prev, step));
  }
  if (last) received(last_from, std::move(*last));
}

}  // namespace symphony::algorithms
