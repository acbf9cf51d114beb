// Dead peers between real processes: a rank is killed (SIGKILL), stopped (SIGSTOP, so only
// heartbeats notice) or returns early while the others wait for it in a collective or a receive.
// The survivors must throw peer_lost_error naming it (or, further down a tree, naming a survivor
// that failed in turn) and the operation, well within SYMPHONY_TIMEOUT, and then exit promptly.
// Ranks that merely finish at different times must not be reported. Each survivor prints the
// measured detection and exit times; the driver checks them against generous bounds.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
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

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
      .count();
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

// Runs the operation named by SYMPHONY_TEST_OP, then a barrier (a survivor the operation did not
// make wait for the victim waits for it there).
void run_operation(symphony::communicator& world, const std::string& op, int victim) {
  const int me = world.rank();
  if (op == "broadcast") {
    std::vector<int> v(100, me);
    world.broadcast(v, victim);  // the victim is the root: everyone waits for its data
  } else if (op == "reduce") {
    (void)world.reduce(me, symphony::ops::sum, 0);
  } else if (op == "recv") {
    (void)world.recv<int>(victim, 5);
  } else if (op == "barrier") {
    world.barrier();
  } else if (op == "allreduce") {
    (void)world.allreduce(std::vector<double>(1000, me), symphony::ops::sum);
  } else if (op == "scatter") {
    (void)world.scatter(std::vector<int>{}, victim);
  } else if (op == "send") {  // fills the queue to the victim until it is found lost
    for (int i = 0; i < 1000000; ++i)
      world.send(std::vector<char>(1024, 'x'), victim, 1);
  }
  world.barrier();
}

}  // namespace

// The victim (the last rank) dies at a time rank 0 fixes, SYMPHONY_TEST_DEATH says how: kill
// (SIGKILL), stop (SIGSTOP: the process stays, only heartbeats can tell), return (a normal exit,
// before doing its part), bad_root or bad_count (a bad argument: std::invalid_argument ends it).
// The others enter the operation at once.
SYMPHONY_SCENARIO(victim) {
  const std::string op = env_or("SYMPHONY_TEST_OP", "barrier");
  const std::string death = env_or("SYMPHONY_TEST_DEATH", "kill");
  std::optional<symphony::communicator> held(std::in_place);
  symphony::communicator& world = *held;
  const int victim = world.size() - 1;
  long long kill_at = now_ns() + 300'000'000;
  world.broadcast(kill_at, 0);
  const auto pids = world.allgather(static_cast<int>(::getpid()));
  // Every survivor tells the victim it is through the set-up: a SIGKILL loses what the victim
  // had not yet flushed, which must not be set-up messages. (If this ends after kill_at, the
  // victim dies at once and the measured times are larger than the real ones.)
  if (world.rank() != victim) world.send(1, victim, 99);
  if (world.rank() == victim)
    for (int r = 0; r < victim; ++r)
      (void)world.recv<int>(r, 99);
  if (world.rank() == victim) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(kill_at - now_ns()));
    if (death == "return") return 0;
    // Bad arguments: std::invalid_argument on this rank before anything is sent; the exception
    // ends the process (exit 99), and the others see a lost peer.
    if (death == "bad_root") world.broadcast(kill_at, -1);
    if (death == "bad_count") (void)world.scatter(std::vector<int>(1), victim);
    ::raise(death == "stop" ? SIGSTOP : SIGKILL);
    return 0;
  }
  std::string report;
  try {
    run_operation(world, op, victim);
    std::cout << "COMPLETED without an error\n";
    return 1;
  } catch (const symphony::peer_lost_error& e) {
    const long long ms = (now_ns() - kill_at) / 1'000'000;
    std::cout << e.what() << "\n";
    report = "LOST peer=" + std::to_string(e.peer()) + " ms=" + std::to_string(ms) +
             " op=" + e.operation();
    if (death == "stop" && world.rank() == 0)
      ::kill(pids[static_cast<std::size_t>(victim)], SIGKILL);  // done with it
  }
  // The communicator's destructor must not wait on the lost peer (no blocked zmq_ctx_term).
  const auto closing = steady::now();
  held.reset();
  const auto closed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - closing).count();
  std::cout << report << " closed_ms=" << closed_ms << "\n";
  return 3;
}

// Ranks that finish at different times, the last one long before the others, which go on
// communicating among themselves for longer than the peer timeout: nobody may report a loss.
// The early leaver sends a parting message first; rank 0 takes it after the leaver is long gone.
SYMPHONY_SCENARIO(staggered_finish) {
  symphony::communicator world;
  const int n = world.size();
  const int me = world.rank();
  world.barrier();
  auto rest = world.split(me == n - 1 ? symphony::no_color : 0);
  if (me == n - 1) {
    world.send(std::string("parting words"), 0, 9);
    return 0;
  }
  for (int round = 0; round < 25; ++round) {  // about 2.5 s, over a peer timeout of 1 s
    SCENARIO_CHECK(rest.allreduce(1, symphony::ops::sum) == n - 1, "round " << round);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (me == 0)
    SCENARIO_CHECK(world.recv<std::string>(n - 1, 9) == "parting words", "the parting message");
  rest.barrier();
  std::this_thread::sleep_for(std::chrono::milliseconds(300 * me));  // leave one by one
  return 0;
}

namespace {

struct survivor_report {
  bool found = false;
  int peer = -1;
  long long ms = -1;
  long long closed_ms = -1;
  std::string op;
};

survivor_report parse(const std::string& output) {
  survivor_report r;
  const auto at = output.find("LOST peer=");
  if (at == std::string::npos) return r;
  const auto line = output.substr(at, output.find('\n', at) - at);
  if (std::sscanf(line.c_str(), "LOST peer=%d ms=%lld", &r.peer, &r.ms) != 2) return r;
  const auto op = line.find(" op=");
  const auto closed = line.find(" closed_ms=");
  if (op == std::string::npos || closed == std::string::npos) return r;
  r.op = line.substr(op + 4, closed - op - 4);
  r.closed_ms = std::atoll(line.c_str() + closed + 11);
  r.found = true;
  return r;
}

// Runs the victim scenario and checks what every survivor saw; returns the longest detection.
long long check_victim_job(int ranks, bool tcp, const std::string& op, const std::string& death,
                           const std::string& peer_timeout, long long bound_ms) {
  testing::job job{"victim", ranks};
  job.tcp = tcp;
  job.env["SYMPHONY_TEST_OP"] = op;
  job.env["SYMPHONY_TEST_DEATH"] = death;
  job.env["SYMPHONY_TIMEOUT"] = "120";
  if (!peer_timeout.empty()) job.env["SYMPHONY_PEER_TIMEOUT"] = peer_timeout;
  job.limit = std::chrono::seconds(100);
  const auto results = testing::run_job(job);
  const int victim = ranks - 1;
  std::vector<bool> reported_loss(static_cast<std::size_t>(ranks), false);
  std::vector<survivor_report> reports;
  for (const auto& r : results) {
    if (r.rank == victim) {
      if (death == "kill") CHECK_MESSAGE(r.signal == SIGKILL, testing::describe(r));
      if (death == "return") CHECK_RANK_OK(r);
      if (death == "bad_root") {
        CHECK(r.exit_code == 99);
        CHECK(r.output.find("broadcast: root -1 is not a rank of communicator 'world'") !=
              std::string::npos);
      }
      if (death == "bad_count") {
        CHECK(r.exit_code == 99);
        CHECK(r.output.find("pass exactly one value per rank") != std::string::npos);
      }
      continue;
    }
    INFO(testing::describe(r));
    CHECK(r.exit_code == 3);
    CHECK(!r.killed_at_limit);
    reports.push_back(parse(r.output));
    CHECK(reports.back().found);
    reported_loss[static_cast<std::size_t>(r.rank)] = reports.back().found;
  }
  long long longest = 0;
  long long longest_naming_victim = 0;
  long long slowest_close = 0;
  bool someone_named_the_victim = false;
  for (const auto& s : reports) {
    if (!s.found) continue;
    INFO("op " << op << ", survivor saw: peer " << s.peer << " in '" << s.op << "' after " << s.ms
               << " ms, closed in " << s.closed_ms << " ms");
    // The victim itself, or a survivor that failed in turn (further down a tree).
    CHECK((s.peer == victim ||
           (s.peer >= 0 && s.peer < ranks && reported_loss[static_cast<std::size_t>(s.peer)])));
    CHECK((s.op.rfind(op == "recv" ? "recv" : op, 0) == 0 || s.op.rfind("barrier", 0) == 0));
    CHECK(s.ms < bound_ms);
    CHECK(s.closed_ms < 5000);
    if (s.peer == victim) {
      someone_named_the_victim = true;
      longest_naming_victim = std::max(longest_naming_victim, s.ms);
    }
    longest = std::max(longest, s.ms);
    slowest_close = std::max(slowest_close, s.closed_ms);
  }
  CHECK(someone_named_the_victim);
  std::cout << "  " << ranks << " ranks, " << (tcp ? "tcp" : "ipc") << ", " << death << " in " << op
            << ": the victim named after at most " << longest_naming_victim
            << " ms, every survivor failed after at most " << longest << " ms and closed within "
            << slowest_close << " ms\n";
  return longest;
}

}  // namespace

TEST_CASE("a rank killed while the others wait: peer_lost_error names it, within seconds") {
  // SYMPHONY_PEER_TIMEOUT=1 keeps the matrix fast; a survivor that waited for another survivor
  // which failed in turn sees the loss one peer timeout later per level of the tree.
  for (const bool tcp : {false, true})
    for (const int ranks : {2, 4})
      for (const char* op : {"broadcast", "reduce", "recv", "barrier", "allreduce"}) {
        CAPTURE(tcp);
        CAPTURE(ranks);
        CAPTURE(op);
        check_victim_job(ranks, tcp, op, "kill", "1", 10000);
      }
}

TEST_CASE("with the default peer timeout (3 s) a kill is detected in about 3 s") {
  for (const bool tcp : {false, true}) {
    const auto ms = check_victim_job(2, tcp, "recv", "kill", "", 10000);
    CHECK(ms >= 2000);  // not before the grace period: a parting message could be on its way
  }
}

TEST_CASE("a sender whose queue fills up towards a killed rank gets peer_lost_error") {
  for (const bool tcp : {false, true})
    check_victim_job(2, tcp, "send", "kill", "1", 20000);
}

TEST_CASE("a rank that returns early while the others wait for it is reported as lost") {
  for (const bool tcp : {false, true})
    check_victim_job(3, tcp, "recv", "return", "1", 10000);
}

TEST_CASE("a bad root or count fails on the calling rank; the others then see it lost") {
  for (const bool tcp : {false, true}) {
    check_victim_job(3, tcp, "broadcast", "bad_root", "1", 10000);
    check_victim_job(3, tcp, "scatter", "bad_count", "1", 10000);
  }
}

TEST_CASE("ranks that finish at different times report nothing") {
  for (const bool tcp : {false, true}) {
    testing::job job{"staggered_finish", 4};
    job.tcp = tcp;
    job.env["SYMPHONY_PEER_TIMEOUT"] = "1";
    for (const auto& r : testing::run_job(job))
      CHECK_RANK_OK(r);
  }
}

TEST_CASE("a stopped (hung) rank is found by heartbeats") {
  // No connection drops: the heartbeats go unanswered for a peer timeout, then the grace period.
  for (const bool tcp : {false, true})
    check_victim_job(2, tcp, "recv", "stop", "1", 10000);
}

int main(int argc, char** argv) {
  testing::run_scenario_if_child();
  return doctest::Context(argc, argv).run();
}
