// The simulator's engine and network models: times of single messages against the formula,
// sharing under dist-sys's model, sim::compute, determinism, deadlocks and failures.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "symphony/sim.hpp"
#include "symphony/sim/experiment.hpp"

namespace sim = symphony::sim;

namespace {

sim::network slow_net(sim::sharing model = sim::sharing::fair_share) {
  sim::network net;
  net.latency = 0.5;
  net.send_rate = net.receive_rate = 1000;  // bytes per second
  net.model = model;
  return net;
}

symphony::detail::header tagged(int tag) {
  symphony::detail::header h;
  h.kind = symphony::detail::operation::point_to_point;
  h.tag = tag;
  return h;
}

// Rank `from` sends `bytes` on the wire to each of `to` at time 0; everyone else receives one
// message per sender. Returns each rank's finish time.
std::vector<double> exchange(const sim::network& net, int ranks,
                             const std::vector<std::pair<int, int>>& edges, double bytes) {
  return sim::run(ranks, net,
                  [&](symphony::sim_transport& t) {
                    int expected = 0;
                    for (const auto& [from, to] : edges) {
                      if (from == t.rank()) t.send_sized(to, tagged(0), nullptr, 0, bytes);
                      if (to == t.rank()) ++expected;
                    }
                    for (int i = 0; i < expected; ++i)
                      t.receive(symphony::detail::deadline::max());
                  })
      .finish_times;
}

}  // namespace

TEST_CASE("one message takes latency + size / rate") {
  const auto t = exchange(slow_net(), 2, {{0, 1}}, 250);
  CHECK(t[0] == doctest::Approx(0.0));  // sending does not block
  CHECK(t[1] == doctest::Approx(0.5 + 0.25));
}

TEST_CASE("fair share: a source splits its rate over its destinations") {
  const auto t = exchange(slow_net(), 3, {{0, 1}, {0, 2}}, 250);
  CHECK(t[1] == doctest::Approx(0.5 + 0.5));
  CHECK(t[2] == doctest::Approx(0.5 + 0.5));
  // No sharing in the independent model.
  const auto u = exchange(slow_net(sim::sharing::independent), 3, {{0, 1}, {0, 2}}, 250);
  CHECK(u[1] == doctest::Approx(0.75));
}

TEST_CASE("fair share: an oversubscribed destination scales its senders down") {
  const auto t = exchange(slow_net(), 3, {{1, 0}, {2, 0}}, 250);
  CHECK(t[0] == doctest::Approx(0.5 + 0.5));
}

TEST_CASE("fair share: messages on one edge share it, and rates rise when one finishes") {
  // 100 and 300 bytes from 0 to 1: both at 500 B/s until the first is done at 0.5 + 0.2, then
  // the second's remaining 200 bytes at 1000 B/s: done at 0.7 + 0.2.
  const auto r = sim::run(2, slow_net(), [](symphony::sim_transport& t) {
    if (t.rank() == 0) {
      t.send_sized(1, tagged(1), nullptr, 0, 100);
      t.send_sized(1, tagged(2), nullptr, 0, 300);
      return;
    }
    auto first = t.receive(symphony::detail::deadline::max());
    CHECK(first->header().tag == 1);
    CHECK(sim::now() == doctest::Approx(0.7));
    auto second = t.receive(symphony::detail::deadline::max());
    CHECK(second->header().tag == 2);
    CHECK(sim::now() == doctest::Approx(0.9));
  });
  CHECK(r.time == doctest::Approx(0.9));
  CHECK(r.messages == 2);
  CHECK(r.bytes == doctest::Approx(400));
}

TEST_CASE("a message in its latency phase takes a share in dist-sys's model only") {
  // 1000 bytes at t = 0 (latency to 0.5, alone it would be done at 1.5); 100 bytes on the same
  // edge at t = 1.0. dist-sys: both share from 1.0 (the second still in latency), so the second
  // arrives at 1.7 and the first at 1.85. After-latency: the first drains alone until 1.5, the
  // second starts then and arrives at 1.6.
  const auto arrivals = [](sim::sharing model, bool in_order) {
    std::vector<std::pair<int, double>> got;
    sim::network net = slow_net(model);
    net.in_order = in_order;
    sim::run(2, net, [&](symphony::sim_transport& t) {
      if (t.rank() == 0) {
        t.send_sized(1, tagged(1), nullptr, 0, 1000);
        sim::compute(1.0);
        t.send_sized(1, tagged(2), nullptr, 0, 100);
        return;
      }
      for (int i = 0; i < 2; ++i) {
        const int tag = t.receive(symphony::detail::deadline::max())->header().tag;
        got.emplace_back(tag, sim::now());
      }
    });
    return got;
  };
  const auto dist_sys = arrivals(sim::sharing::fair_share, false);  // dist-sys: it overtakes
  CHECK(dist_sys[0].first == 2);
  CHECK(dist_sys[0].second == doctest::Approx(1.7));
  CHECK(dist_sys[1].first == 1);
  CHECK(dist_sys[1].second == doctest::Approx(1.85));
  // In order (the default, as the transport concept requires): the second waits for the first.
  const auto ordered = arrivals(sim::sharing::fair_share, true);
  CHECK(ordered[0].first == 1);
  CHECK(ordered[0].second == doctest::Approx(1.85));
  CHECK(ordered[1].first == 2);
  CHECK(ordered[1].second == doctest::Approx(1.85));
  const auto after = arrivals(sim::sharing::fair_share_after_latency, true);
  CHECK(after[0].first == 1);
  CHECK(after[0].second == doctest::Approx(1.5));
  CHECK(after[1].first == 2);
  CHECK(after[1].second == doctest::Approx(1.6));
}

TEST_CASE("sim::compute costs virtual time, real computation does not") {
  const auto r = sim::run(2, slow_net(), [](symphony::sim_transport& t) {
    if (t.rank() == 0) {
      volatile double x = 0;
      for (int i = 0; i < 1000000; ++i)
        x = x + 1;  // real work: no virtual time
      CHECK(sim::now() == 0.0);
      sim::compute(1.5);
      CHECK(sim::now() == doctest::Approx(1.5));
      t.send_sized(1, tagged(0), nullptr, 0, 0);
    } else {
      t.receive(symphony::detail::deadline::max());
    }
  });
  CHECK(r.finish_times[1] == doctest::Approx(1.5 + 0.5));
  CHECK_THROWS_AS(sim::compute(1), std::logic_error);  // not in a simulated rank
  CHECK_THROWS_WITH_AS(sim::run(1, slow_net(), [](symphony::sim_transport&) { sim::compute(-1); }),
                       doctest::Contains("seconds = -1"), std::invalid_argument);
}

TEST_CASE("a message to oneself arrives at once") {
  const auto r = sim::run(1, slow_net(), [](sim::communicator& comm) {
    comm.send(42, 0, 7);
    CHECK(comm.recv<int>(0, 7) == 42);
  });
  CHECK(r.time == 0.0);
}

TEST_CASE("reductions with sim::charged cost reduce_cost per element per vector") {
  sim::network net;
  net.latency = 0;
  net.send_rate = net.receive_rate = 1e300;
  net.reduce_cost = 1e-6;
  const auto r = sim::run(2, net, [](sim::communicator& comm) {
    const std::vector<double> v(1000, 1.0);
    CHECK(comm.allreduce(v, sim::charged(symphony::ops::sum)) == std::vector<double>(1000, 2.0));
  });
  CHECK(r.time == doctest::Approx(2 * 1000 * 1e-6));  // one combine of two 1000-element vectors
  const auto free = sim::run(2, net, [](sim::communicator& comm) {
    comm.allreduce(std::vector<double>(1000, 1.0), symphony::ops::sum);
  });
  CHECK(free.time == doctest::Approx(0.0));
}

TEST_CASE("runs are deterministic: same times, same message order, same results") {
  const auto once = [] {
    std::vector<std::vector<int>> order(33);
    sim::network net;
    net.latency = 1e-5;
    net.send_rate = net.receive_rate = 1e9;
    const auto r = sim::run(33, net, [&](symphony::sim_transport& t) {
      // Everyone sends to everyone: arrival order depends only on the simulation.
      for (int to = 0; to < t.size(); ++to)
        if (to != t.rank()) t.send_sized(to, tagged(t.rank()), nullptr, 0, 100.0 * (to + 1));
      for (int i = 0; i + 1 < t.size(); ++i)
        order[static_cast<std::size_t>(t.rank())].push_back(
            t.receive(symphony::detail::deadline::max())->header().tag);
    });
    return std::make_pair(r.finish_times, order);
  };
  const auto a = once();
  const auto b = once();
  CHECK(a.first == b.first);
  CHECK(a.second == b.second);
  sim::experiment e;
  e.nodes = 100;
  e.elements = 5000;
  const auto x = sim::simulate(e).run;
  const auto y = sim::simulate(e).run;
  CHECK(x.finish_times == y.finish_times);
  CHECK(x.messages == y.messages);
}

TEST_CASE("a deadlock is reported, naming the waiting ranks") {
  CHECK_THROWS_WITH_AS(sim::run(3, slow_net(),
                                [](sim::communicator& comm) {
                                  if (comm.rank() != 2) comm.recv<int>(2);
                                }),
                       doctest::Contains("deadlock at virtual time 0.000000 s: rank(s) 0, 1"),
                       symphony::error);
}

TEST_CASE("a rank that throws stops the others; its exception comes out") {
  CHECK_THROWS_WITH_AS(sim::run(8, slow_net(),
                                [](sim::communicator& comm) {
                                  if (comm.rank() == 5) throw std::runtime_error("rank 5 broke");
                                  comm.barrier();
                                }),
                       "rank 5 broke", std::runtime_error);
}

TEST_CASE("ranks are fibers: a rank may block inside a catch block while others throw") {
  // Each rank handles an exception of its own and meets the others in a barrier from inside its
  // handler, so the handlers of all 16 interleave on one thread. The C++ runtime keeps its list
  // of exceptions being handled per thread; the engine swaps it with each fiber, else ranks
  // would end each other's handlers (a use after free under AddressSanitizer).
  std::vector<std::string> seen(16);
  sim::run(16, slow_net(), [&](sim::communicator& comm) {
    try {
      throw std::runtime_error("rank " + std::to_string(comm.rank()));
    } catch (const std::runtime_error& e) {
      const auto mine = std::current_exception();
      comm.barrier();
      CHECK(std::current_exception() == mine);
      CHECK(std::uncaught_exceptions() == 0);
      seen[static_cast<std::size_t>(comm.rank())] = e.what();
    }
  });
  for (int r = 0; r < 16; ++r)
    CHECK(seen[static_cast<std::size_t>(r)] == "rank " + std::to_string(r));
}

TEST_CASE("deep stacks: run_options::stack_bytes sets each rank's stack") {
  // 1 MiB of locals per rank, with 2 MiB stacks; the default 256 KiB would fault.
  sim::run_options big;
  big.stack_bytes = std::size_t{2} << 20;
  const auto r = sim::run(
      4, slow_net(),
      [](sim::communicator& comm) {
        volatile char local[1 << 20];
        local[0] = static_cast<char>(comm.rank());
        local[sizeof(local) - 1] = local[0];
        comm.barrier();
        CHECK(local[sizeof(local) - 1] == static_cast<char>(comm.rank()));
      },
      big);
  CHECK(r.finish_times.size() == 4);
  sim::run_options tiny;
  tiny.stack_bytes = 1000;
  CHECK_THROWS_WITH_AS(sim::run(
                           2, slow_net(), [](sim::communicator&) {}, tiny),
                       doctest::Contains("stack_bytes = 1000"), std::invalid_argument);
}

TEST_CASE("a real-time timeout bounds a wait while other ranks run") {
  // Rank 1 computes for 200 ms of real time before it sends; rank 0's receive allows 20 ms.
  // Ranks take turns on one thread, so rank 0 learns of its timeout when rank 1 next blocks.
  CHECK_THROWS_WITH_AS(sim::run(
                           2, slow_net(),
                           [](sim::communicator& comm) {
                             if (comm.rank() == 0) {
                               comm.recv<int>(1);
                               return;
                             }
                             const auto until =
                                 std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
                             while (std::chrono::steady_clock::now() < until) {
                             }
                             sim::compute(1.0);
                             comm.send(7, 0);
                           },
                           std::chrono::milliseconds(20)),
                       doctest::Contains("rank 0 timed out"), symphony::timeout_error);
}

TEST_CASE("bad arguments name the culprit") {
  const auto nothing = [](sim::communicator&) {};
  CHECK_THROWS_WITH_AS(sim::run(0, slow_net(), nothing), doctest::Contains("ranks = 0"),
                       std::invalid_argument);
  sim::network net = slow_net();
  net.latency = -1;
  CHECK_THROWS_WITH_AS(sim::run(2, net, nothing), doctest::Contains("latency = -1"),
                       std::invalid_argument);
  net = slow_net();
  net.send_rate = 0;
  CHECK_THROWS_WITH_AS(sim::run(2, net, nothing), doctest::Contains("send_rate = 0"),
                       std::invalid_argument);
  sim::experiment e;
  e.algorithm = "bogus";
  CHECK_THROWS_WITH_AS(sim::simulate(e), doctest::Contains("algorithm 'bogus'"),
                       std::invalid_argument);
  e.algorithm = "auto";
  e.op = "allsort";
  CHECK_THROWS_WITH_AS(sim::simulate(e), doctest::Contains("op 'allsort'"), std::invalid_argument);
}
