// A peer that never reads must not make a sender block forever: once ZeroMQ's queues (1000
// messages each way plus the kernel's buffers) are full, send() waits at most SYMPHONY_TIMEOUT,
// then throws timeout_error naming the operation and the peer, and the sender exits promptly.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <symphony/collectives.hpp>
#include <thread>
#include <utility>
#include <vector>

#include "spawn.hpp"

namespace {
using steady = std::chrono::steady_clock;
long long ms_since(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t).count();
}
}  // namespace

// Rank 1 joins and then never reads, until rank 0 has created the flag file (at most 60 s).
SYMPHONY_SCENARIO(never_reads) {
  const std::filesystem::path flag = std::getenv("SYMPHONY_TEST_FLAG");
  std::optional<symphony::communicator> held(std::in_place);
  auto& world = *held;
  world.barrier();
  if (world.rank() == 1) {
    const auto give_up = steady::now() + std::chrono::seconds(60);
    while (!std::filesystem::exists(flag) && steady::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return 0;
  }
  const auto start = steady::now();
  int sent = 0;
  try {
    for (; sent < 10'000'000; ++sent)
      world.send(std::vector<char>(1024, 'x'), 1, 2);
    std::cout << "SENT everything without blocking\n";
    return 1;
  } catch (const symphony::timeout_error& e) {
    std::cout << e.what() << "\n";
    std::cout << "BLOCKED after " << sent << " messages; timeout_error after " << ms_since(start)
              << " ms\n";
  }
  const auto closing = steady::now();
  held.reset();
  std::cout << "CLOSED in " << ms_since(closing) << " ms\n";
  std::ofstream(flag) << "done\n";
  return 0;
}

TEST_CASE("a sender to a rank that never reads gets timeout_error, not a hang") {
  for (const bool tcp : {false, true}) {
    CAPTURE(tcp);
    const symphony::detail::temp_directory scratch(std::filesystem::temp_directory_path());
    testing::job job{"never_reads", 2};
    job.tcp = tcp;
    job.env["SYMPHONY_TIMEOUT"] = "2";
    job.env["SYMPHONY_TEST_FLAG"] = scratch.path() + "/flag";
    job.limit = std::chrono::seconds(90);
    const auto results = testing::run_job(job);
    for (const auto& r : results)
      CHECK_RANK_OK(r);
    const auto& out = results[0].output;
    INFO(out);
    CHECK(out.find("timed out after 2 s in send (tag 2)") != std::string::npos);
    CHECK(out.find("queue of unsent messages to rank 1 stayed full") != std::string::npos);
    const auto blocked = out.find("BLOCKED after ");
    REQUIRE(blocked != std::string::npos);
    long long messages = 0;
    long long ms = 0;
    long long closed = 0;
    REQUIRE(std::sscanf(out.c_str() + blocked,
                        "BLOCKED after %lld messages; timeout_error after %lld ms", &messages,
                        &ms) == 2);
    const auto closed_at = out.find("CLOSED in ");
    REQUIRE(closed_at != std::string::npos);
    closed = std::atoll(out.c_str() + closed_at + 10);
    CHECK(messages >= 1000);  // at least ZeroMQ's own queue took messages first
    CHECK(ms >= 2000);
    CHECK(ms < 30000);
    CHECK(closed < 5000);
    std::cout << "  " << (tcp ? "tcp" : "ipc") << ": blocked after " << messages
              << " messages of 1 KiB, timeout_error after " << ms << " ms, closed in " << closed
              << " ms\n";
  }
}

int main(int argc, char** argv) {
  testing::run_scenario_if_child();
  return doctest::Context(argc, argv).run();
}
