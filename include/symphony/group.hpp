// symphony/group.hpp: the communicator of the process group the launcher declared.
//
// symphony-run (`--group NAME`) and symphony::launcher (`add_group`) start related processes as a
// group of consecutive ranks and tell each member where its group lies (SYMPHONY_GROUP_FIRST_RANK,
// SYMPHONY_GROUP_SIZE). One line turns that into a communicator:
//
//   symphony::communicator world;
//   auto group = symphony::group_communicator(world);   // my group; rank 0 is its first member
#pragma once

#include <cstdlib>
#include <functional>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "communicator.hpp"
#include "config.hpp"
#include "error.hpp"

namespace symphony {

namespace detail {

/// The world ranks of this process's launcher-declared group, or nullopt when the process was not
/// started in a group. Throws config_error for inconsistent variables.
inline std::optional<std::vector<int>> declared_group_ranks(
    const std::function<std::optional<std::string>(const std::string&)>& lookup, int world_rank,
    int world_size) {
  const auto first_text = lookup("SYMPHONY_GROUP_FIRST_RANK");
  const auto size_text = lookup("SYMPHONY_GROUP_SIZE");
  if (!first_text && !size_text) return std::nullopt;
  if (!first_text || !size_text)
    throw config_error(
        std::string(first_text ? "SYMPHONY_GROUP_SIZE" : "SYMPHONY_GROUP_FIRST_RANK") +
        " is not set although " +
        (first_text ? "SYMPHONY_GROUP_FIRST_RANK" : "SYMPHONY_GROUP_SIZE") + " is");
  const int first = parse_count("SYMPHONY_GROUP_FIRST_RANK", *first_text);
  const int size = parse_count("SYMPHONY_GROUP_SIZE", *size_text);
  if (size < 1 || first + size > world_size || world_rank < first || world_rank >= first + size)
    throw config_error("SYMPHONY_GROUP_FIRST_RANK=" + *first_text + " and SYMPHONY_GROUP_SIZE=" +
                       *size_text + " do not describe a group of " + std::to_string(world_size) +
                       " ranks that contains rank " + std::to_string(world_rank));
  std::vector<int> ranks(static_cast<std::size_t>(size));
  std::iota(ranks.begin(), ranks.end(), first);
  return ranks;
}

}  // namespace detail

/// The communicator of the group the launcher started this process in, built from `world` (the
/// job's communicator) without sending a message; its ranks follow the order of declaration. A
/// process started on its own (no group) gets a communicator of itself alone. Every member of a
/// group must call it (in the same order relative to other subgroups). Throws config_error when
/// the group variables are inconsistent.
template <class Transport>
basic_communicator<Transport> group_communicator(basic_communicator<Transport>& world) {
  const auto ranks = detail::declared_group_ranks(
      [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        return value ? std::optional<std::string>(value) : std::nullopt;
      },
      world.rank(), world.size());
  return world.subgroup(ranks ? *ranks : std::vector<int>{world.rank()});
}

}  // namespace symphony
