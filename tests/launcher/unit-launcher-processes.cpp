// The launcher with real processes: the environment each child sees, services it can bind,
// failures that stop the job, signals, timeouts, and that nothing is left behind (no process, no
// zombie, no temporary directory). Every job here has a job timeout, so no test can hang.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <symphony/config.hpp>
#include <symphony/launcher.hpp>
#include <vector>

#include "launcher_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using launcher_test::child_program;
using launcher_test::read_env;
using launcher_test::scratch_dir;

/// Options every test starts from: a deadline so that a broken launcher cannot hang the test,
/// a short grace period so that stopping is quick.
symphony::launch_options safe_options() {
  symphony::launch_options options;
  options.job_timeout = 20s;
  options.grace = 500ms;
  return options;
}

/// True if every process of `pids` has ended and been reaped (no zombie).
bool all_gone(const std::vector<pid_t>& pids) {
  for (const pid_t pid : pids)
    if (!launcher_test::process_gone(pid)) return false;
  return true;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("every process sees its rank, group, services and the inherited environment") {
  scratch_dir dir;
  // What the launcher's own environment holds: inherited as is, except the launcher's variables.
  ::setenv("TEST_INHERITED", "from the launcher", 1);
  ::setenv("SYMPHONY_GROUP", "stale-outer-group", 1);
  ::setenv("SYMPHONY_SERVICE_STALE_PORT", "1", 1);

  symphony::launcher job;
  job.add_process("master", child_program(), {"--env-to", dir.path()}).binds("replay-server");
  auto workers = job.add_group("workers");
  for (int i = 0; i < 3; ++i)
    workers.add_process("worker" + std::to_string(i), child_program(), {"--env-to", dir.path()})
        .connects("replay-server");
  auto options = safe_options();
  options.wait_timeout = 2500ms;
  const symphony::job_result result = job.run(options);
  ::unsetenv("TEST_INHERITED");
  ::unsetenv("SYMPHONY_GROUP");
  ::unsetenv("SYMPHONY_SERVICE_STALE_PORT");

  REQUIRE(result.succeeded());
  CHECK(result.exit_status() == 0);
  CHECK(result.message == "all 4 processes exited with code 0");
  REQUIRE(result.processes.size() == 4);
  CHECK(result.processes[3].name == "worker2");
  CHECK(result.processes[3].group == "workers");
  CHECK(result.processes[3].exit_code == 0);

  const auto master = read_env(dir.file("master.env"));
  CHECK(master.at("SYMPHONY_RANK") == "0");
  CHECK(master.at("SYMPHONY_NRANKS") == "4");
  CHECK(master.at("SYMPHONY_NAME") == "master");
  CHECK(master.at("SYMPHONY_TIMEOUT") == "2.5");
  CHECK(master.at("TEST_INHERITED") == "from the launcher");
  CHECK(master.count("SYMPHONY_GROUP") == 0);  // standalone: the stale value is not inherited
  CHECK(master.count("SYMPHONY_SERVICE_STALE_PORT") == 0);
  CHECK(master.at("SYMPHONY_SERVICE_REPLAY_SERVER_HOST") == "127.0.0.1");

  std::set<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    const auto env = read_env(dir.file("worker" + std::to_string(i) + ".env"));
    CAPTURE(i);
    CHECK(env.at("SYMPHONY_RANK") == std::to_string(i + 1));
    CHECK(env.at("SYMPHONY_GROUP") == "workers");
    CHECK(env.at("SYMPHONY_GROUP_INDEX") == "0");
    CHECK(env.at("SYMPHONY_GROUP_RANK") == std::to_string(i));
    CHECK(env.at("SYMPHONY_GROUP_SIZE") == "3");
    CHECK(env.at("SYMPHONY_GROUP_FIRST_RANK") == "1");
    CHECK(env.at("SYMPHONY_SERVICE_REPLAY_SERVER_PORT") ==
          master.at("SYMPHONY_SERVICE_REPLAY_SERVER_PORT"));
    CHECK(env.at("SYMPHONY_ADDRESSES") == master.at("SYMPHONY_ADDRESSES"));
    // The child's environment is a valid config for the communicator.
    const auto c = symphony::config::from_environment(
        [&](const std::string& name) -> std::optional<std::string> {
          const auto it = env.find(name);
          if (it == env.end()) return std::nullopt;
          return it->second;
        });
    CHECK(c.rank == i + 1);
    CHECK(c.size == 4);
    CHECK(c.timeout == 2500ms);
  }
  // The private ipc directory is gone, and so are the processes.
  const std::string ipc_dir = launcher_test::ipc_directory(master.at("SYMPHONY_ADDRESSES"));
  CHECK(ipc_dir.find("/symphony-") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(ipc_dir));
  for (const auto& p : result.processes)
    CHECK(launcher_test::process_gone(p.pid));
}

TEST_CASE("ranks can listen on their addresses and binders on their service ports") {
  for (const auto transport : {symphony::launch_transport::ipc, symphony::launch_transport::tcp}) {
    CAPTURE(static_cast<int>(transport));
    symphony::launcher job;
    job.add_process(
           "replay", child_program(),
           {"--bind-service", "replay-server", "--bind-service", "stats", "--bind-address"})
        .binds("replay-server")
        .binds("stats");
    job.add_processes(3, "actor", child_program(), {"--bind-address"});
    auto options = safe_options();
    options.transport = transport;
    const auto result = job.run(options);
    CHECK_MESSAGE(result.succeeded(), result.message);  // exit 4 or 5 would name the child
  }
}

TEST_CASE("a process that fails stops the others, and the report names it") {
  symphony::launcher job;
  job.add_processes(2, "worker", child_program(), {"--sleep", "30"});
  job.add_process("worker2", child_program(), {"--sleep", "0.1", "--exit", "3"});
  job.add_process("worker3", child_program(), {"--sleep", "30"});
  const auto start = std::chrono::steady_clock::now();
  auto running = job.start(safe_options());
  const auto pids = running.pids();
  const auto result = running.wait();

  CHECK(seconds_since(start) < 5);
  CHECK(result.status == symphony::job_status::failed);
  CHECK(result.failed_rank == 2);
  CHECK(result.exit_status() == 3);
  CHECK(result.message.rfind("process 'worker2' (rank 2) exited with code 3", 0) == 0);
  CHECK(result.message.find("stopped 3 running processes") != std::string::npos);
  for (const int r : {0, 1, 3}) {
    const auto& p = result.processes[static_cast<std::size_t>(r)];
    CAPTURE(r);
    CHECK(p.signal == SIGTERM);
    CHECK(p.stopped_by_launcher);
  }
  CHECK_FALSE(result.processes[2].stopped_by_launcher);
  CHECK(all_gone(pids));
}

TEST_CASE("a process killed by a signal is reported with the signal") {
  symphony::launcher job;
  job.add_process("victim", child_program(), {"--raise", "9"});
  job.add_process("bystander", child_program(), {"--sleep", "30"});
  const auto result = job.run(safe_options());
  CHECK(result.status == symphony::job_status::failed);
  CHECK(result.message.rfind("process 'victim' (rank 0) was killed by signal 9 (SIGKILL)", 0) == 0);
  CHECK(result.exit_status() == 137);
  CHECK(result.processes[1].signal == SIGTERM);
}

TEST_CASE("a process that ignores SIGTERM gets SIGKILL after the grace period") {
  symphony::launcher job;
  job.add_process("stubborn", child_program(), {"--ignore-term", "--sleep", "30"});
  job.add_process("failing", child_program(), {"--sleep", "0.1", "--exit", "1"});
  auto options = safe_options();
  options.grace = 300ms;
  const auto start = std::chrono::steady_clock::now();
  const auto result = job.run(options);
  const double elapsed = seconds_since(start);
  CHECK(elapsed > 0.3);
  CHECK(elapsed < 5);
  CHECK(result.failed_rank == 1);
  CHECK(result.processes[0].signal == SIGKILL);
  CHECK(result.message.find("1 needed SIGKILL after the 0.3 s grace period") != std::string::npos);
}

TEST_CASE("the job timeout stops every process") {
  symphony::launcher job;
  job.add_processes(2, "sleeper", child_program(), {"--sleep", "30"});
  auto options = safe_options();
  options.job_timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  auto running = job.start(options);
  const auto pids = running.pids();
  const auto result = running.wait();
  CHECK(seconds_since(start) < 5);
  CHECK(result.status == symphony::job_status::timed_out);
  CHECK(result.exit_status() == 124);
  CHECK(result.message.rfind("job timed out after 0.3 s; stopped 2 running processes", 0) == 0);
  CHECK(all_gone(pids));
}

TEST_CASE("wait_for returns nothing while the job runs, then its result") {
  symphony::launcher job;
  job.add_process("short", child_program(), {"--sleep", "0.3"});
  auto running = job.start(safe_options());
  CHECK_FALSE(running.wait_for(10ms).has_value());
  const auto result = running.wait_for(10s);
  REQUIRE(result.has_value());
  CHECK(result->succeeded());
  CHECK(running.wait().succeeded());  // asking again gives the same result
}

TEST_CASE("destroying a running job stops its processes and removes its directory") {
  std::vector<pid_t> pids;
  std::string ipc_dir;
  {
    symphony::launcher job;
    job.add_processes(2, "sleeper", child_program(), {"--sleep", "30"});
    job.add_process("stubborn", child_program(), {"--ignore-term", "--sleep", "30"});
    auto options = safe_options();
    options.grace = 200ms;
    auto running = job.start(options);
    pids = running.pids();
    ipc_dir = launcher_test::ipc_directory(running.addresses().front());
    CHECK(std::filesystem::is_directory(ipc_dir));
    for (const pid_t pid : pids)
      CHECK_FALSE(launcher_test::process_dead(pid));
  }
  CHECK(all_gone(pids));
  CHECK_FALSE(std::filesystem::exists(ipc_dir));
}

TEST_CASE("stop() ends the job on request") {
  symphony::launcher job;
  job.add_processes(2, "sleeper", child_program(), {"--sleep", "30"});
  auto running = job.start(safe_options());
  const auto result = running.stop();
  CHECK(result.status == symphony::job_status::stopped);
  CHECK(result.exit_status() == 143);
  CHECK(result.processes[0].signal == SIGTERM);
  CHECK(all_gone(running.pids()));
}

TEST_CASE("SIGTERM to the launcher reaches the children; the old disposition comes back") {
  struct sigaction before {};
  ::sigaction(SIGTERM, nullptr, &before);
  // (doctest has its own SIGTERM handler; whatever it is, it must be back afterwards.)

  symphony::launcher job;
  // The child signals its parent: this test process, the launcher.
  job.add_process("messenger", child_program(), {"--signal-parent", "15", "--sleep", "30"});
  job.add_process("sleeper", child_program(), {"--sleep", "30"});
  const auto start = std::chrono::steady_clock::now();
  const auto result = job.run(safe_options());
  CHECK(seconds_since(start) < 5);
  CHECK(result.status == symphony::job_status::interrupted);
  CHECK(result.signal == SIGTERM);
  CHECK(result.exit_status() == 143);
  CHECK(result.message.rfind("interrupted by signal 15 (SIGTERM)", 0) == 0);
  for (const auto& p : result.processes)
    CHECK(p.signal == SIGTERM);

  struct sigaction after {};
  ::sigaction(SIGTERM, nullptr, &after);
  CHECK((after.sa_handler == before.sa_handler));
}

TEST_CASE("a program that exec cannot run is reported and nothing is left running") {
  scratch_dir dir;
  const std::string script = dir.file("bad-interpreter");
  {
    std::ofstream(script) << "#!/nonexistent/interpreter\n";
    ::chmod(script.c_str(), 0755);
  }
  symphony::launcher job;
  job.add_process("fine", child_program(), {"--sleep", "30"});
  job.add_process("broken", script);
  CHECK_THROWS_WITH_AS(
      job.start(safe_options()),
      doctest::Contains(
          ("cannot start 'broken': command '" + script + "': No such file or directory").c_str()),
      symphony::launch_error);
  // "fine" was started and must have been killed and reaped: no child of ours is left.
  int status = 0;
  CHECK(::waitpid(-1, &status, WNOHANG) == -1);
  CHECK(errno == ECHILD);
}

TEST_CASE("output_dir: one log file per process with its stdout and stderr") {
  scratch_dir dir;
  const std::string logs = dir.file("logs");  // created by the launcher
  symphony::launcher job;
  job.add_process("alpha", child_program(), {"--out", "alpha says hi", "--err", "alpha warns"});
  job.add_process("beta", child_program(), {"--out", "beta says hi"});
  auto options = safe_options();
  options.output_dir = logs;
  options.tag = symphony::output_tag::name;  // ignored: the files need no prefix
  REQUIRE(job.run(options).succeeded());
  const auto alpha = launcher_test::read_lines(logs + "/alpha.log");
  CHECK(alpha == std::vector<std::string>{"alpha says hi", "alpha warns"});
  CHECK(launcher_test::read_lines(logs + "/beta.log") == std::vector<std::string>{"beta says hi"});
}

TEST_CASE("a job can run again, with fresh addresses") {
  symphony::launcher job;
  job.add_processes(2, "rank", child_program());
  auto first = job.start(safe_options());
  const auto first_addresses = first.addresses();
  CHECK(first.wait().succeeded());
  auto second = job.start(safe_options());
  CHECK(second.addresses() != first_addresses);
  CHECK(second.wait().succeeded());
}
