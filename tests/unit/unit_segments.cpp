// symphony::detail::append_segment / split_segments: several ranks' values in one payload, each
// behind an 8-byte little-endian length.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <symphony/detail/segments.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using symphony::detail::append_segment;
using symphony::detail::segment;
using symphony::detail::segment_prefix;
using symphony::detail::split_segments;

using block = std::vector<std::byte>;

void append(block& b, const std::string& text) {
  append_segment(b, reinterpret_cast<const std::byte*>(text.data()), text.size());
}

std::string text_of(const segment& s) {
  return std::string(reinterpret_cast<const char*>(s.data), s.size);
}

block block_of(const std::vector<std::string>& values) {
  block b;
  for (const auto& v : values)
    append(b, v);
  return b;
}

// Appends an 8-byte little-endian length prefix with no bytes behind it.
void append_prefix(block& b, std::uint64_t length) {
  for (int i = 0; i < 8; ++i)
    b.push_back(static_cast<std::byte>((length >> (8 * i)) & 0xff));
}

}  // namespace

TEST_CASE("segments of different sizes, empty ones included, split back into the same values") {
  const std::vector<std::string> values{"abc", "", std::string(1000, 'm'), "x", ""};
  const block b = block_of(values);
  CHECK(b.size() == 3 + 0 + 1000 + 1 + 0 + values.size() * segment_prefix);

  std::vector<segment> segments;
  REQUIRE(split_segments(b.data(), b.size(), values.size(), segments));
  REQUIRE(segments.size() == values.size());
  std::size_t offset = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    CAPTURE(i);
    CHECK(text_of(segments[i]) == values[i]);
    CHECK(segments[i].size == values[i].size());
    CHECK(segments[i].offset == offset);
    CHECK(segments[i].data == b.data() + offset + segment_prefix);  // a view into the block
    offset = segments[i].end();
  }
  CHECK(offset == b.size());
}

TEST_CASE("a segment's length prefix is 8 bytes, little-endian") {
  block b;
  append(b, std::string(0x0102, 'z'));
  REQUIRE(b.size() == 8 + 0x0102);
  CHECK(b[0] == std::byte{0x02});
  CHECK(b[1] == std::byte{0x01});
  for (std::size_t i = 2; i < 8; ++i)
    CHECK(b[i] == std::byte{0});
  CHECK(b[8] == std::byte{'z'});
}

TEST_CASE("an empty block holds zero segments") {
  std::vector<segment> segments(3);
  CHECK(split_segments(nullptr, 0, 0, segments));
  CHECK(segments.empty());
  CHECK_FALSE(split_segments(nullptr, 0, 1, segments));
}

TEST_CASE("split_segments rejects a malformed block") {
  block b = block_of({"one", "two", "three"});
  std::vector<segment> segments;
  REQUIRE(split_segments(b.data(), b.size(), 3, segments));

  SUBCASE("a wrong expected count, fewer or more") {
    CHECK_FALSE(split_segments(b.data(), b.size(), 2, segments));
    CHECK_FALSE(split_segments(b.data(), b.size(), 4, segments));
  }
  SUBCASE("a truncated prefix, whatever the count expected") {
    // Three whole segments and 1 to 7 stray bytes: neither 3 nor 4 segments.
    for (std::size_t extra = 1; extra < segment_prefix; ++extra) {
      CAPTURE(extra);
      block longer = b;
      longer.insert(longer.end(), extra, std::byte{0});
      CHECK_FALSE(split_segments(longer.data(), longer.size(), 3, segments));
      CHECK_FALSE(split_segments(longer.data(), longer.size(), 4, segments));
    }
    // Cut inside the first prefix: neither 0 nor 1 segment.
    CHECK_FALSE(split_segments(b.data(), 5, 0, segments));
    CHECK_FALSE(split_segments(b.data(), 5, 1, segments));
  }
  SUBCASE("a length past the end, by one byte or more") {
    for (std::size_t cut = 1; cut <= 5; ++cut) {
      CAPTURE(cut);
      // Two whole segments and a cut third: neither 2 nor 3 segments.
      CHECK_FALSE(split_segments(b.data(), b.size() - cut, 2, segments));
      CHECK_FALSE(split_segments(b.data(), b.size() - cut, 3, segments));
    }
  }
  SUBCASE("a length so large that offset + length would overflow") {
    block huge;
    append_prefix(huge, ~std::uint64_t{0});
    huge.push_back(std::byte{1});
    CHECK_FALSE(split_segments(huge.data(), huge.size(), 1, segments));
    block almost;
    append_prefix(almost, ~std::uint64_t{0} - 7);
    CHECK_FALSE(split_segments(almost.data(), almost.size(), 1, segments));
  }
}

TEST_CASE("split_segments replaces what the output held") {
  std::vector<segment> segments(10);
  const block b = block_of({"only"});
  REQUIRE(split_segments(b.data(), b.size(), 1, segments));
  REQUIRE(segments.size() == 1);
  CHECK(text_of(segments[0]) == "only");
}
