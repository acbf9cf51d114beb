// symphony::detail::parse_address: one rank's address, as a user writes it, to a ZeroMQ endpoint.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <symphony/detail/address.hpp>

#include <string>

using symphony::detail::address;
using symphony::detail::parse_address;

TEST_CASE("parse_address accepts every documented form and normalizes it to a ZeroMQ endpoint") {
  SUBCASE("host:port gets the tcp:// scheme") {
    const auto r = parse_address("node7:5555");
    CHECK(r.error == "");
    CHECK(r.value.scheme == address::kind::tcp);
    CHECK(r.value.host == "node7");
    CHECK(r.value.port == 5555);
    CHECK(r.value.endpoint == "tcp://node7:5555");
    CHECK_FALSE(r.value.is_ipv6_literal());
  }
  SUBCASE("tcp://host:port is already an endpoint") {
    const auto r = parse_address("tcp://1.2.3.4:80");
    CHECK(r.error == "");
    CHECK(r.value.host == "1.2.3.4");
    CHECK(r.value.port == 80);
    CHECK(r.value.endpoint == "tcp://1.2.3.4:80");
  }
  SUBCASE("[ipv6]:port keeps its brackets in the endpoint but not in the host") {
    const auto r = parse_address("[::1]:5555");
    CHECK(r.error == "");
    CHECK(r.value.host == "::1");
    CHECK(r.value.is_ipv6_literal());
    CHECK(r.value.port == 5555);
    CHECK(r.value.endpoint == "tcp://[::1]:5555");
  }
  SUBCASE("tcp://[ipv6]:port") {
    const auto r = parse_address("tcp://[fe80::1:2]:7");
    CHECK(r.error == "");
    CHECK(r.value.host == "fe80::1:2");
    CHECK(r.value.endpoint == "tcp://[fe80::1:2]:7");
  }
  SUBCASE("ipc:///path is kept unchanged") {
    const auto r = parse_address("ipc:///tmp/x");
    CHECK(r.error == "");
    CHECK(r.value.scheme == address::kind::ipc);
    CHECK(r.value.path == "/tmp/x");
    CHECK(r.value.endpoint == "ipc:///tmp/x");
    CHECK(r.value.host == "");
    CHECK(r.value.port == 0);
  }
  SUBCASE("leading zeros in the port are normalized away") {
    CHECK(parse_address("h:00080").value.endpoint == "tcp://h:80");
  }
  SUBCASE("ports 1 and 65535 are the bounds") {
    CHECK(parse_address("h:1").value.port == 1);
    CHECK(parse_address("h:65535").value.port == 65535);
  }
}

TEST_CASE("parse_address explains what is wrong with a malformed address") {
  std::string text;
  std::string reason;
  SUBCASE("empty") {
    text = "";
    reason = "empty address";
  }
  SUBCASE("no port") {
    text = "node7";
    reason = "missing :port";
  }
  SUBCASE("tcp:// and nothing else") {
    text = "tcp://";
    reason = "missing :port";
  }
  SUBCASE("a colon but no port") {
    text = "node7:";
    reason = "port '' is not a number";
  }
  SUBCASE("empty host") {
    text = ":5555";
    reason = "missing host";
  }
  SUBCASE("empty host after tcp://") {
    text = "tcp://:5555";
    reason = "missing host";
  }
  SUBCASE("a named port") {
    text = "node7:http";
    reason = "port 'http' is not a number";
  }
  SUBCASE("a negative port") {
    text = "node7:-1";
    reason = "port '-1' is not a number";
  }
  SUBCASE("port 0") {
    text = "node7:0";
    reason = "port 0 is out of range 1-65535";
  }
  SUBCASE("port 65536") {
    text = "node7:65536";
    reason = "port 65536 is out of range 1-65535";
  }
  SUBCASE("port 99999") {
    text = "node7:99999";
    reason = "port 99999 is out of range 1-65535";
  }
  SUBCASE("a port too long for an int") {
    text = "node7:12345678901234567890";
    reason = "out of range 1-65535";
  }
  SUBCASE("an unbracketed IPv6 address") {
    text = "::1:5555";
    reason = "IPv6 addresses need brackets, as in [::1]:5555";
  }
  SUBCASE("an IPv6 address without its ]") {
    text = "[::1:5555";
    reason = "missing its ']'";
  }
  SUBCASE("an IPv6 address without a port") {
    text = "[::1]";
    reason = "missing :port after the IPv6 address";
  }
  SUBCASE("an IPv6 address without the colon before its port") {
    text = "[::1]5555";
    reason = "missing :port after the IPv6 address";
  }
  SUBCASE("empty brackets") {
    text = "[]:5555";
    reason = "missing host";
  }
  SUBCASE("an unknown scheme") {
    text = "udp://node7:5555";
    reason = "unsupported transport 'udp'";
  }
  SUBCASE("a scheme in capitals") {
    text = "TCP://node7:5555";
    reason = "unsupported transport 'TCP'";
  }
  SUBCASE("an ipc address without a path") {
    text = "ipc://";
    reason = "ipc address has no path";
  }
  CAPTURE(text);
  const auto r = parse_address(text);
  CAPTURE(r.error);
  CHECK(r.error.find(reason) != std::string::npos);
  CHECK(r.value.endpoint == "");
}

TEST_CASE("errors about the overall shape list the accepted forms") {
  for (const char* text : {"", "node7", "udp://node7:5555"}) {
    CAPTURE(text);
    CHECK(parse_address(text).error.find(
              "expected host:port, tcp://host:port, [ipv6]:port or ipc:///path") !=
          std::string::npos);
  }
}
