// symphony/detail/wire.hpp: the header every symphony message carries.
//
// A message is two parts: a fixed 48-byte header and the payload. The header says which
// communicator and which operation the payload belongs to, so that messages of different
// operations and communicators never mix, and a message that arrives early can be kept until the
// matching receive. It is encoded field by field in little-endian order, never by memcpy of the
// struct, so padding and host byte order never reach the wire.
//
//   offset size field
//        0    4 magic "SYM" + format version
//        4    1 operation kind (operation enum)
//        5    3 reserved, zero
//        8    4 source: the sender's rank in the world communicator
//       12    4 tag: the user's tag for send/recv, the root for rooted collectives, else 0
//       16    8 communicator id
//       24    8 sequence number of the collective on that communicator (0 for send/recv)
//       32    4 step: index of this message within one collective (round, chunk...)
//       36    4 reserved, zero
//       40    8 payload size in bytes
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "../error.hpp"

namespace symphony::detail {

/// Which operation a message belongs to. Values are part of the wire format: append only.
enum class operation : std::uint8_t {
  point_to_point = 1,
  broadcast = 2,
  reduce = 3,
  gather = 4,
  scatter = 5,
  barrier = 6,
  allreduce = 7,
  allgather = 8,
  alltoall = 9,
  reduce_scatter = 10,
  scan = 11,
  exscan = 12,
  gatherv = 13,
  scatterv = 14,
  allgatherv = 15,
};
inline constexpr std::uint8_t max_operation = 15;

inline const char* operation_name(operation op) {
  switch (op) {
    case operation::point_to_point:
      return "send/recv";
    case operation::broadcast:
      return "broadcast";
    case operation::reduce:
      return "reduce";
    case operation::gather:
      return "gather";
    case operation::scatter:
      return "scatter";
    case operation::barrier:
      return "barrier";
    case operation::allreduce:
      return "allreduce";
    case operation::allgather:
      return "allgather";
    case operation::alltoall:
      return "alltoall";
    case operation::reduce_scatter:
      return "reduce_scatter";
    case operation::scan:
      return "scan";
    case operation::exscan:
      return "exscan";
    case operation::gatherv:
      return "gatherv";
    case operation::scatterv:
      return "scatterv";
    case operation::allgatherv:
      return "allgatherv";
  }
  return "unknown operation";
}

struct header {
  operation kind = operation::point_to_point;
  std::uint32_t source = 0;
  std::int32_t tag = 0;
  std::uint64_t communicator = 0;
  std::uint64_t sequence = 0;
  std::uint32_t step = 0;
  std::uint64_t payload_size = 0;
};

inline constexpr std::size_t header_size = 48;
inline constexpr std::uint8_t wire_version = 1;
using encoded_header = std::array<std::byte, header_size>;

namespace wire {
template <class Int>
void put(encoded_header& out, std::size_t offset, Int value) {
  for (std::size_t i = 0; i < sizeof(Int); ++i)
    out[offset + i] = static_cast<std::byte>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xff);
}
template <class Int>
Int get(const std::byte* in, std::size_t offset) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < sizeof(Int); ++i)
    value |= static_cast<std::uint64_t>(in[offset + i]) << (8 * i);
  return static_cast<Int>(value);
}
}  // namespace wire

inline encoded_header encode(const header& h) {
  encoded_header out{};
  out[0] = std::byte{'S'};
  out[1] = std::byte{'Y'};
  out[2] = std::byte{'M'};
  out[3] = std::byte{wire_version};
  out[4] = static_cast<std::byte>(h.kind);
  wire::put(out, 8, h.source);
  wire::put(out, 12, h.tag);
  wire::put(out, 16, h.communicator);
  wire::put(out, 24, h.sequence);
  wire::put(out, 32, h.step);
  wire::put(out, 40, h.payload_size);
  return out;
}

/// Decodes a received header frame; `payload_bytes` is the size of the payload frame that came
/// with it. Throws protocol_error for anything that is not a well-formed symphony header of this
/// version, or whose declared payload size differs from what arrived.
inline header decode(const std::byte* data, std::size_t size, std::size_t payload_bytes) {
  if (size != header_size)
    throw protocol_error("received a message whose header is " + std::to_string(size) +
                         " bytes instead of " + std::to_string(header_size) +
                         " (not a symphony peer?)");
  if (data[0] != std::byte{'S'} || data[1] != std::byte{'Y'} || data[2] != std::byte{'M'})
    throw protocol_error("received a message without the symphony magic (not a symphony peer?)");
  if (data[3] != std::byte{wire_version})
    throw protocol_error("received a message in wire format version " +
                         std::to_string(static_cast<int>(data[3])) +
                         "; this build speaks version " + std::to_string(wire_version) +
                         " (mixed symphony versions in one job?)");
  const auto kind = static_cast<std::uint8_t>(data[4]);
  if (kind == 0 || kind > max_operation)
    throw protocol_error("received a message of unknown operation kind " + std::to_string(kind));
  header h;
  h.kind = static_cast<operation>(kind);
  h.source = wire::get<std::uint32_t>(data, 8);
  h.tag = wire::get<std::int32_t>(data, 12);
  h.communicator = wire::get<std::uint64_t>(data, 16);
  h.sequence = wire::get<std::uint64_t>(data, 24);
  h.step = wire::get<std::uint32_t>(data, 32);
  h.payload_size = wire::get<std::uint64_t>(data, 40);
  if (h.payload_size != payload_bytes)
    throw protocol_error("received a " + std::string(operation_name(h.kind)) +
                         " message from rank " + std::to_string(h.source) + " declaring " +
                         std::to_string(h.payload_size) + " payload bytes but carrying " +
                         std::to_string(payload_bytes));
  return h;
}

}  // namespace symphony::detail
