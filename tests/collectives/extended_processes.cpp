// The collectives beyond the core five and the long-message algorithms between real processes
// over ZeroMQ (tests/support/spawn.hpp starts copies of this binary): 1 to 9 ranks, thresholds
// set per communicator and from the environment, megabyte payloads, ipc and tcp.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <string>
#include <symphony/collectives.hpp>
#include <vector>

#include "extended_reference.hpp"
#include "spawn.hpp"

// --- scenarios: what each rank runs ------------------------------------------------------------

// Every new collective, every type, three threshold settings, every root.
SYMPHONY_SCENARIO(extended_all) {
  symphony::communicator world;
  extended::check_everything(world, /*every_root=*/true);
  return 0;
}

// Thresholds from SYMPHONY_*_LONG_BYTES (set to 0 by the driver: every long algorithm), and
// payloads of a megabyte and more, which the ZeroMQ transport moves in large frames and forwards.
SYMPHONY_SCENARIO(extended_environment) {
  symphony::communicator world;
  const auto& t = world.thresholds();
  SCENARIO_CHECK(t.broadcast_long_bytes == 0 && t.reduce_long_bytes == 0 &&
                     t.allreduce_long_bytes == 0 && t.allgather_long_bytes == 0 &&
                     t.reduce_scatter_long_bytes == 0 && t.broadcast_pipeline_bytes == (1u << 20),
                 "thresholds from the environment");
  extended::check_allreduce_scan(world, "environment");
  extended::check_allgathers(world, "environment");
  extended::check_reduce_scatters(world, "environment");
  extended::check_rooted(world, "environment", world.size() - 1);

  const int n = world.size();
  const int me = world.rank();
  const std::size_t count = std::size_t{1} << 17;  // 1 MiB of doubles
  const auto mine = extended::doubles(count, me);
  const auto total = world.allreduce(mine, symphony::ops::sum);
  for (std::size_t i = 0; i < count; i += 997)
    SCENARIO_CHECK(total[i] == static_cast<double>(i % 1000) * 0.5 * n + n * (n - 1) / 2.0,
                   "allreduce element " << i);
  const auto reduced = world.reduce(mine, symphony::ops::sum, n / 2);
  if (me == n / 2) SCENARIO_CHECK(reduced == total, "reduce at root " << n / 2);
  std::vector<double> value = me == 0 ? mine : std::vector<double>{};
  world.broadcast(value, 0);
  SCENARIO_CHECK(value == extended::doubles(count, 0), "broadcast");
  const auto all = world.allgather(extended::doubles(count / 4, me));
  for (int r = 0; r < n; ++r)
    SCENARIO_CHECK(all[static_cast<std::size_t>(r)] == extended::doubles(count / 4, r),
                   "allgather from " << r);
  // The caller-buffer forms at the same sizes (thresholds 0: every long algorithm).
  auto in_place = mine;
  world.allreduce_in_place(in_place, symphony::ops::sum);
  SCENARIO_CHECK(in_place == total, "allreduce_in_place");
  in_place = mine;
  world.reduce_in_place(in_place, symphony::ops::sum, n - 1);
  if (me == n - 1) SCENARIO_CHECK(in_place == total, "reduce_in_place at root " << n - 1);
  std::vector<std::vector<double>> gathered;
  world.allgather(extended::doubles(count / 4, me), gathered);
  SCENARIO_CHECK(gathered == all, "allgather into a vector");
  world.gather(extended::doubles(count / 4, me), gathered, 0);
  if (me == 0) SCENARIO_CHECK(gathered == all, "gather into a vector");
  const auto block = world.reduce_scatter(
      extended::doubles(count / 8 * static_cast<std::size_t>(n), me), symphony::ops::sum);
  SCENARIO_CHECK(block.size() == count / 8, "reduce_scatter block size");
  world.barrier();
  return 0;
}

// A bad threshold in the environment: the communicator's constructor names variable and value.
SYMPHONY_SCENARIO(extended_bad_threshold) {
  try {
    symphony::communicator world;
  } catch (const symphony::config_error& e) {
    std::cout << e.what() << "\n";
    return 0;
  }
  return 1;
}

// --- the driver ---------------------------------------------------------------------------------

TEST_CASE("every new collective and long algorithm between 1 to 9 processes") {
  for (int n = 1; n <= 9; ++n) {
    CAPTURE(n);
    for (const auto& rank : testing::run_job({"extended_all", n}))
      CHECK_RANK_OK(rank);
  }
}

TEST_CASE("thresholds from the environment and megabyte payloads, over ipc and tcp") {
  for (const int n : {2, 3, 4, 7}) {
    for (const bool tcp : {false, true}) {
      if (tcp && n != 4) continue;
      CAPTURE(n);
      CAPTURE(tcp);
      testing::job job{"extended_environment", n};
      job.tcp = tcp;
      for (const char* name : {"SYMPHONY_BCAST_LONG_BYTES", "SYMPHONY_REDUCE_LONG_BYTES",
                               "SYMPHONY_ALLREDUCE_LONG_BYTES", "SYMPHONY_ALLGATHER_LONG_BYTES",
                               "SYMPHONY_REDUCE_SCATTER_LONG_BYTES"})
        job.env[name] = "0";
      job.env["SYMPHONY_BCAST_PIPELINE_BYTES"] = "1M";  // the 1 MiB broadcast: the chain
      for (const auto& rank : testing::run_job(job))
        CHECK_RANK_OK(rank);
    }
  }
}

TEST_CASE("a malformed threshold variable is a config_error naming it and its value") {
  testing::job job{"extended_bad_threshold", 2};
  job.env["SYMPHONY_BCAST_LONG_BYTES"] = "12 parsecs";
  for (const auto& rank : testing::run_job(job)) {
    CHECK_RANK_OK(rank);
    CHECK(rank.output.find("SYMPHONY_BCAST_LONG_BYTES='12 parsecs'") != std::string::npos);
  }
}

int main(int argc, char** argv) {
  testing::run_scenario_if_child();
  return doctest::Context(argc, argv).run();
}
