// Every collective and every algorithm of symphony, run in the simulator on 1 to 1024 ranks
// (powers of two and not), with each rank's result checked by sim::simulate (a wrong value
// throws, naming the rank and the element). The ring-shaped algorithms too: their p - 1
// sequential rounds wake every rank, which the fiber engine makes cheap enough for 1024 ranks.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "symphony/sim/experiment.hpp"

namespace sim = symphony::sim;

namespace {

// Under AddressSanitizer everything runs about 3x slower: there the 1000-rank runs are left out
// (1024 still runs), to keep this test within a couple of minutes.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
#else
constexpr bool sanitized = false;
#endif

sim::outcome simulate(const std::string& op, const std::string& algorithm, int nodes,
                      std::size_t elements) {
  sim::experiment e;
  e.op = op;
  e.algorithm = algorithm;
  e.nodes = nodes;
  e.elements = elements;
  e.memory_budget = 1e12;  // never scale: the sizes here are small
  return sim::simulate(e);
}

// The largest rank count to run an algorithm on here. alltoall sends p^2 messages of p values
// (1.3 GB and 10 s on 1024 ranks), so it stops at 257; everything else, ring-shaped algorithms
// and dist-sys's stream included, runs on 1000 and 1024 ranks (a few seconds each).
int largest(const std::string& op) {
  return op == "alltoall" ? 257 : 1024;
}

}  // namespace

TEST_CASE("every op and algorithm gives every rank the right result, 1 to 1024 ranks") {
  for (const int nodes : {1, 2, 3, 5, 8, 13, 64, 100, 257, 1000, 1024})
    for (const auto& op : sim::operations())
      for (const auto& algorithm : sim::algorithms(op)) {
        if (nodes > largest(op) || (sanitized && nodes == 1000)) continue;
        CAPTURE(nodes);
        CAPTURE(op);
        CAPTURE(algorithm);
        // Enough elements that block algorithms have a non-empty block per rank up to 257 (and
        // empty ones beyond); allgather and alltoall hold p values per rank, so fewer there.
        const bool p_values = op == "allgather" || op == "alltoall";
        const auto out = simulate(op, algorithm, nodes, p_values && nodes > 100 ? 4 : 300);
        CHECK(out.checked);
        CHECK((nodes == 1 || out.run.time > 0));
      }
}

TEST_CASE("naming an algorithm runs that algorithm") {
  // On 16 ranks: a ring allreduce sends 2 (p - 1) messages per rank, Rabenseifner 2 log2 p,
  // recursive doubling log2 p; auto takes Rabenseifner for 8 * 100000 bytes.
  const std::size_t long_vector = 100000;
  CHECK(simulate("allreduce", "ring", 16, long_vector).run.messages == 16 * 2 * 15);
  CHECK(simulate("allreduce", "rabenseifner", 16, long_vector).run.messages == 16 * 2 * 4);
  CHECK(simulate("allreduce", "recursive-doubling", 16, long_vector).run.messages == 16 * 4);
  CHECK(simulate("allreduce", "auto", 16, long_vector).run.messages == 16 * 2 * 4);
  CHECK(simulate("allreduce", "auto", 16, 10).run.messages == 16 * 4);
}

TEST_CASE("auto allreduce on a non-power of two: a ring for large blocks, else Rabenseifner") {
  // A ring sends 2 (p - 1) messages per rank; Rabenseifner on 12 or 100 ranks far fewer. 100000
  // doubles are 800 KB: blocks of 66 KB on 12 ranks (ring), of 8 KB on 100 (Rabenseifner, which
  // the simulator finds 2.7x faster there at 10 us and 10 GB/s; docs/simulator.md).
  const std::size_t elements = 100000;
  CHECK(simulate("allreduce", "auto", 12, elements).run.messages == 12 * 2 * 11);
  const auto rabenseifner = simulate("allreduce", "rabenseifner", 100, elements);
  const auto chosen = simulate("allreduce", "auto", 100, elements);
  CHECK(chosen.run.messages == rabenseifner.run.messages);
  CHECK(chosen.run.messages < 100 * 2 * 99 / 4);
  CHECK(chosen.run.time == doctest::Approx(rabenseifner.run.time));
  CHECK(chosen.run.time < simulate("allreduce", "ring", 100, elements).run.time);
}

TEST_CASE("scaled vectors keep the simulated sizes and the algorithm choice") {
  // 10^6 doubles on 64 ranks: exact, and with each real double standing for 50.
  sim::experiment e;
  e.nodes = 64;
  e.elements = 1000000;
  e.scale = 50;
  const auto scaled = sim::simulate(e);
  CHECK(scaled.real_elements == 20000);
  CHECK(scaled.scale == doctest::Approx(50));
  e.scale = 1;
  e.memory_budget = 1e12;
  const auto exact = sim::simulate(e);
  CHECK(exact.scale == 1.0);
  CHECK(scaled.run.messages == exact.run.messages);  // same algorithm (Rabenseifner)
  CHECK(scaled.run.bytes == doctest::Approx(exact.run.bytes).epsilon(0.001));
  CHECK(scaled.run.time == doctest::Approx(exact.run.time).epsilon(0.01));
}
