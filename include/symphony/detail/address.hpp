// symphony/detail/address.hpp: parsing and normalizing one rank's address.
//
// Users write `host:port`, `tcp://host:port`, `[v6]:port` or `ipc:///path`; ZeroMQ wants a full
// endpoint. parse_address() turns the former into the latter, or explains what is wrong.
#pragma once

#include <string>
#include <string_view>

namespace symphony::detail {

/// One rank's address, split into parts. `endpoint` is the ZeroMQ endpoint peers connect to.
struct address {
  enum class kind { tcp, ipc };
  kind scheme = kind::tcp;
  std::string host;      // tcp only: name or IP literal, IPv6 without brackets
  int port = 0;          // tcp only: 1..65535
  std::string path;      // ipc only
  std::string endpoint;  // normalized ZeroMQ endpoint, e.g. "tcp://[::1]:5555", "ipc:///tmp/x"

  bool is_ipv6_literal() const { return host.find(':') != std::string::npos; }
};

/// Parses `text` or returns an explanation (empty `error`) of why it is not an address.
struct address_parse_result {
  address value;
  std::string error;  // empty on success
};

inline bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

inline address_parse_result parse_address(std::string_view text) {
  constexpr std::string_view forms =
      "expected host:port, tcp://host:port, [ipv6]:port or ipc:///path";
  address_parse_result result;
  auto fail = [&](std::string why) {
    result.error = std::move(why);
    return result;
  };
  if (text.empty()) return fail(std::string("empty address (") + std::string(forms) + ")");

  constexpr std::string_view ipc_prefix = "ipc://";
  constexpr std::string_view tcp_prefix = "tcp://";
  if (text.substr(0, ipc_prefix.size()) == ipc_prefix) {
    std::string_view path = text.substr(ipc_prefix.size());
    if (path.empty()) return fail("ipc address has no path (write ipc:///some/path)");
    result.value.scheme = address::kind::ipc;
    result.value.path = std::string(path);
    result.value.endpoint = std::string(text);
    return result;
  }
  std::string_view host_port = text;
  if (text.substr(0, tcp_prefix.size()) == tcp_prefix) {
    host_port = text.substr(tcp_prefix.size());
  } else if (text.find("://") != std::string_view::npos) {
    return fail("unsupported transport '" + std::string(text.substr(0, text.find("://"))) + "' (" +
                std::string(forms) + ")");
  }

  std::string_view host;
  std::string_view port;
  if (!host_port.empty() && host_port.front() == '[') {
    const auto close = host_port.find(']');
    if (close == std::string_view::npos) return fail("IPv6 address is missing its ']'");
    host = host_port.substr(1, close - 1);
    const std::string_view rest = host_port.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return fail("missing :port after the IPv6 address");
    port = rest.substr(1);
  } else {
    const auto colon = host_port.rfind(':');
    if (colon == std::string_view::npos) return fail("missing :port (" + std::string(forms) + ")");
    host = host_port.substr(0, colon);
    port = host_port.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return fail("IPv6 addresses need brackets, as in [::1]:5555");
  }
  if (host.empty()) return fail("missing host before the port");
  if (!all_digits(port)) return fail("port '" + std::string(port) + "' is not a number");
  if (port.size() > 5 || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535)
    return fail("port " + std::string(port) + " is out of range 1-65535");

  result.value.scheme = address::kind::tcp;
  result.value.host = std::string(host);
  for (char& c : result.value.host)  // host names are case-insensitive: H:1 and h:1 are one address
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  result.value.port = std::stoi(std::string(port));
  const bool v6 = result.value.is_ipv6_literal();
  result.value.endpoint = "tcp://" + std::string(v6 ? "[" : "") + result.value.host +
                          (v6 ? "]" : "") + ":" + std::to_string(result.value.port);
  return result;
}

}  // namespace symphony::detail
