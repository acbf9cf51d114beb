// The launcher's declarations: ranks, names, groups, services, the environment it plans for each
// process, and the mistakes it rejects. Nothing here starts a process (dry_run() only plans).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <symphony/config.hpp>
#include <symphony/launcher.hpp>
#include <vector>

#include "launcher_test_support.hpp"

namespace {

using env_map = std::map<std::string, std::string>;

env_map env_of(const symphony::process_plan& plan) {
  return env_map(plan.environment.begin(), plan.environment.end());
}

/// The config a process of `plan` would read with config::from_environment().
symphony::config config_of(const symphony::process_plan& plan) {
  const env_map env = env_of(plan);
  return symphony::config::from_environment(
      [&](const std::string& name) -> std::optional<std::string> {
        const auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
      });
}

const std::string command = "/bin/true";

}  // namespace

TEST_CASE("add_processes names them prefix0, prefix1, ... and ranks follow declaration order") {
  symphony::launcher job;
  const auto processes = job.add_processes(3, "rank", command, {"--flag"});
  job.add_process("extra", command);
  REQUIRE(processes.size() == 3);
  CHECK(processes[2].name() == "rank2");
  CHECK(job.size() == 4);

  const auto plans = job.dry_run();
  REQUIRE(plans.size() == 4);
  const std::vector<std::string> names{"rank0", "rank1", "rank2", "extra"};
  for (int r = 0; r < 4; ++r) {
    const auto& plan = plans[static_cast<std::size_t>(r)];
    CAPTURE(r);
    CHECK(plan.name == names[static_cast<std::size_t>(r)]);
    CHECK(plan.rank == r);
    CHECK(plan.group.empty());
    const env_map env = env_of(plan);
    CHECK(env.at("SYMPHONY_RANK") == std::to_string(r));
    CHECK(env.at("SYMPHONY_NRANKS") == "4");
    CHECK(env.at("SYMPHONY_NAME") == names[static_cast<std::size_t>(r)]);
    CHECK(env.count("SYMPHONY_TIMEOUT") == 0);
    for (const auto& [name, value] : env)
      CHECK(name.rfind("SYMPHONY_GROUP", 0) != 0);
  }
  CHECK(plans[0].args == std::vector<std::string>{"--flag"});
  CHECK(plans[3].args.empty());
}

TEST_CASE("a group takes the place where it was declared and its members contiguous ranks") {
  symphony::launcher job;
  job.add_process("master", command);
  auto g0 = job.add_group("g0");
  g0.add_process("w0", command);
  job.add_process("logger", command);
  auto g1 = job.add_group("learners");
  g1.add_processes(2, "learner", command);
  g0.add_process("w1", command);  // added late, still ranked with its group
  CHECK(g0.size() == 2);
  CHECK(g1.name() == "learners");

  const auto plans = job.dry_run();
  std::vector<std::string> names;
  for (const auto& p : plans)
    names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"master", "w0", "w1", "logger", "learner0", "learner1"});

  const env_map master = env_of(plans[0]);
  CHECK(master.count("SYMPHONY_GROUP") == 0);
  CHECK(master.count("SYMPHONY_GROUP_RANK") == 0);

  const env_map w1 = env_of(plans[2]);
  CHECK(plans[2].group == "g0");
  CHECK(w1.at("SYMPHONY_RANK") == "2");
  CHECK(w1.at("SYMPHONY_GROUP") == "g0");
  CHECK(w1.at("SYMPHONY_GROUP_INDEX") == "0");
  CHECK(w1.at("SYMPHONY_GROUP_RANK") == "1");
  CHECK(w1.at("SYMPHONY_GROUP_SIZE") == "2");
  CHECK(w1.at("SYMPHONY_GROUP_FIRST_RANK") == "1");

  const env_map learner0 = env_of(plans[4]);
  CHECK(learner0.at("SYMPHONY_GROUP") == "learners");
  CHECK(learner0.at("SYMPHONY_GROUP_INDEX") == "1");
  CHECK(learner0.at("SYMPHONY_GROUP_RANK") == "0");
  CHECK(learner0.at("SYMPHONY_GROUP_SIZE") == "2");
  CHECK(learner0.at("SYMPHONY_GROUP_FIRST_RANK") == "4");
  CHECK(env_of(plans[5]).at("SYMPHONY_GROUP_RANK") == "1");
}

TEST_CASE("every process gets the host and port of every bound service") {
  symphony::launcher job;
  job.add_process("replay", command).binds("replay-server").binds("stats.v2");
  job.add_processes(2, "actor", command)[1].connects("replay-server").connects("replay-server");
  const auto plans = job.dry_run();
  std::set<std::string> ports;
  for (const auto& plan : plans) {
    const env_map env = env_of(plan);
    CHECK(env.at("SYMPHONY_SERVICE_REPLAY_SERVER_HOST") == "127.0.0.1");
    CHECK(env.at("SYMPHONY_SERVICE_STATS_V2_HOST") == "127.0.0.1");
    ports.insert(env.at("SYMPHONY_SERVICE_REPLAY_SERVER_PORT"));
    ports.insert(env.at("SYMPHONY_SERVICE_STATS_V2_PORT"));
  }
  CHECK(ports.size() == 2);  // the same two ports for everyone, and they differ
  for (const auto& port : ports) {
    CHECK(std::stoi(port) > 0);
    CHECK(std::stoi(port) < 65536);
  }
}

TEST_CASE("service names become variable names: upper case, other characters '_'") {
  using symphony::detail::service_variable_stem;
  CHECK(service_variable_stem("replay-server") == "REPLAY_SERVER");
  CHECK(service_variable_stem("a.b c/d") == "A_B_C_D");
  CHECK(service_variable_stem("Param9") == "PARAM9");
  CHECK(service_variable_stem("\xc3\xa9") == "__");  // each byte of a non-ASCII letter
}

TEST_CASE("the planned environment is what config::from_environment() accepts") {
  symphony::launcher job;
  job.add_processes(3, "rank", command);

  SUBCASE("ipc: one socket per rank in the directory start() creates") {
    const auto plans = job.dry_run();
    for (const auto& plan : plans) {
      const symphony::config c = config_of(plan);
      CHECK(c.rank == plan.rank);
      CHECK(c.size == 3);
      CHECK(c.addresses[static_cast<std::size_t>(plan.rank)].rfind("ipc://", 0) == 0);
      CHECK(c.addresses[static_cast<std::size_t>(plan.rank)].find(
                "/symphony-XXXXXX/" + std::to_string(plan.rank)) != std::string::npos);
    }
  }
  SUBCASE("tcp: distinct ports on 127.0.0.1") {
    symphony::launch_options options;
    options.transport = symphony::launch_transport::tcp;
    const auto plans = job.dry_run(options);
    const symphony::config c = config_of(plans[1]);
    CHECK(c.rank == 1);
    std::set<std::string> distinct;
    for (const auto& a : c.addresses) {
      CHECK(a.rfind("tcp://127.0.0.1:", 0) == 0);
      distinct.insert(a);
    }
    CHECK(distinct.size() == 3);
    CHECK(env_of(plans[0]).at("SYMPHONY_ADDRESSES") == env_of(plans[2]).at("SYMPHONY_ADDRESSES"));
  }
  SUBCASE("SYMPHONY_TIMEOUT when a wait timeout is given") {
    symphony::launch_options options;
    options.wait_timeout = std::chrono::milliseconds(1500);
    CHECK(env_of(job.dry_run(options)[0]).at("SYMPHONY_TIMEOUT") == "1.5");
    CHECK(config_of(job.dry_run(options)[0]).timeout == std::chrono::milliseconds(1500));
    options.wait_timeout = symphony::wait_forever;
    CHECK(env_of(job.dry_run(options)[0]).at("SYMPHONY_TIMEOUT") == "inf");
    CHECK(config_of(job.dry_run(options)[0]).timeout == symphony::wait_forever);
  }
}

TEST_CASE("format_seconds writes what parse_timeout reads") {
  using symphony::detail::format_seconds;
  CHECK(format_seconds(std::chrono::milliseconds(300000)) == "300");
  CHECK(format_seconds(std::chrono::milliseconds(1)) == "0.001");
  CHECK(format_seconds(std::chrono::milliseconds(2250)) == "2.25");
  CHECK(format_seconds(symphony::wait_forever) == "inf");
}

TEST_CASE("bad declarations are rejected with a message that names the culprit") {
  symphony::launcher job;
  job.add_process("master", command);
  auto group = job.add_group("workers");
  group.add_process("w0", command);

  using doctest::Contains;
  CHECK_THROWS_WITH_AS(job.add_process("", command), Contains("name must not be empty"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(job.add_process("a/b", command), Contains("'a/b' contains '/'"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(job.add_process("..", command), Contains("'..'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(job.add_process("bad\nname", command), Contains("control character"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(job.add_process("x", ""), Contains("process 'x' has an empty command"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(job.add_process("master", command),
                       Contains("duplicate process name 'master'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(group.add_process("master", command),
                       Contains("duplicate process name 'master'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(job.add_process("w0", command), Contains("duplicate process name 'w0'"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(job.add_group("workers"), Contains("duplicate group name 'workers'"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(job.add_group(""), Contains("group name must not be empty"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(job.add_processes(0, "r", command), Contains("at least 1"),
                       std::invalid_argument);
  // A batch with one bad name adds nothing.
  job.add_process("r1", command);
  const std::size_t before = job.size();
  CHECK_THROWS_WITH_AS(job.add_processes(3, "r", command), Contains("duplicate process name 'r1'"),
                       std::invalid_argument);
  CHECK(job.size() == before);
}

TEST_CASE("bad services are rejected with a message that names the culprits") {
  using doctest::Contains;
  symphony::launcher job;
  auto server = job.add_process("server", command);
  auto client = job.add_process("client", command);
  server.binds("svc");
  CHECK_THROWS_WITH_AS(server.binds("svc"), Contains("process 'server' binds service 'svc' twice"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(client.binds("svc"),
                       Contains("service 'svc' is bound by both 'server' and 'client'"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(client.binds(""), Contains("process 'client' binds a service with an empty"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(client.connects(""), Contains("process 'client' connects to a service"),
                       std::invalid_argument);
  server.binds("a-b");
  CHECK_THROWS_WITH_AS(client.connects("a.b"),
                       Contains("services 'a-b' and 'a.b' would both be SYMPHONY_SERVICE_A_B_"),
                       std::invalid_argument);
  client.connects("nobody-binds-this");
  CHECK_THROWS_WITH_AS(job.validate(),
                       Contains("process 'client' connects to service 'nobody-binds-this', which "
                                "no process binds"),
                       std::invalid_argument);
  CHECK_THROWS_AS(job.dry_run(), std::invalid_argument);
  CHECK_THROWS_AS(job.start(), std::invalid_argument);
}

TEST_CASE("incomplete jobs and bad options are rejected before anything starts") {
  using doctest::Contains;
  symphony::launcher empty;
  CHECK_THROWS_WITH_AS(empty.validate(), Contains("no processes"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(empty.run(), Contains("no processes"), std::invalid_argument);

  symphony::launcher job;
  job.add_process("p", command);
  job.add_group("lonely");
  CHECK_THROWS_WITH_AS(job.validate(), Contains("group 'lonely' has no processes"),
                       std::invalid_argument);

  symphony::launcher ok;
  ok.add_process("p", command);
  symphony::launch_options options;
  options.grace = std::chrono::milliseconds(-1);
  CHECK_THROWS_WITH_AS(ok.dry_run(options), Contains("grace"), std::invalid_argument);
  options = {};
  options.job_timeout = std::chrono::milliseconds(0);
  CHECK_THROWS_WITH_AS(ok.start(options), Contains("job_timeout"), std::invalid_argument);
  options = {};
  options.wait_timeout = std::chrono::milliseconds(0);
  CHECK_THROWS_WITH_AS(ok.dry_run(options), Contains("wait_timeout"), std::invalid_argument);
}

TEST_CASE("a command that cannot be run is reported before anything starts") {
  using doctest::Contains;
  launcher_test::scratch_dir dir;
  {
    std::ofstream(dir.file("not-executable")) << "#!/bin/sh\n";
    ::chmod(dir.file("not-executable").c_str(), 0644);
  }
  symphony::launcher missing;
  missing.add_process("ok", command);
  missing.add_process("lost", "no-such-command-for-symphony");
  CHECK_THROWS_WITH_AS(missing.start(),
                       "cannot start 'lost': command 'no-such-command-for-symphony' not found",
                       symphony::launch_error);
  CHECK_THROWS_AS(missing.dry_run(), symphony::launch_error);

  symphony::launcher relative;
  relative.add_process("p", dir.file("missing"));
  CHECK_THROWS_WITH_AS(relative.run(),
                       Contains(("command '" + dir.file("missing") + "' not found").c_str()),
                       symphony::launch_error);

  symphony::launcher not_executable;
  not_executable.add_process("p", dir.file("not-executable"));
  CHECK_THROWS_WITH_AS(not_executable.run(), Contains("is not executable"), symphony::launch_error);

  symphony::launcher directory;
  directory.add_process("p", dir.path());
  CHECK_THROWS_WITH_AS(directory.run(), Contains("is a directory"), symphony::launch_error);
}

TEST_CASE("handles stay valid when their launcher moves") {
  symphony::launcher job;
  auto group = job.add_group("g");
  auto process = job.add_process("server", command);
  symphony::launcher moved = std::move(job);
  group.add_process("member", command);
  process.binds("svc");
  const auto plans = moved.dry_run();
  REQUIRE(plans.size() == 2);
  CHECK(env_of(plans[1]).count("SYMPHONY_SERVICE_SVC_PORT") == 1);
}

TEST_CASE("job_result: exit status and messages") {
  symphony::process_result worker;
  worker.name = "worker2";
  worker.rank = 3;
  worker.exit_code = 3;
  CHECK(worker.describe() == "process 'worker2' (rank 3) exited with code 3");
  CHECK_FALSE(worker.succeeded());
  symphony::process_result killed;
  killed.name = "w";
  killed.rank = 1;
  killed.signal = SIGKILL;
  CHECK(killed.describe() == "process 'w' (rank 1) was killed by signal 9 (SIGKILL)");

  symphony::job_result result;
  CHECK(result.exit_status() == 0);
  result.status = symphony::job_status::failed;
  result.processes = {killed, worker};
  result.failed_rank = 3;
  CHECK(result.exit_status() == 3);
  result.failed_rank = 1;
  CHECK(result.exit_status() == 128 + 9);
  result.status = symphony::job_status::timed_out;
  CHECK(result.exit_status() == 124);
  result.status = symphony::job_status::interrupted;
  result.signal = SIGINT;
  CHECK(result.exit_status() == 130);
}
