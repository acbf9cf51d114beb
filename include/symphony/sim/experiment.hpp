// symphony/sim/experiment.hpp: one simulated collective, by name (what symphony-sim runs).
//
// An experiment is a network, a node count, a vector length, an operation and an algorithm:
// dist-sys's reference allreduces (naive, tree, stream; symphony/sim/*_allreduce.hpp), one of
// symphony's own algorithms called directly (recursive-doubling, rabenseifner, ring), or what the
// communicator picks by size (auto). Every rank contributes known values and the results are
// checked, so a timing is never reported for a wrong answer.
//
// Memory: N ranks of K doubles need 8NK bytes, and more for the copies in flight. When that
// exceeds `memory_budget`, each real element stands for `scale` simulated ones (network::
// byte_scale): the vectors hold K / scale doubles, and every byte sent and every element reduced
// counts `scale` times, so the simulated sizes stay those of K elements (block boundaries round
// to whole real elements: a relative error of about scale / block size on the smallest messages).
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "../algorithms/allreduce_rabenseifner.hpp"
#include "../algorithms/allreduce_recursive_doubling.hpp"
#include "../algorithms/allreduce_ring.hpp"
#include "../algorithms/element_buffer.hpp"
#include "../sim.hpp"
#include "algorithm_context.hpp"
#include "naive_allreduce.hpp"
#include "stream_allreduce.hpp"
#include "tree_allreduce.hpp"

namespace symphony::sim {

/// What to simulate.
struct experiment {
  int nodes = 2;
  network net;
  std::size_t elements = 1;        ///< doubles per rank (reduce_scatter: per rank's input)
  std::string op = "allreduce";    ///< see operations()
  std::string algorithm = "auto";  ///< see algorithms(op)
  double scale = 0;                ///< simulated elements per real one; 0: from memory_budget
  double memory_budget = 256e6;    ///< bytes of rank data before scaling kicks in
};

/// What came out.
struct outcome {
  result run;                 ///< virtual times
  double scale = 1;           ///< simulated elements per real one
  std::size_t real_elements;  ///< doubles per rank actually held
  bool checked = false;       ///< the results were compared with the expected values
};

/// The operations symphony-sim knows.
inline std::vector<std::string> operations() {
  return {"allreduce", "broadcast", "reduce",   "allgather", "reduce_scatter",
          "gather",    "scatter",   "alltoall", "scan",      "barrier"};
}

/// The algorithm names for `op` (the first ones of allreduce are dist-sys's references).
inline std::vector<std::string> algorithms(const std::string& op) {
  if (op == "allreduce")
    return {"naive", "tree", "stream", "recursive-doubling", "rabenseifner", "ring", "auto"};
  if (op == "broadcast") return {"binomial", "scatter-allgather", "auto"};
  if (op == "reduce") return {"binomial", "rabenseifner", "auto"};
  if (op == "allgather") return {"bruck", "ring", "auto"};
  if (op == "reduce_scatter") return {"halving", "ring", "auto"};
  if (op == "gather" || op == "scatter") return {"binomial", "auto"};
  if (op == "alltoall") return {"pairwise", "auto"};
  if (op == "scan") return {"prefix-doubling", "auto"};
  if (op == "barrier") return {"dissemination", "auto"};
  return {};
}

namespace experiment_detail {

[[noreturn]] inline void wrong(const std::string& op, int rank, std::size_t index, double got,
                               double want) {
  throw std::runtime_error("symphony-sim: " + op + " gave rank " + std::to_string(rank) +
                           " the value " + std::to_string(got) + " at element " +
                           std::to_string(index) + " where " + std::to_string(want) +
                           " was expected");
}

// Rank r's element i: small integers, so every sum is exact in any order.
inline double value(int rank, std::size_t i) {
  return static_cast<double>(rank % 5 + i % 3);
}

inline std::vector<double> values(int rank, std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = value(rank, i);
  return v;
}

// Sum over ranks [0, ranks) of value(r, i), in closed form (a loop over ranks per element would
// cost more than the simulation on 1024 ranks).
inline double sum(int ranks, std::size_t i) {
  const int full = ranks / 5;
  const int rest = ranks % 5;
  const double by_rank = 10.0 * full + rest * (rest - 1) / 2.0;  // sum of r % 5
  return by_rank + static_cast<double>(ranks) * static_cast<double>(i % 3);
}

inline void expect_sum(const std::string& op, int rank, int ranks, const std::vector<double>& got,
                       std::size_t n, std::size_t first = 0) {
  if (got.size() != n)
    wrong(op + " (length)", rank, 0, static_cast<double>(got.size()), static_cast<double>(n));
  for (std::size_t i = 0; i < n; ++i)
    if (got[i] != sum(ranks, first + i)) wrong(op, rank, i, got[i], sum(ranks, first + i));
}

inline algorithm_thresholds forced(const std::string& algorithm, const algorithm_thresholds& t,
                                   const std::vector<std::string>& names) {
  // names[0] is the short-message algorithm, names[1] the long one.
  algorithm_thresholds out = t;
  if (algorithm == "auto") return out;
  const std::size_t v = algorithm == names[0] ? std::numeric_limits<std::size_t>::max() : 0;
  out.broadcast_long_bytes = out.reduce_long_bytes = out.allreduce_long_bytes =
      out.allgather_long_bytes = out.reduce_scatter_long_bytes = v;
  return out;
}

// The thresholds for vectors `scale` times shorter than the simulated ones, so that auto picks
// what it would pick for the simulated size.
inline algorithm_thresholds scaled(algorithm_thresholds t, double scale) {
  for (std::size_t* field :
       {&t.broadcast_long_bytes, &t.reduce_long_bytes, &t.allreduce_long_bytes,
        &t.allgather_long_bytes, &t.reduce_scatter_long_bytes, &t.allreduce_ring_min_block_bytes})
    *field = static_cast<std::size_t>(std::ceil(static_cast<double>(*field) / scale));
  return t;
}

}  // namespace experiment_detail

/// Runs `e` and checks its results. Throws std::invalid_argument naming the field for a bad
/// experiment (unknown op or algorithm, nodes < 1, a bad network), std::runtime_error when a
/// rank's result is wrong, and what sim::run throws.
inline outcome simulate(experiment e) {
  namespace ed = experiment_detail;
  if (e.nodes < 1)
    throw std::invalid_argument("nodes = " + std::to_string(e.nodes) + " (need >= 1)");
  const auto names = algorithms(e.op);
  if (names.empty()) throw std::invalid_argument("op '" + e.op + "' is not an operation");
  if (std::find(names.begin(), names.end(), e.algorithm) == names.end()) {
    std::string known;
    for (const auto& n : names)
      known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("algorithm '" + e.algorithm + "' is not one of " + e.op +
                                "'s: " + known);
  }
  if (!(e.scale == 0 || e.scale >= 1))
    throw std::invalid_argument("scale = " + std::to_string(e.scale) + " (need 0 or >= 1)");
  e.net.validate();
  const int n = e.nodes;
  const std::size_t k = e.elements;
  outcome out;
  out.real_elements = k;

  // dist-sys's references: wire sizes are explicit, so values are kept only when they fit.
  if (e.op == "allreduce" &&
      (e.algorithm == "naive" || e.algorithm == "tree" || e.algorithm == "stream")) {
    // naive holds every node's vector on every node; tree and stream a few per node
    const double copies = e.algorithm == "naive" ? static_cast<double>(n) : 4.0;
    const double held = 8.0 * copies * static_cast<double>(n) * static_cast<double>(k);
    const bool real = held <= e.memory_budget;
    out.real_elements = real ? k : 0;
    out.checked = real;
    network net = e.net;
    net.in_order = false;  // dist-sys delivers each message when its bytes are in
    out.run = run(n, net, [&](sim_transport& t) {
      reference::host h(t);
      reference::vec data{k, real ? ed::values(t.rank(), k) : std::vector<double>{}};
      const reference::vec got = e.algorithm == "naive"  ? reference::naive_allreduce(h, data)
                                 : e.algorithm == "tree" ? reference::tree_allreduce(h, data)
                                                         : reference::stream_allreduce(h, data);
      if (got.count != k) ed::wrong(e.algorithm, t.rank(), 0, double(got.count), double(k));
      if (real) ed::expect_sum(e.algorithm, t.rank(), n, got.values, k);
    });
    return out;
  }

  // symphony's algorithms: scale the vectors down to the memory budget.
  const double factor = (e.op == "allgather" || e.op == "alltoall") ? 2.0 * n : 3.0;
  double scale = e.scale;
  if (scale == 0) {
    const double bytes = 8.0 * factor * n * static_cast<double>(k);
    scale = bytes > e.memory_budget ? bytes / e.memory_budget : 1;
  }
  std::size_t real = static_cast<std::size_t>(static_cast<double>(k) / scale);
  if (real == 0 && k > 0) real = 1;
  out.scale = real == 0 ? 1 : static_cast<double>(k) / static_cast<double>(real);
  out.real_elements = real;
  out.checked = true;
  network net = e.net;
  net.byte_scale = out.scale;
  const auto op = charged(ops::sum);
  const std::string label = e.op + " (" + e.algorithm + ")";

  if (e.op == "allreduce" && e.algorithm != "auto") {
    out.run = run(n, net, [&](sim_transport& t) {
      algorithm_context::mailbox box(0, t);  // job stamp 0: the headers algorithm_context makes
      algorithm_context ctx(box, 1, detail::operation::allreduce);
      std::vector<double> v = ed::values(t.rank(), real);
      if (e.algorithm == "recursive-doubling") {
        v = algorithms::allreduce_recursive_doubling(
            ctx, std::move(v),
            [&](std::vector<double>& acc, const std::vector<double>& later, int from) {
              const std::string problem = detail::combine_into(op, acc, later);
              if (!problem.empty()) ctx.fail(from, problem);
            });
      } else {
        algorithms::element_buffer<double, charged_operator<ops::sum_t>> buffer(v.data(), v.size(),
                                                                                op);
        if (n > 1) {
          if (e.algorithm == "rabenseifner")
            algorithms::allreduce_rabenseifner(ctx, buffer);
          else
            algorithms::allreduce_ring(ctx, buffer);
        }
      }
      ed::expect_sum(label, t.rank(), n, v, real);
    });
    return out;
  }

  out.run = run(n, net, [&](communicator& comm) {
    const int me = comm.rank();
    comm.set_thresholds(ed::scaled(comm.thresholds(), out.scale));
    if (e.op == "allreduce" || e.op == "reduce")
      comm.set_thresholds(ed::forced(e.algorithm, comm.thresholds(), {"binomial", "rabenseifner"}));
    if (e.op == "allreduce") {
      ed::expect_sum(label, me, n, comm.allreduce(ed::values(me, real), op), real);
    } else if (e.op == "reduce") {
      const auto got = comm.reduce(ed::values(me, real), op, 0);
      if (me == 0) ed::expect_sum(label, me, n, got, real);
    } else if (e.op == "broadcast") {
      comm.set_thresholds(
          ed::forced(e.algorithm, comm.thresholds(), {"binomial", "scatter-allgather"}));
      std::vector<double> v = me == 0 ? ed::values(0, real) : std::vector<double>{};
      comm.broadcast(v, 0);
      if (v != ed::values(0, real)) ed::wrong(label, me, 0, 0, 0);
    } else if (e.op == "allgather") {
      comm.set_thresholds(ed::forced(e.algorithm, comm.thresholds(), {"bruck", "ring"}));
      const auto all = comm.allgather(ed::values(me, real));
      for (int r = 0; r < n; ++r)
        if (all[static_cast<std::size_t>(r)] != ed::values(r, real)) ed::wrong(label, me, 0, 0, 0);
    } else if (e.op == "reduce_scatter") {
      comm.set_thresholds(ed::forced(e.algorithm, comm.thresholds(), {"halving", "ring"}));
      const std::size_t block = std::max<std::size_t>(1, real / static_cast<std::size_t>(n));
      const auto got = comm.reduce_scatter(ed::values(me, block * static_cast<std::size_t>(n)), op);
      ed::expect_sum(label, me, n, got, block, block * static_cast<std::size_t>(me));
    } else if (e.op == "gather") {
      const auto all = comm.gather(ed::values(me, real), 0);
      if (me == 0)
        for (int r = 0; r < n; ++r)
          if (all[static_cast<std::size_t>(r)] != ed::values(r, real)) ed::wrong(label, r, 0, 0, 0);
    } else if (e.op == "scatter") {
      std::vector<std::vector<double>> parts;
      if (me == 0)
        for (int r = 0; r < n; ++r)
          parts.push_back(ed::values(r, real));
      if (comm.scatter(parts, 0) != ed::values(me, real)) ed::wrong(label, me, 0, 0, 0);
    } else if (e.op == "alltoall") {
      std::vector<std::vector<double>> parts(static_cast<std::size_t>(n), ed::values(me, real));
      const auto got = comm.alltoall(parts);
      for (int r = 0; r < n; ++r)
        if (got[static_cast<std::size_t>(r)] != ed::values(r, real)) ed::wrong(label, me, 0, 0, 0);
    } else if (e.op == "scan") {
      const auto got = comm.scan(ed::values(me, real), op);
      ed::expect_sum(label, me, me + 1, got, real);
    } else {
      comm.barrier();
    }
  });
  return out;
}

}  // namespace symphony::sim
