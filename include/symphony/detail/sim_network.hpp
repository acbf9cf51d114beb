// symphony/detail/sim_network.hpp: messages in flight and the rates the network grants them.
//
// A message ("flow") first spends the fixed latency, then drains its bytes at the rate its
// (source, destination) edge is granted; its ETA is remaining latency + remaining bytes / rate.
// Rates change only when the set of flows changes; sends and deliveries mark what they touch, and
// the rates are brought up to date before virtual time next moves (several sends at one instant
// cost one update, which gives the same times as updating after each).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <stdexcept>
#include <string>
#include <unordered_map>
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

/// A message leaving the network: what the engine needs to deliver it.
struct sim_flow {
  std::uint64_t id;  // the send's sequence number: unique, and the deterministic tie-break
  int source;
  int destination;
};

/// The flows (messages) in flight and their rates under one sim::network.
///
/// Rates are kept incrementally: a send or a delivery changes the shares of its source's edges
/// (when the source gains or loses a destination), of the edges into the destinations concerned
/// (their columns are scaled again), or only of the messages on its own edge. Only those flows
/// get new rates, and each flow's ETA sits in a priority queue (entries of superseded rates are
/// skipped when they surface). A ring then costs O(log F) per message instead of O(F log F) for
/// recomputing every rate; an all-to-all still changes every rate of a destination's column.
/// The rates are exactly those of recomputing the whole matrix (the model in sim::sharing).
class sim_flows {
 public:
  explicit sim_flows(const sim::network& net) : net_(net) {}

  bool empty() const { return live_ == 0; }
  std::size_t size() const { return live_; }

  /// A message of `bytes` bytes from `source` to `destination`, sent now.
  void add(std::uint64_t id, int source, int destination, double bytes) {
    const std::uint32_t k = take_slot(flows_, free_flows_);
    auto& f = flows_[k];
    f.id = id;
    f.source = source;
    f.destination = destination;
    f.latency_end = now_ + net_.latency;
    f.bytes_left = bytes;
    f.since = now_;
    f.rate = std::min(net_.send_rate, net_.receive_rate);
    f.edge = no_edge;
    f.live = true;
    ++f.version;
    ++live_;
    ensure_rank(std::max(source, destination));
    if (net_.model == sim::sharing::fair_share) {
      f.rate = 0;  // its share comes with the next update (which then queues its ETA)
      join_edge(k);
      return;
    }
    if (net_.model == sim::sharing::fair_share_after_latency) {
      f.rate = net_.send_rate;  // moves no bytes yet; its real rate comes when it joins its edge
      latency_ends_.push({f.latency_end, id, k, f.version});
    }
    push_eta(k);
  }

  /// Seconds until the earliest delivery (bringing rates up to date first); flows must not be
  /// empty.
  double next_eta() {
    update_rates();
    drop_stale();
    return std::max(0.0, etas_.top().at - now_);
  }

  /// Seconds until a message leaves its latency phase, when that changes rates (only under
  /// fair_share_after_latency); infinity otherwise.
  double next_rate_change() {
    while (!latency_ends_.empty() && !current(latency_ends_.top()))
      latency_ends_.pop();
    if (latency_ends_.empty()) return std::numeric_limits<double>::infinity();
    return std::max(0.0, latency_ends_.top().at - now_);
  }

  /// Lets `dt` seconds pass and removes the flows whose ETA was the earliest, `eta` (as
  /// next_eta() returned), in send order. Flows that finish within a relative 1e-12 of it finish
  /// with it, so rounding never splits one instant into two.
  std::vector<sim_flow> advance_and_take(double dt, double eta) {
    update_rates();
    std::vector<sim_flow> done;
    const double close = eta + 1e-12 * std::max(1.0, eta);
    while (true) {
      drop_stale();
      if (etas_.empty() || etas_.top().at - now_ > close) break;
      const std::uint32_t k = etas_.top().flow;
      etas_.pop();
      auto& f = flows_[k];
      done.push_back({f.id, f.source, f.destination});
      if (f.edge != no_edge) leave_edge(k);
      f.live = false;
      ++f.version;
      --live_;
      free_flows_.push_back(k);
    }
    std::sort(done.begin(), done.end(),
              [](const sim_flow& a, const sim_flow& b) { return a.id < b.id; });
    pass(dt);
    return done;
  }

  /// Lets `dt` seconds pass with no delivery (a timer fires first, or a latency phase ends).
  void advance(double dt) {
    update_rates();
    pass(dt);
  }

 private:
  static constexpr std::uint32_t no_edge = std::numeric_limits<std::uint32_t>::max();

  struct flow_state {
    std::uint64_t id = 0;
    int source = 0;
    int destination = 0;
    double latency_end = 0;  // when its bytes start to move
    double bytes_left = 0;   // as of `since`
    double since = 0;
    double rate = 0;  // bytes per second once (and while) they move
    std::uint32_t edge = no_edge;
    std::uint32_t version = 0;  // bumped whenever its ETA changes: older queue entries are stale
    bool live = false;
  };

  struct edge_state {
    int source = 0;
    int destination = 0;
    std::vector<std::uint32_t> flows;  // its messages
    std::size_t out_position = 0;      // in its source's out list
    std::size_t in_position = 0;       // in its destination's in list
    double rate = 0;                   // the edge's total rate
    bool dirty = false;                // its messages need their shares again
  };

  struct rank_state {
    std::vector<std::uint32_t> out;  // edges in use from this rank
    std::vector<std::uint32_t> in;   // edges in use into this rank
    bool source_dirty = false;       // its count of destinations changed
    bool column_dirty = false;       // an incoming edge came, went or changed its rate
  };

  struct event {
    double at;  // absolute time
    std::uint64_t id;
    std::uint32_t flow;
    std::uint32_t version;
    bool operator>(const event& o) const { return at != o.at ? at > o.at : id > o.id; }
  };

  using event_queue = std::priority_queue<event, std::vector<event>, std::greater<event>>;

  bool current(const event& e) const {
    const auto& f = flows_[e.flow];
    return f.live && f.version == e.version;
  }

  void drop_stale() {
    while (!etas_.empty() && !current(etas_.top()))
      etas_.pop();
  }

  void push_eta(std::uint32_t k) {
    const auto& f = flows_[k];
    etas_.push({std::max(f.since, f.latency_end) + f.bytes_left / f.rate, f.id, k, f.version});
  }

  // The flow's new rate from now on: its progress so far is booked at the old rate.
  void set_rate(std::uint32_t k, double rate) {
    auto& f = flows_[k];
    if (rate == f.rate) return;
    const double start = std::max(f.since, f.latency_end);
    if (now_ > start) f.bytes_left = std::max(0.0, f.bytes_left - f.rate * (now_ - start));
    f.since = now_;
    f.rate = rate;
    ++f.version;
    push_eta(k);
  }

  void ensure_rank(int r) {
    if (static_cast<std::size_t>(r) >= ranks_.size())
      ranks_.resize(static_cast<std::size_t>(r) + 1);
  }

  static std::uint64_t edge_key(int source, int destination) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(source)) << 32) |
           static_cast<std::uint32_t>(destination);
  }

  // The index of a free slot of `items`: one given back earlier, else a new one at the end.
  template <class Item>
  static std::uint32_t take_slot(std::vector<Item>& items, std::vector<std::uint32_t>& free) {
    if (free.empty()) {
      items.emplace_back();
      return static_cast<std::uint32_t>(items.size() - 1);
    }
    const std::uint32_t k = free.back();
    free.pop_back();
    return k;
  }

  // Flow k starts taking a share of its edge (creating the edge if it carried nothing).
  void join_edge(std::uint32_t k) {
    auto& f = flows_[k];
    const auto key = edge_key(f.source, f.destination);
    auto found = edge_of_.find(key);
    std::uint32_t e;
    if (found == edge_of_.end()) {
      e = take_slot(edges_, free_edges_);
      edge_of_.emplace(key, e);
      auto& ed = edges_[e];
      ed.source = f.source;
      ed.destination = f.destination;
      ed.flows.clear();
      ed.rate = 0;
      auto& src = ranks_[static_cast<std::size_t>(f.source)];
      auto& dst = ranks_[static_cast<std::size_t>(f.destination)];
      ed.out_position = src.out.size();
      src.out.push_back(e);
      ed.in_position = dst.in.size();
      dst.in.push_back(e);
      mark_source(f.source);
      mark_column(f.destination);
    } else {
      e = found->second;
    }
    edges_[e].flows.push_back(k);
    f.edge = e;
    mark_edge(e);
  }

  // Flow k stops taking a share (delivered); an edge left with no message goes.
  void leave_edge(std::uint32_t k) {
    auto& f = flows_[k];
    const std::uint32_t e = f.edge;
    auto& ed = edges_[e];
    auto& list = ed.flows;
    *std::find(list.begin(), list.end(), k) = list.back();
    list.pop_back();
    f.edge = no_edge;
    if (!list.empty()) {
      mark_edge(e);
      return;
    }
    auto& src = ranks_[static_cast<std::size_t>(ed.source)];
    auto& dst = ranks_[static_cast<std::size_t>(ed.destination)];
    edges_[src.out.back()].out_position = ed.out_position;
    src.out[ed.out_position] = src.out.back();
    src.out.pop_back();
    edges_[dst.in.back()].in_position = ed.in_position;
    dst.in[ed.in_position] = dst.in.back();
    dst.in.pop_back();
    mark_source(ed.source);
    mark_column(ed.destination);
    edge_of_.erase(edge_key(ed.source, ed.destination));
    free_edges_.push_back(e);
  }

  void mark_source(int r) {
    auto& rs = ranks_[static_cast<std::size_t>(r)];
    if (!rs.source_dirty) {
      rs.source_dirty = true;
      dirty_sources_.push_back(r);
    }
  }

  void mark_column(int r) {
    auto& rs = ranks_[static_cast<std::size_t>(r)];
    if (!rs.column_dirty) {
      rs.column_dirty = true;
      dirty_columns_.push_back(r);
    }
  }

  void mark_edge(std::uint32_t e) {
    if (!edges_[e].dirty) {
      edges_[e].dirty = true;
      dirty_edges_.push_back(e);
    }
  }

  // An edge's share of its source: the send rate split evenly over the source's destinations.
  double row_share(const edge_state& ed) const {
    return net_.send_rate /
           static_cast<double>(ranks_[static_cast<std::size_t>(ed.source)].out.size());
  }

  // Brings the rates of everything marked since the last call up to date: sources whose
  // destination count changed move every column they feed; each such column is scaled again and
  // its edges' messages get their shares; edges whose message count alone changed share again.
  void update_rates() {
    for (const int r : dirty_sources_) {
      auto& rs = ranks_[static_cast<std::size_t>(r)];
      rs.source_dirty = false;
      for (const std::uint32_t e : rs.out)
        mark_column(edges_[e].destination);
    }
    dirty_sources_.clear();
    for (const int r : dirty_columns_) {
      auto& rs = ranks_[static_cast<std::size_t>(r)];
      rs.column_dirty = false;
      double total = 0;
      for (const std::uint32_t e : rs.in)
        total += row_share(edges_[e]);
      const double scale = total > net_.receive_rate ? net_.receive_rate / total : 1.0;
      for (const std::uint32_t e : rs.in) {
        auto& ed = edges_[e];
        ed.rate = scale == 1.0 ? row_share(ed) : row_share(ed) * scale;
        mark_edge(e);
      }
    }
    dirty_columns_.clear();
    for (const std::uint32_t e : dirty_edges_) {
      auto& ed = edges_[e];
      ed.dirty = false;
      const double share = ed.rate / static_cast<double>(ed.flows.size());
      for (const std::uint32_t k : ed.flows)
        set_rate(k, share);
    }
    dirty_edges_.clear();
  }

  // Time moves on by dt. Under fair_share_after_latency, messages whose latency phase ends by
  // then join their edges (their shares come with the next update).
  void pass(double dt) {
    if (net_.model == sim::sharing::fair_share_after_latency) {
      while (true) {
        while (!latency_ends_.empty() && !current(latency_ends_.top()))
          latency_ends_.pop();
        if (latency_ends_.empty() || latency_ends_.top().at - now_ > dt) break;
        const std::uint32_t k = latency_ends_.top().flow;
        latency_ends_.pop();
        join_edge(k);
      }
    }
    now_ += dt;
  }

  sim::network net_;
  double now_ = 0;
  std::vector<flow_state> flows_;  // by slot; free slots are reused
  std::vector<std::uint32_t> free_flows_;
  std::size_t live_ = 0;
  event_queue etas_;          // absolute delivery times under the current rates
  event_queue latency_ends_;  // fair_share_after_latency: when messages join their edges
  std::vector<edge_state> edges_;
  std::vector<std::uint32_t> free_edges_;
  std::unordered_map<std::uint64_t, std::uint32_t> edge_of_;
  std::vector<rank_state> ranks_;
  std::vector<int> dirty_sources_;
  std::vector<int> dirty_columns_;
  std::vector<std::uint32_t> dirty_edges_;
};

}  // namespace symphony::detail
