// symphony/detail/bind_address.hpp: the endpoint ZeroMQ can bind for an address.
//
// ZeroMQ binds interfaces and IP literals, not host names ("tcp://localhost:5555" fails with
// ENODEV). Users write host names, so a name is resolved here to this machine's IP address.
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "../error.hpp"
#include "address.hpp"

namespace symphony::detail {

/// The endpoint to bind for `a`: unchanged for ipc, an IP literal or "*"; otherwise the host
/// name resolved to its first address. Throws config_error naming `what` (e.g. "the address of
/// rank 3") when the name does not resolve.
inline std::string bindable_endpoint(const address& a, const std::string& what) {
  if (a.scheme == address::kind::ipc || a.host == "*") return a.endpoint;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* found = nullptr;
  if (getaddrinfo(a.host.c_str(), nullptr, &hints, &found) == 0) {  // already an IP literal
    freeaddrinfo(found);
    return a.endpoint;
  }
  const auto unresolved = [&] {
    return config_error("cannot resolve the host '" + a.host + "' of " + what + " '" + a.endpoint +
                        "'");
  };
  hints.ai_flags = 0;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(a.host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr)
    throw unresolved();
  const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found, &freeaddrinfo);
  char ip[NI_MAXHOST];
  if (getnameinfo(found->ai_addr, found->ai_addrlen, ip, sizeof ip, nullptr, 0, NI_NUMERICHOST) !=
      0)
    throw unresolved();
  const std::string literal = ip;
  const bool v6 = literal.find(':') != std::string::npos;
  return "tcp://" + (v6 ? "[" + literal + "]" : literal) + ":" + std::to_string(a.port);
}

}  // namespace symphony::detail
