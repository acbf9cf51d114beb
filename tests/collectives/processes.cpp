// Collectives between real processes over ZeroMQ: each test starts N copies of this binary
// (tests/support/spawn.hpp) and checks every rank's exit status and output.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <symphony/collectives.hpp>
#include <vector>

#include "reference.hpp"
#include "spawn.hpp"

// --- scenarios: what each rank runs ------------------------------------------------------------

SYMPHONY_SCENARIO(all_types) {
  symphony::communicator world;
  reference::check_all_types(world, /*heavy=*/true);
  return 0;
}

SYMPHONY_SCENARIO(all_types_light) {
  symphony::communicator world;
  reference::check_all_types(world, /*heavy=*/false);
  return 0;
}

// Thousands of back-to-back collectives of mixed kinds, roots and sizes, interleaved with
// point-to-point traffic: messages of different operations must never be confused.
SYMPHONY_SCENARIO(mixed) {
  symphony::communicator world;
  const int n = world.size();
  const int me = world.rank();
  std::mt19937 same_on_every_rank(12345);
  for (int i = 0; i < 2000; ++i) {
    const int root = static_cast<int>(same_on_every_rank() % static_cast<unsigned>(n));
    const auto length = static_cast<std::size_t>(same_on_every_rank() % 64);
    if (n > 1) world.send(std::vector<int>(length, i), (me + 1) % n, i % 3);
    switch (same_on_every_rank() % 5) {
      case 0: {
        std::vector<double> v(length, me == root ? i : -1);
        world.broadcast(v, root);
        SCENARIO_CHECK(v == std::vector<double>(length, i), "broadcast " << i);
        break;
      }
      case 1: {
        const auto total =
            world.reduce(std::vector<long>(length, me + i), symphony::ops::sum, root);
        if (me == root)
          SCENARIO_CHECK(
              total == std::vector<long>(length, static_cast<long>(n) * i + n * (n - 1) / 2),
              "reduce " << i);
        break;
      }
      case 2: {
        const auto all = world.gather(std::string(length, static_cast<char>('a' + me % 26)), root);
        if (me == root)
          for (int r = 0; r < n; ++r)
            SCENARIO_CHECK(all[static_cast<std::size_t>(r)] ==
                               std::string(length, static_cast<char>('a' + r % 26)),
                           "gather " << i << " rank " << r);
        break;
      }
      case 3: {
        std::vector<int> values;
        if (me == root)
          for (int r = 0; r < n; ++r)
            values.push_back(r * i);
        SCENARIO_CHECK(world.scatter(values, root) == me * i, "scatter " << i);
        break;
      }
      default:
        world.barrier();
    }
    if (n > 1)
      SCENARIO_CHECK(
          world.recv<std::vector<int>>((me + n - 1) % n, i % 3) == std::vector<int>(length, i),
          "point-to-point " << i);
  }
  return 0;
}

// Subcommunicators between processes: split halves and an overlapping subgroup, used in turns.
SYMPHONY_SCENARIO(subgroups) {
  symphony::communicator world;
  const int n = world.size();
  auto halves = world.split(world.rank() < n / 2 ? 0 : 1, world.rank());
  const auto names = reference::make_case<std::string>(
      "name", [](int r) { return "r" + std::to_string(r); }, reference::concat);
  for (int root = 0; root < halves.size(); ++root)
    reference::check_case(halves, names, root);
  std::vector<int> firsts{0};  // rank 0 and the first rank of the second half
  if (n / 2 > 0) firsts.push_back(n / 2);
  const bool is_first = halves.rank() == 0;
  for (int i = 0; i < 200; ++i) {
    if (is_first && firsts.size() == 2) {
      auto heads = world.subgroup(firsts);
      int x = heads.rank() == 0 ? i : -1;
      heads.broadcast(x, 0);
      SCENARIO_CHECK(x == i, "heads broadcast " << i);
    }
    const int total = halves.reduce(1, symphony::ops::sum, i % halves.size());
    if (halves.rank() == i % halves.size())
      SCENARIO_CHECK(total == halves.size(), "halves reduce " << i);
  }
  world.barrier();
  return 0;
}

// Rank 2 of 3 never starts: the others must fail with a timeout_error naming the operation and
// the missing rank, after about SYMPHONY_TIMEOUT (1 s) and well before the test's limit.
SYMPHONY_SCENARIO(missing_rank) {
  symphony::communicator world;
  const auto started = std::chrono::steady_clock::now();
  try {
    world.barrier();
  } catch (const symphony::timeout_error& e) {
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const std::string what = e.what();
    std::cout << "caught: " << what << " after " << waited << " s\n";
    SCENARIO_CHECK(what.find("barrier") != std::string::npos, "names the operation");
    SCENARIO_CHECK(what.find("from rank 2") != std::string::npos ||
                       what.find("from rank 1") != std::string::npos,
                   "names the peer");
    SCENARIO_CHECK(waited >= 0.9 && waited < 5, "waited " << waited << " s for a 1 s timeout");
    return 0;
  }
  std::cout << "the barrier completed without rank 2\n";
  return 1;
}

// A bad environment: the communicator's constructor reports the variable and value.
SYMPHONY_SCENARIO(bad_environment) {
  try {
    symphony::communicator world;
  } catch (const symphony::config_error& e) {
    std::cout << e.what() << "\n";
    return 0;
  }
  return 1;
}

// --- the driver: doctest test cases that start the scenarios -------------------------------------

TEST_CASE("every collective, every type, every root between 1 to 9 processes") {
  for (int n = 1; n <= 9; ++n) {
    CAPTURE(n);
    for (const auto& rank : testing::run_job({"all_types", n}))
      CHECK_RANK_OK(rank);
  }
}

TEST_CASE("every collective over tcp on loopback") {
  for (const int n : {2, 5}) {
    CAPTURE(n);
    testing::job job{"all_types_light", n};
    job.tcp = true;
    for (const auto& rank : testing::run_job(job))
      CHECK_RANK_OK(rank);
  }
}

TEST_CASE("thousands of mixed collectives and point-to-point messages stay matched") {
  for (const int n : {1, 2, 4, 7}) {
    CAPTURE(n);
    for (const auto& rank : testing::run_job({"mixed", n}))
      CHECK_RANK_OK(rank);
  }
}

TEST_CASE("split communicators and subgroups between processes") {
  for (const int n : {1, 3, 6}) {
    CAPTURE(n);
    for (const auto& rank : testing::run_job({"subgroups", n}))
      CHECK_RANK_OK(rank);
  }
}

TEST_CASE("a rank that never shows up makes the others fail with timeout_error") {
  testing::job job{"missing_rank", 3};
  job.started = 2;
  job.env["SYMPHONY_TIMEOUT"] = "1";
  job.limit = std::chrono::seconds(30);
  const auto results = testing::run_job(job);
  REQUIRE(results.size() == 2);
  for (const auto& rank : results) {
    CHECK_RANK_OK(rank);
    CHECK(rank.output.find("timed out after 1 s") != std::string::npos);
  }
}

TEST_CASE("a malformed environment is a config_error naming the variable and value") {
  testing::job job{"bad_environment", 2};
  job.env["SYMPHONY_ADDRESSES"] = "127.0.0.1:5000,127.0.0.1:70000";
  for (const auto& rank : testing::run_job(job)) {
    CHECK_RANK_OK(rank);
    CHECK(rank.output.find("SYMPHONY_ADDRESSES") != std::string::npos);
    CHECK(rank.output.find("70000") != std::string::npos);
  }
}

int main(int argc, char** argv) {
  testing::run_scenario_if_child();
  return doctest::Context(argc, argv).run();
}
