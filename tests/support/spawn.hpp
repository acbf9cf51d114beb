// tests/support/spawn.hpp: run a test scenario on N real processes.
//
// A multi-process test binary is both the doctest driver and the rank program: main() calls
// testing::run_scenario_if_child() first. The driver's test cases call testing::run_job(), which
// starts N copies of the binary itself with SYMPHONY_* set and SYMPHONY_TEST_SCENARIO naming the
// scenario, waits for them within a time limit (killing them past it), and returns each rank's
// exit status and output, so that checks can be made per rank:
//
//   SYMPHONY_SCENARIO(ring) { symphony::communicator world; ...; return 0; }
//   TEST_CASE("ring on 4 ranks") { for (auto& r : testing::run_job({"ring", 4})) CHECK_RANK_OK(r);
//   }
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <symphony/detail/launcher_resources.hpp>

namespace testing {

using scenario_fn = std::function<int()>;

inline std::map<std::string, scenario_fn>& scenarios() {
  static std::map<std::string, scenario_fn> registry;
  return registry;
}

struct scenario_registration {
  scenario_registration(const std::string& name, scenario_fn fn) {
    scenarios()[name] = std::move(fn);
  }
};

#define SYMPHONY_SCENARIO(name)                                                              \
  static int scenario_##name();                                                              \
  static const ::testing::scenario_registration registration_##name{#name, scenario_##name}; \
  static int scenario_##name()

/// In a child (SYMPHONY_TEST_SCENARIO set), runs the scenario and exits with its result; an
/// exception is printed and exits 99. In the driver, returns.
inline void run_scenario_if_child() {
  const char* name = std::getenv("SYMPHONY_TEST_SCENARIO");
  if (name == nullptr) return;
  int code = 98;
  try {
    const auto found = scenarios().find(name);
    if (found == scenarios().end()) {
      std::cerr << "no scenario named " << name << "\n";
    } else {
      code = found->second();
    }
  } catch (const std::exception& e) {
    std::cerr << "rank " << (std::getenv("SYMPHONY_RANK") ? std::getenv("SYMPHONY_RANK") : "?")
              << " threw: " << e.what() << "\n";
    code = 99;
  }
  std::cout.flush();
  std::cerr.flush();
  std::_Exit(code);  // skip the doctest driver's static state entirely
}

/// Fails a scenario with a message naming the rank (exit code 1).
#define SCENARIO_CHECK(condition, message)                                                         \
  do {                                                                                             \
    if (!(condition)) {                                                                            \
      std::ostringstream scenario_check_text;                                                      \
      scenario_check_text << __FILE__ << ":" << __LINE__ << ": " << #condition << ": " << message; \
      throw std::runtime_error(scenario_check_text.str());                                         \
    }                                                                                              \
  } while (0)

struct job {
  std::string scenario;
  int ranks = 1;
  int started = -1;  // how many ranks actually start (the rest never show up); -1 = all
  bool tcp = false;  // tcp on 127.0.0.1 instead of ipc
  std::map<std::string, std::string> env{};
  std::chrono::seconds limit{120};
};

struct rank_result {
  int rank = 0;
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  bool killed_at_limit = false;
  std::string output;  // stdout and stderr
  bool ok() const { return exit_code == 0 && !killed_at_limit; }
};

inline std::string describe(const rank_result& r) {
  std::ostringstream s;
  s << "rank " << r.rank << ": exit " << r.exit_code;
  if (r.signal) s << " signal " << r.signal;
  if (r.killed_at_limit) s << " (killed at the job's time limit)";
  s << "\n--- output ---\n" << r.output;
  return s.str();
}

#define CHECK_RANK_OK(result) CHECK_MESSAGE((result).ok(), ::testing::describe(result))

/// Ports the kernel says are free right now (bind to port 0, read back, close).
inline std::vector<int> free_tcp_ports(int count) {
  std::vector<int> ports;
  std::vector<int> fds;
  for (int i = 0; i < count; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ports.push_back(ntohs(a.sin_port));
    fds.push_back(fd);  // keep open until all are chosen so they differ
  }
  for (const int fd : fds)
    ::close(fd);
  return ports;
}

/// Starts the job's ranks as copies of this executable and waits for them.
inline std::vector<rank_result> run_job(const job& j) {
  const symphony::detail::temp_directory scratch(std::filesystem::temp_directory_path());
  const std::filesystem::path dir = scratch.path();
  std::string addresses;
  const auto ports = j.tcp ? free_tcp_ports(j.ranks) : std::vector<int>{};
  for (int r = 0; r < j.ranks; ++r) {
    if (r) addresses += ",";
    addresses += j.tcp ? "127.0.0.1:" + std::to_string(ports[static_cast<std::size_t>(r)])
                       : "ipc://" + (dir / ("rank" + std::to_string(r))).string();
  }
  const int started = j.started < 0 ? j.ranks : j.started;
  std::vector<pid_t> pids;
  std::vector<rank_result> results(static_cast<std::size_t>(started));
  for (int r = 0; r < started; ++r) {
    results[static_cast<std::size_t>(r)].rank = r;
    const std::string log = (dir / ("out" + std::to_string(r))).string();
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::setenv("SYMPHONY_TEST_SCENARIO", j.scenario.c_str(), 1);
      ::setenv("SYMPHONY_NRANKS", std::to_string(j.ranks).c_str(), 1);
      ::setenv("SYMPHONY_RANK", std::to_string(r).c_str(), 1);
      ::setenv("SYMPHONY_ADDRESSES", addresses.c_str(), 1);
      for (const auto& [name, value] : j.env)
        ::setenv(name.c_str(), value.c_str(), 1);
      ::execl("/proc/self/exe", "/proc/self/exe", static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    pids.push_back(pid);
  }
  const auto give_up = std::chrono::steady_clock::now() + j.limit;
  std::size_t running = pids.size();
  while (running > 0) {
    for (std::size_t i = 0; i < pids.size(); ++i) {
      if (pids[i] == 0) continue;
      int status = 0;
      if (::waitpid(pids[i], &status, WNOHANG) == pids[i]) {
        if (WIFEXITED(status)) results[i].exit_code = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) results[i].signal = WTERMSIG(status);
        pids[i] = 0;
        --running;
      }
    }
    if (running > 0 && std::chrono::steady_clock::now() > give_up) {
      for (std::size_t i = 0; i < pids.size(); ++i)
        if (pids[i] != 0) {
          ::kill(pids[i], SIGKILL);
          ::waitpid(pids[i], nullptr, 0);
          results[i].killed_at_limit = true;
          pids[i] = 0;
        }
      running = 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int r = 0; r < started; ++r) {
    std::ifstream in(dir / ("out" + std::to_string(r)));
    std::ostringstream text;
    text << in.rdbuf();
    results[static_cast<std::size_t>(r)].output = text.str();
  }
  return results;
}

}  // namespace testing
