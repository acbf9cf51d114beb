// symphony/detail/segments.hpp: several ranks' values in one payload.
//
// Gather and scatter move blocks of consecutive ranks' values in one message. A block is a
// sequence of segments, each an 8-byte little-endian length followed by that many bytes, so
// values of different sizes (strings, maps) travel together and can be split again without
// decoding them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace symphony::detail {

/// Where one segment's bytes sit inside a block.
struct segment {
  std::size_t offset = 0;  // of the length prefix
  std::size_t size = 0;    // of the value, prefix excluded
  const std::byte* data = nullptr;
  std::size_t end() const { return offset + 8 + size; }
};

inline constexpr std::size_t segment_prefix = 8;

inline void append_segment(std::vector<std::byte>& block, const std::byte* data, std::size_t size) {
  const auto length = static_cast<std::uint64_t>(size);
  for (int i = 0; i < 8; ++i)
    block.push_back(static_cast<std::byte>((length >> (8 * i)) & 0xff));
  block.insert(block.end(), data, data + size);
}

/// Splits a block into its segments. Returns false when the block is malformed: a truncated
/// prefix, a length past the end, or a number of segments other than `expected`.
inline bool split_segments(const std::byte* data, std::size_t size, std::size_t expected,
                           std::vector<segment>& out) {
  out.clear();
  std::size_t offset = 0;
  while (offset < size) {
    if (size - offset < segment_prefix) return false;
    std::uint64_t length = 0;
    for (int i = 0; i < 8; ++i)
      length |= static_cast<std::uint64_t>(data[offset + i]) << (8 * i);
    if (length > size - offset - segment_prefix) return false;
    out.push_back(
        segment{offset, static_cast<std::size_t>(length), data + offset + segment_prefix});
    offset += segment_prefix + static_cast<std::size_t>(length);
  }
  return out.size() == expected;
}

}  // namespace symphony::detail
