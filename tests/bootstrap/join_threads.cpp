// Joining a job for real: ranks as threads of this process, each with its own environment, bind
// their sockets, exchange addresses through a SYMPHONY_ROOT rendezvous on loopback, and then run
// collectives over what they learned. Checks which peers are reached over ipc and which over tcp.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <symphony/collectives.hpp>
#include <thread>
#include <vector>

#include "bootstrap_data.hpp"

namespace {

using namespace bootstrap_test;
using symphony::bootstrap::join_plan;
using symphony::bootstrap::join_result;

/// A tcp port on 127.0.0.1 that was free a moment ago.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t length = sizeof a;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

environment rank_environment(int rank, int size, int port, const environment& extra = {}) {
  environment env{{"SYMPHONY_RANK", std::to_string(rank)},
                  {"SYMPHONY_NRANKS", std::to_string(size)},
                  {"SYMPHONY_ROOT", "127.0.0.1:" + std::to_string(port)},
                  {"SYMPHONY_TIMEOUT", "10"},
                  {"SYMPHONY_JOB_TOKEN", "join-test-" + std::to_string(port)}};
  for (const auto& [name, value] : extra)
    env[name] = value;
  return env;
}

struct rank_outcome {
  join_result joined;
  std::string error;
};

/// Every rank binds as the plan says and exchanges; `adjust` may edit a rank's plan first.
template <class Adjust>
std::vector<rank_outcome> exchange_all(int size, const environment& extra, Adjust adjust) {
  const int port = free_port();
  std::vector<rank_outcome> outcomes(static_cast<std::size_t>(size));
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r)
    threads.emplace_back([&, r] {
      auto& out = outcomes[static_cast<std::size_t>(r)];
      try {
        const environment env = rank_environment(r, size, port, extra);
        join_plan plan = symphony::bootstrap::plan_join(lookup_in(env));
        adjust(r, plan);
        symphony::zmq_transport transport(plan.listen, plan.timeout);
        out.joined = symphony::bootstrap::exchange_addresses(plan, transport.bound_endpoints());
      } catch (const std::exception& e) {
        out.error = e.what();
      }
    });
  for (auto& t : threads)
    t.join();
  return outcomes;
}

bool is_ipc(const std::string& address) {
  return address.rfind("ipc://@symphony-", 0) == 0;
}

}  // namespace

TEST_CASE("ranks on one machine reach each other over ipc, and publish tcp for the others") {
  const auto outcomes = exchange_all(4, {}, [](int, join_plan&) {});
  for (std::size_t r = 0; r < outcomes.size(); ++r) {
    CAPTURE(r);
    REQUIRE(outcomes[r].error.empty());
    const auto& j = outcomes[r].joined;
    CHECK(j.rank == static_cast<int>(r));
    CHECK(j.size == 4);
    REQUIRE(j.addresses.size() == 4);
    for (const auto& a : j.addresses)
      CHECK(is_ipc(a));
    for (const auto& t : j.tcp_endpoints)
      CHECK(t.rfind("tcp://127.0.0.1:", 0) == 0);  // the wildcard became the address seen
    CHECK(j.addresses == outcomes[0].joined.addresses);
  }
}

TEST_CASE("a rank on another machine (another locality) is reached over tcp, and reaches over tcp") {
  const auto outcomes =
      exchange_all(3, {}, [](int r, join_plan& plan) { if (r == 2) plan.locality = "elsewhere"; });
  for (const auto& o : outcomes)
    REQUIRE(o.error.empty());
  const auto& from0 = outcomes[0].joined.addresses;
  CHECK(is_ipc(from0[1]));
  CHECK(from0[2].rfind("tcp://", 0) == 0);
  const auto& from2 = outcomes[2].joined.addresses;
  CHECK(from2[0].rfind("tcp://", 0) == 0);
  CHECK(from2[1].rfind("tcp://", 0) == 0);
}

TEST_CASE("SYMPHONY_IPC=0: every peer over tcp") {
  const auto outcomes = exchange_all(3, {{"SYMPHONY_IPC", "0"}}, [](int, join_plan&) {});
  for (const auto& o : outcomes) {
    REQUIRE(o.error.empty());
    for (const auto& a : o.joined.addresses)
      CHECK(a.rfind("tcp://", 0) == 0);
  }
}

TEST_CASE("SYMPHONY_IFACE=lo: every rank listens on the loopback interface only") {
  const auto outcomes = exchange_all(2, {{"SYMPHONY_IFACE", "lo"}, {"SYMPHONY_IPC", "0"}},
                                     [](int, join_plan& plan) { CHECK(plan.listen[0] == "tcp://127.0.0.1:0"); });
  for (const auto& o : outcomes) {
    REQUIRE(o.error.empty());
    for (const auto& a : o.joined.addresses) {
      CAPTURE(a);
      CHECK(a.rfind("tcp://127.0.0.1:", 0) == 0);
    }
  }
}

TEST_CASE("communicators built from plans run collectives, over ipc and tcp mixed") {
  const int size = 5;
  const int port = free_port();
  std::vector<std::string> errors(size);
  std::vector<long> sums(size, -1);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r)
    threads.emplace_back([&, r] {
      try {
        const environment env = rank_environment(r, size, port);
        join_plan plan = symphony::bootstrap::plan_join(lookup_in(env));
        if (r % 2 == 1) plan.locality = "machine-" + std::to_string(r);  // these use tcp
        symphony::communicator world(plan);
        long total = world.reduce(static_cast<long>(world.rank() + 1), symphony::ops::sum, 0);
        world.broadcast(total, 0);
        sums[static_cast<std::size_t>(r)] = total;
        world.barrier();
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(r)] = e.what();
      }
    });
  for (auto& t : threads)
    t.join();
  for (int r = 0; r < size; ++r) {
    CAPTURE(r);
    CHECK(errors[static_cast<std::size_t>(r)].empty());
    CHECK(sums[static_cast<std::size_t>(r)] == 15);
  }
}

TEST_CASE("a rank that never joins: the others fail within the timeout, naming it") {
  const int port = free_port();
  std::vector<std::string> errors(3);
  std::vector<std::thread> threads;
  const auto started = std::chrono::steady_clock::now();
  for (int r = 0; r < 3; ++r)  // rank 3 of 4 never starts
    threads.emplace_back([&, r] {
      try {
        const environment env = rank_environment(r, 4, port, {{"SYMPHONY_TIMEOUT", "1"}});
        symphony::communicator world(symphony::bootstrap::plan_join(lookup_in(env)));
      } catch (const symphony::timeout_error& e) {
        errors[static_cast<std::size_t>(r)] = e.what();
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(6));
  for (const auto& e : errors) {
    CAPTURE(e);
    CHECK(e.find("rank 3") != std::string::npos);
  }
}
