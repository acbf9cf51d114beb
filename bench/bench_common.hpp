// bench/bench_common.hpp: what symphony-bench and mpi-bench share, so that both measure, summarize
// and report in exactly the same way and their numbers can be compared line by line.
//
// A harness supplies a "world" (rank(), size(), barrier(), max_at_root(double)) and a table of
// operations; run_benchmarks() does the rest: sizes, warm-up, timed iterations, repetitions,
// statistics, the table on stdout and the CSV file (rank 0 only).
//
// Method (after the OSU micro-benchmarks): for each operation and size, `warmup` untimed calls,
// then `reps` repetitions of `iters` timed calls, each call followed by an untimed barrier. A
// rank's time for one call is the mean over the repetition's calls; the time of the repetition is
// the maximum over ranks (the slowest rank is when the collective is done for everybody). The
// reported figures are the median and the 10th and 90th percentiles of the repetitions.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace bench {

/// Command-line settings common to both harnesses.
struct options {
  std::string ops;                    // comma-separated; empty: every op of the harness
  std::size_t min_bytes = 8;          // first size
  std::size_t max_bytes = 16u << 20;  // last size (always measured, even if not min * 4^k)
  int reps = 5;                       // repetitions per size, summarized by percentiles
  int iters = 0;                      // timed calls per repetition; 0: chosen by size
  int warmup = -1;                    // untimed calls before the repetitions; -1: by size
  std::size_t iter_bytes = 1u << 20;  // with iters == 0: about this many bytes per repetition
  int max_iters = 50;                 // with iters == 0: at most this many calls
  std::string csv;                    // file to write (rank 0); empty: no file
  std::string variant;                // transport label in the CSV
  bool back_to_back = false;          // no barrier between timed calls (see time_repetitions)
};

/// Registers the shared options on `app`.
inline void add_options(CLI::App& app, options& o) {
  app.add_option("--ops", o.ops, "comma-separated operations (default: all of this harness)");
  app.add_option("--min-bytes", o.min_bytes, "smallest payload in bytes")->capture_default_str();
  app.add_option("--max-bytes", o.max_bytes, "largest payload in bytes")->capture_default_str();
  app.add_option("--reps", o.reps, "repetitions per size (median, p10, p90 are over these)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--iters", o.iters, "timed calls per repetition (default: fewer for larger sizes)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--warmup", o.warmup, "untimed calls before timing (default: iters / 10, >= 1)");
  app.add_option("--iter-bytes", o.iter_bytes,
                 "without --iters: aim at this many payload bytes per repetition")
      ->capture_default_str();
  app.add_option("--max-iters", o.max_iters, "without --iters: at most this many calls")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--csv", o.csv, "write the results to this CSV file (rank 0)");
  app.add_flag("--back-to-back", o.back_to_back,
               "time the calls of a repetition as one loop with no barrier between them: the "
               "latency of ops that synchronize every rank (allreduce, allgather, alltoall, "
               "barrier, pingpong) without the barrier's skew; a pipeline's throughput for "
               "rooted ops");
}

/// The sizes to measure: min, 4 min, 16 min, ... up to max, and max itself, plus 1 MiB when it
/// lies between them. Powers of 4 from 8 B stop at 8 MiB and pass by 1 MiB, but 1 MiB and 16 MiB
/// are where the long-message targets are set (bench/README.md), so both are always measured;
/// small sizes matter for latency and large ones for bandwidth.
inline std::vector<std::size_t> sizes(std::size_t min_bytes, std::size_t max_bytes) {
  std::vector<std::size_t> result;
  if (min_bytes == 0) min_bytes = 1;
  for (std::size_t s = min_bytes; s <= max_bytes; s *= 4) {
    result.push_back(s);
    if (s > max_bytes / 4) break;  // the next would overflow or pass max
  }
  if (result.empty() || result.back() != max_bytes) result.push_back(max_bytes);
  constexpr std::size_t mebibyte = 1u << 20;
  if (min_bytes <= mebibyte && mebibyte <= max_bytes &&
      std::find(result.begin(), result.end(), mebibyte) == result.end())
    result.insert(std::upper_bound(result.begin(), result.end(), mebibyte), mebibyte);
  return result;
}

/// Timed calls per repetition: many for small payloads (to rise above the clock's resolution and
/// the barrier's noise), few for large ones (so that a full run stays within minutes).
inline int iterations_for(std::size_t bytes, const options& o) {
  if (o.iters > 0) return o.iters;
  const std::size_t by_volume = o.iter_bytes / std::max<std::size_t>(bytes, 1);
  return static_cast<int>(
      std::clamp<std::size_t>(by_volume, 1, static_cast<std::size_t>(std::max(o.max_iters, 1))));
}

inline int warmup_for(int iters, const options& o) {
  return o.warmup >= 0 ? o.warmup : std::max(1, iters / 10);
}

/// The q-quantile (0 <= q <= 1) of `values`, linearly interpolated between order statistics.
inline double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const auto above = std::min(below + 1, values.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return values[below] + fraction * (values[above] - values[below]);
}

/// One line of results.
struct row {
  std::string system;   // symphony, zmq, openmpi, mpich
  std::string variant;  // ipc, tcp, shm
  std::string op;
  int ranks = 0;
  std::size_t bytes = 0;
  int iters = 0;
  double usec_median = 0, usec_p10 = 0, usec_p90 = 0;
};

inline const char* csv_header() {
  return "system,variant,op,ranks,bytes,iters,usec_median,usec_p10,usec_p90";
}

/// Prints rows as a table on stdout and appends them to a CSV file as they come, so that an
/// interrupted run keeps what it measured.
class reporter {
 public:
  explicit reporter(const std::string& csv_path) {
    if (!csv_path.empty()) {
      csv_.open(csv_path, std::ios::trunc);
      if (!csv_) throw std::runtime_error("cannot write " + csv_path);
      csv_ << csv_header() << "\n" << std::flush;
    }
    std::printf("%-9s %-7s %-13s %5s %10s %6s %12s %12s %12s\n", "system", "variant", "op", "ranks",
                "bytes", "iters", "usec_median", "usec_p10", "usec_p90");
    std::fflush(stdout);
  }

  void add(const row& r) {
    std::printf("%-9s %-7s %-13s %5d %10zu %6d %12.2f %12.2f %12.2f\n", r.system.c_str(),
                r.variant.c_str(), r.op.c_str(), r.ranks, r.bytes, r.iters, r.usec_median,
                r.usec_p10, r.usec_p90);
    std::fflush(stdout);
    if (csv_.is_open()) {
      char line[256];
      std::snprintf(line, sizeof line, "%s,%s,%s,%d,%zu,%d,%.3f,%.3f,%.3f\n", r.system.c_str(),
                    r.variant.c_str(), r.op.c_str(), r.ranks, r.bytes, r.iters, r.usec_median,
                    r.usec_p10, r.usec_p90);
      csv_ << line << std::flush;
    }
  }

 private:
  std::ofstream csv_;
};

/// How an operation's payload size follows the requested size.
enum class payload {
  bytes,    // exactly the requested number of bytes
  doubles,  // a whole number of doubles: rounded up to a multiple of 8, at least 8
  none      // no payload (barrier): measured once, reported as 0 bytes
};

/// One benchmarked operation. `prepare(bytes)` allocates the buffers for one size and returns the
/// call to time; it runs on every rank, untimed.
struct operation {
  using prepare_fn = std::function<std::function<void()>(std::size_t bytes)>;

  operation(std::string name_, payload kind_, prepare_fn prepare_, int exact_ranks_ = 0,
            double scale_ = 1.0, std::string system_ = {})
      : name(std::move(name_)),
        kind(kind_),
        prepare(std::move(prepare_)),
        exact_ranks(exact_ranks_),
        scale(scale_),
        system(std::move(system_)) {}

  std::string name;
  payload kind;
  prepare_fn prepare;
  int exact_ranks;     // > 0: runs only with this many ranks (skipped otherwise)
  double scale;        // applied to the time of one call (0.5: one way of a round trip)
  std::string system;  // empty: the harness's system
};

inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> parts;
  std::string part;
  for (const char c : text + ",") {
    if (c == ',') {
      if (!part.empty()) parts.push_back(part);
      part.clear();
    } else if (c != ' ') {
      part += c;
    }
  }
  return parts;
}

/// The operations named in `o.ops` (all of `table` if empty), in the order named. Throws
/// std::invalid_argument listing the known names for an unknown one.
inline std::vector<const operation*> select(const std::vector<operation>& table, const options& o) {
  std::vector<const operation*> chosen;
  if (o.ops.empty()) {
    for (const auto& op : table)
      chosen.push_back(&op);
    return chosen;
  }
  for (const auto& name : split_list(o.ops)) {
    const auto found = std::find_if(table.begin(), table.end(),
                                    [&](const operation& op) { return op.name == name; });
    if (found == table.end()) {
      std::string known;
      for (const auto& op : table)
        known += (known.empty() ? "" : ", ") + op.name;
      throw std::invalid_argument("unknown operation '" + name + "' (known: " + known + ")");
    }
    chosen.push_back(&*found);
  }
  return chosen;
}

/// Runs `call` `warmup` times, then `reps` times `iters` timed calls. Returns, at rank 0, the
/// time of one call in microseconds for each repetition (the maximum over ranks of each rank's
/// mean); elsewhere an empty vector. Every rank must call it with the same arguments.
///
/// As in the OSU benchmarks, each call is timed alone and followed by an untimed barrier: without
/// it, a root that only queues its messages (ZeroMQ sends return before delivery) would start the
/// next broadcast while the last is still in flight, and we would measure a pipeline's throughput
/// instead of one collective's latency. The barrier has a cost of its own in the figure, though:
/// ranks leave it up to one message latency apart, and a rank that leaves early starts its clock
/// early. `back_to_back` times the repetition's calls as one loop after one barrier instead,
/// which is skew-free for operations that wait for every rank (allreduce, barrier, ...).
template <class World>
std::vector<double> time_repetitions(World& world, int warmup, int iters, int reps,
                                     const std::function<void()>& call, bool back_to_back = false) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < warmup; ++i) {
    call();
    world.barrier();
  }
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    std::chrono::duration<double, std::micro> total{0};
    if (back_to_back) {
      world.barrier();
      const auto start = clock::now();
      for (int i = 0; i < iters; ++i)
        call();
      total = clock::now() - start;
    }
    for (int i = 0; i < iters && !back_to_back; ++i) {
      const auto start = clock::now();
      call();
      total += clock::now() - start;
      world.barrier();
    }
    const double slowest = world.max_at_root(total.count() / iters);
    if (world.rank() == 0) times.push_back(slowest);
  }
  return times;
}

/// Measures every selected operation at every size and reports at rank 0. `system` and `variant`
/// label the rows.
template <class World>
void run_benchmarks(World& world, const std::vector<operation>& table, const options& o,
                    const std::string& system) {
  const auto chosen = select(table, o);
  const bool root = world.rank() == 0;
  std::unique_ptr<reporter> out;
  if (root) out = std::make_unique<reporter>(o.csv);
  for (const operation* op : chosen) {
    if (op->exact_ranks > 0 && op->exact_ranks != world.size()) {
      if (root)
        std::printf("# %s skipped: needs exactly %d ranks, the job has %d\n", op->name.c_str(),
                    op->exact_ranks, world.size());
      continue;
    }
    std::set<std::size_t> measured;
    for (const std::size_t requested : sizes(o.min_bytes, o.max_bytes)) {
      std::size_t bytes = requested;
      if (op->kind == payload::doubles) bytes = std::max<std::size_t>(8, (bytes + 7) / 8 * 8);
      if (op->kind == payload::none) bytes = 0;
      if (!measured.insert(bytes).second) continue;  // rounding met an earlier size
      const int iters = iterations_for(std::max<std::size_t>(bytes, 1), o);
      const auto call = op->prepare(bytes);
      const auto times =
          time_repetitions(world, warmup_for(iters, o), iters, o.reps, call, o.back_to_back);
      if (!root) continue;
      row r;
      r.system = op->system.empty() ? system : op->system;
      r.variant = o.variant;
      r.op = op->name;
      r.ranks = world.size();
      r.bytes = bytes;
      r.iters = iters;
      r.usec_median = op->scale * percentile(times, 0.5);
      r.usec_p10 = op->scale * percentile(times, 0.1);
      r.usec_p90 = op->scale * percentile(times, 0.9);
      out->add(r);
    }
  }
}

}  // namespace bench
