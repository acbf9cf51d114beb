// symphony/transport/transport.hpp: the transport concept.
//
// A transport moves whole messages (a detail::header and a payload) between the ranks of one job.
// It knows nothing about operations, matching or order beyond "messages from one sender to one
// receiver arrive in the order they were sent". basic_communicator<Transport> does the rest, so a
// new transport (ZeroMQ processes, in-process threads, a virtual-time simulator) plugs in without
// touching any algorithm. A transport provides:
//
//   typename T::message          movable; header() -> const detail::header&,
//                                data() -> const std::byte*, size() -> std::size_t (payload)
//   int rank() const             this process's rank in the whole job
//   int size() const             number of ranks in the whole job
//   bool send(int to, const detail::header&, const std::byte* data, std::size_t size,
//             deadline)          queues a message for rank `to` (possibly this rank itself);
//                                the buffer may be reused as soon as it returns; false if it
//                                could not be queued before the deadline
//   bool forward(int to, const detail::header&, const message& received, deadline)
//                                sends the payload of a received message on to rank `to`, as
//                                send() does, sharing its buffer where the transport can
//   std::optional<message> receive(deadline)
//                                the next message for this rank from any sender; nullopt when
//                                the deadline passes first
//   void abandon() noexcept      the job has failed: drop undelivered messages at destruction
//                                instead of waiting to deliver them
//
// `deadline` is a detail::deadline (steady_clock time point; time_point::max() = forever).
#pragma once

#include <chrono>

namespace symphony::detail {

using clock = std::chrono::steady_clock;
using deadline = clock::time_point;

/// The deadline `timeout` from now; never overflows (wait_forever gives time_point::max()).
inline deadline deadline_after(std::chrono::milliseconds timeout) {
  const auto now = clock::now();
  if (timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(deadline::max() - now))
    return deadline::max();
  return now + timeout;
}

}  // namespace symphony::detail
