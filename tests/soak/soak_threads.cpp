// The soak's sequence over threads: the same mixed collectives and checks in one process, short
// enough for every build and the part ThreadSanitizer runs (.ci/run).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <symphony/threads.hpp>

#include "soak_core.hpp"

TEST_CASE("soak over 4 and 5 threads: 3000 mixed collectives over 3 communicators, all checked") {
  for (const int ranks : {4, 5}) {
    CAPTURE(ranks);
    CHECK_NOTHROW(symphony::run_threads(
        ranks,
        [](symphony::thread_communicator& world) {
          soak::communicators<symphony::thread_communicator> comms(world);
          soak::tally t;
          soak::run(comms, 7, 0, 3000, t);
          world.barrier();
        },
        std::chrono::seconds(120)));
  }
}
