// symphony/detail/launcher_signals.hpp: passing SIGINT, SIGTERM and SIGHUP on to a job.
//
// While a job runs, the launcher catches these signals (self-pipe: the handler only writes the
// signal number to a pipe that the supervision loop polls) so that it can forward them to its
// children, stop them within the grace period and clean up, instead of dying and leaving the
// children to the parent-death signal and the temporary directory behind. Signal dispositions are
// process-wide, so only one job at a time forwards signals; the previous dispositions come back
// when that job ends.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <vector>

#include "process.hpp"

namespace symphony::detail {

static_assert(std::atomic<int>::is_always_lock_free, "the signal handler reads an atomic<int>");

/// Write end of the self-pipe of the job that currently forwards signals, or -1.
inline std::atomic<int> forwarding_fd{-1};

/// The handler: records the signal in the self-pipe. Async-signal-safe.
inline void record_forwarded_signal(int sig) noexcept {
  const int saved_errno = errno;
  const int fd = forwarding_fd.load();
  if (fd >= 0) {
    const auto byte = static_cast<unsigned char>(sig);
    [[maybe_unused]] const ssize_t ignored = ::write(fd, &byte, 1);
  }
  errno = saved_errno;
}

/// Catches SIGINT, SIGTERM and SIGHUP for one job. Not copyable or movable: the handler refers
/// to its pipe.
class signal_forwarder {
 public:
  static constexpr int count = 3;
  static constexpr int signals[count] = {SIGINT, SIGTERM, SIGHUP};

  signal_forwarder() = default;
  signal_forwarder(const signal_forwarder&) = delete;
  signal_forwarder& operator=(const signal_forwarder&) = delete;
  ~signal_forwarder() { uninstall(); }

  /// Installs the handlers. Returns false, changing nothing, when another job already forwards
  /// signals. Throws std::system_error if the pipe cannot be created.
  bool install() {
    pipe_fds p = make_pipe(true);
    const int flags = ::fcntl(p.write.get(), F_GETFL);
    if (flags < 0 || ::fcntl(p.write.get(), F_SETFL, flags | O_NONBLOCK) != 0)
      throw errno_error("fcntl(O_NONBLOCK)");
    int expected = -1;
    if (!forwarding_fd.compare_exchange_strong(expected, p.write.get())) return false;
    pipe_ = std::move(p);
    struct sigaction action {};
    action.sa_handler = [](int sig) { record_forwarded_signal(sig); };
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (int i = 0; i < count; ++i)
      ::sigaction(signals[i], &action, &old_[i]);
    installed_ = true;
    return true;
  }

  /// Puts the previous dispositions back. Signals that arrived meanwhile stay in the pipe.
  void uninstall() noexcept {
    if (!installed_) return;
    for (int i = 0; i < count; ++i)
      ::sigaction(signals[i], &old_[i], nullptr);
    forwarding_fd.store(-1);
    installed_ = false;
  }

  bool installed() const noexcept { return installed_; }

  /// The pipe to poll; -1 when not installed.
  int fd() const noexcept { return installed_ ? pipe_.read.get() : -1; }

  /// The signals received since the last call, oldest first.
  std::vector<int> take() {
    std::vector<int> received;
    if (!pipe_.read) return received;
    unsigned char buffer[64];
    while (true) {
      const ssize_t n = ::read(pipe_.read.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      received.insert(received.end(), buffer, buffer + n);
    }
    return received;
  }

  /// What a child must restore before exec (see child_setup).
  void describe_restore(child_setup& setup) const noexcept {
    if (!installed_) return;
    setup.restore_signals = signals;
    setup.restore_actions = old_;
    setup.restore_count = count;
  }

 private:
  pipe_fds pipe_;
  struct sigaction old_[count] {};
  bool installed_ = false;
};

}  // namespace symphony::detail
