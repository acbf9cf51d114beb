// symphony/detail/sim_network.hpp: messages in flight and the rates the network grants them.
//
// A message ("flow") first spends the fixed latency, then drains its bytes at the rate its
// (source, destination) edge is granted; its ETA is remaining latency + remaining bytes / rate.
// Rates change only when the set of flows changes, so the engine calls assign_rates() after
// sends and deliveries and before virtual time next advances (several sends at one instant cost
// one recomputation, which gives the same times as recomputing after each).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace symphony::sim {

/// How concurrent messages share the network (see docs/simulator.md).
enum class sharing {
  /// dist-sys's switch model (unixpickle/dist-sys, GreedyDropSwitcher): each source splits its
  /// send rate evenly over the destinations it has messages in flight to (latency phase
  /// included), a destination whose incoming total exceeds its receive rate scales its column
  /// down proportionally, and messages on one edge share that edge's rate equally.
  fair_share,
  /// The same sharing, but a message takes no share while in its latency phase (the latency is
  /// propagation, not NIC time): only messages whose bytes are moving count. dist-sys's model
  /// lets a message that has not started steal half an edge, which slows pipelined algorithms
  /// (rings) whose sends overlap by a few microseconds.
  fair_share_after_latency,
  /// No contention (the Hockney / alpha-beta model): every message takes latency + size / rate,
  /// however many are in flight.
  independent,
};

/// The network: one latency and one NIC rate for every rank.
struct network {
  double latency = 10e-6;      ///< seconds before a message's first byte moves
  double send_rate = 10e9;     ///< bytes per second one rank can send, over all destinations
  double receive_rate = 10e9;  ///< bytes per second one rank can receive, from all sources
  sharing model = sharing::fair_share;
  double reduce_cost = 1e-9;  ///< virtual seconds per element per vector combined
  double byte_scale = 1;      ///< every payload byte counts as this many (sim/experiment.hpp)
  /// Messages from one sender to one receiver arrive in the order they were sent, as the
  /// transport concept requires (a small message that drains before a larger one sent earlier on
  /// the same edge waits for it). dist-sys has no such rule; its reference programs run without.
  bool in_order = true;

  /// Throws std::invalid_argument naming the field when a value cannot describe a network.
  void validate() const {
    const auto require = [](bool ok, const char* field, double value, const char* need) {
      if (!ok)
        throw std::invalid_argument(std::string("sim::network: ") + field + " = " +
                                    std::to_string(value) + " (need " + need + ")");
    };
    const double inf = std::numeric_limits<double>::infinity();
    require(latency >= 0 && latency < inf, "latency", latency, "a finite number >= 0");
    require(send_rate > 0 && send_rate < inf, "send_rate", send_rate, "a finite number > 0");
    require(receive_rate > 0 && receive_rate < inf, "receive_rate", receive_rate,
            "a finite number > 0");
    require(reduce_cost >= 0 && reduce_cost < inf, "reduce_cost", reduce_cost,
            "a finite number >= 0");
    require(byte_scale > 0 && byte_scale < inf, "byte_scale", byte_scale, "a finite number > 0");
  }
};

}  // namespace symphony::sim

namespace symphony::detail {

/// One message in flight.
struct sim_flow {
  std::uint64_t id;  // the send's sequence number: unique, and the deterministic tie-break
  int source;
  int destination;
  double latency_left;
  double bytes_left;
  double rate = 0;

  double eta() const { return std::max(0.0, latency_left + bytes_left / rate); }

  void advance(double dt) {
    if (dt < latency_left) {
      latency_left -= dt;
      return;
    }
    bytes_left = std::max(0.0, bytes_left - rate * (dt - latency_left));
    latency_left = 0;
  }
};

/// The flows in flight and their rates under one sim::network.
class sim_flows {
 public:
  explicit sim_flows(const sim::network& net) : net_(net) {}

  bool empty() const { return flows_.empty(); }
  std::size_t size() const { return flows_.size(); }

  void add(std::uint64_t id, int source, int destination, double bytes) {
    flows_.push_back({id, source, destination, net_.latency, bytes});
    dirty_ = true;
  }

  /// Seconds until the earliest delivery (recomputing rates if flows changed); flows must not be
  /// empty.
  double next_eta() {
    if (dirty_) assign_rates();
    double best = std::numeric_limits<double>::infinity();
    for (const auto& f : flows_)
      best = std::min(best, f.eta());
    return best;
  }

  /// Seconds until a message leaves its latency phase, when that changes rates (only under
  /// fair_share_after_latency); infinity otherwise.
  double next_rate_change() const {
    double best = std::numeric_limits<double>::infinity();
    if (net_.model != sim::sharing::fair_share_after_latency) return best;
    for (const auto& f : flows_)
      if (f.latency_left > 0) best = std::min(best, f.latency_left);
    return best;
  }

  /// Lets `dt` seconds pass and removes the flows whose ETA was the earliest, `eta` (as
  /// next_eta() returned), in send order. Flows that finish within a relative 1e-12 of it finish
  /// with it, so rounding never splits one instant into two.
  std::vector<sim_flow> advance_and_take(double dt, double eta) {
    std::vector<sim_flow> done;
    const double close = eta + 1e-12 * std::max(1.0, eta);
    std::vector<sim_flow> rest;
    rest.reserve(flows_.size());
    for (auto& f : flows_) {
      if (f.eta() <= close) {
        done.push_back(f);
      } else {
        f.advance(dt);
        rest.push_back(f);
      }
    }
    flows_.swap(rest);
    std::sort(done.begin(), done.end(),
              [](const sim_flow& a, const sim_flow& b) { return a.id < b.id; });
    dirty_ = true;
    return done;
  }

  /// Lets `dt` seconds pass with no delivery (a timer fires first, or a latency phase ends).
  void advance(double dt) {
    if (dirty_) assign_rates();
    for (auto& f : flows_)
      f.advance(dt);
    if (net_.model == sim::sharing::fair_share_after_latency) dirty_ = true;
  }

 private:
  // The rates of every flow, in O(F log F) for F flows: only edges in use are looked at.
  void assign_rates() {
    dirty_ = false;
    if (net_.model == sim::sharing::independent) {
      for (auto& f : flows_)
        f.rate = std::min(net_.send_rate, net_.receive_rate);
      return;
    }
    // Edges in use, sorted by (source, destination), with the number of flows on each.
    const bool skip_latency = net_.model == sim::sharing::fair_share_after_latency;
    order_.clear();
    for (std::size_t i = 0; i < flows_.size(); ++i) {
      if (skip_latency && flows_[i].latency_left > 0) {
        flows_[i].rate = net_.send_rate;  // moves no bytes yet; its real rate comes later
        continue;
      }
      order_.push_back(i);
    }
    std::sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) {
      const auto& x = flows_[a];
      const auto& y = flows_[b];
      return x.source != y.source ? x.source < y.source : x.destination < y.destination;
    });
    edges_.clear();
    for (const std::size_t i : order_) {
      const auto& f = flows_[i];
      if (edges_.empty() || edges_.back().source != f.source ||
          edges_.back().destination != f.destination)
        edges_.push_back({f.source, f.destination, 0, 0});
      ++edges_.back().flows;
    }
    // Rows: each source's send rate split evenly over its destinations.
    for (std::size_t b = 0; b < edges_.size();) {
      std::size_t e = b;
      while (e < edges_.size() && edges_[e].source == edges_[b].source)
        ++e;
      const double share = net_.send_rate / static_cast<double>(e - b);
      for (std::size_t k = b; k < e; ++k)
        edges_[k].rate = share;
      b = e;
    }
    // Columns: a destination receiving more than its rate scales its incoming edges down.
    incoming_.assign(incoming_.size(), 0);
    for (const auto& ed : edges_) {
      if (static_cast<std::size_t>(ed.destination) >= incoming_.size())
        incoming_.resize(static_cast<std::size_t>(ed.destination) + 1, 0);
      incoming_[static_cast<std::size_t>(ed.destination)] += ed.rate;
    }
    for (auto& ed : edges_) {
      const double total = incoming_[static_cast<std::size_t>(ed.destination)];
      if (total > net_.receive_rate) ed.rate *= net_.receive_rate / total;
    }
    // Flows: an edge's rate shared equally by the messages on it.
    std::size_t k = 0;
    for (std::size_t i = 0; i < order_.size(); ++i) {
      auto& f = flows_[order_[i]];
      while (edges_[k].source != f.source || edges_[k].destination != f.destination)
        ++k;
      f.rate = edges_[k].rate / static_cast<double>(edges_[k].flows);
    }
  }

  sim::network net_;
  std::vector<sim_flow> flows_;
  bool dirty_ = false;
  std::vector<std::size_t> order_;
  struct edge {
    int source, destination;
    std::size_t flows;  // messages on this edge
    double rate;        // the edge's total rate
  };
  std::vector<edge> edges_;       // scratch, reused: no allocation per recomputation
  std::vector<double> incoming_;  // per destination: the total rate of its incoming edges
};

}  // namespace symphony::detail
