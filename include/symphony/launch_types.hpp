// symphony/launch_types.hpp: what a launch is given and what it reports.
//
// The options of a run (launch_options), the plan of one process (process_plan, see
// launcher::dry_run), how each process ended (process_result) and how the job ended (job_result),
// and launch_error. Used by symphony/launcher.hpp; included by it.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"
#include "detail/launcher_names.hpp"
#include "detail/launcher_signals.hpp"
#include "error.hpp"

namespace symphony {

/// A job could not be started: a command that is not found or cannot be executed, a log file
/// that cannot be created, no temporary directory, no free port. Nothing of the job is left
/// running when this is thrown.
class launch_error : public error {
 public:
  using error::error;
};

/// How the ranks of a job reach each other (SYMPHONY_ADDRESSES).
enum class launch_transport {
  ipc,  ///< unix domain sockets in a private temporary directory (mode 0700), removed afterwards
  tcp,  ///< tcp on 127.0.0.1, on ports that were free when the job started
};

/// What precedes each line of a child's output on the launcher's stdout/stderr.
enum class output_tag {
  none,  ///< nothing: children write straight to the launcher's stdout and stderr
  name,  ///< "[worker2] "
  rank,  ///< "[3] "
};

/// How start() runs a job. The defaults suit an interactive run of a few processes.
struct launch_options {
  /// Addresses of the ranks: ipc (default) or tcp on 127.0.0.1. Services always use tcp.
  launch_transport transport = launch_transport::ipc;

  /// SYMPHONY_TIMEOUT for every process: how long one blocking wait in a rank may take
  /// (symphony::wait_forever for no limit). Unset: not set by the launcher (a value in the
  /// launcher's own environment is inherited). Must be positive.
  std::optional<std::chrono::milliseconds> wait_timeout;

  /// Secure the job with CURVE: start() makes a fresh key pair (zmq_curve_keypair) and gives it
  /// to every process as SYMPHONY_CURVE_SECRET and SYMPHONY_CURVE_PUBLIC, so that only the job's
  /// processes can connect to its ranks (see README, Security). A dry run shows placeholders.
  bool secure = false;

  /// Deadline of the whole job, from start(). When it passes, the processes still running are
  /// stopped and the job's status is job_status::timed_out. Unset: no deadline. Must be positive.
  std::optional<std::chrono::milliseconds> job_timeout;

  /// How long a process may take to end after SIGTERM (or a forwarded signal) before it gets
  /// SIGKILL. Must not be negative.
  std::chrono::milliseconds grace = std::chrono::seconds(5);

  /// Prefix each line of every process's stdout and stderr with its name or rank. The output is
  /// then relayed through pipes, one whole line at a time (while wait() runs), so lines of
  /// different processes never mix. With output_tag::none the children write to the launcher's
  /// stdout and stderr directly.
  output_tag tag = output_tag::none;

  /// If not empty: each process's stdout and stderr go to "<output_dir>/<name>.log" (created or
  /// truncated; the directory is created if missing) instead of the launcher's; `tag` is then
  /// ignored.
  std::filesystem::path output_dir;

  /// While the job runs, catch SIGINT, SIGTERM and SIGHUP, pass them on to every process that is
  /// still running, SIGKILL them after `grace`, and end with job_status::interrupted; a second
  /// signal sends SIGKILL at once. The previous dispositions are restored when the job ends. Only
  /// one job per program forwards signals at a time; others run without.
  bool forward_signals = true;
};

/// One process as start() would start it: see launcher::dry_run().
struct process_plan {
  std::string name;               ///< the process's name (SYMPHONY_NAME)
  int rank = 0;                   ///< its rank (SYMPHONY_RANK)
  std::string group;              ///< its group's name; empty for a standalone process
  std::string command;            ///< the command, as declared
  std::vector<std::string> args;  ///< its arguments
  /// The variables the launcher sets for it, in the order of docs/launcher.md; the rest of the
  /// launcher's environment is inherited.
  std::vector<std::pair<std::string, std::string>> environment;
};

/// How one process of a job ended.
struct process_result {
  std::string name;                  ///< the process's name
  int rank = 0;                      ///< its rank
  std::string group;                 ///< its group's name; empty for a standalone process
  pid_t pid = -1;                    ///< its process id (already reaped: do not signal it)
  std::optional<int> exit_code;      ///< set if it exited normally
  std::optional<int> signal;         ///< set if a signal ended it
  bool stopped_by_launcher = false;  ///< the launcher signalled it (another failed, timeout, ...)

  /// True if it exited with code 0.
  bool succeeded() const noexcept { return exit_code && *exit_code == 0; }

  /// "process 'worker2' (rank 3) exited with code 3" or "... was killed by signal 9 (SIGKILL)".
  std::string describe() const {
    std::string text =
        "process " + detail::in_quotes(name) + " (rank " + std::to_string(rank) + ") ";
    if (exit_code) return text + "exited with code " + std::to_string(*exit_code);
    if (signal) return text + "was killed by " + detail::describe_signal(*signal);
    return text + "ended with an unknown status (reaped elsewhere: is SIGCHLD ignored?)";
  }
};

/// How a job ended.
enum class job_status {
  succeeded,    ///< every process exited with code 0
  failed,       ///< a process exited with another code or was killed; the others were stopped
  timed_out,    ///< launch_options::job_timeout passed; the processes still running were stopped
  interrupted,  ///< the launcher received a signal and passed it on (forward_signals)
  stopped,      ///< running_job::stop() was called, or the running_job was destroyed
};

/// The outcome of a job: its status and how each process ended.
struct job_result {
  job_status status = job_status::succeeded;
  std::vector<process_result> processes;  ///< one per process, in rank order
  std::optional<int> failed_rank;         ///< status failed: rank of the process that failed first
  int signal = 0;                         ///< status interrupted: the signal the launcher received
  /// One line for a human: "process 'worker2' (rank 3) exited with code 3; stopped the other 4
  /// running processes", "job timed out after 10 s; ...", "all 4 processes exited with code 0".
  std::string message;

  /// True if every process exited with code 0.
  bool succeeded() const noexcept { return status == job_status::succeeded; }

  /// An exit status for a launcher program: 0 if the job succeeded; the exit code of the first
  /// failed process, or 128 + the signal that killed it; 124 on timeout (as timeout(1));
  /// 128 + the received signal when interrupted; 143 (128 + SIGTERM) when stopped.
  int exit_status() const noexcept {
    switch (status) {
      case job_status::succeeded:
        return 0;
      case job_status::timed_out:
        return 124;
      case job_status::interrupted:
        return 128 + signal;
      case job_status::stopped:
        return 128 + SIGTERM;
      case job_status::failed:
        break;
    }
    for (const auto& p : processes) {
      if (!failed_rank || p.rank != *failed_rank) continue;
      if (p.exit_code) return *p.exit_code;
      if (p.signal) return 128 + *p.signal;
    }
    return 1;
  }
};

}  // namespace symphony
