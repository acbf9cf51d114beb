// gloo-bench: the measurements of symphony-bench (bench_common.hpp), made over Gloo's TCP
// transport, so that symphony, MPI and Gloo compare op by op and size by size.
//
//   symphony-run -n 4 build/bench/gloo-bench --store "$(mktemp -d)" --csv gloo.csv
//   symphony-run -n 4 build/bench/gloo-bench --store "$(mktemp -d)" --allreduce bcube
//
// Gloo has no launcher: any launcher that tells a process its rank and the job size will do, read
// by symphony's own detection (symphony::bootstrap::detect_job: symphony-run, mpirun, mpiexec,
// srun, ...). The ranks meet through Gloo's FileStore in the --store directory, which every rank
// must see and which must not hold an earlier run's keys (Gloo refuses to overwrite them), and
// then talk over TCP on --host (default loopback).
//
// Rows: system `gloo`, variant `tcp`. `allreduce` is gloo::allreduce, the function PyTorch's
// gloo backend calls. `--allreduce ALG` instead times one of Gloo's allreduce classes (ring,
// ring_chunked, halving_doubling, bcube), labels its rows `tcp-ALG`, and measures allreduce only,
// so that one CSV never mixes labels. `reduce_scatter` is ReduceScatterHalvingDoubling, Gloo's only
// reduce-scatter. Gloo has no scan. At a rank count that is not a power of 2, reduce_scatter and
// the bcube class are skipped with a note: at 3 ranks both returned wrong sums (Gloo 0.5.0).
//
// `bytes` means what it means in mpi-bench (bench/README.md): the whole vector for broadcast,
// reduce and allreduce, one rank's block for gather, scatter, allgather, alltoall and
// reduce_scatter.
//
// Every operation is run once, untimed, when its buffers are set up for a size, and its result
// checked on every rank: a benchmark of a call that does not do its job measures nothing.
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/allreduce_bcube.h>
#include <gloo/allreduce_halving_doubling.h>
#include <gloo/allreduce_ring.h>
#include <gloo/allreduce_ring_chunked.h>
#include <gloo/alltoall.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/config.h>
#include <gloo/gather.h>
#include <gloo/math.h>
#include <gloo/reduce.h>
#include <gloo/reduce_scatter.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/scatter.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <symphony/bootstrap/detect.hpp>

#include "bench_common.hpp"
#include "foreign_ops.hpp"

#if !GLOO_HAVE_TRANSPORT_TCP
#error "gloo-bench needs Gloo built with its TCP transport (GLOO_HAVE_TRANSPORT_TCP)"
#endif

namespace {

using reduce_fn = void (*)(void*, const void*, const void*, std::size_t);
// gloo::sum and gloo::max are overloaded; these are the forms the options' Func takes.
const reduce_fn sum_doubles = &gloo::sum<double>;
const reduce_fn max_doubles = &gloo::max<double>;

// What bench::run_benchmarks needs of a job, over a Gloo context.
struct gloo_world {
  std::shared_ptr<gloo::Context> context;
  int rank() const { return context->rank; }
  int size() const { return context->size; }
  void barrier() {
    gloo::BarrierOptions options(context);
    gloo::barrier(options);
  }
  double max_at_root(double value) {
    double result = 0;
    gloo::ReduceOptions options(context);
    options.setInput(&value, 1);
    options.setOutput(&result, 1);
    options.setRoot(0);
    options.setReduceFunction(max_doubles);
    gloo::reduce(options);
    return result;
  }
};

/// Joins the job: a TCP device on `host`, then every rank's address through a FileStore in
/// `store_dir` (created if missing). Every Gloo wait afterwards gives up after `timeout`.
/// Throws std::runtime_error naming the directory when it cannot be used or the rendezvous fails.
std::shared_ptr<gloo::Context> connect(int rank, int size, const std::string& store_dir,
                                       const std::string& host, std::chrono::milliseconds timeout) {
  std::error_code error;
  std::filesystem::create_directories(store_dir, error);  // every rank may try; one wins
  if (!std::filesystem::is_directory(store_dir))
    throw std::runtime_error("--store " + store_dir + " is not a directory and cannot be created" +
                             (error ? ": " + error.message() : std::string()));
  gloo::transport::tcp::attr attr;
  attr.hostname = host;
  auto device = gloo::transport::tcp::CreateDevice(attr);
  auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
  context->setTimeout(timeout);
  try {
    gloo::rendezvous::FileStore store(store_dir);
    context->connectFullMesh(store, device);
  } catch (const std::exception& e) {
    throw std::runtime_error(
        "rank " + std::to_string(rank) + " of " + std::to_string(size) +
        ": Gloo's rendezvous in --store " + store_dir +
        " failed (each run needs a fresh directory; a key left by an earlier run makes Gloo "
        "fail): " +
        e.what());
  }
  return context;
}

/// Throws std::runtime_error with `what` unless `ok`: a wrong result is an error, not a number.
void expect(bool ok, const std::function<std::string()>& what) {
  if (!ok) throw std::runtime_error("wrong result: " + what());
}

std::uint8_t byte_of(std::size_t value) {
  return static_cast<std::uint8_t>(value);
}

int as_int(std::size_t count) {  // Gloo's algorithm classes take int counts
  if (count > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw std::invalid_argument("count " + std::to_string(count) +
                                " does not fit Gloo's int counts: lower --max-bytes");
  return static_cast<int>(count);
}

const std::vector<std::string> allreduce_algorithms{"default", "ring", "ring_chunked",
                                                    "halving_doubling", "bcube"};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "gloo-bench: time Gloo's collectives (TCP transport) as symphony-bench times symphony's.\n"
      "Start N copies with any launcher, e.g.\n"
      "  symphony-run -n 4 gloo-bench --store \"$(mktemp -d)\" --csv out.csv"};
  bench::options o;
  o.variant = "tcp";  // Gloo's only transport here; --allreduce ALG makes it tcp-ALG
  bench::add_options(app, o);
  std::string store_dir;
  std::string host = "127.0.0.1";
  std::string algorithm = "default";
  double timeout_seconds = 120;
  app.add_option("--store", store_dir,
                 "rendezvous directory that every rank sees, fresh for each run (required)")
      ->required();
  app.add_option("--host", host, "address or interface name Gloo's TCP device binds")
      ->capture_default_str();
  app.add_option("--allreduce", algorithm,
                 "default: gloo::allreduce, rows labelled tcp; or one of Gloo's allreduce classes "
                 "(ring, ring_chunked, halving_doubling, bcube): rows labelled tcp-ALG, allreduce "
                 "only")
      ->check(CLI::IsMember(allreduce_algorithms))
      ->capture_default_str();
  app.add_option("--timeout", timeout_seconds, "seconds any Gloo wait may take before failing")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const auto job = symphony::bootstrap::detect_job();
    const auto timeout = std::chrono::milliseconds(static_cast<long long>(timeout_seconds * 1000));
    gloo_world world{connect(job.rank, job.size, store_dir, host, timeout)};
    const auto& context = world.context;
    const int rank = world.rank();
    const auto ranks = static_cast<std::size_t>(world.size());
    const auto total = static_cast<double>(ranks * (ranks + 1) / 2);  // sum of rank + 1

    // The payloads live in these, resized by each prepare() and captured by reference: the timed
    // call then only builds Gloo's options (as PyTorch does per call) and calls Gloo.
    std::vector<std::uint8_t> data, gathered;
    std::vector<std::uint8_t*> blocks;
    std::vector<double> numbers, sums;
    // One of Gloo's algorithm classes (allreduce, reduce-scatter) for the current size, with the
    // vector it works in; the algorithm is destroyed before its vector.
    struct held_algorithm {
      std::vector<double> data;
      std::unique_ptr<gloo::Algorithm> algorithm;
    };
    std::unique_ptr<held_algorithm> held;
    const auto hold = [&]() -> held_algorithm& {
      held.reset();  // the previous size's instance first: it holds its peers' buffers
      held = std::make_unique<held_algorithm>();
      return *held;
    };

    const auto describe = [&](const std::string& op, std::size_t n) {
      return op + " of " + std::to_string(n) + " B: rank " + std::to_string(rank) + " ";
    };

    using bench::payload;
    using prepared = std::function<void()>;
    std::vector<bench::operation> table{
        {"broadcast", payload::bytes,
         [&](std::size_t n) -> prepared {
           data.assign(n, rank == 0 ? std::uint8_t{1} : std::uint8_t{0});
           prepared call = [&] {
             gloo::BroadcastOptions options(context);
             options.setOutput(data.data(), data.size());
             options.setRoot(0);
             gloo::broadcast(options);
           };
           call();
           expect(data.front() == 1 && data.back() == 1,
                  [&] { return describe("broadcast", n) + "did not get rank 0's bytes"; });
           return call;
         }},
        {"reduce", payload::doubles,
         [&](std::size_t n) -> prepared {
           numbers.assign(n / 8, rank + 1.0);
           sums.assign(n / 8, 0.0);
           prepared call = [&] {
             gloo::ReduceOptions options(context);
             options.setInput(numbers.data(), numbers.size());
             options.setOutput(sums.data(), sums.size());
             options.setRoot(0);
             options.setReduceFunction(sum_doubles);
             gloo::reduce(options);
           };
           call();
           expect(rank != 0 || (sums.front() == total && sums.back() == total), [&] {
             return describe("reduce", n) + "got " + std::to_string(sums.front()) + ", expected " +
                    std::to_string(total);
           });
           return call;
         }},
        {"allreduce", payload::doubles,
         [&](std::size_t n) -> prepared {
           if (algorithm == "default") {
             numbers.assign(n / 8, rank + 1.0);
             sums.assign(n / 8, 0.0);
             prepared call = [&] {
               gloo::AllreduceOptions options(context);
               options.setInput(numbers.data(), numbers.size());
               options.setOutput(sums.data(), sums.size());
               options.setReduceFunction(sum_doubles);
               gloo::allreduce(options);
             };
             call();
             expect(sums.front() == total && sums.back() == total, [&] {
               return describe("allreduce", n) + "got " + std::to_string(sums.front()) +
                      ", expected " + std::to_string(total);
             });
             return call;
           }
           // The classes reduce in place and set up their buffers and peers once, here, untimed:
           // that is how they are meant to be used, for repeated calls.
           auto& h = hold();
           h.data.assign(n / 8, rank + 1.0);
           const std::vector<double*> in_place{h.data.data()};
           const int count = as_int(h.data.size());
           if (algorithm == "ring")
             h.algorithm = std::make_unique<gloo::AllreduceRing<double>>(context, in_place, count);
           else if (algorithm == "ring_chunked")
             h.algorithm =
                 std::make_unique<gloo::AllreduceRingChunked<double>>(context, in_place, count);
           else if (algorithm == "halving_doubling")
             h.algorithm =
                 std::make_unique<gloo::AllreduceHalvingDoubling<double>>(context, in_place, count);
           else
             h.algorithm = std::make_unique<gloo::AllreduceBcube<double>>(context, in_place, count);
           prepared call = [&h] { h.algorithm->run(); };
           call();
           expect(h.data.front() == total && h.data.back() == total, [&] {
             return describe("allreduce (" + algorithm + ")", n) + "got " +
                    std::to_string(h.data.front()) + ", expected " + std::to_string(total);
           });
           // In place, sums of sums would grow without bound over thousands of calls; zeros
           // cost the same to add.
           std::fill(h.data.begin(), h.data.end(), 0.0);
           return call;
         }},
        {"gather", payload::bytes,
         [&](std::size_t n) -> prepared {
           data.assign(n, static_cast<std::uint8_t>(rank + 1));
           gathered.assign(rank == 0 ? n * ranks : 0, 0);
           prepared call = [&] {
             gloo::GatherOptions options(context);
             options.setInput(data.data(), data.size());
             if (rank == 0) options.setOutput(gathered.data(), gathered.size());
             options.setRoot(0);
             gloo::gather(options);
           };
           call();
           for (std::size_t r = 0; rank == 0 && r < ranks; ++r)
             expect(
                 gathered[r * n] == byte_of(r + 1) && gathered[(r + 1) * n - 1] == byte_of(r + 1),
                 [&] {
                   return describe("gather", n) + "holds the wrong bytes from rank " +
                          std::to_string(r);
                 });
           return call;
         }},
        {"scatter", payload::bytes,
         [&](std::size_t n) -> prepared {
           gathered.assign(rank == 0 ? n * ranks : 0, 0);
           blocks.clear();
           for (std::size_t r = 0; rank == 0 && r < ranks; ++r) {
             std::fill_n(gathered.begin() + static_cast<std::ptrdiff_t>(r * n), n,
                         static_cast<std::uint8_t>(r + 1));
             blocks.push_back(gathered.data() + r * n);
           }
           data.assign(n, 0);
           prepared call = [&] {
             gloo::ScatterOptions options(context);
             if (rank == 0) options.setInputs(blocks, data.size());
             options.setOutput(data.data(), data.size());
             options.setRoot(0);
             gloo::scatter(options);
           };
           call();
           expect(data.front() == rank + 1 && data.back() == rank + 1,
                  [&] { return describe("scatter", n) + "did not get its block"; });
           return call;
         }},
        {"allgather", payload::bytes,
         [&](std::size_t n) -> prepared {
           data.assign(n, static_cast<std::uint8_t>(rank + 1));
           gathered.assign(n * ranks, 0);
           prepared call = [&] {
             gloo::AllgatherOptions options(context);
             options.setInput(data.data(), data.size());
             options.setOutput(gathered.data(), gathered.size());
             gloo::allgather(options);
           };
           call();
           for (std::size_t r = 0; r < ranks; ++r)
             expect(
                 gathered[r * n] == byte_of(r + 1) && gathered[(r + 1) * n - 1] == byte_of(r + 1),
                 [&] {
                   return describe("allgather", n) + "holds the wrong bytes from rank " +
                          std::to_string(r);
                 });
           return call;
         }},
        {"alltoall", payload::bytes,
         [&](std::size_t n) -> prepared {
           // Block d of rank r, the n bytes r sends to d, holds 16 r + d + 1 (distinct for up to
           // 15 ranks, enough to tell a misplaced block).
           const auto tag = [](std::size_t from, std::size_t to) {
             return static_cast<std::uint8_t>(16 * from + to + 1);
           };
           data.assign(n * ranks, 0);
           for (std::size_t d = 0; d < ranks; ++d)
             std::fill_n(data.begin() + static_cast<std::ptrdiff_t>(d * n), n,
                         tag(static_cast<std::size_t>(rank), d));
           gathered.assign(n * ranks, 0);
           prepared call = [&] {
             gloo::AlltoallOptions options(context);
             options.setInput(data.data(), data.size());
             options.setOutput(gathered.data(), gathered.size());
             gloo::alltoall(options);
           };
           call();
           for (std::size_t s = 0; ranks <= 15 && s < ranks; ++s)
             expect(gathered[s * n] == tag(s, static_cast<std::size_t>(rank)) &&
                        gathered[(s + 1) * n - 1] == tag(s, static_cast<std::size_t>(rank)),
                    [&] {
                      return describe("alltoall", n) + "holds the wrong block from rank " +
                             std::to_string(s);
                    });
           return call;
         }},
        {"reduce_scatter", payload::doubles,
         [&](std::size_t n) -> prepared {
           // n bytes is the block each rank keeps; it contributes ranks blocks, in place.
           const std::size_t block = n / 8;
           auto& h = hold();
           h.data.assign(block * ranks, rank + 1.0);
           h.algorithm = std::make_unique<gloo::ReduceScatterHalvingDoubling<double>>(
               context, std::vector<double*>{h.data.data()}, as_int(h.data.size()),
               std::vector<int>(ranks, as_int(block)));
           prepared call = [&h] { h.algorithm->run(); };
           call();
           expect(h.data.front() == total && h.data[block - 1] == total, [&] {
             return describe("reduce_scatter", n) + "got " + std::to_string(h.data.front()) +
                    ", expected " + std::to_string(total);
           });
           std::fill(h.data.begin(), h.data.end(), 0.0);
           return call;
         }},
        {"barrier", payload::none,
         [&](std::size_t) -> prepared { return [&] { world.barrier(); }; }},
    };

    // Operations this run leaves out, and why. A name in --ops is still checked (a typo stays an
    // error), and the reason is printed at rank 0 unless it only follows from --allreduce.
    struct exclusion {
      std::string op, why;
      bool quiet;
    };
    std::vector<exclusion> excluded;
    const bool power_of_two = (ranks & (ranks - 1)) == 0;
    const std::string job_size = "; the job has " + std::to_string(ranks) + " ranks";
    if (algorithm != "default") {
      // One CSV, one label: a class run measures allreduce only.
      o.variant = "tcp-" + algorithm;
      for (const auto& op : table)
        if (op.name != "allreduce")
          excluded.push_back({op.name, "--allreduce " + algorithm + " measures allreduce only",
                              /*quiet=*/true});
      if (algorithm == "bcube" && !power_of_two)
        excluded.push_back({"allreduce",
                            "Gloo's AllreduceBcube (base 2) returned wrong sums at 3 ranks, so it "
                            "is measured only at a power-of-2 number of ranks" +
                                job_size,
                            /*quiet=*/false});
    }
    if (!power_of_two)
      excluded.push_back({"reduce_scatter",
                          "Gloo's ReduceScatterHalvingDoubling returned wrong sums at 3 ranks (not "
                          "always, after an earlier size), so it is measured only at a power-of-2 "
                          "number of ranks" +
                              job_size,
                          /*quiet=*/false});
    // An --ops list shared with the other harnesses may name what only they measure.
    const bool named = !o.ops.empty();
    bench::drop_foreign_ops(
        o,
        {{"scan", "Gloo has no scan"},
         {"exscan", "Gloo has no exclusive scan"},
         {"pingpong", "point-to-point, measured by symphony-bench and mpi-bench"},
         {"zmq_pingpong", "raw ZeroMQ, measured by symphony-bench"}},
        rank == 0);
    std::string kept;
    for (const auto* op :
         named&& o.ops.empty() ? std::vector<const bench::operation*>{} : bench::select(table, o)) {
      const auto found = std::find_if(excluded.begin(), excluded.end(),
                                      [&](const exclusion& e) { return e.op == op->name; });
      if (found == excluded.end()) {
        kept += (kept.empty() ? "" : ",") + op->name;
      } else if (rank == 0 && !(found->quiet && !named)) {
        std::printf("# %s skipped: %s\n", op->name.c_str(), found->why.c_str());
      }
    }
    if (kept.empty()) {
      if (rank == 0) {
        const bench::reporter header_only(o.csv);  // the CSV exists, with no rows
      }
      world.barrier();
      return 0;
    }
    o.ops = kept;
    bench::run_benchmarks(world, table, o, "gloo");
    world.barrier();  // nobody leaves while a peer may still be talking to it
  } catch (const std::exception& e) {
    std::cerr << "gloo-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
