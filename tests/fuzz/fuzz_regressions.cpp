// Regression tests for what fuzzing found in symphony's decoders, one test case per bug, each
// asserting the behaviour the fix introduced. (The inputs that found them are also kept in
// corpus/<target>/regression-*, which the fuzz targets replay.)
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <symphony/bootstrap/pmi.hpp>
#include <symphony/detail/serialization.hpp>

#include <cereal/types/memory.hpp>
#include <cereal/types/polymorphic.hpp>

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"

using symphony::detail::decode_value;
using symphony::detail::encode_value;

TEST_CASE("the allocation meter sees allocations (else the bounds below would pass vacuously)") {
  symphony_fuzz::reset_allocations();
  const auto block = std::make_unique<char[]>(100000);
  CHECK(block != nullptr);
  CHECK(symphony_fuzz::allocations().largest >= 100000);
  CHECK(symphony_fuzz::allocations().count >= 1);
}

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

namespace {

// A payload: cereal size tags (8 bytes, little-endian, as BinaryOutputArchive writes them on
// this little-endian machine) and raw bytes.
struct payload_builder {
  std::vector<std::byte> bytes;
  payload_builder& count(std::uint64_t n) {
    for (int i = 0; i < 8; ++i)
      bytes.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xff));
    return *this;
  }
  payload_builder& byte(unsigned char b) {
    bytes.push_back(static_cast<std::byte>(b));
    return *this;
  }
};

template <class T>
std::string decode(const payload_builder& p, T& out) {
  return decode_value(p.bytes.data(), p.bytes.size(), out);
}

enum class colour : std::uint16_t { red = 1, blue = 2 };

struct versioned {
  colour c = colour::red;
  std::vector<std::string> names;
  template <class Archive>
  void serialize(Archive& archive, std::uint32_t /*version*/) {
    archive(c, names);
  }
};

struct shape {
  virtual ~shape() = default;
  virtual int corners() const = 0;
  template <class Archive>
  void serialize(Archive&) {}
};

struct square : shape {
  int side = 0;
  int corners() const override { return 4; }
  template <class Archive>
  void serialize(Archive& archive) {
    archive(cereal::base_class<shape>(this), side);
  }
};

}  // namespace

CEREAL_CLASS_VERSION(versioned, 3)
CEREAL_REGISTER_TYPE(square)

TEST_CASE("payload: a declared count larger than the payload is refused before allocating") {
  // Found by fuzz_payload: 17 bytes declaring one vector<int> of 2^30 elements made cereal's
  // BinaryInputArchive allocate 4 GiB (std::vector::resize before reading the elements); a
  // std::list<std::string> count of 2^33 would resize node by node for minutes.
  SUBCASE("nested vector") {
    std::vector<std::vector<int>> out;
    symphony_fuzz::reset_allocations();
    const std::string problem = decode(payload_builder{}.count(1).count(std::uint64_t{1} << 30), out);
    CHECK(symphony_fuzz::allocations().largest < 4096);
    CHECK(problem.find("a count of 1073741824 elements with only 0 bytes left") !=
          std::string::npos);
  }
  SUBCASE("list of strings") {
    std::list<std::string> out;
    symphony_fuzz::reset_allocations();
    const std::string problem = decode(payload_builder{}.count(std::uint64_t{1} << 33).byte(0), out);
    CHECK(symphony_fuzz::allocations().largest < 4096);
    CHECK(problem.find("a count of 8589934592 elements with only 1 bytes left") !=
          std::string::npos);
  }
  SUBCASE("a string inside a vector") {
    std::vector<std::string> out;
    const std::string problem =
        decode(payload_builder{}.count(1).count(std::uint64_t{1} << 40), out);
    CHECK(problem.find("a count of 1099511627776 elements") != std::string::npos);
  }
  SUBCASE("a count that exactly fits still decodes") {
    std::vector<std::string> out;
    CHECK(decode(payload_builder{}.count(2).count(1).byte('a').count(0), out) == "");
    CHECK(out == std::vector<std::string>{"a", ""});
  }
}

TEST_CASE("payload: a bool that is neither 0 nor 1 is refused") {
  // Met while fixing the counts (fuzz_payload's canonical-encoding check and UBSan flag it): a
  // vector<bool> payload byte of 2 was loaded into a bool, which is undefined behaviour (UBSan:
  // "load of value 2, which is not a valid value for type 'bool'"; unsanitized, it read false).
  std::vector<bool> out;
  CHECK(decode(payload_builder{}.count(2).byte(1).byte(0), out) == "");
  CHECK(out == std::vector<bool>{true, false});
  CHECK(decode(payload_builder{}.count(2).byte(1).byte(2), out).find("a bool of value 2") !=
        std::string::npos);
}

TEST_CASE("payload: polymorphic pointers still decode (the payload archive is registered)") {
  auto sent = std::make_shared<square>();
  sent->side = 42;
  const auto bytes = encode_value(std::shared_ptr<shape>(sent));
  std::shared_ptr<shape> received;
  CHECK(decode_value(bytes.data(), bytes.size(), received) == "");
  REQUIRE(received != nullptr);
  CHECK(received->corners() == 4);
  CHECK(dynamic_cast<const square&>(*received).side == 42);
}

TEST_CASE("payload: enums, class versions and name-value pairs still decode") {
  versioned sent;
  sent.c = colour::blue;
  sent.names = {"x", "yz"};
  const auto bytes = encode_value(sent);
  versioned received;
  CHECK(decode_value(bytes.data(), bytes.size(), received) == "");
  CHECK(received.c == colour::blue);
  CHECK(received.names == sent.names);
}

TEST_CASE("pmi: a value announcing more pieces than keys can name is a protocol_error") {
  // Found while writing fuzz_pmi's checks, confirmed by its replay (a minute of fuzzing had not
  // reached it; corpus/pmi/regression-too-many-pieces holds the input): with keylen_max=17 (keys of
  // at most 16 characters), rank 1's first piece "12:11:a" announces 12 pieces; the key of piece
  // 10, "symphony-c0-r1-10", is 17 characters, and allgather threw std::invalid_argument, the
  // exception for a caller's bad argument, although the server's answer was at fault.
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  std::string script =
      "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0\n"
      "cmd=maxes kvsname_max=256 keylen_max=17 vallen_max=1024 rc=0\n"
      "cmd=my_kvsname kvsname=k rc=0\n"
      "cmd=put_result rc=0\n"
      "cmd=barrier_out rc=0\n"
      "cmd=get_result rc=0 value=12:11:a\n";
  for (int i = 0; i < 10; ++i)
    script += "cmd=get_result rc=0 value=a\n";
  // The whole conversation fits the socket buffers: the script is written before the client
  // starts, and the client's few requests wait unread until the end.
  REQUIRE(::write(pair[1], script.data(), script.size()) == static_cast<ssize_t>(script.size()));
  ::shutdown(pair[1], SHUT_WR);
  const std::map<std::string, std::string> environment = {
      {"PMI_FD", std::to_string(pair[0])}, {"PMI_RANK", "0"}, {"PMI_SIZE", "2"}};
  const symphony::bootstrap::environment_lookup lookup =
      [&](const std::string& name) -> std::optional<std::string> {
    const auto it = environment.find(name);
    if (it == environment.end()) return std::nullopt;
    return it->second;
  };
  std::string what;
  try {
    symphony::bootstrap::pmi_client client(lookup, std::chrono::seconds(5));
    client.allgather("mine");
  } catch (const symphony::protocol_error& e) {
    what = e.what();
  }
  ::close(pair[1]);
  CHECK(what.find("'12:11:a' under 'symphony-c0-r1-0' (rank 1's value), which no symphony rank "
                  "writes (more pieces than keys of at most 16 characters can name)") !=
        std::string::npos);
}
