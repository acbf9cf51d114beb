// symphony/algorithms/alltoall_pairwise.hpp: personalized all-to-all exchange.
//
// Rank r sends its value for rank r + i to that rank, i = 1 .. p - 1, and then receives from
// r - i in the same order. Sends do not wait for the receiver (the transport queues them), so all
// p - 1 exchanges are in flight at once; the rotation makes every rank start with a different
// peer, so no rank is the first target of all the others (pairwise exchange, as MPICH's long-
// message alltoall, without its per-round synchronization).
// Cost for p ranks and m bytes per value: one round of p - 1 concurrent messages; every rank
// sends and receives (p - 1) m bytes, the minimum.
#pragma once

#include <cstdint>

#include "schedule.hpp"

namespace symphony::algorithms {

/// `send_to(peer, send)` must call send(data, size) with this rank's value for `peer`;
/// `received(peer, message)` is called with every other rank's value for this rank.
template <class Context, class SendTo, class Received>
void alltoall_pairwise(Context& ctx, SendTo&& send_to, Received&& received) {
  const int p = ctx.size();
  const int me = ctx.rank();
  const auto step = make_step(algorithm_id::pairwise, 0, 0);
  for (int i = 1; i < p; ++i) {
    const int peer = (me + i) % p;
    send_to(peer,
            [&](const std::byte* data, std::size_t size) { ctx.send(peer, step, data, size); });
  }
  for (int i = 1; i < p; ++i) {
    const int peer = (me - i + p) % p;
    received(peer, ctx.receive(peer, step));
  }
}

}  // namespace symphony::algorithms
