// symphony/threads.hpp: run an SPMD function on N ranks that are threads of this process.
//
//   symphony::run_threads(8, [](symphony::thread_communicator& comm) {
//     int x = comm.rank();
//     comm.broadcast(x, 3);
//   });
//
// The same collectives, the same algorithms, no sockets: for tests, tutorials, and trying an
// algorithm on 64 ranks in a second.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "communicator.hpp"
#include "transport/thread_transport.hpp"

namespace symphony {

/// A communicator whose ranks are threads of one process.
using thread_communicator = basic_communicator<thread_transport>;

/// Runs `fn(thread_communicator&)` on `ranks` threads, one communicator of `ranks` members, and
/// waits for all. If any rank throws, the ranks still waiting stop at once (with a symphony::error
/// naming the failed rank), and run_threads rethrows the first exception thrown, the cause.
/// `timeout` bounds every blocking wait inside `fn`. Throws std::invalid_argument if ranks < 1.
template <class Fn>
void run_threads(int ranks, Fn&& fn, std::chrono::milliseconds timeout = default_timeout) {
  if (ranks < 1)
    throw std::invalid_argument("run_threads: ranks = " + std::to_string(ranks) + " (need >= 1)");
  const auto hub = std::make_shared<detail::thread_hub>(ranks);
  std::mutex first_mutex;
  std::exception_ptr first;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(ranks));
  for (int rank = 0; rank < ranks; ++rank)
    threads.emplace_back([&, rank] {
      try {
        thread_communicator comm(thread_transport(hub, rank), timeout);
        fn(comm);
      } catch (const std::exception& e) {
        {
          const std::lock_guard<std::mutex> lock(first_mutex);
          if (!first) first = std::current_exception();
        }
        hub->fail(rank, e.what());
      } catch (...) {
        {
          const std::lock_guard<std::mutex> lock(first_mutex);
          if (!first) first = std::current_exception();
        }
        hub->fail(rank, "a non-standard exception");
      }
    });
  for (auto& t : threads)
    t.join();
  if (first) std::rethrow_exception(first);
}

}  // namespace symphony
