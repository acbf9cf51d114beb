// symphony-info: what would `symphony::communicator world;` see here? The first thing to run when
// a job does not start. Start it exactly as the real program (srun symphony-info, mpirun -np 4
// symphony-info, with the same SYMPHONY_* variables); every rank prints what it detected, then
// the ranks exchange addresses as the real program would, and rank 0 prints the table.
//
//   symphony-info               detection, then the exchange and the table
//   symphony-info --no-exchange detection only: opens no socket, waits for nobody
#include <CLI/CLI.hpp>
#include <exception>
#include <optional>
#include <iostream>
#include <sstream>
#include <string>

#include "symphony/bootstrap/join.hpp"
#include "symphony/transport/zmq_transport.hpp"

#ifndef SYMPHONY_VERSION_STRING
#define SYMPHONY_VERSION_STRING "unknown"
#endif

namespace {

std::string joined(const std::vector<std::string>& items, const char* separator = ", ") {
  std::string text;
  for (std::size_t i = 0; i < items.size(); ++i)
    text += (i ? separator : "") + items[i];
  return text;
}

/// Everything the plan says, one "rank R: key: value" line each, so that the lines of several
/// ranks can be sorted and compared.
void print_plan(const symphony::bootstrap::join_plan& plan) {
  const auto& id = plan.identity;
  const std::string me = "rank " + std::to_string(id.rank) + ": ";
  std::ostringstream out;
  out << me << "source: " << id.source << " (rank " << id.rank << " of " << id.size;
  if (id.local_rank >= 0) out << ", local rank " << id.local_rank;
  out << ")\n";
  for (const auto& tried : id.tried)
    out << me << "not matched: " << tried << "\n";
  if (!id.hosts.empty()) out << me << "hosts by rank: " << joined(id.hosts) << "\n";
  if (!id.reserved_ports.empty()) out << me << "reserved ports: " << id.reserved_ports << "\n";
  for (const auto& note : id.notes)
    out << me << "note: " << note << "\n";
  out << me << "addresses from: " << symphony::bootstrap::name_of(plan.method);
  for (const auto& note : plan.notes)
    out << " (" << note << ")";
  out << "\n";
  if (!plan.root.empty()) out << me << "rendezvous root: " << plan.root << "\n";
  if (!plan.job_token.empty()) out << me << "job token: " << plan.job_token << "\n";
  if (!plan.locality.empty()) out << me << "machine: " << plan.locality << "\n";
  if (!plan.listen.empty()) out << me << "listens at: " << joined(plan.listen) << "\n";
  out << me << "timeout: ";
  if (plan.timeout == symphony::wait_forever)
    out << "forever";
  else
    out << plan.timeout.count() / 1000.0 << " s";
  out << " (SYMPHONY_TIMEOUT)\n";
  std::cout << out.str() << std::flush;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"symphony-info: print what a symphony program started the same way would detect "
               "(rank, size, launcher, how addresses are exchanged), then exchange addresses and "
               "print every rank's. Start it as you start your program, e.g. `srun -n 4 "
               "symphony-info` or `SYMPHONY_ROOT=node01:29500 mpirun -np 8 symphony-info`."};
  bool no_exchange = false;
  app.add_flag("--no-exchange", no_exchange,
               "Only print what was detected: open no socket and wait for no other rank");
  app.set_version_flag("--version", SYMPHONY_VERSION_STRING);
  CLI11_PARSE(app, argc, argv);

  try {
    const auto plan = symphony::bootstrap::plan_join();
    print_plan(plan);
    if (no_exchange) return 0;

    // What the communicator does: bind, then exchange (every rank of the job must take part).
    std::vector<std::string> bound;
    std::optional<symphony::zmq_transport> transport;
    if (plan.explicit_config) {
      bound = {plan.explicit_config->addresses[static_cast<std::size_t>(plan.identity.rank)]};
    } else {
      transport.emplace(plan.listen, plan.timeout);
      bound = transport->bound_endpoints();
    }
    const std::string me = "rank " + std::to_string(plan.identity.rank) + ": ";
    std::cout << me << "bound: " << joined(bound) << std::endl;
    const auto result = symphony::bootstrap::exchange_addresses(plan, bound);
    std::ostringstream table;
    table << me << "reaches every rank at:\n";
    for (std::size_t r = 0; r < result.addresses.size(); ++r) {
      table << me << "  rank " << r << "  " << result.addresses[r];
      if (result.addresses[r] != result.tcp_endpoints[r])
        table << "  (same machine; over the network: " << result.tcp_endpoints[r] << ")";
      table << "\n";
    }
    std::cout << table.str() << std::flush;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "symphony-info: " << e.what() << "\n";
    return 1;
  }
}
