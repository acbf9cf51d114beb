// Communicators made from communicators: split (MPI_Comm_split), subgroup, and the
// launcher-declared group. They share the parent's connections and never mix messages.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <symphony/collectives.hpp>
#include <vector>

#include "reference.hpp"

using symphony::thread_communicator;

namespace {

// Runs the core collectives with int, string and map values on `comm`, every root.
template <class Comm>
void check_collectives(Comm& comm) {
  using reference::concat;
  using reference::merge;
  using reference::string_map;
  const auto ints = reference::make_case<int>(
      "int", [](int r) { return 3 * r + 1; }, symphony::ops::sum);
  const auto strings = reference::make_case<std::string>(
      "string", [](int r) { return std::string(static_cast<std::size_t>(r + 1), char('a' + r)); },
      concat);
  const auto maps = reference::make_case<string_map>(
      "map",
      [](int r) {
        return string_map{{"k" + std::to_string(r), r}};
      },
      merge);
  for (int root = 0; root < comm.size(); ++root) {
    reference::check_case(comm, ints, root);
    reference::check_case(comm, strings, root);
    reference::check_case(comm, maps, root);
  }
  comm.barrier();
}

}  // namespace

TEST_CASE("split by color orders the new ranks by key, then by old rank") {
  symphony::run_threads(7, [](thread_communicator& world) {
    const int color = world.rank() % 3;
    auto part = world.split(color, /*key=*/-world.rank());  // reverse order within each color
    REF_CHECK(static_cast<bool>(part), "member of its color");
    int expected_size = 0;
    for (int r = 0; r < world.size(); ++r)
      expected_size += r % 3 == color;
    REF_CHECK(part.size() == expected_size, "size of color " << color);
    // Highest old rank first: new rank 0 is the largest old rank with this color.
    const auto old_ranks = part.gather(world.rank(), 0);
    if (part.rank() == 0)
      for (std::size_t i = 1; i < old_ranks.size(); ++i)
        REF_CHECK(old_ranks[i - 1] > old_ranks[i], "ordered by key");
    // Equal keys keep the old order.
    auto same_key = world.split(color, 0);
    REF_CHECK(same_key.rank() == world.rank() / 3, "equal keys keep the parent's order");
  });
}

TEST_CASE("a negative color puts a rank in no new communicator") {
  symphony::run_threads(4, [](thread_communicator& world) {
    auto odd = world.split(world.rank() % 2 == 1 ? 0 : symphony::no_color);
    if (world.rank() % 2 == 0) {
      REF_CHECK(!odd, "not a member");
      bool threw = false;
      try {
        odd.barrier();
      } catch (const std::logic_error&) {
        threw = true;
      }
      REF_CHECK(threw, "collectives on a non-member communicator throw std::logic_error");
    } else {
      REF_CHECK(odd.size() == 2, "two odd ranks");
      odd.barrier();
    }
  });
}

TEST_CASE("every collective on split communicators, 1 to 9 ranks") {
  for (int n = 1; n <= 9; ++n) {
    CAPTURE(n);
    CHECK_NOTHROW(symphony::run_threads(n, [](thread_communicator& world) {
      auto halves = world.split(world.rank() < world.size() / 2 ? 0 : 1);
      check_collectives(halves);
      auto thirds = halves.split(halves.rank() % 3, halves.size() - halves.rank());
      check_collectives(thirds);
      check_collectives(world);
    }));
  }
}

TEST_CASE("interleaved collectives on overlapping communicators never mix") {
  symphony::run_threads(6, [](thread_communicator& world) {
    // evens = {0, 2, 4}; low = {0, 1, 2}; ranks 0 and 2 are in both.
    auto evens = world.split(world.rank() % 2 == 0 ? 0 : symphony::no_color);
    auto low = world.split(world.rank() < 3 ? 0 : symphony::no_color);
    for (int i = 0; i < 100; ++i) {
      // Members of both alternate which one they use first; the others only use theirs.
      const auto on_evens = [&] {
        int x = evens.rank() == i % 3 ? 1000 + i : -1;
        evens.broadcast(x, i % 3);
        REF_CHECK(x == 1000 + i, "evens broadcast " << i);
      };
      const auto on_low = [&] {
        const int total = low.reduce(i + low.rank(), symphony::ops::sum, (i + 1) % 3);
        if (low.rank() == (i + 1) % 3) REF_CHECK(total == 3 * i + 3, "low reduce " << i);
      };
      if (evens && low) {
        if (i % 2) {
          on_evens();
          on_low();
        } else {
          on_low();
          on_evens();
        }
      } else if (evens) {
        on_evens();
      } else if (low) {
        on_low();
      }
      if (i % 10 == 0) world.barrier();
    }
  });
}

TEST_CASE("subgroup takes the listed ranks in the listed order, without messages") {
  symphony::run_threads(5, [](thread_communicator& world) {
    const std::vector<int> members{4, 1, 3};
    if (world.rank() == 4 || world.rank() == 1 || world.rank() == 3) {
      auto group = world.subgroup(members);
      REF_CHECK(group.size() == 3, "size");
      const int expected_rank = world.rank() == 4 ? 0 : world.rank() == 1 ? 1 : 2;
      REF_CHECK(group.rank() == expected_rank, "rank follows the list");
      check_collectives(group);
      auto again = world.subgroup(members);  // a second subgroup of the same ranks is distinct
      int x = again.rank() == 0 ? 7 : 0;
      again.broadcast(x, 0);
      REF_CHECK(x == 7, "second subgroup broadcast");
    }
    world.barrier();
  });
}

TEST_CASE("subgroup rejects bad member lists") {
  symphony::run_threads(3, [](thread_communicator& world) {
    CHECK_THROWS_WITH_AS(world.subgroup({0, 5}), doctest::Contains("member 5"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(world.subgroup({world.rank(), world.rank()}),
                         doctest::Contains("listed twice"), std::invalid_argument);
    const int other = (world.rank() + 1) % 3;
    CHECK_THROWS_WITH_AS(world.subgroup({other}), doctest::Contains("not among the listed ranks"),
                         std::invalid_argument);
  });
}

TEST_CASE("the launcher's group variables describe a range of world ranks") {
  using symphony::detail::declared_group_ranks;
  std::map<std::string, std::string> env;
  const auto lookup = [&](const std::string& name) -> std::optional<std::string> {
    const auto found = env.find(name);
    return found == env.end() ? std::nullopt : std::optional<std::string>(found->second);
  };
  CHECK_FALSE(declared_group_ranks(lookup, 0, 9).has_value());  // a standalone process
  env = {{"SYMPHONY_GROUP_FIRST_RANK", "3"}, {"SYMPHONY_GROUP_SIZE", "5"}};
  CHECK(declared_group_ranks(lookup, 4, 9) == std::vector<int>{3, 4, 5, 6, 7});
  CHECK_THROWS_WITH_AS(declared_group_ranks(lookup, 1, 9), doctest::Contains("contains rank 1"),
                       symphony::config_error);
  CHECK_THROWS_WITH_AS(declared_group_ranks(lookup, 4, 6),
                       doctest::Contains("SYMPHONY_GROUP_SIZE=5"), symphony::config_error);
  env.erase("SYMPHONY_GROUP_SIZE");
  CHECK_THROWS_WITH_AS(declared_group_ranks(lookup, 4, 9),
                       doctest::Contains("SYMPHONY_GROUP_SIZE is not set"), symphony::config_error);
}
