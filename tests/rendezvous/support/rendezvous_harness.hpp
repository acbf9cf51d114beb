// tests/rendezvous/support/rendezvous_harness.hpp: ranks of a rendezvous as threads of this
// process.
//
// run_ranks() starts one thread per participant, each calling rendezvous() after its own delay,
// and returns what each got: the table, or the exception's type and message, and how long its call
// took. doctest's assertions are not thread-safe, so the threads only record; the test checks.
// Everything binds 127.0.0.1 only.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <string>
#include <symphony/bootstrap/rendezvous.hpp>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "spawn.hpp"  // testing::free_tcp_ports

namespace rendezvous_test {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using symphony::bootstrap::rendezvous_options;
using strings = std::vector<std::string>;

/// What one call of rendezvous() ended with.
struct outcome {
  strings table;
  std::string error;    // "" on success, else "config_error", "timeout_error", "protocol_error"...
  std::string message;  // the exception's what()
  milliseconds elapsed{0};
  int ring_from = -1;  // ring proof: the rank whose message this rank's endpoint received
  bool ok() const { return error.empty(); }
};

inline std::string describe(const outcome& o) {
  return o.ok() ? "table of " + std::to_string(o.table.size()) + " after " +
                      std::to_string(o.elapsed.count()) + " ms"
                : o.error + " after " + std::to_string(o.elapsed.count()) + " ms: " + o.message;
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Calls rendezvous() and records how it ended.
inline outcome attempt(const rendezvous_options& options) {
  outcome o;
  const auto start = std::chrono::steady_clock::now();
  try {
    o.table = symphony::bootstrap::rendezvous(options);
  } catch (const symphony::config_error& e) {
    o.error = "config_error";
    o.message = e.what();
  } catch (const symphony::timeout_error& e) {
    o.error = "timeout_error";
    o.message = e.what();
  } catch (const symphony::protocol_error& e) {
    o.error = "protocol_error";
    o.message = e.what();
  } catch (const std::exception& e) {
    o.error = "other exception";
    o.message = e.what();
  }
  o.elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  return o;
}

/// A root address on 127.0.0.1 with a port that was free a moment ago.
inline std::string free_root() {
  return "127.0.0.1:" + std::to_string(testing::free_tcp_ports(1).front());
}

/// Options for `rank` of a job of `size`; the endpoint is a distinct 127.0.0.1 address that
/// nothing needs to bind (the rendezvous only carries it).
inline rendezvous_options options_for(const std::string& root, int rank, int size,
                                      const std::string& token = "test-job",
                                      milliseconds timeout = 5s) {
  rendezvous_options o;
  o.root = root;
  o.rank = rank;
  o.size = size;
  o.endpoint = "tcp://127.0.0.1:" + std::to_string(40000 + rank);
  o.job_token = token;
  o.timeout = timeout;
  o.host = "test-host";
  return o;
}

struct participant {
  rendezvous_options options;
  milliseconds delay{0};  // start this long after the call to run_ranks
};

/// Runs every participant on a thread of its own; results in participant order.
inline std::vector<outcome> run_ranks(const std::vector<participant>& participants) {
  std::vector<outcome> results(participants.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < participants.size(); ++i)
    threads.emplace_back([&, i] {
      std::this_thread::sleep_for(participants[i].delay);
      results[i] = attempt(participants[i].options);
    });
  for (auto& t : threads)
    t.join();
  return results;
}

/// A whole job of `size` ranks, each with a real bound receive socket on 127.0.0.1; after the
/// rendezvous every rank proves the table by sending its rank to the next rank's endpoint and
/// receiving from the previous one (outcome::ring_from).
inline std::vector<outcome> run_ring_job(const std::string& root, int size,
                                         milliseconds timeout = 5s,
                                         const std::string& token = "ring-job") {
  zmq::context_t context;
  std::vector<outcome> results(static_cast<std::size_t>(size));
  std::vector<std::thread> threads;
  for (int rank = 0; rank < size; ++rank)
    threads.emplace_back([&, rank] {
      auto& result = results[static_cast<std::size_t>(rank)];
      zmq::socket_t inbox(context, zmq::socket_type::pull);
      inbox.set(zmq::sockopt::linger, 0);
      inbox.bind("tcp://127.0.0.1:*");
      auto options = options_for(root, rank, size, token, timeout);
      options.endpoint = inbox.get(zmq::sockopt::last_endpoint);
      result = attempt(options);
      if (!result.ok()) return;
      zmq::socket_t next(context, zmq::socket_type::push);
      next.set(zmq::sockopt::linger, 2000);
      next.connect(result.table[static_cast<std::size_t>((rank + 1) % size)]);
      const std::string me = std::to_string(rank);
      (void)next.send(zmq::buffer(me), zmq::send_flags::none);
      zmq::pollitem_t item{inbox.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(10000));
      zmq::message_t got;
      if (inbox.recv(got, zmq::recv_flags::dontwait)) result.ring_from = std::stoi(got.to_string());
    });
  for (auto& t : threads)
    t.join();
  return results;
}

}  // namespace rendezvous_test
