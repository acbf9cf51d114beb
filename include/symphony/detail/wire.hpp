// symphony/detail/wire.hpp: the header every symphony message carries.
//
// A message is two parts: a fixed 48-byte header and the payload. The header says which
// communicator and which operation the payload belongs to, so that messages of different
// operations and communicators never mix, and a message that arrives early can be kept until the
// matching receive. It is encoded field by field in little-endian order, never by memcpy of the
// struct, so padding and host byte order never reach the wire.
//
// The job stamp keeps other jobs out: a stale process of a finished job, or a new job that reuses
// a port, sends with a different stamp, and the receiving mailbox drops its messages (logging
// once) instead of delivering them. The value type (kind and size) lets a collective notice that
// two ranks called it with different types (float and double, int and a struct) before it
// decodes garbage. Version-1 peers of an older build sent zeros there, which no job's stamp is.
//
//   offset size field
//        0    4 magic "SYM" + format version
//        4    1 operation kind (operation enum)
//        5    1 value type kind (type_kind; 0: no value or not checked)
//        6    2 value type size: sizeof the element type, saturated at 65535
//        8    4 source: the sender's rank in the world communicator
//       12    4 tag: the user's tag for send/recv, the root for rooted collectives, else 0
//       16    8 communicator id
//       24    8 sequence number of the collective on that communicator (0 for send/recv)
//       32    4 step: index of this message within one collective (round, chunk...); all ones
//                marks a probe (probe_step)
//       36    4 job stamp: 32 bits of a hash of the job's token and address list (job_stamp)
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

/// The kind of a collective's value type, as carried in the header (see value_type_of in
/// communicator.hpp). Values are part of the wire format: append only.
enum class type_kind : std::uint8_t {
  none = 0,  // no value (barrier), or not checked (send/recv)
  boolean = 1,
  character = 2,  // char, signed/unsigned char, std::byte
  signed_int = 3,
  unsigned_int = 4,
  floating = 5,
  enumeration = 6,
  trivial = 7,     // any other trivially copyable type (a struct, std::array)
  serialized = 8,  // travels through cereal (std::map, std::vector<std::string>, ...)
};
inline constexpr std::uint8_t max_type_kind = 8;

/// The element type of a collective's values: kind and sizeof, on the wire at offsets 5..7.
struct value_type {
  type_kind kind = type_kind::none;
  std::uint16_t size = 0;
  friend bool operator==(value_type a, value_type b) {
    return a.kind == b.kind && a.size == b.size;
  }
  friend bool operator!=(value_type a, value_type b) { return !(a == b); }
};

inline std::string describe(value_type t) {
  static constexpr const char* names[] = {"no value",
                                          "bool",
                                          "character",
                                          "signed integer",
                                          "unsigned integer",
                                          "floating point",
                                          "enum",
                                          "trivially copyable struct",
                                          "cereal-serialized type"};
  const auto k = static_cast<std::uint8_t>(t.kind);
  std::string text = k <= max_type_kind ? names[k] : "type kind " + std::to_string(k);
  if (t.kind != type_kind::none && t.kind != type_kind::serialized)
    text += " of " + std::to_string(t.size) + " bytes";
  return text;
}

struct header {
  operation kind = operation::point_to_point;
  value_type type;  // the element type of the collective's values
  std::uint32_t source = 0;
  std::int32_t tag = 0;
  std::uint64_t communicator = 0;
  std::uint64_t sequence = 0;
  std::uint32_t step = 0;
  std::uint32_t job = 0;  // the job stamp (job_stamp): messages of another job are dropped
  std::uint64_t payload_size = 0;
};

/// The step of a *probe*: an empty message a rank sends to the peer it has waited for in a
/// collective for a while (see basic_communicator's receive), carrying its call (operation, root,
/// value type, sequence number). The peer checks it against its own call, so ranks that both only
/// wait (reduce rooted at 0 on rank 0 and at 1 on rank 1) learn of the mismatch instead of waiting
/// out the timeout; a probe that matches is dropped. No algorithm uses this step.
inline constexpr std::uint32_t probe_step = 0xffffffffu;

/// The 32-bit stamp of a job, from text every rank of the job agrees on (its job token and the
/// address list) and no other job shares: FNV-1a, folded. Never 0, which older builds send.
inline std::uint32_t job_stamp(const std::string& identity) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const unsigned char c : identity) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  const auto folded = static_cast<std::uint32_t>(hash ^ (hash >> 32));
  return folded == 0 ? 1 : folded;
}

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
  out[5] = static_cast<std::byte>(h.type.kind);
  wire::put(out, 6, h.type.size);
  wire::put(out, 8, h.source);
  wire::put(out, 12, h.tag);
  wire::put(out, 16, h.communicator);
  wire::put(out, 24, h.sequence);
  wire::put(out, 32, h.step);
  wire::put(out, 36, h.job);
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
  h.type.kind = static_cast<type_kind>(data[5]);  // compared, never used to decode: any value
  h.type.size = wire::get<std::uint16_t>(data, 6);
  h.step = wire::get<std::uint32_t>(data, 32);
  h.job = wire::get<std::uint32_t>(data, 36);
  h.payload_size = wire::get<std::uint64_t>(data, 40);
  if (h.payload_size != payload_bytes)
    throw protocol_error("received a " + std::string(operation_name(h.kind)) +
                         " message from rank " + std::to_string(h.source) + " declaring " +
                         std::to_string(h.payload_size) + " payload bytes but carrying " +
                         std::to_string(payload_bytes));
  return h;
}

}  // namespace symphony::detail
