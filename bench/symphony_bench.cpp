// symphony-bench: times symphony's collectives, and raw ZeroMQ under them, as an SPMD program.
//
//   symphony-run -n 4 build/bench/symphony-bench --ops broadcast,reduce --csv out.csv
//
// Every rank runs the same loop (bench_common.hpp); rank 0 prints a table and writes the CSV.
// The ops and their `bytes` are mpi-bench's and gloo-bench's (bench/README.md has the table), so
// that compare.sh pairs the rows.
// The variant column is the transport symphony-run chose (ipc or tcp), read from
// SYMPHONY_ADDRESSES, so that runs over both can be told apart once concatenated.
#include <cstddef>
#include <exception>
#include <iostream>
#include <string>
#include <vector>
#include <zmq.hpp>

#include <symphony/collectives.hpp>

#include "bench_common.hpp"

namespace {

// What bench::run_benchmarks needs of a job, over a symphony communicator.
struct symphony_world {
  symphony::communicator& comm;
  int rank() const { return comm.rank(); }
  int size() const { return comm.size(); }
  void barrier() { comm.barrier(); }
  double max_at_root(double value) { return comm.reduce(value, symphony::ops::max, 0); }
};

std::string transport_of(const std::string& address) {
  return address.rfind("ipc://", 0) == 0 ? "ipc" : "tcp";
}

// Raw ZeroMQ ping-pong between ranks 0 and 1 over a PAIR socket of the same kind as the
// communicator's (ipc or tcp): the floor under symphony's send/recv, so the library's own cost is
// the difference. Rank 0 binds next to its own address and tells rank 1 where with a broadcast.
class pingpong {
 public:
  pingpong(symphony::communicator& comm, const symphony::config& c)
      : socket_(context_, zmq::socket_type::pair) {
    std::string endpoint;
    if (comm.rank() == 0) {
      const auto own = symphony::detail::parse_address(c.addresses[0]).value;
      endpoint = own.scheme == symphony::detail::address::kind::ipc
                     ? "ipc://" + own.path + ".pingpong"
                     : "tcp://" + std::string(own.is_ipv6_literal() ? "[" : "") + own.host +
                           (own.is_ipv6_literal() ? "]" : "") + ":*";
      if (own.is_ipv6_literal()) socket_.set(zmq::sockopt::ipv6, true);
      socket_.bind(endpoint);
      endpoint = socket_.get(zmq::sockopt::last_endpoint);
    }
    comm.broadcast(endpoint, 0);
    if (comm.rank() == 1) {
      if (endpoint.find('[') != std::string::npos) socket_.set(zmq::sockopt::ipv6, true);
      socket_.connect(endpoint);
    }
    rank_ = comm.rank();
  }

  // One round trip of `bytes`: rank 0 sends and waits for the echo, rank 1 echoes.
  std::function<void()> prepare(std::size_t bytes) {
    buffer_.assign(bytes, std::byte{1});
    if (rank_ == 0)
      return [this] {
        socket_.send(zmq::buffer(buffer_), zmq::send_flags::none);
        (void)socket_.recv(reply_, zmq::recv_flags::none);
      };
    if (rank_ == 1)
      return [this] {
        (void)socket_.recv(reply_, zmq::recv_flags::none);
        socket_.send(reply_, zmq::send_flags::none);
      };
    return [] {};
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::vector<std::byte> buffer_;
  zmq::message_t reply_;
  int rank_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "symphony-bench: time symphony's collectives (median, p10, p90 over repetitions).\n"
      "Run under a launcher: symphony-run -n 4 symphony-bench --csv out.csv"};
  bench::options o;
  bench::add_options(app, o);
  CLI11_PARSE(app, argc, argv);

  try {
    const auto c = symphony::config::from_environment();
    symphony::communicator world(c);
    o.variant = transport_of(c.addresses[0]);
    symphony_world adapter{world};
    const auto ranks = static_cast<std::size_t>(world.size());

    // The payloads live in these, resized by each prepare() and captured by reference: the timed
    // call then only calls the library.
    std::vector<std::byte> data;
    std::vector<double> numbers;
    std::vector<std::vector<std::byte>> pieces;
    std::vector<std::vector<std::byte>> gathered;  // gather's and allgather's caller buffer
    std::unique_ptr<pingpong> zmq_pair;

    using bench::payload;
    std::vector<bench::operation> table{
        {"broadcast", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           data.assign(n, std::byte{1});
           return [&] { world.broadcast(data, 0); };
         }},
        {"reduce", payload::doubles,
         [&](std::size_t n) -> std::function<void()> {
           // Reduced in place, as MPI's caller buffers allow: zeros, so that repeated sums stay
           // finite (the work per element is the same for any value).
           numbers.assign(n / 8, 0.0);
           return [&] { world.reduce_in_place(numbers, symphony::ops::sum, 0); };
         }},
        {"gather", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           data.assign(n, std::byte{1});
           return [&] { world.gather(data, gathered, 0); };
         }},
        {"scatter", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           pieces.assign(world.rank() == 0 ? static_cast<std::size_t>(world.size()) : 0,
                         std::vector<std::byte>(n, std::byte{1}));
           return [&] { (void)world.scatter(pieces, 0); };
         }},
        {"allreduce", payload::doubles,
         [&](std::size_t n) -> std::function<void()> {
           numbers.assign(n / 8, 0.0);  // in place, zeros: as reduce
           return [&] { world.allreduce_in_place(numbers, symphony::ops::sum); };
         }},
        {"allgather", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           data.assign(n, std::byte{1});
           return [&] { world.allgather(data, gathered); };
         }},
        {"alltoall", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           // n bytes to every rank, itself included, as MPI_Alltoall's sendcount.
           pieces.assign(ranks, std::vector<std::byte>(n, std::byte{1}));
           return [&] { (void)world.alltoall(pieces); };
         }},
        {"reduce_scatter", payload::doubles,
         [&](std::size_t n) -> std::function<void()> {
           // n bytes is the block each rank keeps: it contributes ranks blocks.
           numbers.assign(n / 8 * ranks, 1.0);
           return [&] { (void)world.reduce_scatter(numbers, symphony::ops::sum); };
         }},
        {"scan", payload::doubles,
         [&](std::size_t n) -> std::function<void()> {
           numbers.assign(n / 8, 1.0);
           return [&] { (void)world.scan(numbers, symphony::ops::sum); };
         }},
        {"exscan", payload::doubles,
         [&](std::size_t n) -> std::function<void()> {
           numbers.assign(n / 8, 1.0);
           return [&] { (void)world.exscan(numbers, symphony::ops::sum); };
         }},
        {"barrier", payload::none,
         [&](std::size_t) -> std::function<void()> { return [&] { world.barrier(); }; }},
        // symphony's point-to-point round trip, the same shape as zmq_pingpong and MPI's
        // pingpong (osu_latency): next to zmq_pingpong it shows what the library adds per
        // message, with no barrier skew in the figure (see bench/README.md, Method).
        {"pingpong", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           data.assign(n, std::byte{1});
           if (world.rank() == 0)
             return [&] {
               world.send(data, 1);
               world.recv(data, 1);
             };
           return [&] {
             world.recv(data, 0);
             world.send(data, 0);
           };
         },
         /*exact_ranks=*/2, /*scale=*/0.5},
        {"zmq_pingpong", payload::bytes,
         [&](std::size_t n) -> std::function<void()> {
           if (!zmq_pair) zmq_pair = std::make_unique<pingpong>(world, c);
           return zmq_pair->prepare(n);
         },
         /*exact_ranks=*/2, /*scale=*/0.5, /*system=*/"zmq"},
    };

    bench::run_benchmarks(adapter, table, o, "symphony");
    world.barrier();  // nobody leaves while a peer may still need its socket
  } catch (const std::exception& e) {
    std::cerr << "symphony-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
