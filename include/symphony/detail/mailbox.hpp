// symphony/detail/mailbox.hpp: message matching.
//
// One process has one transport, shared by its world communicator and every communicator derived
// from it. Messages arrive in whatever order the network delivers them; the mailbox files each
// under its match key (communicator, operation sequence number, step or tag, source) and hands it
// out when a receive for that key is posted. A message that arrives early waits in the mailbox;
// several with the same key (point-to-point with one tag) come out in arrival order.
//
// Every message carries its job's stamp (wire.hpp). One whose stamp is not this job's comes from
// another job (a stale process of an earlier job, a new job on a reused port): it is dropped,
// never delivered, and reported once per foreign stamp on stderr, naming the rank it claims to
// come from and both stamps. Not an exception: the stranger is not this job's fault, and the
// job's own messages keep flowing.
#pragma once

#include <cstdint>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../transport/transport.hpp"
#include "wire.hpp"

namespace symphony::detail {

/// What a receive waits for. Collectives match on (communicator, sequence, step, source);
/// point-to-point messages on (communicator, tag, source) with sequence 0.
struct match_key {
  std::uint64_t communicator = 0;
  bool point_to_point = false;
  std::uint64_t sequence = 0;
  std::int64_t step_or_tag = 0;
  std::uint32_t source = 0;

  static match_key of(const header& h) {
    const bool p2p = h.kind == operation::point_to_point;
    return {h.communicator, p2p, p2p ? 0 : h.sequence,
            p2p ? h.tag : static_cast<std::int64_t>(h.step), h.source};
  }
  friend bool operator<(const match_key& a, const match_key& b) {
    return std::tie(a.communicator, a.point_to_point, a.sequence, a.step_or_tag, a.source) <
           std::tie(b.communicator, b.point_to_point, b.sequence, b.step_or_tag, b.source);
  }
};

template <class Transport>
class mailbox {
 public:
  using message = typename Transport::message;

  /// `stamp`: this job's stamp (detail::job_stamp), which every message must carry.
  template <class... Args>
  explicit mailbox(std::uint32_t stamp, Args&&... transport_args)
      : transport_(std::forward<Args>(transport_args)...), stamp_(stamp) {}

  Transport& transport() { return transport_; }
  std::uint32_t stamp() const { return stamp_; }
  /// Sets the stamp once it is known (after the address exchange, before any message moves).
  void restamp(std::uint32_t stamp) { stamp_ = stamp; }

  /// Messages of other jobs dropped so far (for tests and diagnostics).
  std::size_t foreign_count() const { return foreign_; }

  /// The message for `key`, from the early arrivals or from the transport; nullopt if none came
  /// before `until`. Messages for other keys that arrive meanwhile are kept, after being shown to
  /// `inspect(header)`, which may throw to report one that cannot belong to a correct program.
  /// Probes (step detail::probe_step) are shown to `inspect` and dropped.
  template <class Inspect>
  std::optional<message> receive(const match_key& key, deadline until, Inspect&& inspect) {
    for (auto it = early_.begin(); it != early_.end(); ++it)
      if (same(it->first, key)) {  // the first is the earliest: per key, in arrival order
        std::optional<message> m(std::move(it->second));
        early_.erase(it);
        return m;
      }
    while (auto m = transport_.receive(until)) {
      if (m->header().job != stamp_) {
        reject_foreign(m->header());
        continue;
      }
      if (m->header().kind != operation::point_to_point)
        latest_[{m->header().communicator, m->header().source}] = m->header();
      if (m->header().step == probe_step) {  // a peer's "I wait in this call": check, drop
        if (m->header().kind != operation::point_to_point) inspect(m->header());
        continue;
      }
      const match_key arrived = match_key::of(m->header());
      if (same(arrived, key)) return m;
      inspect(m->header());
      early_.emplace_back(arrived, std::move(*m));
    }
    return std::nullopt;
  }

  /// Calls fn(header) for every early message of collective `sequence` on `communicator`.
  template <class Fn>
  void for_each_early(std::uint64_t communicator, std::uint64_t sequence, Fn&& fn) const {
    for (const auto& [key, m] : early_)
      if (key.communicator == communicator && !key.point_to_point && key.sequence == sequence)
        fn(m.header());
  }

  /// True when a message for `key` has arrived and waits for its receive.
  bool has(const match_key& key) const {
    for (const auto& entry : early_)
      if (same(entry.first, key)) return true;
    return false;
  }

  /// The header of the last collective message that arrived from world rank `source` on
  /// `communicator` (nullptr if none). Messages from one sender arrive in the order it sent them,
  /// so a rank waiting for a message of call s from `source` that has already seen one of a later
  /// call from it (and none of call s waiting) will never get it.
  const header* latest_from(std::uint64_t communicator, std::uint32_t source) const {
    const auto found = latest_.find({communicator, source});
    return found == latest_.end() ? nullptr : &found->second;
  }

  /// Calls fn(header) for every early message of a collective on `communicator` numbered below
  /// `sequence`: calls this rank has finished, so in a correct program there are none.
  template <class Fn>
  void for_each_stale(std::uint64_t communicator, std::uint64_t sequence, Fn&& fn) const {
    for (const auto& [key, m] : early_)
      if (key.communicator == communicator && !key.point_to_point && key.sequence < sequence)
        fn(m.header());
  }

  /// Number of messages waiting for a receive (for tests and diagnostics).
  std::size_t early_count() const { return early_.size(); }

 private:
  void reject_foreign(const header& h) {
    ++foreign_;
    if (!warned_.insert(h.job).second) return;
    std::cerr << "symphony: rank " << transport_.rank() << " dropped a " << operation_name(h.kind)
              << " message claiming to come from rank " << h.source << " with job stamp " << h.job
              << " (this job's is " << stamp_
              << "): a process of another job (a stale one, or a reused port) is sending here; "
                 "its messages are never delivered, and this is reported once\n";
  }

  static bool same(const match_key& a, const match_key& b) { return !(a < b) && !(b < a); }

  Transport transport_;
  std::uint32_t stamp_;
  // Early messages in arrival order. A vector, searched linearly, keeps its capacity between
  // calls (a map allocates a node per message): few messages wait at once, about log2 p per
  // collective.
  std::vector<std::pair<match_key, message>> early_;
  std::map<std::pair<std::uint64_t, std::uint32_t>, header> latest_;  // see latest_from
  std::set<std::uint32_t> warned_;  // foreign stamps already reported
  std::size_t foreign_ = 0;
};

}  // namespace symphony::detail
