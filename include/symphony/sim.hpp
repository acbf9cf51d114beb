// symphony/sim.hpp: run symphony's collectives on thousands of simulated ranks, in virtual time.
//
//   symphony::sim::network net;                 // 10 us latency, 10 GB/s NICs, dist-sys sharing
//   auto result = symphony::sim::run(1024, net, [](symphony::sim::communicator& comm) {
//     std::vector<double> v(1000, 1.0);
//     v = comm.allreduce(v, symphony::sim::charged(symphony::ops::sum));
//   });
//   std::cout << result.time << " virtual seconds\n";
//
// The ranks are fibers (stackful coroutines, detail/fiber.hpp) of the calling thread, taking
// turns, and run the very algorithms the ZeroMQ transport runs (basic_communicator over
// sim_transport); only the clock is virtual. Virtual time passes only
// while every rank is blocked waiting for a message (or in sim::compute), so real computation
// costs nothing unless a rank says so: sim::compute(seconds), or a reduction operator wrapped in
// sim::charged, which costs network::reduce_cost per element per vector combined. Runs are
// deterministic: the same program gives the same virtual times and results every time.
// The network models (sim::sharing) are described in sim_network.hpp and docs/simulator.md.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "communicator.hpp"
#include "detail/fiber.hpp"
#include "detail/sim_engine.hpp"
#include "detail/sim_network.hpp"
#include "ops.hpp"

namespace symphony {

namespace detail {
// The engine running on this thread (null outside sim::run). Its ranks are fibers of this
// thread, and the engine knows which one runs, so sim::compute and sim::now need no handle.
inline thread_local sim_engine* sim_this_thread = nullptr;

// The engine and rank of the current fiber.
struct sim_current {
  sim_engine* engine = nullptr;
  int rank = -1;
};

inline sim_current sim_this_fiber() {
  sim_engine* engine = sim_this_thread;
  if (engine == nullptr || engine->running() < 0) return {};
  return {engine, engine->running()};
}

inline sim_current sim_require(const char* what) {
  const auto current = sim_this_fiber();
  if (current.engine == nullptr)
    throw std::logic_error(std::string("symphony::sim::") + what +
                           ": called outside a simulated rank (only inside sim::run)");
  return current;
}

// Makes `engine` this thread's for a scope (restoring the previous one: a rank may run a
// simulation of its own).
class sim_thread_scope {
 public:
  explicit sim_thread_scope(sim_engine* engine) : previous_(sim_this_thread) {
    sim_this_thread = engine;
  }
  sim_thread_scope(const sim_thread_scope&) = delete;
  sim_thread_scope& operator=(const sim_thread_scope&) = delete;
  ~sim_thread_scope() { sim_this_thread = previous_; }

 private:
  sim_engine* previous_;
};
}  // namespace detail

/// The transport of one simulated rank (transport/transport.hpp). A message of n payload bytes
/// occupies n * network::byte_scale bytes on the simulated network.
class sim_transport {
 public:
  using message = detail::sim_message;
  /// Its clock is virtual: the communicator sends no stall probes over it (they would cost
  /// simulated time, and a rank's wait in real time says nothing about the network).
  static constexpr bool virtual_time = true;

  sim_transport(std::shared_ptr<detail::sim_engine> engine, int rank)
      : engine_(std::move(engine)), rank_(rank) {}

  int rank() const { return rank_; }
  int size() const { return engine_->size(); }
  /// The simulated network this rank is on.
  const sim::network& network() const { return engine_->network(); }

  bool send(int to, const detail::header& h, const std::byte* data, std::size_t size,
            detail::deadline /*the network is never full*/) {
    engine_->send(rank_, to, h, data, size,
                  static_cast<double>(size) * engine_->network().byte_scale);
    return true;
  }

  bool forward(int to, const detail::header& h, const message& received, detail::deadline until) {
    return send(to, h, received.data(), received.size(), until);
  }

  std::optional<message> receive(detail::deadline until) { return engine_->receive(rank_, until); }

  void abandon() noexcept {}

  /// For programs written against the transport (the dist-sys reference algorithms): sends
  /// `size` real bytes as a message of `wire_bytes` bytes on the simulated network, so that a
  /// model of a 80 MB message needs no 80 MB buffer.
  void send_sized(int to, const detail::header& h, const std::byte* data, std::size_t size,
                  double wire_bytes) {
    engine_->send(rank_, to, h, data, size, wire_bytes);
  }

 private:
  std::shared_ptr<detail::sim_engine> engine_;
  int rank_;
};

namespace sim {

/// A communicator whose ranks are simulated.
using communicator = basic_communicator<sim_transport>;

/// What a simulated run measured.
struct result {
  double time = 0;                   ///< virtual seconds until the last rank returned
  std::vector<double> finish_times;  ///< per rank: virtual seconds when its function returned
  std::uint64_t messages = 0;        ///< messages sent
  double bytes = 0;                  ///< bytes sent on the simulated network
};

/// Inside a simulated rank: lets `seconds` of virtual time pass for this rank as if it computed
/// that long (its next send or receive happens that much later). Throws std::invalid_argument
/// for a negative or non-finite value, std::logic_error outside sim::run.
inline void compute(double seconds) {
  const auto current = detail::sim_require("compute");
  if (!(seconds >= 0) || seconds == std::numeric_limits<double>::infinity())
    throw std::invalid_argument("symphony::sim::compute: seconds = " + std::to_string(seconds) +
                                " (need a finite number >= 0)");
  current.engine->add_debt(current.rank, seconds);
}

/// Inside a simulated rank: this rank's virtual clock in seconds (including time computed with
/// sim::compute that it has not yet spent). Throws std::logic_error outside sim::run.
inline double now() {
  const auto current = detail::sim_require("now");
  return current.engine->now(current.rank);
}

/// A built-in operator (ops::sum, ...) that charges network::reduce_cost (times byte_scale) of
/// virtual time for every element of every vector it combines: 2 * reduce_cost per call, as
/// dist-sys charges its reductions. Still a built-in operator, so collectives choose the same
/// algorithms as for the bare operator.
template <class Op>
struct charged_operator : Op {
  static_assert(detail::is_builtin_operator_v<Op>,
                "sim::charged applies to symphony's built-in operators (ops::sum, ...)");
  template <class A>
  A operator()(const A& a, const A& b) const {
    const auto current = detail::sim_this_fiber();
    if (current.engine != nullptr) {
      const auto& net = current.engine->network();
      current.engine->add_debt(current.rank, 2 * net.reduce_cost * net.byte_scale);
    }
    return Op::operator()(a, b);
  }
};

/// Wraps a built-in operator so that reductions cost virtual time (see charged_operator).
template <class Op>
charged_operator<Op> charged(const Op& /*op*/) {
  return {};
}

/// How sim::run runs the ranks.
struct run_options {
  /// Bounds each wait of the communicator in real time (wait_forever: no bound, the default).
  /// Ranks take turns on one thread, so this bounds how long a rank waits while the others run:
  /// it is checked whenever a rank blocks, and a rank that computes forever without blocking
  /// cannot be interrupted. Communication hangs are caught as deadlocks without it.
  std::chrono::milliseconds timeout = wait_forever;
  /// Each rank's stack (a fiber's, mmap'd with a guard page below it; only the pages used become
  /// resident). The default, 256 KiB, holds symphony's collectives with room to spare; raise it
  /// for rank code with deep recursion or large local arrays. At least 32 KiB.
  std::size_t stack_bytes = detail::fiber::default_stack_bytes;
};

/// Runs `fn` on `ranks` simulated ranks over `net` and returns the virtual times. The ranks are
/// fibers of the calling thread, one running at a time; `fn` takes a sim::communicator&
/// (symphony's collectives) or a sim_transport& (programs that send raw messages, like the
/// dist-sys reference algorithms in symphony/sim/). If a rank throws, the others stop with a
/// symphony::error naming it (each unwinds its stack), and run rethrows the first exception; a
/// deadlock (every live rank waiting, no message in flight) is a symphony::error naming the
/// waiting ranks, so a communication hang cannot go unnoticed. Throws std::invalid_argument for
/// ranks < 1, a network field out of range or stack_bytes below 32 KiB, and std::system_error
/// when the stacks cannot be mapped (about 32000 ranks per process with Linux's default
/// vm.max_map_count of 65530: each stack and its guard page are two mappings).
template <class Fn>
result run(int ranks, const network& net, Fn&& fn, const run_options& options = {}) {
  if (ranks < 1)
    throw std::invalid_argument("sim::run: ranks = " + std::to_string(ranks) + " (need >= 1)");
  if (options.stack_bytes < detail::fiber::minimum_stack_bytes)
    throw std::invalid_argument("sim::run: stack_bytes = " + std::to_string(options.stack_bytes) +
                                " (need >= " + std::to_string(detail::fiber::minimum_stack_bytes) +
                                ")");
  net.validate();
  const auto engine = std::make_shared<detail::sim_engine>(ranks, net, options.stack_bytes);
  const detail::sim_thread_scope scope(engine.get());
  std::exception_ptr first;
  engine->run([&](int rank) {
    std::string what = "a non-standard exception";
    try {
      engine->start(rank);
      sim_transport transport(engine, rank);
      if constexpr (std::is_invocable_v<Fn&, sim_transport&>) {
        fn(transport);
      } else {
        communicator comm(std::move(transport), options.timeout);
        fn(comm);
      }
      engine->finish(rank);
      return;
    } catch (...) {
      if (!first) first = std::current_exception();
      try {
        throw;
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
    }
    engine->fail(rank, what);
  });
  if (first) std::rethrow_exception(first);
  result r;
  for (int rank = 0; rank < ranks; ++rank) {
    r.finish_times.push_back(engine->finished_at(rank));
    r.time = std::max(r.time, engine->finished_at(rank));
  }
  r.messages = engine->messages();
  r.bytes = engine->bytes();
  return r;
}

/// sim::run with a real-time timeout for each wait of the communicator (see run_options; kept
/// for the callers written before run_options).
template <class Fn>
result run(int ranks, const network& net, Fn&& fn, std::chrono::milliseconds timeout) {
  run_options options;
  options.timeout = timeout;
  return run(ranks, net, std::forward<Fn>(fn), options);
}

}  // namespace sim
}  // namespace symphony
