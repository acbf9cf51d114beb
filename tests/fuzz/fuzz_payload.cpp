// Fuzz target: payload decoding (symphony/detail/serialization.hpp, detail::decode_value), raw and
// cereal paths, for the types of payload_types.hpp.
//
// Input: one byte that picks the type, then the payload. decode_value must either return a
// problem (a non-empty string) or succeed, never throw, crash or trip a sanitizer, and never
// allocate more than a bound proportional to the payload, whatever counts and lengths the payload
// declares. When it succeeds:
//  - the value encodes to bytes that decode again, to the same value (compared as re-encoded
//    bytes, or with == for hash containers, whose encoding order varies);
//  - for a type whose encoding is canonical, those bytes are the payload itself, so that a decoder
//    that ignored trailing bytes, or accepted a non-canonical bool, would be caught.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>

#include "fuzz_support.hpp"
#include "payload_types.hpp"

namespace {

using symphony_fuzz::check;

// Bytes decode_value may allocate per payload byte: a container of n elements may take
// n * sizeof(element) bytes before its elements are read (32 for a std::string element), and a
// vector grows by doubling. Plus a constant for the error message and cereal's stream setup.
constexpr symphony_fuzz::allocation_bound decode_bound{64, 16 * 1024};

bool same_bytes(const symphony::detail::encoded_value& a, const symphony::detail::encoded_value& b) {
  return a.size() == b.size() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

template <class Entry>
void decode_as(const std::byte* data, std::size_t size) {
  using T = typename Entry::type;
  T value{};
  symphony_fuzz::reset_allocations();
  const std::string problem = symphony::detail::decode_value(data, size, value);
  symphony_fuzz::check_total_allocation("detail::decode_value", size, decode_bound);
  if (!problem.empty()) return;

  const auto encoded = symphony::detail::encode_value(value);
  T again{};
  const std::string second = symphony::detail::decode_value(encoded.data(), encoded.size(), again);
  check(second.empty(), "a decoded value's own encoding does not decode: " + second);
  if constexpr (Entry::stable_bytes) {
    // Compared as bytes rather than with ==, so that a NaN does not count as a change.
    const auto reencoded = symphony::detail::encode_value(again);
    check(same_bytes(encoded, reencoded), "decode changed a value it had encoded itself");
  } else {
    check(again == value, "decode changed a value it had encoded itself");
  }
  if constexpr (Entry::canonical)
    check(encoded.size() == size && (size == 0 || std::memcmp(encoded.data(), data, size) == 0),
          "accepted a payload of " + std::to_string(size) + " bytes that is not the encoding of "
          "what it decoded to (" + std::to_string(encoded.size()) + " bytes)");
}

template <std::size_t... I>
void dispatch(std::size_t which, const std::byte* data, std::size_t size,
              std::index_sequence<I...>) {
  ((which == I ? decode_as<std::tuple_element_t<I, symphony_fuzz::payload_types>>(data, size)
               : void()),
   ...);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t which = data[0] % symphony_fuzz::payload_type_count;
  dispatch(which, reinterpret_cast<const std::byte*>(data + 1), size - 1,
           std::make_index_sequence<symphony_fuzz::payload_type_count>());
  return 0;
}
