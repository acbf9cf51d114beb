// symphony/detail/sim_engine.hpp: the virtual clock of a simulated job.
//
// Every rank is a thread, but only one runs at a time: the one holding the baton. A rank keeps
// the baton until it blocks (a receive with nothing in its inbox, a pending sim::compute, or its
// end) and then hands it to the next rank in the ready queue. When the queue is empty every live
// rank is blocked, and only then does virtual time advance, to the earliest delivery or timer;
// whatever that wakes joins the queue in a fixed order (send sequence, then timer sequence). So
// real computation costs no virtual time, and the same program gives the same times, the same
// message order and the same results on every run, however the OS schedules the threads.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../transport/thread_transport.hpp"
#include "../transport/transport.hpp"
#include "sim_network.hpp"
#include "wire.hpp"

namespace symphony::detail {

/// A delivered message: the header and the payload bytes that were really sent (a message sent
/// with a larger size on the wire, see sim_engine::send, still carries only these). The same as
/// the in-process transport's.
using sim_message = thread_hub::message;

class sim_engine {
 public:
  sim_engine(int ranks, const sim::network& net)
      : net_(net), flows_(net), ranks_(static_cast<std::size_t>(ranks)) {
    net_.validate();
    for (int r = 0; r < ranks; ++r)
      ready_.push_back(r);
  }

  int size() const { return static_cast<int>(ranks_.size()); }
  const sim::network& network() const { return net_; }

  /// Called by rank `me`'s thread before it does anything: waits for its first turn.
  void start(int me) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!started_) {  // the first thread to arrive hands out the first turn
      started_ = true;
      pass_baton(lock, -1);
    }
    wait_turn(lock, me, deadline::max());
  }

  /// Virtual seconds `me` has computed but not yet spent (sim::compute).
  void add_debt(int me, double seconds) { slot(me).debt += seconds; }

  /// This rank's clock: the engine's time plus what it has computed since it last blocked.
  double now(int me) const { return now_ + ranks_[static_cast<std::size_t>(me)].debt; }

  /// Sends `size` bytes as a message of `wire_bytes` bytes on the network (a message to oneself
  /// arrives at once). Spends `me`'s computed time first, as a real rank would compute before
  /// sending.
  void send(int me, int to, const detail::header& h, const std::byte* data, std::size_t size,
            double wire_bytes) {
    settle(me);
    std::unique_lock<std::mutex> lock(mutex_);
    throw_if_failed();
    sim_message m{h, std::vector<std::byte>(data, data + size), nullptr};  // no buffer pool
    ++messages_;
    bytes_ += wire_bytes;
    if (to == me) {
      slot(me).inbox.push_back(std::move(m));
      return;
    }
    const std::uint64_t id = next_id_++;
    flows_.add(id, me, to, wire_bytes);
    in_flight_.emplace(id, pending{std::move(m), to, false});
    if (net_.in_order) edge_queue_[edge_key(me, to)].push_back(id);
  }

  /// The next message delivered to `me` (blocking in virtual time); nullopt when the real-time
  /// deadline passes first (another rank computes forever). Throws symphony::error when the job
  /// failed or deadlocked meanwhile.
  std::optional<sim_message> receive(int me, deadline until) {
    settle(me);
    std::unique_lock<std::mutex> lock(mutex_);
    throw_if_failed();
    auto& s = slot(me);
    if (s.inbox.empty()) {
      s.st = state::waiting;
      pass_baton(lock, me);
      if (!wait_turn(lock, me, until)) return std::nullopt;
    }
    sim_message m = std::move(s.inbox.front());
    s.inbox.pop_front();
    return m;
  }

  /// Rank `me` has returned from its function: spends its computed time, records when it ended,
  /// and hands the baton on for good.
  void finish(int me) {
    settle(me);
    std::unique_lock<std::mutex> lock(mutex_);
    auto& s = slot(me);
    s.st = state::done;
    s.finished_at = now_;
    pass_baton(lock, me);
  }

  /// Rank `me` failed with `what`: every rank still blocked stops with an error naming it.
  void fail(int me, const std::string& what) {
    std::unique_lock<std::mutex> lock(mutex_);
    auto& s = slot(me);
    s.st = state::done;
    s.finished_at = now_;
    if (failure_.empty())
      failure_ =
          "rank " + std::to_string(me) + " failed at virtual time " + seconds(now_) + ": " + what;
    wake_all();
  }

  double finished_at(int me) const { return ranks_[static_cast<std::size_t>(me)].finished_at; }
  std::uint64_t messages() const { return messages_; }
  double bytes() const { return bytes_; }
  const std::string& failure() const { return failure_; }

 private:
  enum class state { ready, waiting, sleeping, done };

  struct rank_slot {
    std::condition_variable turn;
    bool has_baton = false;
    state st = state::ready;
    std::deque<sim_message> inbox;  // delivered, not yet received
    double debt = 0;                // computed virtual seconds not yet spent
    double finished_at = 0;
  };

  struct timer {
    double at;
    std::uint64_t sequence;
    int rank;
    bool operator>(const timer& o) const { return at != o.at ? at > o.at : sequence > o.sequence; }
  };

  rank_slot& slot(int r) { return ranks_[static_cast<std::size_t>(r)]; }

  // Spends the rank's computed time: it sleeps (in virtual time) until its clock catches up.
  void settle(int me) {
    auto& s = slot(me);
    if (s.debt <= 0) return;
    std::unique_lock<std::mutex> lock(mutex_);
    throw_if_failed();
    timers_.push({now_ + s.debt, timer_sequence_++, me});
    s.debt = 0;
    s.st = state::sleeping;
    pass_baton(lock, me);
    wait_turn(lock, me, deadline::max());
  }

  // Gives the baton to the next ready rank, advancing virtual time until one is ready. `me`
  // (-1: nobody) is the rank giving it up; if it is next itself, it simply keeps it.
  void pass_baton(std::unique_lock<std::mutex>& /*held*/, int me) {
    if (me >= 0) slot(me).has_baton = false;
    while (ready_.empty() && failure_.empty())
      if (!advance()) return;
    if (!failure_.empty()) return;
    const int next = ready_.front();
    ready_.pop_front();
    auto& n = slot(next);
    n.st = state::ready;
    n.has_baton = true;
    if (next != me) n.turn.notify_one();
  }

  // Waits until `me` holds the baton. False if `until` passes first.
  bool wait_turn(std::unique_lock<std::mutex>& lock, int me, deadline until) {
    auto& s = slot(me);
    const auto ready = [&] { return s.has_baton || !failure_.empty(); };
    if (until == deadline::max())
      s.turn.wait(lock, ready);
    else if (!s.turn.wait_until(lock, until, ready))
      return false;
    throw_if_failed();
    return true;
  }

  // Moves virtual time to the next event and wakes whom it concerns. False when there is no
  // event: every rank has finished, or the live ones wait for messages that will never come.
  bool advance() {
    const double inf = std::numeric_limits<double>::infinity();
    const double eta = flows_.empty() ? inf : flows_.next_eta();
    const double change = flows_.empty() ? inf : flows_.next_rate_change();
    const double timer_at = timers_.empty() ? inf : timers_.top().at;
    if (change < eta && now_ + change < timer_at) {  // only rates change: nobody wakes
      flows_.advance(change);
      now_ += change;
      return true;
    }
    if (eta == inf && timer_at == inf) {
      std::string waiting;
      for (int r = 0; r < size(); ++r)
        if (slot(r).st == state::waiting)
          waiting += (waiting.empty() ? "" : ", ") + std::to_string(r);
      if (!waiting.empty()) {
        failure_ = "deadlock at virtual time " + seconds(now_) + ": rank(s) " + waiting +
                   " wait for a message and none is in flight or can be sent";
        wake_all();
      }
      return false;
    }
    if (now_ + eta <= timer_at) {
      for (auto& f : flows_.advance_and_take(eta, eta)) {
        if (!net_.in_order) {
          deliver(f.id);
          continue;
        }
        // A message that overtook an earlier one on its edge (a smaller one sharing the rate)
        // waits for it: transports keep each sender's messages to one receiver in order.
        in_flight_.find(f.id)->second.arrived = true;
        const auto key = edge_key(f.source, f.destination);
        auto& queue = edge_queue_[key];
        while (!queue.empty() && in_flight_.find(queue.front())->second.arrived) {
          deliver(queue.front());
          queue.pop_front();
        }
        if (queue.empty()) edge_queue_.erase(key);
      }
      now_ += eta;
    } else {
      flows_.advance(timer_at - now_);
      now_ = timer_at;
    }
    while (!timers_.empty() && timers_.top().at <= now_) {
      const int r = timers_.top().rank;
      timers_.pop();
      slot(r).st = state::ready;
      ready_.push_back(r);
    }
    return true;
  }

  std::uint64_t edge_key(int from, int to) const {
    return static_cast<std::uint64_t>(from) * ranks_.size() + static_cast<std::uint64_t>(to);
  }

  // Puts in-flight message `id` into its destination's inbox, waking the destination if it waits.
  void deliver(std::uint64_t id) {
    auto found = in_flight_.find(id);
    const int to = found->second.destination;
    auto& d = slot(to);
    d.inbox.push_back(std::move(found->second.message));
    in_flight_.erase(found);
    if (d.st == state::waiting) {
      d.st = state::ready;
      ready_.push_back(to);
    }
  }

  void wake_all() {
    for (auto& s : ranks_)
      s.turn.notify_all();
  }

  void throw_if_failed() const {
    if (!failure_.empty()) throw error("symphony::sim: stopped: " + failure_);
  }

  static std::string seconds(double t) { return std::to_string(t) + " s"; }

  sim::network net_;
  sim_flows flows_;
  std::vector<rank_slot> ranks_;
  std::mutex mutex_;
  bool started_ = false;
  double now_ = 0;
  std::deque<int> ready_;
  std::priority_queue<timer, std::vector<timer>, std::greater<timer>> timers_;
  std::uint64_t timer_sequence_ = 0;
  std::uint64_t next_id_ = 0;
  struct pending {
    sim_message message;
    int destination;
    bool arrived;  // its bytes are in, but an earlier message on its edge is not yet
  };
  std::unordered_map<std::uint64_t, pending> in_flight_;
  std::unordered_map<std::uint64_t, std::deque<std::uint64_t>> edge_queue_;  // ids in send order
  std::uint64_t messages_ = 0;
  double bytes_ = 0;
  std::string failure_;
};

}  // namespace symphony::detail
