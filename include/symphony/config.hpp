// symphony/config.hpp: who am I, how many are we, where are the others.
//
// A communicator is built from a `config`: this process's rank, the job size, every rank's
// address and the timeout of a blocking wait. `config::from_environment()` reads it from the
// variables a launcher sets:
//
//   SYMPHONY_NRANKS     number of ranks in the job (>= 1)
//   SYMPHONY_RANK       this process's rank, 0 <= rank < SYMPHONY_NRANKS
//   SYMPHONY_ADDRESSES  comma-separated, one per rank in rank order: host:port, tcp://host:port,
//                       [ipv6]:port or ipc:///path. Rank r binds its own entry and connects to the
//                       others'.
//   SYMPHONY_TIMEOUT    seconds (fractions allowed) that any single blocking wait may take before
//                       a timeout_error; default 300; 0 or inf waits forever.
//   SYMPHONY_PEER_TIMEOUT   seconds after which a peer whose connection dropped (or whose host
//                       stopped answering heartbeats) counts as lost; default 3. A rank waiting
//                       for a message from a lost peer gets a peer_lost_error.
//   SYMPHONY_CURVE_SECRET, SYMPHONY_CURVE_PUBLIC
//                       the job's CURVE key pair (40-character Z85 each; both or neither): every
//                       connection is authenticated and encrypted with it (see README, Security).
//
// When none of SYMPHONY_NRANKS, SYMPHONY_RANK and SYMPHONY_ADDRESSES is set, the same three under
// the prefix PYZMQ_COLLECTIVES_ are read instead, so that jobs written for pyzmq-collectives run
// unchanged.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "detail/address.hpp"
#include "error.hpp"

namespace symphony {

/// The timeout that means "wait forever" (SYMPHONY_TIMEOUT=0 or inf).
inline constexpr std::chrono::milliseconds wait_forever = std::chrono::milliseconds::max();

/// The default deadline of a single blocking wait: five minutes.
inline constexpr std::chrono::milliseconds default_timeout = std::chrono::seconds(300);

/// The default time after which a peer whose connection dropped counts as lost.
inline constexpr std::chrono::milliseconds default_peer_timeout = std::chrono::seconds(3);

/// The job's CURVE key pair, Z85-encoded (40 characters each). Every rank listens as a CURVE
/// server with it and connects as a client with the same pair, so only holders of the pair can
/// talk to the job.
struct curve_keys {
  std::string public_key;
  std::string secret_key;
};

/// A job description: enough to build a communicator without any environment variable.
struct config {
  int rank = 0;                                         ///< this process, 0 <= rank < size
  int size = 1;                                         ///< number of ranks in the job
  std::vector<std::string> addresses;                   ///< one per rank, in rank order
  std::chrono::milliseconds timeout = default_timeout;  ///< per blocking wait; wait_forever
  /// How long a dropped connection may stay down before its peer counts as lost.
  std::chrono::milliseconds peer_timeout = default_peer_timeout;
  std::optional<curve_keys> curve{};  ///< set: every connection uses CURVE with this pair

  /// Reads the job from the environment (see the top of this header for the variables).
  /// Throws config_error naming the variable and its value when one is missing or malformed.
  static config from_environment();

  /// The same, reading variables through `lookup` (returns nullopt for an unset variable);
  /// lets tests and embedders supply an environment of their own.
  static config from_environment(
      const std::function<std::optional<std::string>(const std::string&)>& lookup);

  /// Throws config_error unless rank, size, addresses and timeout describe a usable job: size >= 1,
  /// 0 <= rank < size, exactly `size` well-formed and distinct addresses, timeout > 0.
  void validate() const;
};

namespace detail {

/// Names used in error messages: the environment variables, or the config fields.
struct config_names {
  std::string nranks = "config.size";
  std::string rank = "config.rank";
  std::string addresses = "config.addresses";
};

/// 'text', for values in messages (not named `quoted`: std::quoted would hijack calls by ADL).
inline std::string in_quotes(const std::string& s) {
  return "'" + s + "'";
}

inline std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t'))
    s.pop_back();
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.erase(0, 1);
  return s;
}

/// Parses a non-negative whole number or throws config_error naming `name`.
inline int parse_count(const std::string& name, const std::string& text) {
  const std::string trimmed = trim(text);
  const bool negative = !trimmed.empty() && trimmed.front() == '-';
  if (!all_digits(negative ? trimmed.substr(1) : trimmed))
    throw config_error(name + "=" + in_quotes(text) + " is not a whole number");
  if (negative) throw config_error(name + "=" + in_quotes(text) + " is negative");
  if (trimmed.size() > 9) throw config_error(name + "=" + in_quotes(text) + " is too large");
  return std::stoi(trimmed);
}

/// Parses SYMPHONY_TIMEOUT: seconds, fractions allowed; 0 and inf mean wait forever.
inline std::chrono::milliseconds parse_timeout(const std::string& name, const std::string& text) {
  const auto bad = [&] {
    return config_error(name + "=" + in_quotes(text) +
                        " is not a number of seconds (use 0 or inf to wait forever)");
  };
  if (text.empty()) throw bad();
  char* end = nullptr;
  const double seconds = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || std::isnan(seconds)) throw bad();
  if (seconds < 0) throw config_error(name + "=" + in_quotes(text) + " is negative");
  if (seconds == 0 || std::isinf(seconds) || seconds > 1e9) return wait_forever;
  return std::chrono::milliseconds(std::max<long long>(1, std::llround(seconds * 1000)));
}

inline std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::string::size_type start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? comma : comma - start);
    while (!part.empty() && part.front() == ' ')
      part.erase(0, 1);
    while (!part.empty() && part.back() == ' ')
      part.pop_back();
    parts.push_back(std::move(part));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parts;
}

/// Checks a config, naming fields with `names` in the messages.
inline void validate(const config& c, const config_names& names) {
  if (c.size < 1)
    throw config_error(names.nranks + "=" + std::to_string(c.size) +
                       ": a job needs at least one rank");
  if (c.rank < 0) throw config_error(names.rank + "=" + std::to_string(c.rank) + " is negative");
  if (c.rank >= c.size)
    throw config_error(names.rank + "=" + std::to_string(c.rank) + " is not below " + names.nranks +
                       "=" + std::to_string(c.size) + " (ranks count from 0)");
  if (static_cast<int>(c.addresses.size()) != c.size)
    throw config_error(names.addresses + " has " + std::to_string(c.addresses.size()) +
                       " address(es) but " + names.nranks + "=" + std::to_string(c.size) +
                       " (give one address per rank, in rank order)");
  std::vector<std::string> endpoints;
  for (std::size_t i = 0; i < c.addresses.size(); ++i) {
    const auto parsed = parse_address(c.addresses[i]);
    if (!parsed.error.empty())
      throw config_error(names.addresses + " entry " + std::to_string(i) + " (rank " +
                         std::to_string(i) + ") " + in_quotes(c.addresses[i]) + ": " +
                         parsed.error);
    for (std::size_t j = 0; j < endpoints.size(); ++j)
      if (endpoints[j] == parsed.value.endpoint)
        throw config_error(names.addresses + " gives ranks " + std::to_string(j) + " and " +
                           std::to_string(i) + " the same address " +
                           in_quotes(parsed.value.endpoint) + " (every rank needs its own)");
    endpoints.push_back(parsed.value.endpoint);
  }
  if (c.timeout.count() <= 0)
    throw config_error(
        "config.timeout must be positive (use symphony::wait_forever to wait forever)");
  if (c.peer_timeout.count() <= 0 || c.peer_timeout == wait_forever)
    throw config_error("config.peer_timeout must be positive and finite");
}

/// Parses SYMPHONY_PEER_TIMEOUT: seconds, fractions allowed, positive and finite (a peer that
/// is never declared lost would bring back the hang this setting exists to prevent).
inline std::chrono::milliseconds parse_peer_timeout(const std::string& name,
                                                    const std::string& text) {
  const auto t = parse_timeout(name, text);
  if (t == wait_forever)
    throw config_error(name + "=" + in_quotes(text) +
                       " must be a positive, finite number of seconds (default 3)");
  return t;
}

/// Reads SYMPHONY_PEER_TIMEOUT and the CURVE key pair into `peer_timeout` and `curve`; throws
/// config_error naming the variable when one is malformed (key pairs are checked further, against
/// libzmq, when the transport starts).
inline void read_peer_settings(
    const std::function<std::optional<std::string>(const std::string&)>& lookup,
    std::chrono::milliseconds& peer_timeout, std::optional<curve_keys>& curve) {
  if (const auto t = lookup("SYMPHONY_PEER_TIMEOUT"))
    peer_timeout = parse_peer_timeout("SYMPHONY_PEER_TIMEOUT", trim(*t));
  const auto secret = lookup("SYMPHONY_CURVE_SECRET");
  const auto pub = lookup("SYMPHONY_CURVE_PUBLIC");
  if (!secret && !pub) return;
  if (!secret || !pub)
    throw config_error(std::string(secret ? "SYMPHONY_CURVE_SECRET" : "SYMPHONY_CURVE_PUBLIC") +
                       " is set but " +
                       (secret ? "SYMPHONY_CURVE_PUBLIC" : "SYMPHONY_CURVE_SECRET") +
                       " is not: a secure job needs both halves of its key pair");
  curve = curve_keys{trim(*pub), trim(*secret)};
}

}  // namespace detail

inline void config::validate() const {
  detail::validate(*this, detail::config_names{});
}

inline config config::from_environment(
    const std::function<std::optional<std::string>(const std::string&)>& lookup) {
  // Prefer SYMPHONY_*; fall back to PYZMQ_COLLECTIVES_* only when no SYMPHONY_ variable is set,
  // so that a half-set SYMPHONY_ environment is reported rather than silently mixed.
  std::string prefix = "SYMPHONY_";
  const char* const core[] = {"NRANKS", "RANK", "ADDRESSES"};
  const auto any_set = [&](const std::string& p) {
    for (const char* name : core)
      if (lookup(p + name)) return true;
    return false;
  };
  if (!any_set(prefix) && any_set("PYZMQ_COLLECTIVES_")) prefix = "PYZMQ_COLLECTIVES_";

  const auto require = [&](const char* name) {
    const auto value = lookup(prefix + name);
    if (!value)
      throw config_error(prefix + name + " is not set; symphony needs " + prefix + "NRANKS, " +
                         prefix + "RANK and " + prefix +
                         "ADDRESSES (a launcher such as symphony-run sets them)");
    return *value;
  };
  const detail::config_names names{prefix + "NRANKS", prefix + "RANK", prefix + "ADDRESSES"};

  config c;
  c.size = detail::parse_count(names.nranks, require("NRANKS"));
  c.rank = detail::parse_count(names.rank, require("RANK"));
  const std::string addresses = require("ADDRESSES");
  c.addresses = addresses.empty() ? std::vector<std::string>{} : detail::split_commas(addresses);
  if (const auto timeout = lookup("SYMPHONY_TIMEOUT"))
    c.timeout = detail::parse_timeout("SYMPHONY_TIMEOUT", detail::trim(*timeout));
  detail::read_peer_settings(lookup, c.peer_timeout, c.curve);
  if (static_cast<int>(c.addresses.size()) != c.size && c.size >= 1)
    throw config_error(names.addresses + "=" + detail::in_quotes(addresses) + " has " +
                       std::to_string(c.addresses.size()) + " address(es) but " + names.nranks +
                       "=" + std::to_string(c.size) +
                       " (give one address per rank, in rank order)");
  detail::validate(c, names);
  return c;
}

inline config config::from_environment() {
  return from_environment([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

}  // namespace symphony
