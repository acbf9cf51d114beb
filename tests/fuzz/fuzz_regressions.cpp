// Regression tests for what fuzzing found in symphony's decoders, one test case per bug, each
// asserting the behaviour the fix introduced. (The inputs that found them are also kept in
// corpus/<target>/regression-*, which the fuzz targets replay.)
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <symphony/detail/serialization.hpp>

#include <string>
#include <utility>
#include <vector>

using symphony::detail::decode_value;
using symphony::detail::encode_value;

TEST_CASE("payload: a cereal payload with bytes after the value is refused") {
  // Found by fuzz_payload: a std::vector<bool> payload with 4 extra bytes decoded as if they were
  // not there. A sender of another type whose encoding starts the same way was accepted.
  const auto sent = encode_value(std::pair<std::vector<std::string>, int>({"a", "b"}, 7));
  std::vector<std::string> received;
  const std::string problem = decode_value(sent.data(), sent.size(), received);
  CHECK(problem.find("bytes with 4 bytes left over after the value") != std::string::npos);

  // The exact encoding still decodes.
  const auto exact = encode_value(std::vector<std::string>{"a", "b"});
  CHECK(decode_value(exact.data(), exact.size(), received) == "");
  CHECK(received == std::vector<std::string>{"a", "b"});
}
