// Mismatched collectives between real processes: the ranks that receive a mismatching message
// raise protocol_error naming both sides' calls, in seconds with SYMPHONY_TIMEOUT at 60 s; the
// ranks that had nothing to receive finish.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <symphony/collectives.hpp>
#include <thread>

#include "mismatch_cases.hpp"
#include "spawn.hpp"

using namespace std::chrono_literals;

// Every rank runs the case named by MISMATCH_CASE and reports on stdout how it ended.
SYMPHONY_SCENARIO(mismatch) {
  symphony::communicator world;
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 started)
        .count();
  };
  try {
    mismatch::run_case(world, std::getenv("MISMATCH_CASE"));
    std::cout << "COMPLETED in " << elapsed() << " ms\n";
  } catch (const symphony::protocol_error& e) {
    std::cout << "PROTOCOL_ERROR in " << elapsed() << " ms: " << e.what() << std::endl;
    // Stay alive a moment: what this rank sent before it stopped is still on its way (the failed
    // communicator lingers 0 s at exit), and the other side detects the mismatch from it. A
    // program that exits at once leaves the others to the peer-loss detection or the timeout.
    std::this_thread::sleep_for(2s);
  }
  return 0;
}

int main(int argc, char** argv) {
  testing::run_scenario_if_child();
  doctest::Context context(argc, argv);
  return context.run();
}

long detection_ms(const std::string& output) {
  const auto at = output.find("PROTOCOL_ERROR in ");
  if (at == std::string::npos) return -1;
  return std::stol(output.substr(at + 18));
}

TEST_CASE("mismatched collectives between processes: a prompt protocol_error naming both sides") {
  for (const auto& c : mismatch::cases()) {
    if (c.detecting.empty()) continue;
    for (const bool tcp : {false, true}) {
      CAPTURE(c.name);
      CAPTURE(tcp);
      testing::job j{"mismatch", c.ranks};
      j.tcp = tcp;
      j.env = {{"MISMATCH_CASE", c.name}, {"SYMPHONY_TIMEOUT", "60"}};
      j.limit = 40s;  // ranks that wait past it would be waiting for the 60 s timeout
      const auto results = testing::run_job(j);
      for (const auto& r : results) {
        CAPTURE(r.output);
        CHECK_RANK_OK(r);
        const bool detects =
            std::find(c.detecting.begin(), c.detecting.end(), r.rank) != c.detecting.end();
        if (!detects) {
          CHECK(r.output.find("COMPLETED") != std::string::npos);
          continue;
        }
        const long ms = detection_ms(r.output);
        CHECK(ms >= 0);
        CHECK(ms < 10000);  // the timeout is 60 s
        for (const auto& word : c.must_mention)
          CHECK_MESSAGE(r.output.find(word) != std::string::npos, "missing '" << word << "'");
        MESSAGE(c.name << (tcp ? " tcp" : " ipc") << " rank " << r.rank << ": detected in " << ms
                       << " ms");
      }
    }
  }
}
