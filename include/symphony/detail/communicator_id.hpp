// symphony/detail/communicator_id.hpp: ids of derived communicators.
//
// Every message names its communicator by a 64-bit id. The world communicator is 0; a derived
// communicator's id is a hash of its parent's id and of what every member knows identically about
// its creation (how it was made, the parent's call number or the member list), so members agree on
// the id without exchanging a message, and communicators made at different times differ.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace symphony::detail {

inline std::uint64_t derived_id(std::uint64_t parent, const std::vector<std::uint64_t>& fields) {
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a, 64-bit
  const auto mix = [&](std::uint64_t value) {
    for (int i = 0; i < 8; ++i) {
      hash ^= (value >> (8 * i)) & 0xff;
      hash *= 1099511628211ull;
    }
  };
  mix(parent);
  for (const std::uint64_t f : fields)
    mix(f);
  return hash == 0 ? 1 : hash;  // 0 is the world's
}

}  // namespace symphony::detail
