// symphony::detail::encode / decode: the 48-byte header in front of every message.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <symphony/detail/wire.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

namespace {

using symphony::detail::header;
using symphony::detail::header_size;
using symphony::detail::operation;

// A header with every field set to a distinct, recognizable value.
header sample() {
  header h;
  h.kind = operation::gather;
  h.source = 0x04030201u;
  h.tag = -2;
  h.communicator = 0x1817161514131211ull;
  h.sequence = 0x2827262524232221ull;
  h.step = 0x34333231u;
  h.payload_size = 0x4847464544434241ull;
  return h;
}

header decode(const symphony::detail::encoded_header& bytes, std::size_t payload_bytes) {
  return symphony::detail::decode(bytes.data(), bytes.size(), payload_bytes);
}

// what() of the protocol_error that decoding throws, or "" when it throws none.
std::string rejection(const std::byte* data, std::size_t size, std::size_t payload_bytes) {
  try {
    symphony::detail::decode(data, size, payload_bytes);
  } catch (const symphony::protocol_error& e) {
    return e.what();
  }
  return "";
}

int byte_at(const symphony::detail::encoded_header& bytes, std::size_t offset) {
  return std::to_integer<int>(bytes[offset]);
}

}  // namespace

TEST_CASE("a header survives encode and decode, field by field") {
  header h = sample();
  SUBCASE("distinct values in every field") {}
  SUBCASE("the largest values of every field") {
    h.source = std::numeric_limits<std::uint32_t>::max();
    h.tag = std::numeric_limits<std::int32_t>::max();
    h.communicator = std::numeric_limits<std::uint64_t>::max();
    h.sequence = std::numeric_limits<std::uint64_t>::max();
    h.step = std::numeric_limits<std::uint32_t>::max();
    h.payload_size = std::numeric_limits<std::uint32_t>::max() + 1ull;
  }
  SUBCASE("the most negative tag") {
    h.tag = std::numeric_limits<std::int32_t>::min();
  }
  SUBCASE("tag -1") {
    h.tag = -1;
  }
  SUBCASE("all zero, as for an empty send/recv message") {
    h = header{};
  }

  const auto back = decode(symphony::detail::encode(h), h.payload_size);
  CHECK(back.kind == h.kind);
  CHECK(back.source == h.source);
  CHECK(back.tag == h.tag);
  CHECK(back.communicator == h.communicator);
  CHECK(back.sequence == h.sequence);
  CHECK(back.step == h.step);
  CHECK(back.payload_size == h.payload_size);
}

TEST_CASE("every operation kind survives encode and decode, and has a name") {
  for (std::uint8_t k = 1; k <= symphony::detail::max_operation; ++k) {
    CAPTURE(int(k));
    header h;
    h.kind = static_cast<operation>(k);
    CHECK(decode(symphony::detail::encode(h), 0).kind == h.kind);
    CHECK(std::string(symphony::detail::operation_name(h.kind)) != "unknown operation");
  }
  CHECK(std::string(symphony::detail::operation_name(operation::point_to_point)) == "send/recv");
  CHECK(std::string(symphony::detail::operation_name(operation::barrier)) == "barrier");
}

TEST_CASE("the header is little-endian at the documented offsets") {
  const auto bytes = symphony::detail::encode(sample());
  REQUIRE(bytes.size() == 48);

  SUBCASE("0: magic SYM and the format version") {
    CHECK(byte_at(bytes, 0) == 'S');
    CHECK(byte_at(bytes, 1) == 'Y');
    CHECK(byte_at(bytes, 2) == 'M');
    CHECK(byte_at(bytes, 3) == symphony::detail::wire_version);
    CHECK(symphony::detail::wire_version == 1);
  }
  SUBCASE("4: the operation kind") {
    CHECK(byte_at(bytes, 4) == static_cast<int>(operation::gather));
  }
  SUBCASE("8: source, 12: tag, 16: communicator, 24: sequence, 32: step, 40: payload size") {
    // sample() puts 0xN1 0xN2 ... in field N's bytes, least significant first.
    for (std::size_t i = 0; i < 4; ++i)
      CHECK(byte_at(bytes, 8 + i) == 0x01 + int(i));
    for (std::size_t i = 0; i < 8; ++i)
      CHECK(byte_at(bytes, 16 + i) == 0x11 + int(i));
    for (std::size_t i = 0; i < 8; ++i)
      CHECK(byte_at(bytes, 24 + i) == 0x21 + int(i));
    for (std::size_t i = 0; i < 4; ++i)
      CHECK(byte_at(bytes, 32 + i) == 0x31 + int(i));
    for (std::size_t i = 0; i < 8; ++i)
      CHECK(byte_at(bytes, 40 + i) == 0x41 + int(i));
  }
  SUBCASE("12: a negative tag in two's complement") {
    // -2 == 0xfffffffe
    CHECK(byte_at(bytes, 12) == 0xfe);
    CHECK(byte_at(bytes, 13) == 0xff);
    CHECK(byte_at(bytes, 14) == 0xff);
    CHECK(byte_at(bytes, 15) == 0xff);
  }
  SUBCASE("5: value type kind, 6: its size, 36: the job stamp; zero when unset") {
    for (std::size_t offset : {5, 6, 7, 36, 37, 38, 39}) {
      CAPTURE(offset);
      CHECK(byte_at(bytes, offset) == 0);
    }
    header h = sample();
    h.type = {symphony::detail::type_kind::floating, 0x0208};
    h.job = 0x54535251;
    const auto stamped = symphony::detail::encode(h);
    CHECK(byte_at(stamped, 5) == 5);
    CHECK(byte_at(stamped, 6) == 0x08);
    CHECK(byte_at(stamped, 7) == 0x02);
    for (std::size_t i = 0; i < 4; ++i)
      CHECK(byte_at(stamped, 36 + i) == 0x51 + int(i));
    const auto back = symphony::detail::decode(stamped.data(), stamped.size(), h.payload_size);
    CHECK(back.type == h.type);
    CHECK(back.job == h.job);
  }
}

TEST_CASE("job stamps: never 0 (what older builds send), different for different jobs") {
  using symphony::detail::job_stamp;
  CHECK(job_stamp("") != 0);
  CHECK(job_stamp("a\nipc:///tmp/x/rank0") != job_stamp("a\nipc:///tmp/y/rank0"));
  CHECK(job_stamp("slurm:12.0") == job_stamp("slurm:12.0"));
}

TEST_CASE("decode rejects anything but a well-formed header of this version") {
  // One byte more than a header, so that a 49-byte frame can be read without overrunning.
  std::array<std::byte, header_size + 1> frame{};
  header h = sample();
  h.payload_size = 10;
  const auto good = symphony::detail::encode(h);
  std::copy(good.begin(), good.end(), frame.begin());
  REQUIRE(rejection(frame.data(), header_size, 10) == "");

  SUBCASE("a frame of the wrong size") {
    CHECK_THROWS_AS(symphony::detail::decode(frame.data(), 47, 10), symphony::protocol_error);
    CHECK(rejection(frame.data(), 47, 10).find("47 bytes instead of 48") != std::string::npos);
    CHECK(rejection(frame.data(), 49, 10).find("49 bytes instead of 48") != std::string::npos);
    CHECK(rejection(frame.data(), 0, 10).find("0 bytes instead of 48") != std::string::npos);
  }
  SUBCASE("a bad magic, in any of its three bytes") {
    for (std::size_t i = 0; i < 3; ++i) {
      CAPTURE(i);
      auto bad = frame;
      bad[i] = std::byte{'X'};
      CHECK(rejection(bad.data(), header_size, 10).find("magic") != std::string::npos);
    }
  }
  SUBCASE("another format version") {
    frame[3] = std::byte{2};
    CHECK(rejection(frame.data(), header_size, 10).find("version 2") != std::string::npos);
    frame[3] = std::byte{0};
    CHECK(rejection(frame.data(), header_size, 10).find("version 0") != std::string::npos);
  }
  SUBCASE("operation kind 0, one past the last, and 255") {
    for (int kind : {0, symphony::detail::max_operation + 1, 255}) {
      CAPTURE(kind);
      frame[4] = static_cast<std::byte>(kind);
      CHECK(rejection(frame.data(), header_size, 10)
                .find("unknown operation kind " + std::to_string(kind)) != std::string::npos);
    }
  }
  SUBCASE("a payload that differs from the declared size, naming operation, sender and sizes") {
    const auto shorter = rejection(frame.data(), header_size, 9);
    CHECK(shorter.find("gather message from rank " + std::to_string(h.source)) !=
          std::string::npos);
    CHECK(shorter.find("declaring 10 payload bytes but carrying 9") != std::string::npos);
    CHECK(rejection(frame.data(), header_size, 11).find("carrying 11") != std::string::npos);
    CHECK(rejection(frame.data(), header_size, 0).find("carrying 0") != std::string::npos);
  }
}
