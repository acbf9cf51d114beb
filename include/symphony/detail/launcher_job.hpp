// symphony/detail/launcher_job.hpp: a started job and its supervision.
//
// job_state starts the planned processes, relays their output, watches them, stops the rest when
// one fails, forwards signals, and removes its temporary directory at the end.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../launch_types.hpp"
#include "launcher_plan.hpp"
#include "launcher_resources.hpp"
#include "launcher_signals.hpp"
#include "process.hpp"
#include "process_output.hpp"

namespace symphony {
namespace detail {

/// One started process.
struct job_child {
  std::string name;
  int rank = 0;
  std::string group;
  std::string command;
  pid_t pid = -1;
  unique_fd pidfd;
  bool ended = true;  // until it has been forked
  int wait_status = 0;
  bool reaped_elsewhere = false;
  bool signalled = false;
  line_relay out;
  line_relay err;
};

/// A started job: its children, its temporary directory and its supervision.
class job_state {
 public:
  using clock = std::chrono::steady_clock;

  explicit job_state(launch_options options) : options_(std::move(options)) {}
  job_state(const job_state&) = delete;
  job_state& operator=(const job_state&) = delete;

  ~job_state() {
    try {
      if (!finished_) {
        request_stop();
        supervise(clock::time_point::max());
      }
    } catch (...) {
      kill_and_reap_all();
    }
  }

  /// Starts every process of `plans`. On failure kills and reaps what was started and throws.
  void start(std::vector<process_plan> plans, job_layout layout) {
    layout_ = std::move(layout);
    const bool sets_timeout = options_.wait_timeout.has_value();
    const char* search_path = std::getenv("PATH");

    // Everything that can fail is done before the first fork.
    std::vector<std::string> executables;
    for (const auto& plan : plans) {
      auto resolved = resolve_command(plan.command, search_path);
      if (!resolved.error.empty())
        throw launch_error("cannot start " + detail::in_quotes(plan.name) + ": command " +
                           detail::in_quotes(plan.command) + " " + resolved.error);
      executables.push_back(std::move(resolved.path));
    }
    std::vector<unique_fd> logs;
    if (!options_.output_dir.empty()) {
      std::error_code error;
      std::filesystem::create_directories(options_.output_dir, error);
      if (error)
        throw launch_error("cannot create the output directory " +
                           detail::in_quotes(options_.output_dir.string()) + ": " +
                           error.message());
      for (const auto& plan : plans) {
        const std::string file = (options_.output_dir / (plan.name + ".log")).string();
        unique_fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!fd)
          throw launch_error("cannot create the log file " + detail::in_quotes(file) + " of " +
                             detail::in_quotes(plan.name) + ": " + std::strerror(errno));
        logs.push_back(std::move(fd));
      }
    }
    const bool relay = logs.empty() && options_.tag != output_tag::none;
    unique_fd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!dev_null)
      throw launch_error(std::string("cannot open /dev/null: ") + std::strerror(errno));

    const std::vector<std::string> base_env = inherited_environment(sets_timeout, options_.secure);
    std::vector<std::unique_ptr<exec_image>> images;
    std::vector<pipe_fds> out_pipes;
    std::vector<pipe_fds> err_pipes;
    for (std::size_t i = 0; i < plans.size(); ++i) {
      std::vector<std::string> env = base_env;
      for (const auto& [name, value] : plans[i].environment)
        env.push_back(name + "=" + value);
      std::vector<std::string> argv{plans[i].command};
      argv.insert(argv.end(), plans[i].args.begin(), plans[i].args.end());
      images.push_back(
          std::make_unique<exec_image>(executables[i], std::move(argv), std::move(env)));
      if (relay) {
        try {
          out_pipes.push_back(make_pipe(true));
          err_pipes.push_back(make_pipe(true));
        } catch (const std::system_error& e) {
          throw launch_error(std::string("cannot create output pipes: ") + e.what());
        }
      }
    }

    if (options_.forward_signals) {
      try {
        forwarder_.install();
      } catch (const std::system_error& e) {
        throw launch_error(std::string("cannot set up signal forwarding: ") + e.what());
      }
    }

    // Fork all children with every signal blocked: no handler of ours may run in a child before
    // exec, and a signal that arrives meanwhile is handled once all children exist.
    const pid_t self = ::getpid();
    std::vector<unique_fd> exec_status;
    std::string fork_failure;
    {
      const block_all_signals blocked;
      for (std::size_t i = 0; i < plans.size(); ++i) {
        child_setup setup;
        setup.stdin_fd = plans[i].rank == 0 ? -1 : dev_null.get();
        if (!logs.empty()) {
          setup.stdout_fd = setup.stderr_fd = logs[i].get();
        } else if (relay) {
          setup.stdout_fd = out_pipes[i].write.get();
          setup.stderr_fd = err_pipes[i].write.get();
        }
        forwarder_.describe_restore(setup);
        // Tracked before fork(), so that whatever happens next, the child gets reaped.
        children_.push_back(std::make_unique<job_child>());
        job_child& child = *children_.back();
        child.name = plans[i].name;
        child.rank = plans[i].rank;
        child.group = plans[i].group;
        child.command = plans[i].command;
        exec_status.emplace_back();
        try {
          auto [pid, status] = fork_exec(*images[i], setup, self);
          child.pid = pid;
          child.ended = false;
          exec_status.back() = std::move(status);
        } catch (const std::system_error& e) {
          children_.pop_back();
          exec_status.pop_back();
          fork_failure = "cannot start " + detail::in_quotes(plans[i].name) + ": " + e.what();
          break;
        }
        child.pidfd = open_pidfd(child.pid);
        if (relay) {
          const std::string prefix =
              "[" +
              (options_.tag == output_tag::name ? plans[i].name : std::to_string(plans[i].rank)) +
              "] ";
          out_pipes[i].write.reset();
          err_pipes[i].write.reset();
          child.out = line_relay(std::move(out_pipes[i].read), STDOUT_FILENO, prefix);
          child.err = line_relay(std::move(err_pipes[i].read), STDERR_FILENO, prefix);
        }
        if (!logs.empty()) logs[i].reset();
      }
    }
    started_ = clock::now();
    if (options_.job_timeout) job_deadline_ = started_ + *options_.job_timeout;

    if (fork_failure.empty()) {
      for (std::size_t i = 0; i < children_.size(); ++i) {
        if (const int error = read_exec_status(exec_status[i]); error != 0) {
          fork_failure = "cannot start " + detail::in_quotes(children_[i]->name) + ": command " +
                         detail::in_quotes(children_[i]->command) + ": " + std::strerror(error);
          break;
        }
      }
    }
    if (!fork_failure.empty()) {
      kill_and_reap_all();
      throw launch_error(fork_failure);
    }
  }

  /// Supervises the job until it ends or `until` passes; true once it has ended.
  bool supervise(clock::time_point until) {
    while (!finished_) {
      reap();
      handle_signals();
      const auto now = clock::now();
      if (all_ended()) {
        finish();
        break;
      }
      if (job_deadline_ && now >= *job_deadline_ && !stopping_) {
        status_ = job_status::timed_out;
        begin_stop(SIGTERM);
      }
      if (kill_deadline_ && now >= *kill_deadline_ && !killed_) kill_all();
      if (now >= until) return false;

      clock::time_point wake = until;
      if (job_deadline_ && !stopping_) wake = std::min(wake, *job_deadline_);
      if (kill_deadline_ && !killed_) wake = std::min(wake, *kill_deadline_);
      std::vector<pollfd> fds;
      bool need_tick = false;
      if (forwarder_.fd() >= 0) fds.push_back({forwarder_.fd(), POLLIN, 0});
      for (const auto& c : children_) {
        if (c->out.open()) fds.push_back({c->out.fd(), POLLIN, 0});
        if (c->err.open()) fds.push_back({c->err.fd(), POLLIN, 0});
        if (c->ended) continue;
        if (c->pidfd) {
          fds.push_back({c->pidfd.get(), POLLIN, 0});
        } else {
          need_tick = true;  // no pidfd: look at waitpid() regularly
        }
      }
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - now);
      if (need_tick) wait = std::min(wait, std::chrono::milliseconds(50));
      const int timeout = static_cast<int>(
          std::clamp<std::chrono::milliseconds::rep>(wait.count(), 0, 60 * 60 * 1000));
      const int ready = ::poll(fds.data(), fds.size(), timeout);
      if (ready < 0 && errno != EINTR) throw errno_error("poll");
      for (auto& c : children_) {
        c->out.pump();
        c->err.pump();
      }
    }
    return true;
  }

  /// Starts stopping the job (status stopped) unless it is already stopping.
  void request_stop() {
    if (finished_ || stopping_) return;
    status_ = job_status::stopped;
    begin_stop(SIGTERM);
  }

  const job_result& result() const noexcept { return result_; }
  bool finished() const noexcept { return finished_; }
  const std::vector<std::string>& addresses() const noexcept { return layout_.addresses; }
  std::vector<pid_t> pids() const {
    std::vector<pid_t> pids;
    for (const auto& c : children_)
      pids.push_back(c->pid);
    return pids;
  }

 private:
  bool all_ended() const noexcept {
    return std::all_of(children_.begin(), children_.end(), [](const auto& c) { return c->ended; });
  }

  void reap() {
    for (auto& c : children_) {
      if (c->ended) continue;
      int status = 0;
      const pid_t r = ::waitpid(c->pid, &status, WNOHANG);
      if (r == 0 || (r < 0 && errno == EINTR)) continue;
      c->ended = true;
      c->pidfd.reset();
      if (r < 0) {
        c->reaped_elsewhere = true;  // ECHILD: someone else reaped it
      } else {
        c->wait_status = status;
      }
      // What it wrote is in its pipes now; a descendant holding them must not keep us waiting.
      c->out.pump();
      c->err.pump();
      c->out.finish();
      c->err.finish();
      const bool failed =
          c->reaped_elsewhere || !WIFEXITED(c->wait_status) || WEXITSTATUS(c->wait_status) != 0;
      if (failed && !stopping_) {
        status_ = job_status::failed;
        failed_rank_ = c->rank;
        begin_stop(SIGTERM);
      }
    }
  }

  void handle_signals() {
    for (const int sig : forwarder_.take()) {
      if (!stopping_) {
        status_ = job_status::interrupted;
        received_signal_ = sig;
        begin_stop(sig);
      } else if (!killed_) {
        killed_on_signal_ = true;
        kill_all();  // a second signal: no more patience
      }
    }
  }

  void begin_stop(int sig) {
    stopping_ = true;
    for (auto& c : children_) {
      if (c->ended) continue;
      ::kill(c->pid, sig);  // not yet reaped, so the pid is still ours
      c->signalled = true;
    }
    kill_deadline_ = clock::now() + options_.grace;
  }

  void kill_all() {
    killed_ = true;
    for (auto& c : children_) {
      if (c->ended) continue;
      ::kill(c->pid, SIGKILL);
      c->signalled = true;
      ++killed_count_;
    }
  }

  // Last resort (start failure, exception while stopping): SIGKILL and a blocking reap.
  void kill_and_reap_all() noexcept {
    for (auto& c : children_) {
      if (c->ended) continue;
      ::kill(c->pid, SIGKILL);
      int status = 0;
      while (::waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
      }
      c->ended = true;
      c->wait_status = status;
      c->signalled = true;
    }
    for (auto& c : children_) {
      c->out.finish();
      c->err.finish();
    }
    finished_ = true;
    forwarder_.uninstall();
    layout_.ipc_directory.remove();
  }

  void finish() {
    forwarder_.uninstall();
    handle_signals();  // none can arrive any more; count those that did
    layout_.ipc_directory.remove();
    job_result& r = result_;
    r.status = status_;
    r.failed_rank = status_ == job_status::failed ? failed_rank_ : std::nullopt;
    r.signal = received_signal_;
    std::vector<std::string> stopped;
    for (const auto& c : children_) {
      process_result p;
      p.name = c->name;
      p.rank = c->rank;
      p.group = c->group;
      p.pid = c->pid;
      if (!c->reaped_elsewhere && WIFEXITED(c->wait_status))
        p.exit_code = WEXITSTATUS(c->wait_status);
      if (!c->reaped_elsewhere && WIFSIGNALED(c->wait_status)) p.signal = WTERMSIG(c->wait_status);
      p.stopped_by_launcher = c->signalled;
      if (c->signalled)
        stopped.push_back(detail::in_quotes(c->name) + " (rank " + std::to_string(c->rank) + ")");
      r.processes.push_back(std::move(p));
    }
    std::string stop_note;
    if (!stopped.empty()) {
      stop_note = "stopped " + std::to_string(stopped.size()) + " running process" +
                  (stopped.size() == 1 ? "" : "es") + ": ";
      for (std::size_t i = 0; i < stopped.size() && i < 8; ++i)
        stop_note += (i == 0 ? "" : ", ") + stopped[i];
      if (stopped.size() > 8) stop_note += ", ...";
      if (killed_count_ > 0 && killed_on_signal_)
        stop_note += " (" + std::to_string(killed_count_) + " got SIGKILL on a second signal)";
      else if (killed_count_ > 0)
        stop_note += " (" + std::to_string(killed_count_) + " needed SIGKILL after the " +
                     format_seconds(options_.grace) + " s grace period)";
    }
    const auto with_note = [&](std::string text) {
      return stop_note.empty() ? text : text + "; " + stop_note;
    };
    switch (status_) {
      case job_status::succeeded:
        r.message = "all " + std::to_string(children_.size()) + " process" +
                    (children_.size() == 1 ? "" : "es") + " exited with code 0";
        break;
      case job_status::failed:
        for (const auto& p : r.processes)
          if (p.rank == failed_rank_) r.message = with_note(p.describe());
        break;
      case job_status::timed_out:
        r.message =
            with_note("job timed out after " + format_seconds(*options_.job_timeout) + " s");
        break;
      case job_status::interrupted:
        r.message = with_note("interrupted by " + describe_signal(received_signal_));
        break;
      case job_status::stopped:
        r.message = with_note("job stopped on request");
        break;
    }
    finished_ = true;
  }

  launch_options options_;
  job_layout layout_;
  signal_forwarder forwarder_;
  std::vector<std::unique_ptr<job_child>> children_;
  clock::time_point started_;
  std::optional<clock::time_point> job_deadline_;
  std::optional<clock::time_point> kill_deadline_;
  bool stopping_ = false;
  bool killed_ = false;
  bool killed_on_signal_ = false;
  std::size_t killed_count_ = 0;
  bool finished_ = false;
  job_status status_ = job_status::succeeded;
  std::optional<int> failed_rank_;
  int received_signal_ = 0;
  job_result result_;
};

}  // namespace detail
}  // namespace symphony
