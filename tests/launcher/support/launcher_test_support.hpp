// Helpers of the launcher tests: scratch directories, reading what the test child wrote, running
// a program with a deadline, looking at processes in /proc. Every wait here is bounded.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <symphony/detail/launcher_resources.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace launcher_test {

using namespace std::chrono_literals;

/// The test child program (tests/launcher/launcher_child.cpp).
inline std::string child_program() {
  return SYMPHONY_TEST_CHILD;
}

/// A private directory for one test's files, removed with its contents afterwards.
class scratch_dir {
 public:
  scratch_dir() : dir_(std::filesystem::temp_directory_path()) {}
  const std::string& path() const { return dir_.path(); }
  std::string file(const std::string& name) const { return dir_.path() + "/" + name; }

 private:
  symphony::detail::temp_directory dir_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

/// A NAME=value file written by the child's --env-to.
inline std::map<std::string, std::string> read_env(const std::string& path) {
  std::map<std::string, std::string> env;
  for (const auto& line : read_lines(path)) {
    const auto equals = line.find('=');
    if (equals != std::string::npos) env[line.substr(0, equals)] = line.substr(equals + 1);
  }
  return env;
}

/// Every file in `dir` whose name ends with `suffix`, by name without the suffix.
inline std::map<std::string, std::string> files_with_suffix(const std::string& dir,
                                                            const std::string& suffix) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      files[name.substr(0, name.size() - suffix.size())] = entry.path().string();
  }
  return files;
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns its last value.
inline bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

/// The state letter of /proc/<pid>/stat ('R', 'S', 'Z', ...), or nullopt if there is no such
/// process (it has ended and been reaped).
inline std::optional<char> process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return std::nullopt;
  return stat[paren + 2];
}

/// True if no process `pid` exists at all: ended and reaped (no zombie left).
inline bool process_gone(pid_t pid) {
  return !process_state(pid).has_value();
}

/// True if `pid` is not running: gone, or a zombie waiting for a parent that is not ours.
inline bool process_dead(pid_t pid) {
  const auto state = process_state(pid);
  return !state || *state == 'Z' || *state == 'X';
}

/// The directory of the ipc sockets in a SYMPHONY_ADDRESSES value ("" for tcp).
inline std::string ipc_directory(const std::string& addresses) {
  const std::string first = addresses.substr(0, addresses.find(','));
  if (first.rfind("ipc://", 0) != 0) return {};
  const std::string path = first.substr(6);
  return path.substr(0, path.rfind('/'));
}

/// A program started with stdout and stderr going to files, killed if still running at the end.
class subprocess {
 public:
  subprocess(const std::vector<std::string>& argv, const std::string& out_path,
             const std::string& err_path)
      : out_path_(out_path), err_path_(err_path) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    std::vector<std::string> copy = argv;
    std::vector<char*> pointers;
    for (auto& a : copy)
      pointers.push_back(a.data());
    pointers.push_back(nullptr);
    const int error =
        ::posix_spawn(&pid_, pointers[0], &actions, nullptr, pointers.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) throw std::runtime_error("posix_spawn " + argv[0] + " failed");
  }
  subprocess(const subprocess&) = delete;
  subprocess& operator=(const subprocess&) = delete;
  ~subprocess() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }

  pid_t pid() const { return pid_; }

  /// The exit code (128 + signal if a signal ended it) once it has ended within `timeout`,
  /// else nullopt.
  std::optional<int> wait_for(std::chrono::milliseconds timeout) {
    wait_until(
        [&] {
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) == pid_)
            status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          return status_.has_value();
        },
        timeout);
    return status_;
  }

  std::string out() const { return read_file(out_path_); }
  std::string err() const { return read_file(err_path_); }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_;
  std::string err_path_;
};

/// How a program run with run() ended.
struct run_result {
  std::optional<int> status;  ///< exit code, or 128 + signal; nullopt if it had to be killed
  std::string out;
  std::string err;
};

/// Runs `argv` to its end (killing it after `timeout`), capturing stdout and stderr.
inline run_result run(const std::vector<std::string>& argv,
                      std::chrono::milliseconds timeout = 15s) {
  scratch_dir dir;
  subprocess p(argv, dir.file("stdout"), dir.file("stderr"));
  run_result result;
  result.status = p.wait_for(timeout);
  result.out = p.out();
  result.err = p.err();
  return result;
}

}  // namespace launcher_test
