// symphony/detail/launcher_plan.hpp: a launcher's declarations, and the plan of a run.
//
// launcher_state holds what was declared (processes, groups, services) and checks it;
// make_layout() chooses addresses and ports, make_plans() the environment of every process.
// Nothing here starts a process.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <zmq.h>

#include "../launch_types.hpp"
#include "launcher_names.hpp"
#include "launcher_resources.hpp"

namespace symphony {

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
                                  detail::in_quotes(prefix) +
                                  ", ...): the count must be at least 1");
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
  std::string curve_public, curve_secret;             // launch_options::secure
};

/// A fresh CURVE key pair for a secure job (Z85: public, secret). Throws launch_error when
/// libzmq cannot make one (built without CURVE).
inline std::pair<std::string, std::string> curve_key_pair() {
  char public_key[41] = {};
  char secret_key[41] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0)
    throw launch_error("cannot secure the job: this libzmq cannot make CURVE keys (" +
                       std::string(zmq_strerror(zmq_errno())) + ")");
  return {public_key, secret_key};
}

/// Chooses the addresses and ports. A dry run creates nothing and shows the ipc directory as
/// the mkdtemp() pattern it would be created from.
inline job_layout make_layout(const launcher_state& state, const launch_options& options,
                              bool dry_run) {
  job_layout layout;
  if (options.secure) {
    if (dry_run) {
      layout.curve_public = "(a fresh public key)";
      layout.curve_secret = "(a fresh secret key)";
    } else {
      std::tie(layout.curve_public, layout.curve_secret) = curve_key_pair();
    }
  }
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
    if (options.secure) {
      env.emplace_back("SYMPHONY_CURVE_PUBLIC", layout.curve_public);
      env.emplace_back("SYMPHONY_CURVE_SECRET", layout.curve_secret);
    }
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
inline bool launcher_owned_variable(const std::string& name, bool sets_timeout,
                                    bool sets_keys = false) {
  static const char* const exact[] = {"SYMPHONY_RANK", "SYMPHONY_NRANKS", "SYMPHONY_ADDRESSES",
                                      "SYMPHONY_NAME", "SYMPHONY_GROUP"};
  for (const char* e : exact)
    if (name == e) return true;
  if (sets_timeout && name == "SYMPHONY_TIMEOUT") return true;
  // A secure job's own keys replace inherited ones (the first of two entries would win).
  if (sets_keys && (name == "SYMPHONY_CURVE_PUBLIC" || name == "SYMPHONY_CURVE_SECRET"))
    return true;
  return name.rfind("SYMPHONY_GROUP_", 0) == 0 || name.rfind("SYMPHONY_SERVICE_", 0) == 0;
}

/// The launcher's environment without the variables it owns, as "NAME=value" strings.
inline std::vector<std::string> inherited_environment(bool sets_timeout, bool sets_keys = false) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    if (!launcher_owned_variable(entry.substr(0, entry.find('=')), sets_timeout, sets_keys))
      env.push_back(std::move(entry));
  }
  return env;
}

}  // namespace detail
}  // namespace symphony
