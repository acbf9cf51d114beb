// symphony/detail/launcher_names.hpp: the launcher's rules for names and variable values.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "../config.hpp"

namespace symphony::detail {

/// Throws std::invalid_argument unless `name` can name a process or group: not empty, no '/'
/// (process names become log file names), not "." or "..", no control characters (names appear
/// in output prefixes and environment variables). `what` is "process" or "group".
inline void check_launcher_name(const std::string& what, const std::string& name) {
  if (name.empty()) throw std::invalid_argument(what + " name must not be empty");
  const auto reject = [&](const std::string& why) {
    throw std::invalid_argument(what + " name " + detail::in_quotes(name) + " " + why);
  };
  if (name == "." || name == "..") reject("is not allowed (names become log file names)");
  for (const char c : name) {
    if (c == '/') reject("contains '/' (names become log file names)");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) reject("contains a control character");
  }
}

/// The part of SYMPHONY_SERVICE_<NAME>_HOST/_PORT that names `service`: upper-cased, every
/// character other than an ASCII letter or digit turned into '_' ("replay-server" ->
/// "REPLAY_SERVER").
inline std::string service_variable_stem(const std::string& service) {
  std::string stem;
  stem.reserve(service.size());
  for (const char c : service) {
    if (c >= 'a' && c <= 'z') {
      stem.push_back(static_cast<char>(c - 'a' + 'A'));
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      stem.push_back(c);
    } else {
      stem.push_back('_');
    }
  }
  return stem;
}

/// A duration as SYMPHONY_TIMEOUT writes it: seconds with up to three decimals ("1.5", "300"),
/// "inf" for symphony::wait_forever.
inline std::string format_seconds(std::chrono::milliseconds duration) {
  if (duration == wait_forever) return "inf";
  const long long ms = duration.count();
  std::string text = std::to_string(ms / 1000);
  if (const long long fraction = ms % 1000; fraction != 0) {
    char digits[8];
    std::snprintf(digits, sizeof digits, ".%03lld", fraction);
    text += digits;
    while (text.back() == '0')
      text.pop_back();
  }
  return text;
}

}  // namespace symphony::detail
