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

#include "config.hpp"
#include "detail/launcher_names.hpp"
#include "detail/launcher_resources.hpp"
#include "detail/launcher_signals.hpp"
#include "detail/process.hpp"
#include "detail/process_output.hpp"
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
    std::string text = "process " + detail::in_quotes(name) + " (rank " + std::to_string(rank) + ") ";
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

namespace detail {

/// One declared process.
struct process_declaration {
  std::string name;
  std::string command;
  std::vector<std::string> args;
  std::vector<std::string> binds;
  std::vector<std::string> connects;
  std::optional<std::size_t> group;  // index into launcher_state::groups
};

/// One declared group.
struct group_declaration {
  std::string name;
  std::vector<std::size_t> members;  // indices into launcher_state::processes, in order added
};

/// A launcher's declarations. The handles launcher::process and launcher::group point here.
class launcher_state {
 public:
  std::size_t add_process(std::string name, std::string command, std::vector<std::string> args,
                          std::optional<std::size_t> group) {
    check_new_process(name, command);
    const std::size_t index = processes_.size();
    processes_.push_back({name, std::move(command), std::move(args), {}, {}, group});
    names_.emplace(std::move(name), index);
    if (group) {
      groups_[*group].members.push_back(index);
    } else {
      order_.push_back({false, index});
    }
    return index;
  }

  std::vector<std::size_t> add_processes(int count, const std::string& prefix,
                                         const std::string& command,
                                         const std::vector<std::string>& args,
                                         std::optional<std::size_t> group) {
    if (count < 1)
      throw std::invalid_argument("add_processes(" + std::to_string(count) + ", " +
                                  detail::in_quotes(prefix) + ", ...): the count must be at least 1");
    // Check every name first, so that a failure adds nothing.
    for (int i = 0; i < count; ++i) {
      const std::string name = prefix + std::to_string(i);
      check_new_process(name, command);
    }
    std::vector<std::size_t> indices;
    for (int i = 0; i < count; ++i)
      indices.push_back(add_process(prefix + std::to_string(i), command, args, group));
    return indices;
  }

  std::size_t add_group(std::string name) {
    check_launcher_name("group", name);
    for (const auto& g : groups_)
      if (g.name == name)
        throw std::invalid_argument("duplicate group name " + detail::in_quotes(name));
    groups_.push_back({std::move(name), {}});
    order_.push_back({true, groups_.size() - 1});
    return groups_.size() - 1;
  }

  void bind(std::size_t process, const std::string& service) {
    const auto& p = processes_[process];
    check_service(p, "binds", service);
    if (const auto it = binder_.find(service); it != binder_.end()) {
      if (it->second == process)
        throw std::invalid_argument("process " + detail::in_quotes(p.name) + " binds service " +
                                    detail::in_quotes(service) + " twice");
      throw std::invalid_argument("service " + detail::in_quotes(service) + " is bound by both " +
                                  detail::in_quotes(processes_[it->second].name) + " and " +
                                  detail::in_quotes(p.name) +
                                  " (one process binds a service, any number connect to it)");
    }
    register_service(service);
    binder_.emplace(service, process);
    bound_services_.push_back(service);
    processes_[process].binds.push_back(service);
  }

  void connect(std::size_t process, const std::string& service) {
    auto& p = processes_[process];
    check_service(p, "connects to", service);
    if (std::find(p.connects.begin(), p.connects.end(), service) != p.connects.end()) return;
    register_service(service);
    p.connects.push_back(service);
  }

  const process_declaration& process(std::size_t index) const { return processes_[index]; }
  const group_declaration& group(std::size_t index) const { return groups_[index]; }
  std::size_t size() const noexcept { return processes_.size(); }

  /// What can only be checked once the declaration is complete.
  void validate() const {
    if (processes_.empty()) throw std::invalid_argument("the job has no processes");
    for (const auto& g : groups_)
      if (g.members.empty())
        throw std::invalid_argument("group " + detail::in_quotes(g.name) + " has no processes");
    for (const auto& p : processes_)
      for (const auto& service : p.connects)
        if (binder_.count(service) == 0)
          throw std::invalid_argument("process " + detail::in_quotes(p.name) +
                                      " connects to service " + detail::in_quotes(service) +
                                      ", which no process binds");
  }

  /// Process indices in rank order.
  std::vector<std::size_t> rank_order() const {
    std::vector<std::size_t> order;
    order.reserve(processes_.size());
    for (const auto& entry : order_) {
      if (!entry.is_group) {
        order.push_back(entry.index);
      } else {
        const auto& members = groups_[entry.index].members;
        order.insert(order.end(), members.begin(), members.end());
      }
    }
    return order;
  }

  /// The names of the bound services, in the order they were declared.
  const std::vector<std::string>& bound_services() const noexcept { return bound_services_; }

 private:
  struct order_entry {
    bool is_group;
    std::size_t index;
  };

  void check_new_process(const std::string& name, const std::string& command) const {
    check_launcher_name("process", name);
    if (command.empty())
      throw std::invalid_argument("process " + detail::in_quotes(name) + " has an empty command");
    if (names_.count(name) != 0)
      throw std::invalid_argument("duplicate process name " + detail::in_quotes(name));
  }

  static void check_service(const process_declaration& p, const char* verb,
                            const std::string& service) {
    if (service.empty())
      throw std::invalid_argument("process " + detail::in_quotes(p.name) + " " + verb +
                                  " a service with an empty name");
  }

  // Two services must not map to the same SYMPHONY_SERVICE_<NAME>_* variables.
  void register_service(const std::string& service) {
    const std::string stem = service_variable_stem(service);
    const auto [it, inserted] = stems_.emplace(stem, service);
    if (!inserted && it->second != service)
      throw std::invalid_argument("services " + detail::in_quotes(it->second) + " and " +
                                  detail::in_quotes(service) + " would both be SYMPHONY_SERVICE_" +
                                  stem +
                                  "_HOST/_PORT (names are upper-cased and every other character "
                                  "than a letter or digit becomes '_'); rename one");
  }

  std::vector<process_declaration> processes_;
  std::vector<group_declaration> groups_;
  std::vector<order_entry> order_;
  std::map<std::string, std::size_t> names_;   // process name -> index
  std::map<std::string, std::size_t> binder_;  // service -> index of the process binding it
  std::map<std::string, std::string> stems_;   // variable stem -> service name
  std::vector<std::string> bound_services_;
};

inline void check_options(const launch_options& options) {
  if (options.wait_timeout && options.wait_timeout->count() <= 0)
    throw std::invalid_argument(
        "launch_options::wait_timeout must be positive "
        "(symphony::wait_forever for no limit)");
  if (options.job_timeout && options.job_timeout->count() <= 0)
    throw std::invalid_argument("launch_options::job_timeout must be positive");
  if (options.grace.count() < 0)
    throw std::invalid_argument("launch_options::grace must not be negative");
}

/// Where the ranks and services of one run of a job are.
struct job_layout {
  temp_directory ipc_directory;                       // ipc transport, real run only
  std::vector<std::string> addresses;                 // per rank
  std::vector<std::pair<std::string, int>> services;  // bound service -> port
};

/// Chooses the addresses and ports. A dry run creates nothing and shows the ipc directory as
/// the mkdtemp() pattern it would be created from.
inline job_layout make_layout(const launcher_state& state, const launch_options& options,
                              bool dry_run) {
  job_layout layout;
  const std::size_t n = state.size();
  const auto& services = state.bound_services();
  const bool tcp = options.transport == launch_transport::tcp;
  std::vector<int> ports;
  try {
    ports = pick_free_tcp_ports(services.size() + (tcp ? n : 0));
  } catch (const std::system_error& e) {
    throw launch_error(std::string("cannot find free tcp ports on 127.0.0.1: ") + e.what());
  }
  std::size_t next_port = 0;
  if (tcp) {
    for (std::size_t r = 0; r < n; ++r)
      layout.addresses.push_back("tcp://127.0.0.1:" + std::to_string(ports[next_port++]));
  } else {
    const auto base = ipc_base_directory(std::to_string(n - 1).size());
    std::string directory = (base / "symphony-XXXXXX").string();
    if (!dry_run) {
      try {
        layout.ipc_directory = temp_directory(base);
      } catch (const std::system_error& e) {
        throw launch_error(e.what());
      }
      directory = layout.ipc_directory.path();
    }
    for (std::size_t r = 0; r < n; ++r)
      layout.addresses.push_back("ipc://" + directory + "/" + std::to_string(r));
  }
  for (const auto& service : services)
    layout.services.emplace_back(service, ports[next_port++]);
  return layout;
}

/// Every process's plan, in rank order.
inline std::vector<process_plan> make_plans(const launcher_state& state,
                                            const launch_options& options,
                                            const job_layout& layout) {
  const std::vector<std::size_t> order = state.rank_order();
  std::vector<int> rank_of(order.size());
  for (std::size_t r = 0; r < order.size(); ++r)
    rank_of[order[r]] = static_cast<int>(r);
  std::string addresses;
  for (const auto& a : layout.addresses)
    addresses += (addresses.empty() ? "" : ",") + a;

  std::vector<process_plan> plans;
  for (std::size_t r = 0; r < order.size(); ++r) {
    const auto& p = state.process(order[r]);
    process_plan plan;
    plan.name = p.name;
    plan.rank = static_cast<int>(r);
    plan.command = p.command;
    plan.args = p.args;
    auto& env = plan.environment;
    env.emplace_back("SYMPHONY_RANK", std::to_string(r));
    env.emplace_back("SYMPHONY_NRANKS", std::to_string(order.size()));
    env.emplace_back("SYMPHONY_ADDRESSES", addresses);
    if (options.wait_timeout)
      env.emplace_back("SYMPHONY_TIMEOUT", format_seconds(*options.wait_timeout));
    env.emplace_back("SYMPHONY_NAME", p.name);
    if (p.group) {
      const auto& g = state.group(*p.group);
      plan.group = g.name;
      const int first = rank_of[g.members.front()];
      // Groups are numbered among the groups that were declared, in declaration order.
      env.emplace_back("SYMPHONY_GROUP", g.name);
      env.emplace_back("SYMPHONY_GROUP_INDEX", std::to_string(*p.group));
      env.emplace_back("SYMPHONY_GROUP_RANK", std::to_string(static_cast<int>(r) - first));
      env.emplace_back("SYMPHONY_GROUP_SIZE", std::to_string(g.members.size()));
      env.emplace_back("SYMPHONY_GROUP_FIRST_RANK", std::to_string(first));
    }
    for (const auto& [service, port] : layout.services) {
      const std::string stem = "SYMPHONY_SERVICE_" + service_variable_stem(service);
      env.emplace_back(stem + "_HOST", "127.0.0.1");
      env.emplace_back(stem + "_PORT", std::to_string(port));
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

/// True for the variables the launcher owns: inherited values of these are dropped, so that a
/// job started from inside another job does not see the outer job's group or services.
inline bool launcher_owned_variable(const std::string& name, bool sets_timeout) {
  static const char* const exact[] = {"SYMPHONY_RANK", "SYMPHONY_NRANKS", "SYMPHONY_ADDRESSES",
                                      "SYMPHONY_NAME", "SYMPHONY_GROUP"};
  for (const char* e : exact)
    if (name == e) return true;
  if (sets_timeout && name == "SYMPHONY_TIMEOUT") return true;
  return name.rfind("SYMPHONY_GROUP_", 0) == 0 || name.rfind("SYMPHONY_SERVICE_", 0) == 0;
}

/// The launcher's environment without the variables it owns, as "NAME=value" strings.
inline std::vector<std::string> inherited_environment(bool sets_timeout) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    if (!launcher_owned_variable(entry.substr(0, entry.find('=')), sets_timeout))
      env.push_back(std::move(entry));
  }
  return env;
}

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
                           detail::in_quotes(options_.output_dir.string()) + ": " + error.message());
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

    const std::vector<std::string> base_env = inherited_environment(sets_timeout);
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
