// Fuzz target: splitting a gather/scatter block into per-rank segments
// (symphony/detail/segments.hpp, detail::split_segments).
//
// Input: one byte, the number of segments expected (0-255), then the block. split_segments must
// return false, or true with exactly that many segments that tile the block: each starts where the
// previous ended, its data pointer is inside the block just after its 8-byte length, the last
// ends at the block's end, and appending them again with append_segment rebuilds the block byte
// for byte. It never crashes, and allocates at most a few bytes per block byte (one segment
// record per 8 bytes at least), whatever lengths the block declares.
#include <symphony/detail/segments.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace symphony_fuzz;
  if (size == 0) return 0;
  const std::size_t expected = data[0];
  const auto* block = reinterpret_cast<const std::byte*>(data + 1);
  const std::size_t block_size = size - 1;

  std::vector<symphony::detail::segment> segments;
  reset_allocations();
  const bool ok = symphony::detail::split_segments(block, block_size, expected, segments);
  // A segment record is 24 bytes per at least 8 block bytes; the vector doubles as it grows, so
  // all its buffers together hold at most 4 times the records: 12 bytes per block byte.
  check_total_allocation("detail::split_segments", block_size, {12, 256});
  if (!ok) return 0;

  check(segments.size() == expected, "returned " + std::to_string(segments.size()) +
                                         " segments where " + std::to_string(expected) +
                                         " were expected");
  std::size_t offset = 0;
  std::vector<std::byte> rebuilt;
  for (const auto& s : segments) {
    check(s.offset == offset, "a segment does not start where the previous one ended");
    check(s.end() <= block_size, "a segment ends past the block");
    check(s.data == block + s.offset + symphony::detail::segment_prefix,
          "a segment's data is not right after its length");
    symphony::detail::append_segment(rebuilt, s.data, s.size);
    offset = s.end();
  }
  check(offset == block_size, "the segments do not cover the whole block");
  check(rebuilt.size() == block_size &&
            (block_size == 0 || std::memcmp(rebuilt.data(), block, block_size) == 0),
        "appending the segments again does not rebuild the block");
  return 0;
}
