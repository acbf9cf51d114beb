// mpi-bench: the measurements of symphony-bench (bench_common.hpp), made over MPI, so that the two
// can be compared op by op and size by size.
//
//   mpirun -n 4 build/bench/mpi-bench --variant shm --csv mpi.csv
//   mpirun --mca btl tcp,self -n 4 build/bench/mpi-bench --variant tcp --csv mpi-tcp.csv
//
// `bytes` is what the MPI call's count argument covers, in bytes: the whole vector for broadcast,
// reduce, allreduce, scan and exscan; one rank's block for gather, scatter, allgather, alltoall
// (the block one rank sends to each other rank) and reduce_scatter (MPI_Reduce_scatter_block's
// recvcount: every rank contributes ranks x bytes and keeps one block). bench/README.md has the
// table.
//
// The system column (openmpi, mpich) comes from MPI_Get_library_version; the variant cannot be
// learned portably from inside MPI, so whoever chose the transport on the mpirun line passes it.
#include <mpi.h>

#include <cstddef>
#include <exception>
#include <iostream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "foreign_ops.hpp"

namespace {

// What bench::run_benchmarks needs of a job, over MPI_COMM_WORLD.
struct mpi_world {
  int rank() const {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
  }
  int size() const {
    int s = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
  }
  void barrier() { MPI_Barrier(MPI_COMM_WORLD); }
  double max_at_root(double value) {
    double result = 0;
    MPI_Reduce(&value, &result, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    return result;
  }
};

std::string system_name() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  MPI_Get_library_version(version, &length);
  const std::string text(version, static_cast<std::size_t>(length));
  if (text.find("Open MPI") != std::string::npos) return "openmpi";
  if (text.find("MPICH") != std::string::npos) return "mpich";
  return "mpi";
}

// MPI counts are ints; the default sizes stop far below INT_MAX, but --max-bytes could pass it.
int as_count(std::size_t count) {
  if (count > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw std::invalid_argument("count " + std::to_string(count) +
                                " does not fit MPI's int counts: lower --max-bytes");
  return static_cast<int>(count);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  CLI::App app{
      "mpi-bench: time MPI's collectives as symphony-bench times symphony's.\n"
      "Run under mpirun: mpirun -n 4 mpi-bench --variant shm --csv out.csv"};
  bench::options o;
  o.variant = "shm";
  bench::add_options(app, o);
  app.add_option("--variant", o.variant,
                 "transport label for the CSV: shm, or tcp with mpirun --mca btl tcp,self")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    MPI_Finalize();
    return code;
  }

  int status = 0;
  try {
    mpi_world world;
    const int size = world.size();
    const auto ranks = static_cast<std::size_t>(size);
    std::vector<std::byte> data, gathered;
    std::vector<double> numbers, sums;

    using bench::payload;
    const std::vector<bench::operation> table{
        {"broadcast", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           data.assign(n, std::byte{1});
           return
               [&] { MPI_Bcast(data.data(), as_count(data.size()), MPI_BYTE, 0, MPI_COMM_WORLD); };
         }},
        {"reduce", payload::doubles,
         [&](std::size_t n) -> std::function<void()> {
           numbers.assign(n / 8, 1.0);
           sums.assign(n / 8, 0.0);
           return [&] {
             MPI_Reduce(numbers.data(), sums.data(), as_count(numbers.size()), MPI_DOUBLE, MPI_SUM,
                        0, MPI_COMM_WORLD);
           };
         }},
        {"gather", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           data.assign(n, std::byte{1});
           gathered.assign(n * ranks, std::byte{0});
           return [&] {
             MPI_Gather(data.data(), as_count(data.size()), MPI_BYTE, gathered.data(),
                        as_count(data.size()), MPI_BYTE, 0, MPI_COMM_WORLD);
           };
         }},
        {"scatter", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           gathered.assign(n * ranks, std::byte{1});
           data.assign(n, std::byte{0});
           return [&] {
             MPI_Scatter(gathered.data(), as_count(data.size()), MPI_BYTE, data.data(),
                         as_count(data.size()), MPI_BYTE, 0, MPI_COMM_WORLD);
           };
         }},
        {"allreduce", payload::doubles,
         [&](std::size_t n) -> std::function<void()> {
           numbers.assign(n / 8, 1.0);
           sums.assign(n / 8, 0.0);
           return [&] {
             MPI_Allreduce(numbers.data(), sums.data(), as_count(numbers.size()), MPI_DOUBLE,
                           MPI_SUM, MPI_COMM_WORLD);
           };
         }},
        {"allgather", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           data.assign(n, std::byte{1});
           gathered.assign(n * ranks, std::byte{0});
           return [&] {
             MPI_Allgather(data.data(), as_count(data.size()), MPI_BYTE, gathered.data(),
                           as_count(data.size()), MPI_BYTE, MPI_COMM_WORLD);
           };
         }},
        {"alltoall", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           // n bytes to every rank (itself included), as MPI_Alltoall's sendcount: each rank
           // sends and receives ranks x n bytes.
           data.assign(n * ranks, std::byte{1});
           gathered.assign(n * ranks, std::byte{0});
           return [&, n] {
             MPI_Alltoall(data.data(), as_count(n), MPI_BYTE, gathered.data(), as_count(n),
                          MPI_BYTE, MPI_COMM_WORLD);
           };
         }},
        {"reduce_scatter", payload::doubles,
         [&](std::size_t n) -> std::function<void()> {
           // n bytes is the block each rank keeps: it contributes ranks blocks.
           numbers.assign(n / 8 * ranks, 1.0);
           sums.assign(n / 8, 0.0);
           return [&] {
             MPI_Reduce_scatter_block(numbers.data(), sums.data(), as_count(sums.size()),
                                      MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
           };
         }},
        {"scan", payload::doubles,
         [&](std::size_t n) -> std::function<void()> {
           numbers.assign(n / 8, 1.0);
           sums.assign(n / 8, 0.0);
           return [&] {
             MPI_Scan(numbers.data(), sums.data(), as_count(numbers.size()), MPI_DOUBLE, MPI_SUM,
                      MPI_COMM_WORLD);
           };
         }},
        {"exscan", payload::doubles,
         [&](std::size_t n) -> std::function<void()> {
           numbers.assign(n / 8, 1.0);
           sums.assign(n / 8, 0.0);
           return [&] {
             MPI_Exscan(numbers.data(), sums.data(), as_count(numbers.size()), MPI_DOUBLE, MPI_SUM,
                        MPI_COMM_WORLD);
           };
         }},
        {"barrier", payload::none,
         [&](std::size_t) -> std::function<void()> { return [] { MPI_Barrier(MPI_COMM_WORLD); }; }},
        // osu_latency's shape: rank 0 sends, rank 1 echoes; reported one way.
        {"pingpong", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           data.assign(n, std::byte{1});
           const int peer = 1 - world.rank();
           return [&, peer] {
             if (world.rank() == 0) {
               MPI_Send(data.data(), as_count(data.size()), MPI_BYTE, peer, 0, MPI_COMM_WORLD);
               MPI_Recv(data.data(), as_count(data.size()), MPI_BYTE, peer, 0, MPI_COMM_WORLD,
                        MPI_STATUS_IGNORE);
             } else {
               MPI_Recv(data.data(), as_count(data.size()), MPI_BYTE, peer, 0, MPI_COMM_WORLD,
                        MPI_STATUS_IGNORE);
               MPI_Send(data.data(), as_count(data.size()), MPI_BYTE, peer, 0, MPI_COMM_WORLD);
             }
           };
         },
         /*exact_ranks=*/2, /*scale=*/0.5},
    };
    // An --ops list shared with the other harnesses may name what only they measure.
    if (bench::drop_foreign_ops(o, {{"zmq_pingpong", "raw ZeroMQ, measured by symphony-bench"}},
                                world.rank() == 0)) {
      bench::run_benchmarks(world, table, o, system_name());
    } else if (world.rank() == 0) {
      const bench::reporter header_only(o.csv);  // the CSV exists, with no rows
    }
  } catch (const std::exception& e) {
    std::cerr << "mpi-bench: " << e.what() << "\n";
    status = 1;
  }
  if (status != 0) MPI_Abort(MPI_COMM_WORLD, status);  // the other ranks may be waiting on us
  MPI_Finalize();
  return status;
}
