// symphony/detail/sim_engine.hpp: the virtual clock of a simulated job.
//
// Every rank is a fiber (detail/fiber.hpp) of the thread that called sim::run, so only one runs
// at a time: the one holding the turn. A rank keeps the turn until it blocks (a receive with
// nothing in its inbox, a pending sim::compute, or its end) and then switches straight to the
// next rank in the ready queue. When the queue is empty every live rank is blocked, and only
// then does virtual time advance, to the earliest delivery or timer; whatever that wakes joins
// the queue in a fixed order (send sequence, then timer sequence). So real computation costs no
// virtual time, and the same program gives the same times, the same message order and the same
// results on every run.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <queue>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../transport/thread_transport.hpp"
#include "../transport/transport.hpp"
#include "fiber.hpp"
#include "sim_network.hpp"
#include "wire.hpp"

namespace symphony::detail {

/// A delivered message: the header and the payload bytes that were really sent (a message sent
/// with a larger size on the wire, see sim_engine::send, still carries only these). The same as
/// the in-process transport's.
using sim_message = thread_hub::message;

class sim_engine {
 public:
  /// `ranks` ranks on `net`, each to run on a fiber with a stack of `stack_bytes`.
  sim_engine(int ranks, const sim::network& net,
             std::size_t stack_bytes = fiber::default_stack_bytes)
      : net_(net), flows_(net), ranks_(static_cast<std::size_t>(ranks)), stack_bytes_(stack_bytes) {
    net_.validate();
    for (int r = 0; r < ranks; ++r)
      ready_.push_back(r);
  }

  int size() const { return static_cast<int>(ranks_.size()); }
  const sim::network& network() const { return net_; }

  /// The rank whose fiber is running (-1: none, the engine itself or another caller).
  int running() const { return running_; }

  /// Runs `body(rank)` for every rank, each on a fiber of the calling thread, one at a time, and
  /// returns when every body has returned. `body` must not throw: it reports a rank's exception
  /// with fail(). Throws std::system_error when the fibers' stacks cannot be mapped.
  void run(const std::function<void(int)>& body) {
    fiber here;  // this thread's context, to come back to
    fibers_.clear();
    fibers_.reserve(ranks_.size());
    for (int r = 0; r < size(); ++r) {
      try {
        fibers_.push_back(
            std::make_unique<fiber>(stack_bytes_, [this, r, &body, &here]() -> fiber& {
              running_ = r;
              body(r);
              const int next = next_rank();
              running_ = next;
              return next < 0 ? here : *fibers_[static_cast<std::size_t>(next)];
            }));
      } catch (const std::system_error& e) {
        fibers_.clear();  // none has started: nothing to unwind
        throw std::system_error(
            e.code(), "symphony::sim: no stack for rank " + std::to_string(r) + " of " +
                          std::to_string(size()) + " (" + std::to_string(stack_bytes_) +
                          " bytes each; each stack is two memory mappings, and Linux's "
                          "vm.max_map_count, 65530 by default, allows about 32000 ranks)");
      }
    }
    const int first = next_rank();
    if (first >= 0) switch_fiber(here, *fibers_[static_cast<std::size_t>(first)]);
    running_ = -1;
    for (const auto& f : fibers_)
      if (!f->finished())  // cannot happen: a blocked rank always has someone to wake it
        throw std::logic_error("symphony::sim: the engine stopped with a rank still blocked");
    fibers_.clear();
  }

  /// Called by rank `me` before it does anything: throws symphony::error when the job has
  /// already failed (the rank then never runs its function).
  void start(int /*me*/) { throw_if_failed(); }

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
  /// deadline `until` has passed by the time the engine next switches ranks (ranks take turns
  /// on one thread, so a rank that computes forever cannot be interrupted: the deadline only
  /// bounds how long `me` waits while the others run). Throws symphony::error when the job
  /// failed or deadlocked meanwhile.
  std::optional<sim_message> receive(int me, deadline until) {
    settle(me);
    throw_if_failed();
    auto& s = slot(me);
    if (s.inbox.empty()) {
      s.st = state::waiting;
      if (until != deadline::max()) deadlines_.push({until, me, ++s.waits});
      block(me);
      if (s.inbox.empty()) return std::nullopt;  // its deadline passed
    }
    sim_message m = std::move(s.inbox.front());
    s.inbox.pop_front();
    return m;
  }

  /// Rank `me` has returned from its function: spends its computed time and records when it
  /// ended. Its fiber then hands the turn on for good.
  void finish(int me) {
    settle(me);
    auto& s = slot(me);
    s.st = state::done;
    s.finished_at = now_;
  }

  /// Rank `me` failed with `what`: every rank still blocked stops with an error naming it (each
  /// gets its turn and throws, so that its stack unwinds).
  void fail(int me, const std::string& what) {
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
  // queued: in ready_; running: has the turn; waiting: for a message; sleeping: on a timer.
  enum class state { queued, running, waiting, sleeping, done };

  struct rank_slot {
    state st = state::queued;
    std::deque<sim_message> inbox;  // delivered, not yet received
    double debt = 0;                // computed virtual seconds not yet spent
    double finished_at = 0;
    std::uint64_t waits = 0;  // counts receives that blocked with a deadline
  };

  struct timer {
    double at;
    std::uint64_t sequence;
    int rank;
    bool operator>(const timer& o) const { return at != o.at ? at > o.at : sequence > o.sequence; }
  };

  struct real_deadline {
    deadline at;
    int rank;
    std::uint64_t wait;  // rank_slot::waits when it began: stale once the rank moved on
    bool operator>(const real_deadline& o) const { return at > o.at; }
  };

  rank_slot& slot(int r) { return ranks_[static_cast<std::size_t>(r)]; }

  // Spends the rank's computed time: it sleeps (in virtual time) until its clock catches up.
  void settle(int me) {
    auto& s = slot(me);
    if (s.debt <= 0) return;
    throw_if_failed();
    timers_.push({now_ + s.debt, timer_sequence_++, me});
    s.debt = 0;
    s.st = state::sleeping;
    block(me);
  }

  // `me` (waiting or sleeping) gives up the turn until something wakes it; throws if the job
  // failed meanwhile. If it is the next to run itself, it simply goes on.
  void block(int me) {
    const int next = next_rank();
    if (next != me) {
      // next < 0 cannot happen while `me` is blocked: advance() either wakes someone or, finding
      // nothing to wait for, declares a deadlock and wakes every blocked rank, `me` included.
      if (next < 0) throw std::logic_error("symphony::sim: no rank to run while one is blocked");
      running_ = next;
      switch_fiber(*fibers_[static_cast<std::size_t>(me)],
                   *fibers_[static_cast<std::size_t>(next)]);
      running_ = me;
    }
    throw_if_failed();
  }

  // Takes the next rank to run off the ready queue, advancing virtual time until one is ready;
  // -1 when there is none (every rank has finished, or the run failed and every rank has
  // unwound).
  int next_rank() {
    if (!deadlines_.empty()) expire_deadlines();
    while (ready_.empty() && failure_.empty())
      if (!advance()) break;
    if (ready_.empty()) return -1;
    const int next = ready_.front();
    ready_.pop_front();
    slot(next).st = state::running;
    return next;
  }

  // Wakes the waiting ranks whose real-time deadline has passed (their receive returns nothing).
  void expire_deadlines() {
    const auto now = clock::now();
    while (!deadlines_.empty() && deadlines_.top().at <= now) {
      const auto d = deadlines_.top();
      deadlines_.pop();
      auto& s = slot(d.rank);
      if (s.st == state::waiting && s.waits == d.wait && s.inbox.empty()) {
        s.st = state::queued;
        ready_.push_back(d.rank);
      }
    }
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
      slot(r).st = state::queued;
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
      d.st = state::queued;
      ready_.push_back(to);
    }
  }

  // After a failure: every blocked rank gets a turn, in which it throws.
  void wake_all() {
    for (int r = 0; r < size(); ++r) {
      auto& s = slot(r);
      if (s.st == state::waiting || s.st == state::sleeping) {
        s.st = state::queued;
        ready_.push_back(r);
      }
    }
  }

  void throw_if_failed() const {
    if (!failure_.empty()) throw error("symphony::sim: stopped: " + failure_);
  }

  static std::string seconds(double t) { return std::to_string(t) + " s"; }

  sim::network net_;
  sim_flows flows_;
  std::vector<rank_slot> ranks_;
  std::size_t stack_bytes_;
  std::vector<std::unique_ptr<fiber>> fibers_;  // one per rank, during run()
  int running_ = -1;
  double now_ = 0;
  std::deque<int> ready_;
  std::priority_queue<timer, std::vector<timer>, std::greater<timer>> timers_;
  std::priority_queue<real_deadline, std::vector<real_deadline>, std::greater<real_deadline>>
      deadlines_;
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
