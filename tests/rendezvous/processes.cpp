// symphony::bootstrap::rendezvous between real processes: each test starts copies of this binary
// (tests/support/spawn.hpp). Every rank binds its own receive socket on a free 127.0.0.1 port,
// registers it through the root named by SYMPHONY_ROOT, prints the table it got, and proves the
// table with a ring exchange; the driver checks that all printed the same table.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <symphony/bootstrap/rendezvous.hpp>
#include <vector>
#include <zmq.hpp>

#include "spawn.hpp"

namespace {

int env_int(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) throw std::runtime_error(std::string(name) + " is not set");
  return std::stoi(value);
}

/// The line of `output` that starts with `prefix`, without the prefix; "" when there is none.
std::string line_after(const std::string& output, const std::string& prefix) {
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

// Prints "table <endpoints>" and "ring from <rank>", or "error <type>: <message>"; always
// "elapsed_ms <n>". The job token comes from SYMPHONY_JOB_TOKEN through default_job_token().
SYMPHONY_SCENARIO(rendezvous_ring) {
  const int rank = env_int("SYMPHONY_RANK");
  const int size = env_int("SYMPHONY_NRANKS");
  zmq::context_t context;
  zmq::socket_t inbox(context, zmq::socket_type::pull);
  inbox.set(zmq::sockopt::linger, 0);
  inbox.bind("tcp://127.0.0.1:*");

  symphony::bootstrap::rendezvous_options options;
  options.root = std::getenv("SYMPHONY_ROOT");
  options.rank = rank;
  options.size = size;
  options.endpoint = inbox.get(zmq::sockopt::last_endpoint);
  options.timeout = std::chrono::milliseconds(env_int("RENDEZVOUS_TEST_TIMEOUT_MS"));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> table;
  try {
    table = symphony::bootstrap::rendezvous(options);
  } catch (const symphony::timeout_error& e) {
    std::cout << "error timeout_error: " << e.what() << "\n";
  } catch (const symphony::config_error& e) {
    std::cout << "error config_error: " << e.what() << "\n";
  }
  std::cout << "elapsed_ms "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count()
            << "\n";
  if (table.empty()) return 0;

  std::cout << "table";
  for (const auto& endpoint : table)
    std::cout << " " << endpoint;
  std::cout << "\n";
  SCENARIO_CHECK(table[static_cast<std::size_t>(rank)] == options.endpoint, "own entry");
  zmq::socket_t next(context, zmq::socket_type::push);
  next.set(zmq::sockopt::linger, 2000);
  next.connect(table[static_cast<std::size_t>((rank + 1) % size)]);
  const std::string me = std::to_string(rank);
  (void)next.send(zmq::buffer(me), zmq::send_flags::none);
  zmq::pollitem_t item{inbox.handle(), 0, ZMQ_POLLIN, 0};
  SCENARIO_CHECK(zmq::poll(&item, 1, std::chrono::milliseconds(10000)) == 1, "ring timed out");
  zmq::message_t got;
  (void)inbox.recv(got, zmq::recv_flags::none);
  std::cout << "ring from " << got.to_string() << "\n";
  return 0;
}

int main(int argc, char** argv) {
  testing::run_scenario_if_child();
  doctest::Context context(argc, argv);
  return context.run();
}

TEST_CASE("four processes get the same table, and the table connects them in a ring") {
  testing::job j{"rendezvous_ring", 4};
  const std::string root = "127.0.0.1:" + std::to_string(testing::free_tcp_ports(1).front());
  j.env = {{"SYMPHONY_ROOT", root},
           {"SYMPHONY_JOB_TOKEN", "processes-" + root},
           {"RENDEZVOUS_TEST_TIMEOUT_MS", "10000"}};
  j.limit = std::chrono::seconds(20);
  const auto results = testing::run_job(j);
  REQUIRE(results.size() == 4);
  const std::string table = line_after(results[0].output, "table ");
  CHECK(std::count(table.begin(), table.end(), ' ') == 3);
  for (const auto& r : results) {
    CAPTURE(r.rank);
    CHECK_RANK_OK(r);
    CHECK_MESSAGE(line_after(r.output, "table ") == table, r.output);
    CHECK(line_after(r.output, "ring from ") == std::to_string((r.rank + 3) % 4));
  }
}

TEST_CASE("a process that never starts: the three others fail within the timeout, naming it") {
  testing::job j{"rendezvous_ring", 4};
  j.started = 3;  // rank 3 never starts
  const std::string root = "127.0.0.1:" + std::to_string(testing::free_tcp_ports(1).front());
  j.env = {{"SYMPHONY_ROOT", root},
           {"SYMPHONY_JOB_TOKEN", "missing-" + root},
           {"RENDEZVOUS_TEST_TIMEOUT_MS", "1000"}};
  j.limit = std::chrono::seconds(20);
  const auto results = testing::run_job(j);
  REQUIRE(results.size() == 3);
  for (const auto& r : results) {
    CAPTURE(r.rank);
    CHECK_RANK_OK(r);
    CHECK_MESSAGE(contains(line_after(r.output, "error timeout_error: "),
                           "rank 3 of 4 did not register with the rendezvous root 'tcp://" + root +
                               "' within 1 s"),
                  r.output);
    const auto elapsed = std::stoi("0" + line_after(r.output, "elapsed_ms "));
    MESSAGE("rank " << r.rank << " failed after " << elapsed << " ms");
    CHECK(elapsed >= 900);
    CHECK(elapsed < 2500);
  }
}
