// symphony/launcher.hpp: declare a job of processes and run it on this machine.
//
// A launcher holds a declaration: processes, optionally in groups, and the named services they
// bind or connect to. start() gives every process the environment that
// symphony::config::from_environment() reads (SYMPHONY_RANK, SYMPHONY_NRANKS, SYMPHONY_ADDRESSES,
// ...), starts them all and supervises them: when one fails, the others are stopped (SIGTERM,
// then SIGKILL after a grace period) and the failure is reported by name and rank.
//
//   symphony::launcher job;
//   job.add_processes(4, "rank", "./app", {"--size", "10"});
//   const symphony::job_result result = job.run();
//   if (!result.succeeded()) std::cerr << result.message << "\n";
//
// Ranks follow declaration order; a group takes the place where it was declared and its members
// get contiguous ranks in the order they were added to it. The launcher does not depend on the
// communicator: it only writes environments. See docs/launcher.md for every variable it sets.
//
// POSIX; the guarantee that children die with the launcher (PR_SET_PDEATHSIG) is Linux-only.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "detail/launcher_job.hpp"
#include "detail/launcher_plan.hpp"
#include "detail/process.hpp"
#include "launch_types.hpp"

namespace symphony {

/// A started job. Its output is relayed and its processes are watched while wait() or
/// wait_for() runs. Destroying it before the job ended stops the job (SIGTERM, SIGKILL after the
/// grace period), reaps every process and removes the temporary directory: it never leaves a
/// process running. Move-only; not thread-safe (use it from one thread). Linux delivers the
/// parent-death signal when the *thread* that called start() ends: keep that thread alive while
/// the job runs.
class running_job {
 public:
  running_job(running_job&&) noexcept = default;
  /// Stops and reaps the job this object held (as the destructor does), then takes `other`'s.
  running_job& operator=(running_job&& other) noexcept {
    if (this != &other) {
      state_.reset();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  running_job(const running_job&) = delete;
  running_job& operator=(const running_job&) = delete;
  /// Stops the job if it is still running and waits until every process is reaped.
  ~running_job() = default;

  /// Waits until every process has ended and returns how the job went. Stops the others when
  /// one fails, when the job timeout passes or when a signal arrives (see launch_options).
  /// Calling it again returns the same result. Throws std::logic_error on a moved-from object,
  /// std::system_error if poll() fails.
  job_result wait() { return *wait_until(detail::job_state::clock::time_point::max()); }

  /// Like wait(), for at most `timeout`: the result if the job ended by then, else nullopt
  /// (the job keeps running). Throws like wait().
  std::optional<job_result> wait_for(std::chrono::milliseconds timeout) {
    const auto now = detail::job_state::clock::now();
    const auto limit = detail::job_state::clock::time_point::max() - now;
    return wait_until(timeout >= limit ? detail::job_state::clock::time_point::max()
                                       : now + timeout);
  }

  /// Stops the job: SIGTERM to every process still running, SIGKILL to those still running after
  /// the grace period; returns once all are reaped. The status is job_status::stopped unless the
  /// job had already ended or was already stopping for another reason. Throws like wait().
  job_result stop() {
    state().request_stop();
    return wait();
  }

  /// The process ids, in rank order (the processes may have ended). Throws std::logic_error on a
  /// moved-from object.
  std::vector<pid_t> pids() const { return state().pids(); }

  /// The SYMPHONY_ADDRESSES of the job, one per rank. Throws std::logic_error on a moved-from
  /// object.
  const std::vector<std::string>& addresses() const { return state().addresses(); }

 private:
  friend class launcher;
  explicit running_job(std::unique_ptr<detail::job_state> state) : state_(std::move(state)) {}

  detail::job_state& state() const {
    if (!state_) throw std::logic_error("symphony::running_job: no job (moved from)");
    return *state_;
  }

  std::optional<job_result> wait_until(detail::job_state::clock::time_point until) {
    if (!state().supervise(until)) return std::nullopt;
    return state_->result();
  }

  std::unique_ptr<detail::job_state> state_;
};

/// The declaration of a job: processes, groups and services. Declaring never starts anything;
/// start() and run() can be called any number of times, each run getting fresh addresses.
///
/// Every mistake that can be seen in a declaration throws std::invalid_argument naming the
/// culprit, when it is made, or, for what needs the whole declaration (a service that no
/// process binds, an empty group, no processes), from validate(), dry_run(), start() and run().
class launcher {
 public:
  /// A handle to a declared process, for declaring the services it binds or connects to. Valid as
  /// long as its launcher (moving the launcher keeps it valid).
  class process {
   public:
    /// Declares that this process binds (listens on) `service`: the launcher picks a free tcp
    /// port on 127.0.0.1 for it and tells every process (SYMPHONY_SERVICE_<NAME>_HOST/_PORT).
    /// Returns this handle, for chaining. Throws std::invalid_argument if `service` is empty, is
    /// already bound (by this or another process), or maps to the same variables as another
    /// service name.
    process binds(const std::string& service) {
      state_->bind(index_, service);
      return *this;
    }

    /// Declares that this process connects to `service`, which some process must bind (checked
    /// by validate()). Declaring it twice is harmless. Returns this handle, for chaining. Throws
    /// std::invalid_argument if `service` is empty or maps to the same variables as another
    /// service name.
    process connects(const std::string& service) {
      state_->connect(index_, service);
      return *this;
    }

    /// The process's name.
    const std::string& name() const { return state_->process(index_).name; }

   private:
    friend class launcher;
    process(detail::launcher_state* state, std::size_t index) : state_(state), index_(index) {}
    detail::launcher_state* state_;
    std::size_t index_;
  };

  /// A handle to a declared group. Its members get contiguous ranks, at the position where the
  /// group was declared, in the order they are added. Valid as long as its launcher.
  class group {
   public:
    /// Adds a process to this group; see launcher::add_process() for the contract.
    process add_process(std::string name, std::string command, std::vector<std::string> args = {}) {
      return {state_,
              state_->add_process(std::move(name), std::move(command), std::move(args), index_)};
    }

    /// Adds `count` processes to this group; see launcher::add_processes() for the contract.
    std::vector<process> add_processes(int count, const std::string& name_prefix,
                                       const std::string& command,
                                       const std::vector<std::string>& args = {}) {
      return handles(state_, state_->add_processes(count, name_prefix, command, args, index_));
    }

    /// The group's name.
    const std::string& name() const { return state_->group(index_).name; }

    /// How many processes it has so far.
    std::size_t size() const { return state_->group(index_).members.size(); }

   private:
    friend class launcher;
    group(detail::launcher_state* state, std::size_t index) : state_(state), index_(index) {}
    detail::launcher_state* state_;
    std::size_t index_;
  };

  launcher() = default;
  launcher(launcher&&) noexcept = default;
  launcher& operator=(launcher&&) noexcept = default;
  launcher(const launcher&) = delete;
  launcher& operator=(const launcher&) = delete;
  ~launcher() = default;

  /// Declares a standalone process (in no group): `command` (a path, or a name searched in PATH
  /// as execvp() does) run with `args`. Its rank is its position in declaration order. Throws
  /// std::invalid_argument if `name` is empty, contains '/' or a control character, is "." or
  /// "..", or is already used by another process, or if `command` is empty.
  process add_process(std::string name, std::string command, std::vector<std::string> args = {}) {
    return {&state(), state().add_process(std::move(name), std::move(command), std::move(args),
                                          std::nullopt)};
  }

  /// Declares `count` standalone processes running the same command with the same arguments,
  /// named name_prefix + "0", name_prefix + "1", ... (so "rank" gives "rank0", "rank1", ...).
  /// Throws std::invalid_argument if count < 1 or for any reason add_process() would; then none
  /// is added.
  std::vector<process> add_processes(int count, const std::string& name_prefix,
                                     const std::string& command,
                                     const std::vector<std::string>& args = {}) {
    return handles(&state(),
                   state().add_processes(count, name_prefix, command, args, std::nullopt));
  }

  /// Declares a group, to which processes are then added. Throws std::invalid_argument if `name`
  /// breaks the rules of process names (see add_process()) or is already used by another group.
  group add_group(std::string name) { return {&state(), state().add_group(std::move(name))}; }

  /// The number of processes declared so far.
  std::size_t size() const noexcept { return state_ ? state_->size() : 0; }

  /// Throws std::invalid_argument unless the declaration can be started: at least one process,
  /// no empty group, and every service that a process connects to is bound by some process.
  void validate() const { const_state().validate(); }

  /// What start() would do with `options`, without starting anything: every process's rank,
  /// group, command and the variables the launcher would set, in rank order. With the ipc
  /// transport the addresses show the mkdtemp() pattern of the directory (a real run gets a new
  /// directory); tcp and service ports are free ports picked now (a real run picks again).
  /// Throws std::invalid_argument like validate() and for invalid options; launch_error if a
  /// command cannot be found or executed, or no free port can be found.
  std::vector<process_plan> dry_run(const launch_options& options = {}) const {
    validate();
    detail::check_options(options);
    auto plans = detail::make_plans(const_state(), options,
                                    detail::make_layout(const_state(), options, true));
    const char* search_path = std::getenv("PATH");
    for (const auto& plan : plans) {
      const auto resolved = detail::resolve_command(plan.command, search_path);
      if (!resolved.error.empty())
        throw launch_error("cannot start " + detail::in_quotes(plan.name) + ": command " +
                           detail::in_quotes(plan.command) + " " + resolved.error);
    }
    return plans;
  }

  /// Starts every process at once and returns the running job (see running_job). Throws
  /// std::invalid_argument like validate() and for invalid options (non-positive timeouts,
  /// negative grace); launch_error if a process cannot be started ("cannot start 'worker2':
  /// command './worker' not found"), in which case nothing is left running.
  running_job start(const launch_options& options = {}) const {
    validate();
    detail::check_options(options);
    auto layout = detail::make_layout(const_state(), options, false);
    auto plans = detail::make_plans(const_state(), options, layout);
    auto state = std::make_unique<detail::job_state>(options);
    state->start(std::move(plans), std::move(layout));
    return running_job(std::move(state));
  }

  /// start(options).wait(): runs the job to its end. Throws like start() and running_job::wait().
  job_result run(const launch_options& options = {}) const { return start(options).wait(); }

 private:
  static std::vector<process> handles(detail::launcher_state* state,
                                      const std::vector<std::size_t>& indices) {
    std::vector<process> result;
    for (const std::size_t i : indices)
      result.push_back({state, i});
    return result;
  }

  detail::launcher_state& state() {
    if (!state_) state_ = std::make_unique<detail::launcher_state>();
    return *state_;
  }
  const detail::launcher_state& const_state() const {
    static const detail::launcher_state empty;
    return state_ ? *state_ : empty;
  }

  std::unique_ptr<detail::launcher_state> state_;
};

}  // namespace symphony
