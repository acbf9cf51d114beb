// Messages from another job never reach this one: a real stale process, of another job, sends
// well-formed symphony messages (point-to-point and a broadcast, claiming to be rank 0) to rank 1
// of a running job. Rank 1 gets the job's own values only, and reports the stranger once.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <symphony/collectives.hpp>
#include <thread>
#include <vector>

#include "spawn.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int stale_messages = 50;
constexpr int real_messages = 200;
constexpr int tag = 5;

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t comma; (comma = text.find(',', start)) != std::string::npos; start = comma + 1)
    parts.push_back(text.substr(start, comma - start));
  parts.push_back(text.substr(start));
  return parts;
}

// Runs the stale job's rank 0 as a separate process aimed at `target` and waits for it.
int run_stale_process(const std::string& own, const std::string& target) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("SYMPHONY_TEST_SCENARIO", "stale", 1);
    ::setenv("SYMPHONY_RANK", "0", 1);
    ::setenv("SYMPHONY_NRANKS", "2", 1);
    ::setenv("SYMPHONY_ADDRESSES", (own + "," + target).c_str(), 1);
    ::setenv("SYMPHONY_JOB_TOKEN", "an-earlier-job", 1);
    ::execl("/proc/self/exe", "/proc/self/exe", static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

// The stale job's rank 0: what it sends would be accepted by the running job's rank 1 if the
// stamp were not checked (same source rank, tag, communicator and call number).
SYMPHONY_SCENARIO(stale) {
  symphony::communicator world;
  for (int i = 0; i < stale_messages; ++i)
    world.send(-1, 1, tag);
  int poison = -7;
  world.broadcast(poison, 0);  // the root only sends
  return 0;                    // the destructor lingers until the messages are delivered
}

SYMPHONY_SCENARIO(victim) {
  symphony::communicator world;
  const auto addresses = split(std::getenv("SYMPHONY_ADDRESSES"));
  if (world.rank() == 0) {
    const std::string own = addresses[0] + "-stale";
    const int code = run_stale_process(own, addresses[1]);
    SCENARIO_CHECK(code == 0, "the stale process exited with " << code);
    for (int i = 0; i < real_messages; ++i)
      world.send(i, 1, tag);
    int value = 1234;
    world.broadcast(value, 0);
  } else {
    // Let the stale messages arrive first, so that they are read between the job's own.
    std::this_thread::sleep_for(1s);
    for (int i = 0; i < real_messages; ++i) {
      const int got = world.recv<int>(0, tag);
      SCENARIO_CHECK(got == i, "message " << i << " was " << got);
    }
    int value = 0;
    world.broadcast(value, 0);
    SCENARIO_CHECK(value == 1234, "the broadcast gave " << value);
  }
  world.barrier();
  std::cout << "RESULTS OK\n";
  return 0;
}

int main(int argc, char** argv) {
  testing::run_scenario_if_child();
  doctest::Context context(argc, argv);
  return context.run();
}

std::size_t occurrences(const std::string& text, const std::string& word) {
  std::size_t n = 0;
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1))
    ++n;
  return n;
}

TEST_CASE("a stale process of another job cannot inject messages; the receiver reports it once") {
  testing::job j{"victim", 2};
  j.env = {{"SYMPHONY_TIMEOUT", "60"}};
  j.limit = 90s;
  const auto results = testing::run_job(j);
  REQUIRE(results.size() == 2);
  for (const auto& r : results) {
    CHECK_RANK_OK(r);
    CHECK(r.output.find("RESULTS OK") != std::string::npos);
  }
  const std::string& log = results[1].output;
  CAPTURE(log);
  CHECK(occurrences(log, "dropped a") == 1);
  CHECK(log.find("claiming to come from rank 0") != std::string::npos);
  CHECK(log.find("job stamp") != std::string::npos);
  CHECK(log.find("this job's is") != std::string::npos);
  CHECK(occurrences(results[0].output, "dropped a") == 0);
}
