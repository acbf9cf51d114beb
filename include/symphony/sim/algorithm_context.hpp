// symphony/sim/algorithm_context.hpp: runs one of symphony's algorithms directly on the simulator.
//
// The communicator chooses an algorithm by size; to compare the algorithms themselves (ring
// allreduce on 1024 ranks, Rabenseifner on 1000), symphony-sim calls the functions in
// symphony/algorithms/ with this context, which offers what algorithms/context.hpp lists over a
// sim_transport. Same algorithm code, same messages and sizes, only no size-based choice.
#pragma once

#include <cstdint>
#include <string>

#include "../detail/mailbox.hpp"
#include "../error.hpp"
#include "../sim.hpp"

namespace symphony::sim {

/// The context of one collective call, for algorithms/*.hpp. Every rank must make its contexts in
/// the same order (each gets the next sequence number of `box`).
class algorithm_context {
 public:
  using message = detail::sim_message;
  using mailbox = detail::mailbox<sim_transport>;

  algorithm_context(mailbox& box, std::uint64_t sequence, detail::operation kind)
      : box_(box), sequence_(sequence), kind_(kind) {}

  int rank() const { return box_.transport().rank(); }
  int size() const { return box_.transport().size(); }

  void send(int to, std::uint32_t step, const std::byte* data, std::size_t size) {
    const auto h = header(step, size);
    box_.transport().send(to, h, data, size, detail::deadline::max());
  }

  void forward(int to, std::uint32_t step, const message& received) {
    const auto h = header(step, received.size());
    box_.transport().forward(to, h, received, detail::deadline::max());
  }

  message receive(int from, std::uint32_t step) {
    const detail::match_key key{0, false, sequence_, step, static_cast<std::uint32_t>(from)};
    auto m = box_.receive(key, detail::deadline::max(), [](const detail::header&) {});
    if (!m) fail(from, "sent nothing");
    return std::move(*m);
  }

  [[noreturn]] void fail(int from, const std::string& what) {
    throw protocol_error("symphony::sim: " + std::string(detail::operation_name(kind_)) +
                         " [call #" + std::to_string(sequence_) + "]: rank " +
                         std::to_string(from) + " " + what);
  }

 private:
  detail::header header(std::uint32_t step, std::size_t size) const {
    detail::header h;
    h.kind = kind_;
    h.source = static_cast<std::uint32_t>(rank());
    h.sequence = sequence_;
    h.step = step;
    h.payload_size = size;
    return h;
  }

  mailbox& box_;
  std::uint64_t sequence_;
  detail::operation kind_;
};

}  // namespace symphony::sim
