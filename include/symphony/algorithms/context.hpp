// symphony/algorithms/context.hpp: what an algorithm may do, and nothing more.
//
// Algorithms are written once against this small interface and run unchanged over every
// transport (ZeroMQ processes, in-process threads, a simulator). The communicator hands each
// collective call a fresh context that already knows the operation, its sequence number and its
// root, so an algorithm only names peers (ranks of the communicator) and steps:
//
//   int  ctx.rank() const, ctx.size() const      this rank and the size of the communicator
//   void ctx.send(int to, std::uint32_t step, const std::byte* data, std::size_t size)
//   auto ctx.receive(int from, std::uint32_t step)   a message with data() and size()
//   void ctx.forward(int to, std::uint32_t step, const message&)   sends a received payload on,
//                                                   without copying it where the transport can
//   [[noreturn]] void ctx.fail(int from, const std::string& what)   throws protocol_error
//
// `step` numbers the messages of one operation between the same pair of ranks, so an algorithm
// that sends twice to one peer in one call (rounds, chunks) uses different steps.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>

#include "../detail/serialization.hpp"

namespace symphony::algorithms {

/// True when `combine(acc, data, size, incoming_first, from)` combines a received payload into
/// `acc` in place (incoming op acc when incoming_first, else acc op incoming), with no decoded
/// copy: the communicator offers it for vectors of arithmetic elements under built-in operators.
/// Algorithms fall back to decoding into a T and calling combine(acc, later, from).
template <class Combine, class T>
inline constexpr bool combines_payload_v =
    std::is_invocable_v<Combine&, T&, const std::byte*, std::size_t, bool, int>;

/// Decodes a received message into `out`, or fails the operation naming the sender.
template <class Context, class Message, class T>
void decode_from(Context& ctx, const Message& message, int from, T& out) {
  const std::string problem = detail::decode_value(message.data(), message.size(), out);
  if (!problem.empty()) ctx.fail(from, "received " + problem);
}

}  // namespace symphony::algorithms
