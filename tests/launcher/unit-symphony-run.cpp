// symphony-run, run as a program: its command line, what its children see, its output options,
// its exit status, signals sent to it, and its usage errors. Every run has a deadline.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <signal.h>

#include <zmq.h>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "launcher_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using launcher_test::child_program;
using launcher_test::read_env;
using launcher_test::scratch_dir;

const std::string symphony_run = SYMPHONY_RUN;

/// symphony-run with `args`, run to its end.
launcher_test::run_result run(std::vector<std::string> args) {
  args.insert(args.begin(), symphony_run);
  return launcher_test::run(args);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// The pids that the children wrote with --pid-to into `dir`, once `count` have.
std::vector<pid_t> wait_for_pids(const std::string& dir, std::size_t count) {
  std::vector<pid_t> pids;
  launcher_test::wait_until(
      [&] { return launcher_test::files_with_suffix(dir, ".pid").size() >= count; }, 5s);
  for (const auto& [name, path] : launcher_test::files_with_suffix(dir, ".pid"))
    pids.push_back(std::stoi(launcher_test::read_file(path)));
  return pids;
}

}  // namespace

TEST_CASE("-n 4 starts four ranks and passes the program's arguments untouched") {
  scratch_dir dir;
  const auto r = run({"-n", "4", child_program(), "--env-to", dir.path(), "--args-to", dir.path(),
                      "-n", "3", "--tag-output", "--", "--help"});
  REQUIRE(r.status == 0);
  CHECK(r.err.empty());
  for (int rank = 0; rank < 4; ++rank) {
    CAPTURE(rank);
    const std::string name = "rank" + std::to_string(rank);
    const auto env = read_env(dir.file(name + ".env"));
    CHECK(env.at("SYMPHONY_RANK") == std::to_string(rank));
    CHECK(env.at("SYMPHONY_NRANKS") == "4");
    CHECK(env.at("SYMPHONY_NAME") == name);
    CHECK(launcher_test::read_lines(dir.file(name + ".args")) ==
          std::vector<std::string>{"--env-to", dir.path(), "--args-to", dir.path(), "-n", "3",
                                   "--tag-output", "--", "--help"});
  }
}

TEST_CASE("segments separated by ':' form one job; consecutive --group segments one group") {
  scratch_dir dir;
  const auto r = run({"--wait-timeout",
                      "7",
                      "--name",
                      "master",
                      child_program(),
                      "--env-to",
                      dir.path(),
                      ":",
                      "--group",
                      "g0",
                      "-n",
                      "2",
                      child_program(),
                      "--env-to",
                      dir.path(),
                      ":",
                      "--group",
                      "g0",
                      "--name",
                      "late",
                      child_program(),
                      "--env-to",
                      dir.path(),
                      ":",
                      "--group",
                      "g1",
                      "-n",
                      "2",
                      "--name",
                      "w",
                      child_program(),
                      "--env-to",
                      dir.path()});
  REQUIRE(r.status == 0);
  const auto files = launcher_test::files_with_suffix(dir.path(), ".env");
  CHECK(files.size() == 6);

  const auto master = read_env(dir.file("master.env"));
  CHECK(master.at("SYMPHONY_RANK") == "0");
  CHECK(master.at("SYMPHONY_NRANKS") == "6");
  CHECK(master.at("SYMPHONY_TIMEOUT") == "7");
  CHECK(master.count("SYMPHONY_GROUP") == 0);

  const auto late = read_env(dir.file("late.env"));
  CHECK(late.at("SYMPHONY_RANK") == "3");
  CHECK(late.at("SYMPHONY_GROUP") == "g0");
  CHECK(late.at("SYMPHONY_GROUP_RANK") == "2");
  CHECK(late.at("SYMPHONY_GROUP_SIZE") == "3");
  CHECK(late.at("SYMPHONY_GROUP_FIRST_RANK") == "1");
  CHECK(read_env(dir.file("rank2.env")).at("SYMPHONY_GROUP_RANK") == "1");

  const auto w1 = read_env(dir.file("w1.env"));
  CHECK(w1.at("SYMPHONY_RANK") == "5");
  CHECK(w1.at("SYMPHONY_GROUP") == "g1");
  CHECK(w1.at("SYMPHONY_GROUP_INDEX") == "1");
  CHECK(w1.at("SYMPHONY_GROUP_FIRST_RANK") == "4");
}

TEST_CASE("--binds and --connects: the binder can listen on its port, everyone knows it") {
  scratch_dir dir;
  const auto r =
      run({"--name", "server", "--binds", "replay-server,stats", child_program(), "--bind-service",
           "replay-server", "--bind-service", "stats", "--env-to", dir.path(), ":", "-n", "2",
           "--connects", "replay-server", child_program(), "--env-to", dir.path()});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const auto server = read_env(dir.file("server.env"));
  const auto client = read_env(dir.file("rank2.env"));
  CHECK(client.at("SYMPHONY_SERVICE_REPLAY_SERVER_HOST") == "127.0.0.1");
  CHECK(client.at("SYMPHONY_SERVICE_REPLAY_SERVER_PORT") ==
        server.at("SYMPHONY_SERVICE_REPLAY_SERVER_PORT"));
  CHECK(client.at("SYMPHONY_SERVICE_STATS_PORT") !=
        client.at("SYMPHONY_SERVICE_REPLAY_SERVER_PORT"));
}

TEST_CASE("--dry-run prints each process's command and environment and starts nothing") {
  scratch_dir dir;
  const auto r =
      run({"--dry-run", "--transport", "tcp", "--name", "master", child_program(), "--env-to",
           dir.path(), "two words", ":", "--group", "g", "-n", "2", child_program()});
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "# process 'master': rank 0\n" + child_program() + " --env-to " +
                            dir.path() + " 'two words'\nSYMPHONY_RANK=0\nSYMPHONY_NRANKS=3\n"));
  CHECK(contains(r.out, "# process 'rank2': rank 2, group 'g'\n"));
  CHECK(contains(r.out, "SYMPHONY_GROUP_FIRST_RANK=1\n"));
  CHECK(contains(r.out, "SYMPHONY_ADDRESSES=tcp://127.0.0.1:"));
  CHECK(launcher_test::files_with_suffix(dir.path(), ".env").empty());  // nothing ran
}

TEST_CASE("--tag-output prefixes every line with the process name, --tag-rank with its rank") {
  const auto named = run({"--tag-output", "-n", "2", child_program(), "--out", "hello", "--err",
                          "oops", "--out-partial", "no newline"});
  REQUIRE(named.status == 0);
  const auto out_lines = [](const std::string& text) {
    std::vector<std::string> lines;
    std::string::size_type start = 0;
    while (start < text.size()) {
      const auto newline = text.find('\n', start);
      lines.push_back(text.substr(start, newline - start));
      if (newline == std::string::npos) break;
      start = newline + 1;
    }
    return lines;
  };
  const auto lines = out_lines(named.out);
  CHECK(lines.size() == 4);
  for (const auto& line : lines)
    CHECK((line == "[rank0] hello" || line == "[rank1] hello" || line == "[rank0] no newline" ||
           line == "[rank1] no newline"));
  CHECK(contains(named.out, "[rank1] hello\n"));
  CHECK(contains(named.out, "[rank0] no newline\n"));  // the unterminated last line, completed
  CHECK(contains(named.err, "[rank0] oops\n"));
  CHECK(contains(named.err, "[rank1] oops\n"));

  const auto ranked = run({"--tag-rank", "-n", "2", child_program(), "--out", "hello"});
  REQUIRE(ranked.status == 0);
  CHECK(contains(ranked.out, "[0] hello\n"));
  CHECK(contains(ranked.out, "[1] hello\n"));
}

TEST_CASE("tagged lines of processes that write at the same time never mix") {
  const int lines_each = 2000;
  const auto r =
      run({"--tag-output", "-n", "3", child_program(), "--out-lines", std::to_string(lines_each)});
  REQUIRE(r.status == 0);
  std::map<std::string, int> next_line;  // per process: the number of the line expected next
  std::size_t start = 0;
  int whole = 0;
  while (start < r.out.size()) {
    const auto newline = r.out.find('\n', start);
    REQUIRE(newline != std::string::npos);
    const std::string line = r.out.substr(start, newline - start);
    start = newline + 1;
    // "[rank1] rank1 line 17 xxxx...": the prefix, then the child's 100 characters.
    const auto close = line.find("] ");
    REQUIRE(close != std::string::npos);
    const std::string name = line.substr(1, close - 1);
    const std::string text = line.substr(close + 2);
    const std::string expected_start = name + " line " + std::to_string(next_line[name]) + " ";
    if (text.size() != 100 || text.rfind(expected_start, 0) != 0 ||
        text.find_first_not_of('x', expected_start.size()) != std::string::npos) {
      FAIL_CHECK("a mixed or broken line: " << line);
      break;
    }
    ++next_line[name];
    ++whole;
  }
  CHECK(whole == 3 * lines_each);
  CHECK(next_line.size() == 3);
}

TEST_CASE("--output-dir writes one log file per process, named after it") {
  scratch_dir dir;
  const auto r = run({"--output-dir", dir.file("logs"), "--name", "alpha", child_program(), "--out",
                      "to the log", "--err", "also to the log", ":", "--name", "beta",
                      child_program(), "--out", "beta line"});
  REQUIRE(r.status == 0);
  CHECK_FALSE(contains(r.out, "to the log"));
  CHECK(launcher_test::read_lines(dir.file("logs/alpha.log")) ==
        std::vector<std::string>{"to the log", "also to the log"});
  CHECK(launcher_test::read_lines(dir.file("logs/beta.log")) ==
        std::vector<std::string>{"beta line"});
}

TEST_CASE("the exit status is the first failure's; the others are stopped and it is named") {
  const auto start = std::chrono::steady_clock::now();
  const auto r = run({"-n", "2", child_program(), "--sleep", "30", ":", "--name", "worker2",
                      child_program(), "--sleep", "0.1", "--exit", "3"});
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(r.status == 3);
  CHECK(contains(r.err, "symphony-run: process 'worker2' (rank 2) exited with code 3"));

  const auto killed = run({"--name", "victim", child_program(), "--raise", "9"});
  CHECK(killed.status == 137);
  CHECK(contains(killed.err, "process 'victim' (rank 0) was killed by signal 9 (SIGKILL)"));
}

TEST_CASE("--secure gives every process the same fresh CURVE key pair, a new one per job") {
  std::string first_secret;
  for (int run_number = 0; run_number < 2; ++run_number) {
    scratch_dir dir;
    const auto r = run({"--secure", "-n", "3", child_program(), "--env-to", dir.path()});
    REQUIRE(r.status == 0);
    const auto env0 = read_env(dir.file("rank0.env"));
    const auto secret = env0.at("SYMPHONY_CURVE_SECRET");
    const auto pub = env0.at("SYMPHONY_CURVE_PUBLIC");
    CHECK(secret.size() == 40);
    char derived[41] = {};
    REQUIRE(zmq_curve_public(derived, secret.c_str()) == 0);
    CHECK(pub == derived);  // the two halves of one pair
    for (const char* name : {"rank1", "rank2"}) {
      const auto env = read_env(dir.file(std::string(name) + ".env"));
      CHECK(env.at("SYMPHONY_CURVE_SECRET") == secret);
      CHECK(env.at("SYMPHONY_CURVE_PUBLIC") == pub);
    }
    CHECK(secret != first_secret);
    first_secret = secret;
  }
  scratch_dir plain;
  REQUIRE(run({"-n", "1", child_program(), "--env-to", plain.path()}).status == 0);
  CHECK(read_env(plain.file("rank0.env")).count("SYMPHONY_CURVE_SECRET") == 0);
}

TEST_CASE("--timeout stops the job and exits with 124") {
  const auto r = run({"--timeout", "0.3", "--grace", "0.2", "-n", "2", child_program(),
                      "--ignore-term", "--sleep", "30"});
  CHECK(r.status == 124);
  CHECK(contains(r.err, "job timed out after 0.3 s"));
  CHECK(contains(r.err, "2 needed SIGKILL"));
}

TEST_CASE("SIGTERM or SIGINT to symphony-run stops the children and removes the ipc directory") {
  for (const int sig : {SIGTERM, SIGINT}) {
    CAPTURE(sig);
    scratch_dir dir;
    launcher_test::subprocess launcher(
        {symphony_run, "--grace", "8", "-n", "3", child_program(), "--env-to", dir.path(),
         "--pid-to", dir.path(), "--sleep", "30"},
        dir.file("stdout"), dir.file("stderr"));
    const auto pids = wait_for_pids(dir.path(), 3);
    REQUIRE(pids.size() == 3);
    const auto env = read_env(dir.file("rank0.env"));
    const std::string ipc_dir = launcher_test::ipc_directory(env.at("SYMPHONY_ADDRESSES"));
    CHECK(std::filesystem::is_directory(ipc_dir));

    ::kill(launcher.pid(), sig);
    const auto start = std::chrono::steady_clock::now();
    CHECK(launcher.wait_for(10s) == 128 + sig);
    CHECK(std::chrono::steady_clock::now() - start < 4s);  // the children took it: no SIGKILL
    for (const pid_t pid : pids)
      CHECK(launcher_test::process_gone(pid));
    CHECK_FALSE(std::filesystem::exists(ipc_dir));
    CHECK(contains(launcher.err(), "interrupted by signal " + std::to_string(sig)));
  }
}

TEST_CASE("a second signal to symphony-run sends SIGKILL at once") {
  scratch_dir dir;
  launcher_test::subprocess launcher({symphony_run, "--grace", "20", "-n", "2", child_program(),
                                      "--pid-to", dir.path(), "--ignore-term", "--sleep", "30"},
                                     dir.file("stdout"), dir.file("stderr"));
  const auto pids = wait_for_pids(dir.path(), 2);
  REQUIRE(pids.size() == 2);
  ::kill(launcher.pid(), SIGTERM);  // passed on to the children, which ignore it
  std::this_thread::sleep_for(200ms);
  CHECK_FALSE(launcher.wait_for(0ms).has_value());  // still waiting for the 20 s grace period
  const auto start = std::chrono::steady_clock::now();
  ::kill(launcher.pid(), SIGTERM);  // no more patience
  CHECK(launcher.wait_for(5s) == 128 + SIGTERM);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  for (const pid_t pid : pids)
    CHECK(launcher_test::process_gone(pid));
  CHECK(contains(launcher.err(), "interrupted by signal 15 (SIGTERM)"));
  CHECK(contains(launcher.err(), "2 got SIGKILL on a second signal"));
}

TEST_CASE("SIGKILL to symphony-run: the children die with it") {
  scratch_dir dir;
  launcher_test::subprocess launcher(
      {symphony_run, "-n", "2", child_program(), "--env-to", dir.path(), "--pid-to", dir.path(),
       "--ignore-term", "--sleep", "30"},
      dir.file("stdout"), dir.file("stderr"));
  const auto pids = wait_for_pids(dir.path(), 2);
  REQUIRE(pids.size() == 2);
  const auto env = read_env(dir.file("rank0.env"));
  ::kill(launcher.pid(), SIGKILL);
  CHECK(launcher.wait_for(5s) == 128 + SIGKILL);
  for (const pid_t pid : pids)
    CHECK(launcher_test::wait_until([&] { return launcher_test::process_dead(pid); }, 5s));
  // A SIGKILLed launcher cannot clean up its directory; do it for it.
  std::filesystem::remove_all(launcher_test::ipc_directory(env.at("SYMPHONY_ADDRESSES")));
}

TEST_CASE("a program that cannot be found is reported, exit status 127") {
  const auto r = run({"-n", "2", "no-such-program-for-symphony"});
  CHECK(r.status == 127);
  CHECK(contains(r.err,
                 "symphony-run: cannot start 'rank0': command 'no-such-program-for-symphony' "
                 "not found"));
}

TEST_CASE("bad usage: a message that names the problem and exit status 2") {
  const std::string c = child_program();
  struct usage_case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<usage_case> cases{
      {{}, "no PROGRAM given"},
      {{"-n", "2"}, "no PROGRAM given"},
      {{c, ":"}, "no PROGRAM given in segment 2"},
      {{"--bogus", c}, "unknown option --bogus"},
      {{"-n", "0", c}, "--np"},
      {{"-n", "many", c}, "--np"},
      {{"--transport", "udp", c}, "--transport"},
      {{"--timeout", "soon", c}, "'soon' is not a number of seconds"},
      {{"--tag-output", "--tag-rank", c}, "--tag-output excludes --tag-rank"},
      {{c, ":", "--dry-run", c}, "--dry-run applies to the whole job"},
      {{"--group", "a", c, ":", "--group", "b", c, ":", "--group", "a", c},
       "--group 'a' is used by segments 1 and 3"},
      {{"--name", "twin", c, ":", "--name", "twin", c}, "duplicate process name 'twin'"},
      {{"--name", "a/b", c}, "'a/b' contains '/'"},
      {{"--connects", "nowhere", c}, "connects to service 'nowhere', which no process binds"},
      {{"-n", "2", "--binds", "svc", c}, "service 'svc' is bound by both 'rank0' and 'rank1'"},
  };
  for (const auto& usage : cases) {
    CAPTURE(usage.message);
    const auto r = run(usage.args);
    CHECK(r.status == 2);
    CHECK(contains(r.err, usage.message));
    CHECK(r.out.empty());
  }
}

TEST_CASE("--help documents the options and shows examples; --version") {
  const auto r = run({"--help"});
  CHECK(r.status == 0);
  for (const char* part :
       {"Usage: symphony-run", "--tag-output", "--output-dir", "--timeout", "--transport",
        "--dry-run", "--grace", "--binds", "--connects", "Examples:", "Exit status:"})
    CHECK(contains(r.out, part));
  const auto v = run({"--version"});
  CHECK(v.status == 0);
  CHECK(contains(v.out, "symphony-run "));
}
