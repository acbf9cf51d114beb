// symphony/detail/mailbox.hpp: message matching.
//
// One process has one transport, shared by its world communicator and every communicator derived
// from it. Messages arrive in whatever order the network delivers them; the mailbox files each
// under its match key (communicator, operation sequence number, step or tag, source) and hands it
// out when a receive for that key is posted. A message that arrives early waits in the mailbox;
// several with the same key (point-to-point with one tag) come out in arrival order.
#pragma once

#include <cstdint>
#include <optional>
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

  template <class... Args>
  explicit mailbox(Args&&... transport_args) : transport_(std::forward<Args>(transport_args)...) {}

  Transport& transport() { return transport_; }

  /// The message for `key`, from the early arrivals or from the transport; nullopt if none came
  /// before `until`. Messages for other keys that arrive meanwhile are kept, after being shown to
  /// `inspect(header)`, which may throw to report one that cannot belong to a correct program.
  template <class Inspect>
  std::optional<message> receive(const match_key& key, deadline until, Inspect&& inspect) {
    for (auto it = early_.begin(); it != early_.end(); ++it)
      if (same(it->first, key)) {  // the first is the earliest: per key, in arrival order
        std::optional<message> m(std::move(it->second));
        early_.erase(it);
        return m;
      }
    while (auto m = transport_.receive(until)) {
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

  /// Number of messages waiting for a receive (for tests and diagnostics).
  std::size_t early_count() const {
    return early_.size();
  }

 private:
  static bool same(const match_key& a, const match_key& b) { return !(a < b) && !(b < a); }

  Transport transport_;
  // Early messages in arrival order. A vector, searched linearly, keeps its capacity between
  // calls (a map allocates a node per message): few messages wait at once, about log2 p per
  // collective.
  std::vector<std::pair<match_key, message>> early_;
};

}  // namespace symphony::detail
