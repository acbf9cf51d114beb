// Mismatched collectives over threads: every case of mismatch_cases.hpp ends in a protocol_error
// that names what both sides called, within seconds although the timeout is 60 s.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <symphony/threads.hpp>

#include "mismatch_cases.hpp"

using namespace std::chrono_literals;

TEST_CASE("mismatched collectives over threads: a prompt protocol_error naming both sides") {
  for (const auto& c : mismatch::cases()) {
    CAPTURE(c.name);
    const auto started = std::chrono::steady_clock::now();
    std::string what;
    bool protocol = false;
    try {
      symphony::run_threads(
          c.ranks, [&](symphony::thread_communicator& comm) { mismatch::run_case(comm, c.name); },
          60s);
    } catch (const symphony::protocol_error& e) {
      protocol = true;
      what = e.what();
    } catch (const std::exception& e) {
      what = std::string("not a protocol_error: ") + e.what();
    }
    const auto took = std::chrono::steady_clock::now() - started;
    CAPTURE(what);
    CHECK(protocol);
    for (const auto& word : c.must_mention)
      CHECK_MESSAGE(what.find(word) != std::string::npos, "missing '" << word << "'");
    CHECK(took < 10s);
    MESSAGE(c.name << ": detected in "
                   << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                   << " ms: " << what);
  }
}

TEST_CASE("the same collectives with the same types still work after the checks") {
  symphony::run_threads(
      3,
      [](symphony::thread_communicator& comm) {
        int x = comm.rank() == 1 ? 7 : 0;
        comm.broadcast(x, 1);
        CHECK(x == 7);
        const auto all = comm.allreduce(std::vector<float>{1.0f, 2.0f}, symphony::ops::sum);
        CHECK(all == std::vector<float>{3.0f, 6.0f});
        comm.barrier();
      },
      60s);
}
