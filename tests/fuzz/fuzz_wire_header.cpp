// Fuzz target: the 48-byte message header (symphony/detail/wire.hpp, detail::decode).
//
// Input: 8 bytes, little-endian, the size of the payload frame that "arrived" with the header,
// then the header frame itself (any length: truncated and oversized frames are part of the test).
// An input shorter than 8 bytes is a header frame with an empty payload.
//
// decode() must either throw protocol_error with a message, or return a header that
//  - has a known operation kind and the payload size that arrived,
//  - encodes back to the same 48 bytes (every byte is a field: the value type at 5-7 and the job
//    stamp at 36-39 are read whatever their value, and compared by the receiver, not decode),
//  - and decodes again to the same fields.
// Any other exception, a crash, a sanitizer report or an allocation beyond a small constant
// (the error message) fails.
#include <symphony/detail/wire.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"

namespace {

using symphony::detail::header;

bool same_fields(const header& a, const header& b) {
  return a.kind == b.kind && a.source == b.source && a.tag == b.tag &&
         a.communicator == b.communicator && a.sequence == b.sequence && a.step == b.step &&
         a.type == b.type && a.job == b.job && a.payload_size == b.payload_size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace symphony_fuzz;
  std::uint64_t payload_bytes = 0;
  const auto* frame = reinterpret_cast<const std::byte*>(data);
  std::size_t frame_size = size;
  if (size >= 8) {
    for (std::size_t i = 0; i < 8; ++i)
      payload_bytes |= static_cast<std::uint64_t>(data[i]) << (8 * i);
    frame += 8;
    frame_size -= 8;
  }

  header h;
  reset_allocations();
  try {
    h = symphony::detail::decode(frame, frame_size, static_cast<std::size_t>(payload_bytes));
  } catch (const symphony::protocol_error& e) {
    check(std::string(e.what()).size() > 10, "a protocol_error without an explanation");
    check_total_allocation("detail::decode", 0, {0, 4096});
    return 0;
  }
  check_total_allocation("detail::decode", 0, {0, 0});  // accepting allocates nothing

  check(frame_size == symphony::detail::header_size,
        "accepted a header frame of " + std::to_string(frame_size) + " bytes");
  const auto kind = static_cast<unsigned>(h.kind);
  check(kind >= 1 && kind <= symphony::detail::max_operation,
        "accepted operation kind " + std::to_string(kind));
  check(h.payload_size == payload_bytes, "returned payload size " + std::to_string(h.payload_size) +
                                             " but " + std::to_string(payload_bytes) +
                                             " bytes arrived");
  const auto again = symphony::detail::encode(h);
  for (std::size_t i = 0; i < again.size(); ++i)
    if (again[i] != frame[i])
      fail("the accepted header encodes back differently at byte " + std::to_string(i));
  const header twice = symphony::detail::decode(again.data(), again.size(), h.payload_size);
  check(same_fields(h, twice), "encode then decode changed the header");
  return 0;
}
