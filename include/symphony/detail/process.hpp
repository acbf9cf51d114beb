// symphony/detail/process.hpp: POSIX building blocks of the launcher.
//
// Owned file descriptors, pipes, finding a command the way execvp does, describing how a process
// ended, and fork+exec of one child with the launcher's guarantees (parent-death signal, clean
// signal state, exec failures reported back through a close-on-exec pipe).
//
// Everything a child runs between fork() and exec() is async-signal-safe: all allocation happens
// in the parent, before fork().
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace symphony::detail {

/// Owns one file descriptor; closes it on destruction. Move-only.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

/// A std::system_error for the current errno, with `what` describing the failed call.
inline std::system_error errno_error(const std::string& what) {
  return std::system_error(errno, std::generic_category(), what);
}

/// Both ends of a pipe.
struct pipe_fds {
  unique_fd read;
  unique_fd write;
};

/// Creates a close-on-exec pipe; `nonblocking_read` makes the read end non-blocking.
/// Throws std::system_error.
inline pipe_fds make_pipe(bool nonblocking_read) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw errno_error("pipe2");
  pipe_fds p{unique_fd(fds[0]), unique_fd(fds[1])};
  if (nonblocking_read) {
    const int flags = ::fcntl(p.read.get(), F_GETFL);
    if (flags < 0 || ::fcntl(p.read.get(), F_SETFL, flags | O_NONBLOCK) != 0)
      throw errno_error("fcntl(O_NONBLOCK)");
  }
  return p;
}

/// The symbolic name of a signal ("SIGKILL"), or an empty string for an unusual one.
inline std::string_view signal_name(int sig) noexcept {
  switch (sig) {
    case SIGHUP:
      return "SIGHUP";
    case SIGINT:
      return "SIGINT";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGILL:
      return "SIGILL";
    case SIGTRAP:
      return "SIGTRAP";
    case SIGABRT:
      return "SIGABRT";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGKILL:
      return "SIGKILL";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGUSR2:
      return "SIGUSR2";
    case SIGPIPE:
      return "SIGPIPE";
    case SIGALRM:
      return "SIGALRM";
    case SIGTERM:
      return "SIGTERM";
    case SIGCHLD:
      return "SIGCHLD";
    case SIGCONT:
      return "SIGCONT";
    case SIGSTOP:
      return "SIGSTOP";
    case SIGTSTP:
      return "SIGTSTP";
    case SIGTTIN:
      return "SIGTTIN";
    case SIGTTOU:
      return "SIGTTOU";
    case SIGURG:
      return "SIGURG";
    case SIGXCPU:
      return "SIGXCPU";
    case SIGXFSZ:
      return "SIGXFSZ";
    case SIGVTALRM:
      return "SIGVTALRM";
    case SIGPROF:
      return "SIGPROF";
    case SIGWINCH:
      return "SIGWINCH";
    case SIGSYS:
      return "SIGSYS";
    default:
      return {};
  }
}

/// "signal 9 (SIGKILL)", or "signal 40" when the signal has no well-known name.
inline std::string describe_signal(int sig) {
  std::string text = "signal " + std::to_string(sig);
  const auto name = signal_name(sig);
  if (!name.empty()) text += " (" + std::string(name) + ")";
  return text;
}

/// Where a command lives, found the way execvp() would find it, or why it cannot be run.
struct resolved_command {
  std::string path;   ///< what to pass to execve(); empty on failure
  std::string error;  ///< "not found", "is not executable (permission denied)", ...
};

/// Finds `command` like execvp(): a name containing '/' is used as given (relative to the current
/// directory); any other name is searched in the directories of `search_path` (PATH; an empty
/// entry means the current directory; when PATH is unset, "/bin:/usr/bin"). Checks that the file
/// exists, is not a directory and is executable, so that a missing program is reported before
/// anything starts.
inline resolved_command resolve_command(const std::string& command, const char* search_path) {
  const auto check = [](const std::string& candidate) -> std::string {
    struct stat st {};
    if (::stat(candidate.c_str(), &st) != 0) return "not found";
    if (S_ISDIR(st.st_mode)) return "is a directory";
    if (::access(candidate.c_str(), X_OK) != 0)
      return "is not executable (" + std::string(std::strerror(errno)) + ")";
    return {};
  };
  if (command.empty()) return {{}, "is empty"};
  if (command.find('/') != std::string::npos) {
    std::string why = check(command);
    if (why.empty()) return {command, {}};
    return {{}, std::move(why)};
  }
  const std::string path = search_path != nullptr ? search_path : "/bin:/usr/bin";
  std::string first_problem;  // e.g. found but not executable: reported if nothing better turns up
  std::string::size_type start = 0;
  while (true) {
    const auto colon = path.find(':', start);
    std::string dir = path.substr(start, colon == std::string::npos ? colon : colon - start);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + command;
    std::string why = check(candidate);
    if (why.empty()) return {candidate, {}};
    if (why != "not found" && first_problem.empty()) first_problem = candidate + " " + why;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return {{}, first_problem.empty() ? "not found" : "found as " + first_problem};
}

/// "exited with code 3", "was killed by signal 9 (SIGKILL)" for a waitpid() status.
inline std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    std::string text = "was killed by " + describe_signal(WTERMSIG(status));
#ifdef WCOREDUMP
    if (WCOREDUMP(status)) text += " (core dumped)";
#endif
    return text;
  }
  return "ended with wait status " + std::to_string(status);
}

/// A pollable descriptor that becomes readable when process `pid` ends (Linux pidfd), or an empty
/// unique_fd where the kernel has none; the caller then has to poll waitpid() periodically.
inline unique_fd open_pidfd(pid_t pid) noexcept {
#if defined(__linux__) && defined(SYS_pidfd_open)
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return unique_fd(static_cast<int>(fd));
  }
#else
  (void)pid;
#endif
  return unique_fd();
}

/// Writes all of `data` to `fd`, retrying on EINTR and partial writes, without letting a closed
/// reader raise SIGPIPE in this process (the signal is blocked for this thread while writing and
/// discarded if the write caused it). Returns false if the descriptor cannot take more output.
inline bool write_all(int fd, std::string_view data) noexcept {
  sigset_t pipe_only;
  sigset_t old_mask;
  sigset_t pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
  bool ok = true;
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 100);
      continue;
    }
    if (n <= 0) {
      ok = false;
      if (errno == EPIPE && !was_pending) {
        const timespec zero{0, 0};
        while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
      break;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return ok;
}

/// Blocks every signal in the calling thread for its lifetime (around fork(), so that no handler
/// of the parent runs in a child before exec).
class block_all_signals {
 public:
  block_all_signals() noexcept {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous_);
  }
  block_all_signals(const block_all_signals&) = delete;
  block_all_signals& operator=(const block_all_signals&) = delete;
  ~block_all_signals() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

 private:
  sigset_t previous_;
};

/// Everything one child needs between fork() and exec(), prepared (allocated) in the parent.
class exec_image {
 public:
  /// `executable` is what execve() gets (see resolve_command); `argv` starts with argv[0];
  /// `environment` holds "NAME=value" strings.
  exec_image(std::string executable, std::vector<std::string> argv,
             std::vector<std::string> environment)
      : executable_(std::move(executable)),
        argv_(std::move(argv)),
        environment_(std::move(environment)) {
    // execvp() runs a file without a valid executable header with /bin/sh; so do we.
    shell_argv_.push_back("/bin/sh");
    shell_argv_.push_back(executable_);
    for (std::size_t i = 1; i < argv_.size(); ++i)
      shell_argv_.push_back(argv_[i]);
    argv_ptrs_ = pointers(argv_);
    shell_argv_ptrs_ = pointers(shell_argv_);
    environment_ptrs_ = pointers(environment_);
  }
  exec_image(const exec_image&) = delete;
  exec_image& operator=(const exec_image&) = delete;

  /// Replaces the calling (child) process; returns only on failure, with errno set.
  /// Async-signal-safe.
  void exec() const noexcept {
    ::execve(executable_.c_str(), argv_ptrs_.data(), environment_ptrs_.data());
    if (errno == ENOEXEC) ::execve("/bin/sh", shell_argv_ptrs_.data(), environment_ptrs_.data());
  }

 private:
  static std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> result;
    result.reserve(strings.size() + 1);
    for (auto& s : strings)
      result.push_back(s.data());
    result.push_back(nullptr);
    return result;
  }

  std::string executable_;
  std::vector<std::string> argv_;
  std::vector<std::string> shell_argv_;
  std::vector<std::string> environment_;
  std::vector<char*> argv_ptrs_;
  std::vector<char*> shell_argv_ptrs_;
  std::vector<char*> environment_ptrs_;
};

/// How a child's standard streams and signals are set up before exec.
struct child_setup {
  int stdin_fd = -1;   ///< dup2'ed onto 0; -1 inherits the parent's
  int stdout_fd = -1;  ///< dup2'ed onto 1; -1 inherits the parent's
  int stderr_fd = -1;  ///< dup2'ed onto 2; -1 inherits the parent's
  /// Dispositions to put back before exec (signals whose handler the launcher replaced), so
  /// that a signal ignored by the launcher's caller stays ignored in the child.
  const int* restore_signals = nullptr;
  const struct sigaction* restore_actions = nullptr;
  int restore_count = 0;
};

namespace process_child {

// Makes `target` refer to `source`, keeping it open across exec. Async-signal-safe.
inline bool redirect(int source, int target) noexcept {
  if (source < 0) return true;
  if (source == target) return ::fcntl(target, F_SETFD, 0) == 0;
  return ::dup2(source, target) == target;
}

[[noreturn]] inline void fail(int status_fd, int error) noexcept {
  while (::write(status_fd, &error, sizeof error) < 0 && errno == EINTR) {
  }
  ::_exit(127);
}

}  // namespace process_child

/// Forks one child and executes `image` in it. The child gets SIGKILL when this thread of the
/// parent ends (PR_SET_PDEATHSIG, re-checked against `parent` to close the race with an early
/// parent death), an empty signal mask, SIGPIPE at its default action, and the descriptors of
/// `setup`. Returns the child's pid and the read end of a close-on-exec pipe: end-of-file on it
/// means exec succeeded; otherwise it yields the errno of the failed exec (an int).
///
/// The caller must block all signals around the call (block_all_signals). Throws std::system_error
/// if fork() fails.
inline std::pair<pid_t, unique_fd> fork_exec(const exec_image& image, const child_setup& setup,
                                             pid_t parent) {
  pipe_fds status = make_pipe(false);
  const pid_t pid = ::fork();
  if (pid < 0) throw errno_error("fork");
  if (pid == 0) {
    // Child: async-signal-safe calls only, until exec.
    const int status_fd = status.write.get();
    for (int i = 0; i < setup.restore_count; ++i)
      ::sigaction(setup.restore_signals[i], &setup.restore_actions[i], nullptr);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    ::sigaction(SIGPIPE, &default_action, nullptr);
#ifdef __linux__
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) process_child::fail(status_fd, errno);
    if (::getppid() != parent) ::_exit(127);  // the launcher is already gone
#else
    (void)parent;
#endif
    if (!process_child::redirect(setup.stdin_fd, STDIN_FILENO) ||
        !process_child::redirect(setup.stdout_fd, STDOUT_FILENO) ||
        !process_child::redirect(setup.stderr_fd, STDERR_FILENO))
      process_child::fail(status_fd, errno);
    sigset_t empty;
    sigemptyset(&empty);
    ::sigprocmask(SIG_SETMASK, &empty, nullptr);
    image.exec();
    process_child::fail(status_fd, errno);
  }
  status.write.reset();
  return {pid, std::move(status.read)};
}

/// Reads the exec status pipe returned by fork_exec(): 0 if exec succeeded, else the errno of
/// the failure. Blocks until the child has exec'ed or failed (which it does without delay).
inline int read_exec_status(const unique_fd& status) noexcept {
  int error = 0;
  std::size_t got = 0;
  auto* bytes = reinterpret_cast<char*>(&error);
  while (got < sizeof error) {
    const ssize_t n = ::read(status.get(), bytes + got, sizeof error - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got == sizeof error ? error : 0;
}

}  // namespace symphony::detail
