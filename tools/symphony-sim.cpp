// symphony-sim: what would a collective cost on a cluster we do not have?
//
//   symphony-sim --nodes 512 --latency 10e-6 --rate 10e9 --elements 10000000 --algorithm auto
//
// runs the collective on --nodes simulated ranks (symphony/sim.hpp) over a network of the given
// latency and NIC rate, checks every rank's result, and prints the virtual completion time in
// seconds as its last line. --algorithm names dist-sys's reference allreduces (naive, tree,
// stream), one of symphony's algorithms, or auto (what the communicator picks by size); --op
// selects another collective. See docs/simulator.md.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>

#include "symphony/sim/experiment.hpp"

#ifndef SYMPHONY_VERSION_STRING
#define SYMPHONY_VERSION_STRING "unknown"
#endif

namespace {

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items)
    text += (text.empty() ? "" : ", ") + item;
  return text;
}

// A number at least `low` (and above it unless `inclusive`), finite; the message names the flag.
CLI::Validator at_least(double low, bool inclusive) {
  std::ostringstream bound;
  bound << (inclusive ? ">= " : "> ") << low;
  return CLI::Validator(
      [low, inclusive, bound = bound.str()](std::string& text) -> std::string {
        double v = 0;
        std::size_t used = 0;
        try {
          v = std::stod(text, &used);
        } catch (const std::exception&) {
          return "'" + text + "' is not a number";
        }
        if (used != text.size()) return "'" + text + "' is not a number";
        if (!(v < 1e308)) return "'" + text + "' is not finite";
        if (inclusive ? v < low : v <= low) return "'" + text + "' must be " + bound;
        return {};
      },
      bound.str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Simulates a collective on N ranks in virtual time and prints its completion time "
      "(seconds) as the last line.",
      "symphony-sim"};
  app.set_version_flag("--version", SYMPHONY_VERSION_STRING);
  symphony::sim::experiment e;
  bool list = false;
  double rate = 0;
  double receive_rate = 0;
  std::string model = "fair-share";
  bool quiet = false;
  app.add_option("--nodes,-n", e.nodes, "number of simulated ranks")
      ->required()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--latency", e.net.latency, "seconds before a message's first byte moves")
      ->required()
      ->check(at_least(0, true));
  app.add_option("--rate", rate, "NIC rate of every rank, bytes per second (send and receive)")
      ->required()
      ->check(at_least(0, false));
  app.add_option("--receive-rate", receive_rate, "receive rate, if it differs from --rate")
      ->check(at_least(0, false));
  app.add_option("--elements,-k", e.elements, "doubles per rank")
      ->required()
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 40));
  app.add_option("--algorithm,-a", e.algorithm,
                 "allreduce: " + joined(symphony::sim::algorithms("allreduce")) +
                     "; other ops: their algorithms (see --list) or auto")
      ->capture_default_str();
  app.add_option("--op", e.op, "collective: " + joined(symphony::sim::operations()))
      ->capture_default_str()
      ->check(CLI::IsMember(symphony::sim::operations()));
  app.add_option("--model", model,
                 "network sharing: fair-share (dist-sys), fair-share-after-latency or independent")
      ->capture_default_str()
      ->check(CLI::IsMember({"fair-share", "fair-share-after-latency", "independent"}));
  app.add_option("--reduce-cost", e.net.reduce_cost,
                 "virtual seconds per element per vector combined")
      ->capture_default_str()
      ->check(at_least(0, true));
  app.add_option("--scale", e.scale,
                 "simulated elements per real one (0: only when the vectors exceed the memory "
                 "budget)")
      ->capture_default_str()
      ->check(at_least(0, true));
  app.add_option("--memory", e.memory_budget, "bytes of rank data before --scale kicks in")
      ->capture_default_str()
      ->check(at_least(0, false));
  app.add_flag("--quiet,-q", quiet, "print only the time");
  app.add_flag("--list", list, "list every operation's algorithms and exit");
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--list") list = true;  // needs none of the required flags
  if (list) {
    for (const auto& op : symphony::sim::operations())
      std::cout << op << ": " << joined(symphony::sim::algorithms(op)) << "\n";
    return 0;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  e.net.send_rate = rate;
  e.net.receive_rate = receive_rate > 0 ? receive_rate : rate;
  e.net.model = model == "independent" ? symphony::sim::sharing::independent
                : model == "fair-share-after-latency"
                    ? symphony::sim::sharing::fair_share_after_latency
                    : symphony::sim::sharing::fair_share;
  try {
    const auto start = std::chrono::steady_clock::now();
    const auto out = symphony::sim::simulate(e);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!quiet) {
      std::printf("op %s, algorithm %s, %d nodes, latency %g s, rate %g B/s, %zu elements\n",
                  e.op.c_str(), e.algorithm.c_str(), e.nodes, e.net.latency, e.net.send_rate,
                  e.elements);
      std::printf("messages %llu, bytes %.6g, results %s",
                  static_cast<unsigned long long>(out.run.messages), out.run.bytes,
                  out.checked ? "checked" : "not held");
      if (out.scale != 1)
        std::printf(" (%zu real doubles per rank, scale %g)", out.real_elements, out.scale);
      std::printf(", wall %.3f s\n", wall);
    }
    std::printf("%.9g\n", out.run.time);
    return 0;
  } catch (const std::invalid_argument& error) {
    // simulate() names the field; here the field is a flag
    const std::string what = error.what();
    std::cerr << "symphony-sim: " << (what.rfind("sim::", 0) == 0 ? "" : "--") << what << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "symphony-sim: " << error.what() << "\n";
    return 1;
  }
}
