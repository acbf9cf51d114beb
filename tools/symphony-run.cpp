// symphony-run: start a symphony job on this machine.
//
//   symphony-run [job options] [program options] program [args...] [: [program options] program
//   ...]
//
// A thin command line over symphony/launcher.hpp; see docs/launcher.md.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "symphony/launcher.hpp"

#ifndef SYMPHONY_VERSION_STRING
#define SYMPHONY_VERSION_STRING "unknown"
#endif

namespace {

/// Exit status for bad usage (unknown option, bad value, bad declaration), as most tools use.
constexpr int usage_status = 2;
/// Exit status when the job could not be started (a command not found, ...), as the shell uses.
constexpr int cannot_start_status = 127;

/// A usage error found after CLI11 parsed the arguments.
struct usage_error {
  std::string message;
};

/// The options of one program segment (between lone ':' arguments).
struct segment {
  int count = 1;
  std::string name;
  std::string group;
  std::vector<std::string> binds;
  std::vector<std::string> connects;
  std::vector<std::string> command;  // program and its arguments
};

/// The options of the whole job.
struct job_options {
  bool tag_output = false;
  bool tag_rank = false;
  bool dry_run = false;
  bool secure = false;
  std::string output_dir;
  std::string timeout;
  std::string wait_timeout;
  std::string grace;
  std::string transport = "ipc";
};

constexpr const char* usage_line =
    "Usage: symphony-run [job options] [program options] PROGRAM [ARGS...]\n"
    "                    [: [program options] PROGRAM [ARGS...]]...\n";

constexpr const char* footer =
    R"(Everything after PROGRAM is passed to it untouched, up to a lone ':' that
starts the next program segment. Job options come before the first PROGRAM;
program options come before each PROGRAM. Use '--' before a PROGRAM whose
name starts with '-'.

Ranks follow the command line. Processes are named after --name (NAME, or
NAME0, NAME1, ... with -n > 1), by default rank<R>. Consecutive segments with
the same --group form one group.

Every process gets SYMPHONY_RANK, SYMPHONY_NRANKS, SYMPHONY_ADDRESSES,
SYMPHONY_NAME, SYMPHONY_TIMEOUT (with --wait-timeout), SYMPHONY_GROUP* in a
group, SYMPHONY_SERVICE_<NAME>_HOST/_PORT for every bound service, and with
--secure SYMPHONY_CURVE_SECRET/_PUBLIC (a fresh CURVE key pair for the job).

When one process fails (non-zero exit or a signal), the others are stopped
(SIGTERM, then SIGKILL after --grace) and symphony-run names it.

Examples:
  symphony-run -n 4 ./app --size 10
      4 ranks of ./app; '--size 10' goes to ./app
  symphony-run --tag-output -n 2 python3 train.py
      prefix every output line with [rank0] or [rank1]
  symphony-run --name master ./master : --group g0 -n 3 ./worker : --group g1 -n 5 ./worker
      rank 0 is 'master', ranks 1-3 group g0, ranks 4-8 group g1
  symphony-run --name replay --binds replay-server ./replay : -n 4 --name actor --connects replay-server ./actor
      'replay' listens on $SYMPHONY_SERVICE_REPLAY_SERVER_PORT, the actors connect to it
  symphony-run --dry-run --transport tcp -n 2 ./app
      print each process's environment, start nothing

Exit status: 0 if every process exited with code 0; else the exit code of the
first process that failed, or 128+N if signal N killed it; 124 if --timeout
passed; 128+N if symphony-run received signal N; 127 if a process could not be
started; 2 for bad usage.)";

/// CLI11's help, with our synopsis instead of its usage line.
class formatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App*, std::string) const override { return usage_line; }
};

/// Validates a number of seconds: finite, >= 0 (and > 0 unless zero_ok).
CLI::Validator seconds(bool zero_ok) {
  return CLI::Validator(
      [zero_ok](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) ||
            value < 0 || (!zero_ok && value == 0) || value > 1e9)
          return "'" + text + "' is not a" + (zero_ok ? "" : " positive") + " number of seconds";
        return {};
      },
      "");
}

std::chrono::milliseconds to_milliseconds(const std::string& text) {
  const double value = std::strtod(text.c_str(), nullptr);
  return std::chrono::milliseconds(std::max<long long>(1, std::llround(value * 1000)));
}

/// Quotes `word` for a POSIX shell when it needs it.
std::string shell_quote(const std::string& word) {
  const bool plain = !word.empty() && word.find_first_not_of(
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789_@%+=:,./-") == std::string::npos;
  if (plain) return word;
  std::string quoted = "'";
  for (const char c : word)
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

void print_plans(const std::vector<symphony::process_plan>& plans) {
  for (const auto& plan : plans) {
    std::cout << "# process '" << plan.name << "': rank " << plan.rank;
    if (!plan.group.empty()) std::cout << ", group '" << plan.group << "'";
    std::cout << "\n" << shell_quote(plan.command);
    for (const auto& arg : plan.args)
      std::cout << " " << shell_quote(arg);
    std::cout << "\n";
    for (const auto& [name, value] : plan.environment)
      std::cout << name << "=" << value << "\n";
    std::cout << "\n";
  }
  std::cout.flush();
}

/// Splits the arguments at every lone ':'.
std::vector<std::vector<std::string>> split_segments(int argc, char** argv) {
  std::vector<std::vector<std::string>> segments(1);
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == ":") {
      segments.emplace_back();
    } else {
      segments.back().emplace_back(argv[i]);
    }
  }
  return segments;
}

/// Turns the parsed segments into a launcher declaration.
symphony::launcher declare(const std::vector<segment>& segments) {
  symphony::launcher job;
  std::map<std::string, std::size_t> group_segment;  // group name -> last segment using it
  std::vector<symphony::launcher::group> groups;     // in declaration order
  int next_rank = 0;
  for (std::size_t s = 0; s < segments.size(); ++s) {
    const segment& seg = segments[s];
    if (!seg.group.empty()) {
      if (const auto it = group_segment.find(seg.group); it == group_segment.end()) {
        groups.push_back(job.add_group(seg.group));
      } else if (it->second + 1 != s) {
        throw usage_error{"--group '" + seg.group + "' is used by segments " +
                          std::to_string(it->second + 1) + " and " + std::to_string(s + 1) +
                          " but not by those in between: a group's segments must be consecutive "
                          "(its members get contiguous ranks)"};
      }
      group_segment[seg.group] = s;
    }
    for (int k = 0; k < seg.count; ++k) {
      std::string name = seg.name.empty() ? "rank" + std::to_string(next_rank + k)
                         : seg.count == 1 ? seg.name
                                          : seg.name + std::to_string(k);
      std::vector<std::string> args(seg.command.begin() + 1, seg.command.end());
      auto process = seg.group.empty()
                         ? job.add_process(std::move(name), seg.command.front(), args)
                         : groups.back().add_process(std::move(name), seg.command.front(), args);
      for (const auto& service : seg.binds)
        process.binds(service);
      for (const auto& service : seg.connects)
        process.connects(service);
    }
    next_rank += seg.count;
  }
  return job;
}

int run(int argc, char** argv) {
  CLI::App app{
      "Starts the processes of a symphony job on this machine, gives each the environment "
      "that symphony::config::from_environment() reads, relays their output and stops "
      "them all when one fails.",
      "symphony-run"};
  app.formatter(std::make_shared<formatter>());
  app.footer(footer);
  app.prefix_command();  // stop at the program: what follows belongs to it
  app.set_version_flag("--version", std::string("symphony-run ") + SYMPHONY_VERSION_STRING);

  job_options job;
  std::vector<CLI::Option*> job_only;
  const char* job_group = "Job options (before the first PROGRAM)";
  job_only.push_back(
      app.add_flag("--tag-output", job.tag_output, "Prefix each line of output with [name]")
          ->group(job_group));
  job_only.push_back(
      app.add_flag("--tag-rank", job.tag_rank, "Prefix each line of output with [rank] instead")
          ->group(job_group));
  job_only.push_back(app.add_option("--output-dir", job.output_dir,
                                    "Write each process's stdout and stderr to DIR/NAME.log "
                                    "instead of the terminal (DIR is created if missing)")
                         ->type_name("DIR")
                         ->group(job_group));
  job_only.push_back(app.add_option("--timeout", job.timeout,
                                    "Stop the job when it runs longer than this (0: no limit); "
                                    "exit status 124")
                         ->check(seconds(true))
                         ->type_name("SECONDS")
                         ->group(job_group));
  job_only.push_back(app.add_option("--wait-timeout", job.wait_timeout,
                                    "Set SYMPHONY_TIMEOUT: how long one blocking wait in a rank "
                                    "may take (0: forever)")
                         ->check(seconds(true))
                         ->type_name("SECONDS")
                         ->group(job_group));
  job_only.push_back(app.add_option("--grace", job.grace,
                                    "Time between SIGTERM and SIGKILL when stopping processes "
                                    "(default 5)")
                         ->check(seconds(true))
                         ->type_name("SECONDS")
                         ->group(job_group));
  job_only.push_back(app.add_option("--transport", job.transport,
                                    "How ranks connect: ipc sockets in a private temporary "
                                    "directory (default) or tcp on 127.0.0.1")
                         ->check(CLI::IsMember({"ipc", "tcp"}))
                         ->type_name("KIND")
                         ->group(job_group));
  job_only.push_back(app.add_flag("--dry-run", job.dry_run,
                                  "Print the command and environment of each process; start "
                                  "nothing")
                         ->group(job_group));
  job_only.push_back(app.add_flag("--secure", job.secure,
                                  "Authenticate and encrypt the job's connections with CURVE: a "
                                  "fresh key pair in SYMPHONY_CURVE_SECRET/_PUBLIC of every "
                                  "process")
                         ->group(job_group));
  app.get_option("--tag-output")->excludes(app.get_option("--tag-rank"));

  segment seg;
  const char* segment_group = "Program options (before each PROGRAM)";
  app.add_option("-n,--np", seg.count, "Number of processes running PROGRAM (default 1)")
      ->check(CLI::Range(1, 100000))
      ->type_name("N")
      ->group(segment_group);
  app.add_option("--name", seg.name, "Name of the process (NAME0, NAME1, ... with -n > 1)")
      ->type_name("NAME")
      ->group(segment_group);
  app.add_option("--group", seg.group, "Put the processes in group GROUP")
      ->type_name("GROUP")
      ->group(segment_group);
  app.add_option("--binds", seg.binds,
                 "The process binds service SVC (repeatable; comma-separated list allowed)")
      ->allow_extra_args(false)
      ->delimiter(',')
      ->type_name("SVC")
      ->group(segment_group);
  app.add_option("--connects", seg.connects,
                 "The processes connect to service SVC (repeatable; comma-separated list allowed)")
      ->allow_extra_args(false)
      ->delimiter(',')
      ->type_name("SVC")
      ->group(segment_group);

  std::vector<segment> segments;
  job_options given_job;
  const auto raw = split_segments(argc, argv);
  try {
    for (std::size_t s = 0; s < raw.size(); ++s) {
      const std::string where =
          raw.size() == 1 ? std::string() : " in segment " + std::to_string(s + 1);
      seg = segment{};
      app.clear();
      std::vector<std::string> reversed(raw[s].rbegin(), raw[s].rend());
      app.parse(reversed);
      if (s == 0) {
        given_job = job;
      } else {
        for (const CLI::Option* option : job_only)
          if (option->count() > 0)
            throw usage_error{option->get_name() +
                              " applies to the whole job: give it before "
                              "the first PROGRAM"};
      }
      std::vector<std::string> command = app.remaining();
      if (!command.empty() && command.front() == "--") {
        command.erase(command.begin());
      } else if (!command.empty() && command.front().size() > 1 && command.front()[0] == '-') {
        throw usage_error{"unknown option " + command.front() + where};
      }
      if (command.empty()) throw usage_error{"no PROGRAM given" + where + ""};
      seg.command = std::move(command);
      segments.push_back(seg);
    }
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "symphony-run: " << e.what() << "\nRun with --help for more information.\n";
    return usage_status;
  } catch (const usage_error& e) {
    std::cerr << "symphony-run: " << e.message << "\nRun with --help for more information.\n";
    return usage_status;
  }

  symphony::launch_options options;
  options.transport = given_job.transport == "tcp" ? symphony::launch_transport::tcp
                                                   : symphony::launch_transport::ipc;
  if (given_job.tag_output) options.tag = symphony::output_tag::name;
  if (given_job.tag_rank) options.tag = symphony::output_tag::rank;
  options.output_dir = given_job.output_dir;
  options.secure = given_job.secure;
  if (!given_job.timeout.empty() && std::strtod(given_job.timeout.c_str(), nullptr) != 0)
    options.job_timeout = to_milliseconds(given_job.timeout);
  if (!given_job.wait_timeout.empty())
    options.wait_timeout = std::strtod(given_job.wait_timeout.c_str(), nullptr) == 0
                               ? symphony::wait_forever
                               : to_milliseconds(given_job.wait_timeout);
  if (!given_job.grace.empty())
    options.grace = std::strtod(given_job.grace.c_str(), nullptr) == 0
                        ? std::chrono::milliseconds(0)
                        : to_milliseconds(given_job.grace);

  try {
    const symphony::launcher launcher = declare(segments);
    if (given_job.dry_run) {
      print_plans(launcher.dry_run(options));
      return 0;
    }
    const symphony::job_result result = launcher.run(options);
    if (!result.succeeded()) std::cerr << "symphony-run: " << result.message << "\n";
    return result.exit_status();
  } catch (const usage_error& e) {
    std::cerr << "symphony-run: " << e.message << "\nRun with --help for more information.\n";
    return usage_status;
  } catch (const std::invalid_argument& e) {
    std::cerr << "symphony-run: " << e.what() << "\nRun with --help for more information.\n";
    return usage_status;
  } catch (const symphony::launch_error& e) {
    std::cerr << "symphony-run: " << e.what() << "\n";
    return cannot_start_status;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Output goes to pipes that may close (symphony-run ... | head): report, do not die. Children
  // get SIGPIPE back at its default.
  ::signal(SIGPIPE, SIG_IGN);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "symphony-run: " << e.what() << "\n";
    return 1;
  }
}
