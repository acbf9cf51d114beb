// The collectives beyond the core five, and the long-message algorithms of broadcast and reduce,
// over in-process threads: every size from 1 to 33 ranks, every root, under three threshold
// settings (all short-message algorithms, all long-message ones, and a mix), each result checked
// on every rank against a sequential reference (support/extended_reference.hpp).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <symphony/collectives.hpp>
#include <vector>

#include "extended_reference.hpp"

using namespace std::chrono_literals;
using symphony::thread_communicator;

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST_CASE("allreduce, scan and exscan: 1 to 33 ranks, every type, every algorithm") {
  for (int n = 1; n <= 33; ++n) {
    CAPTURE(n);
    CHECK_NOTHROW(symphony::run_threads(n, [](thread_communicator& comm) {
      for (const auto& [name, thresholds] : extended::settings()) {
        comm.set_thresholds(thresholds);
        extended::check_allreduce_scan(comm, name, name == extended::settings().front().first);
      }
    }));
  }
}

TEST_CASE("allgather and allgatherv: 1 to 33 ranks, every type, every algorithm") {
  for (int n = 1; n <= 33; ++n) {
    CAPTURE(n);
    CHECK_NOTHROW(symphony::run_threads(n, [](thread_communicator& comm) {
      for (const auto& [name, thresholds] : extended::settings()) {
        comm.set_thresholds(thresholds);
        extended::check_allgathers(comm, name);
      }
    }));
  }
}

TEST_CASE("alltoall and reduce_scatter: 1 to 33 ranks, every type, every algorithm") {
  for (int n = 1; n <= 33; ++n) {
    CAPTURE(n);
    CHECK_NOTHROW(symphony::run_threads(n, [](thread_communicator& comm) {
      for (const auto& [name, thresholds] : extended::settings()) {
        comm.set_thresholds(thresholds);
        if (name == extended::settings().front().first) extended::check_alltoall(comm, name);
        extended::check_reduce_scatters(comm, name);
      }
    }));
  }
}

TEST_CASE("broadcast, reduce, gatherv and scatterv: 1 to 33 ranks, every root, every algorithm") {
  for (int n = 1; n <= 33; ++n) {
    CAPTURE(n);
    CHECK_NOTHROW(symphony::run_threads(n, [](thread_communicator& comm) {
      for (const auto& [name, thresholds] : extended::settings()) {
        comm.set_thresholds(thresholds);
        // Every root below and above the thresholds; the mixed setting with the first and last.
        const bool mixed = name == extended::settings().back().first;
        for (int root = 0; root < comm.size(); ++root)
          if (!mixed || root == 0 || root == comm.size() - 1)
            extended::check_rooted(comm, name, root, name == extended::settings().front().first);
      }
    }));
  }
}

TEST_CASE("the rootless collectives on 47, 48 and 64 ranks") {
  for (const int n : {47, 48, 64}) {
    CAPTURE(n);
    CHECK_NOTHROW(symphony::run_threads(n, [](thread_communicator& comm) {
      for (const auto& [name, thresholds] : extended::settings()) {
        comm.set_thresholds(thresholds);
        const bool first = name == extended::settings().front().first;
        extended::check_allreduce_scan(comm, name, first);
        extended::check_allgathers(comm, name);
        if (first) extended::check_alltoall(comm, name);
        extended::check_reduce_scatters(comm, name);
      }
    }));
  }
}

TEST_CASE("allreduce, broadcast and reduce of 1 MiB vectors take the long algorithms by default") {
  for (const int n : {2, 3, 4, 7, 8}) {
    CAPTURE(n);
    CHECK_NOTHROW(symphony::run_threads(n, [](thread_communicator& comm) {
      const auto count = std::size_t{1} << 17;  // 1 MiB of doubles: above every default threshold
      const auto mine = extended::doubles(count, comm.rank());
      const auto total = comm.allreduce(mine, symphony::ops::sum);
      const int n = comm.size();
      for (std::size_t i = 0; i < count; i += 4099)
        REF_CHECK(total[i] == static_cast<double>(i % 1000) * 0.5 * n + n * (n - 1) / 2.0,
                  "allreduce element " << i);
      std::vector<double> value = comm.rank() == n - 1 ? mine : std::vector<double>{};
      comm.broadcast(value, n - 1);
      REF_CHECK(value == mine || comm.rank() != n - 1, "broadcast at the root");
      REF_CHECK(value == extended::doubles(count, n - 1), "broadcast");
      const auto reduced = comm.reduce(mine, symphony::ops::sum, 1 % n);
      if (comm.rank() == 1 % n) REF_CHECK(reduced == total, "reduce");
    }));
  }
}

TEST_CASE("thresholds come from the environment; bad values are config_errors naming them") {
  using symphony::algorithm_thresholds;
  const auto env = [](std::map<std::string, std::string> vars) {
    return [vars](const std::string& name) -> std::optional<std::string> {
      const auto found = vars.find(name);
      if (found == vars.end()) return std::nullopt;
      return found->second;
    };
  };
  const auto t =
      algorithm_thresholds::from_environment(env({{"SYMPHONY_BCAST_LONG_BYTES", "64K"},
                                                  {"SYMPHONY_REDUCE_LONG_BYTES", "0"},
                                                  {"SYMPHONY_ALLREDUCE_LONG_BYTES", "1MiB"},
                                                  {"SYMPHONY_ALLGATHER_LONG_BYTES", " 2g "},
                                                  {"SYMPHONY_REDUCE_SCATTER_LONG_BYTES", "12345"},
                                                  {"SYMPHONY_BCAST_PIPELINE_BYTES", "4M"}}));
  CHECK(t.broadcast_pipeline_bytes == std::size_t{4} << 20);
  CHECK(t.broadcast_long_bytes == 64 * 1024);
  CHECK(t.reduce_long_bytes == 0);
  CHECK(t.allreduce_long_bytes == 1024 * 1024);
  CHECK(t.allgather_long_bytes == std::size_t{2} << 30);
  CHECK(t.reduce_scatter_long_bytes == 12345);
  const algorithm_thresholds defaults = algorithm_thresholds::from_environment(env({}));
  CHECK(defaults.broadcast_long_bytes == algorithm_thresholds{}.broadcast_long_bytes);
  for (const std::string bad :
       {"", "-1", "1.5", "12Q", "K", "99999999999999999999", "20000000000G"}) {
    CAPTURE(bad);
    const std::string expected = "SYMPHONY_ALLGATHER_LONG_BYTES='" + bad + "'";
    CHECK_THROWS_WITH_AS(
        algorithm_thresholds::from_environment(env({{"SYMPHONY_ALLGATHER_LONG_BYTES", bad}})),
        doctest::Contains(expected.c_str()), symphony::config_error);
  }

  // A communicator reads them once, when it is made; derived communicators inherit them.
  ::setenv("SYMPHONY_ALLREDUCE_LONG_BYTES", "3K", 1);
  symphony::run_threads(3, [](thread_communicator& comm) {
    REF_CHECK(comm.thresholds().allreduce_long_bytes == 3 * 1024, "read from the environment");
    auto half = comm.split(comm.rank() % 2);
    REF_CHECK(half.thresholds().allreduce_long_bytes == 3 * 1024, "inherited by split");
  });
  // The ring / Rabenseifner rule for long allreduces on non-powers of two: its variable, its
  // default, a bad value named, and the rule itself (ring while vector / size() >= the block).
  const auto ring = algorithm_thresholds::from_environment(
      env({{"SYMPHONY_ALLREDUCE_RING_MIN_BLOCK_BYTES", "8K"}}));
  CHECK(ring.allreduce_ring_min_block_bytes == 8 * 1024);
  CHECK(defaults.allreduce_ring_min_block_bytes == 32 * 1024);
  CHECK(ring.allreduce_takes_ring(3 * 8 * 1024, 3));
  CHECK_FALSE(ring.allreduce_takes_ring(3 * 8 * 1024 - 1, 3));
  CHECK(defaults.allreduce_takes_ring(std::size_t{8} << 20, 255));        // 32.1 KiB blocks
  CHECK_FALSE(defaults.allreduce_takes_ring(std::size_t{8} << 20, 257));  // 31.9 KiB blocks
  CHECK_FALSE(defaults.allreduce_takes_ring(800000, 100));
  CHECK_THROWS_WITH_AS(algorithm_thresholds::from_environment(
                           env({{"SYMPHONY_ALLREDUCE_RING_MIN_BLOCK_BYTES", "big"}})),
                       doctest::Contains("SYMPHONY_ALLREDUCE_RING_MIN_BLOCK_BYTES='big'"),
                       symphony::config_error);

  ::setenv("SYMPHONY_ALLREDUCE_LONG_BYTES", "lots", 1);
  CHECK_THROWS_WITH_AS(symphony::run_threads(2, [](thread_communicator&) {}),
                       doctest::Contains("SYMPHONY_ALLREDUCE_LONG_BYTES='lots'"),
                       symphony::config_error);
  ::unsetenv("SYMPHONY_ALLREDUCE_LONG_BYTES");
}

TEST_CASE("ranks that choose different algorithms get a protocol_error naming both") {
  const std::string what = error_of([] {
    symphony::run_threads(
        4,
        [](thread_communicator& comm) {
          auto t = comm.thresholds();
          t.allreduce_long_bytes = comm.rank() == 2 ? 0 : 1 << 30;
          comm.set_thresholds(t);
          (void)comm.allreduce(std::vector<int>(100, 1), symphony::ops::sum);
        },
        10s);
  });
  CHECK(what.find("allreduce") != std::string::npos);
  CHECK(what.find("Rabenseifner") != std::string::npos);
  CHECK(what.find("recursive doubling") != std::string::npos);
  CHECK(what.find("thresholds") != std::string::npos);
}

TEST_CASE("element-wise allreduce of vectors of different lengths is a protocol_error") {
  for (const std::size_t threshold : {std::size_t{0}, std::size_t{1} << 30}) {
    CAPTURE(threshold);
    const std::string what = error_of([threshold] {
      symphony::run_threads(
          4,
          [threshold](thread_communicator& comm) {
            auto t = comm.thresholds();
            t.allreduce_long_bytes = threshold;
            comm.set_thresholds(t);
            (void)comm.allreduce(std::vector<int>(comm.rank() == 3 ? 9 : 8, 1), symphony::ops::sum);
          },
          10s);
    });
    CHECK(what.find("allreduce") != std::string::npos);
    CHECK(what.find("rank") != std::string::npos);
    CHECK(what.find("same number of elements") != std::string::npos);
  }
}

TEST_CASE("bad arguments to the new collectives are std::invalid_argument naming the value") {
  symphony::run_threads(3, [](thread_communicator& comm) {
    CHECK_THROWS_WITH_AS((void)comm.alltoall(std::vector<int>{1, 2}),
                         doctest::Contains("passed 2 values"), std::invalid_argument);
    CHECK_THROWS_WITH_AS((void)comm.reduce_scatter(std::vector<int>(4), symphony::ops::sum),
                         doctest::Contains("4 elements, not a multiple of the size 3"),
                         std::invalid_argument);
    if (comm.rank() == 1) {
      CHECK_THROWS_WITH_AS((void)comm.scatterv(std::vector<int>{1, 2, 3}, {1, 2}, 1),
                           doctest::Contains("passed 2 counts"), std::invalid_argument);
      CHECK_THROWS_WITH_AS((void)comm.scatterv(std::vector<int>{1, 2, 3}, {1, 1, 2}, 1),
                           doctest::Contains("add up to 4 but it passed 3 elements"),
                           std::invalid_argument);
    }
    CHECK_THROWS_WITH_AS((void)comm.gatherv(std::vector<int>{}, 3), doctest::Contains("root 3"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS((void)comm.scatterv(std::vector<int>{}, {}, -1),
                         doctest::Contains("root -1"), std::invalid_argument);
    // Nothing was sent: the communicator still works.
    REF_CHECK(comm.allreduce(1, symphony::ops::sum) == 3, "after the errors");
  });
}

TEST_CASE("new collectives interleave with the old ones and with point-to-point messages") {
  symphony::run_threads(5, [](thread_communicator& comm) {
    const int n = comm.size();
    const int me = comm.rank();
    for (int i = 0; i < 100; ++i) {
      comm.send(i, (me + 1) % n, 3);
      REF_CHECK(comm.allreduce(i + me, symphony::ops::sum) == n * i + n * (n - 1) / 2,
                "allreduce " << i);
      REF_CHECK(comm.allgather(me * i)[static_cast<std::size_t>(n - 1)] == (n - 1) * i,
                "allgather " << i);
      int x = me == i % n ? i : -1;
      comm.broadcast(x, i % n);
      REF_CHECK(x == i, "broadcast " << i);
      REF_CHECK(comm.exscan(1, symphony::ops::sum) == me, "exscan " << i);
      REF_CHECK(comm.recv<int>((me + n - 1) % n, 3) == i, "recv " << i);
    }
  });
}
