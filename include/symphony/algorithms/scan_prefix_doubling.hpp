// symphony/algorithms/scan_prefix_doubling.hpp: inclusive and exclusive prefix reductions by
// recursive doubling of the distance (Hillis and Steele, 1986).
//
// In round k = 0, 1, ... every rank r sends its partial result, the reduction of ranks
// [r - 2^k + 1, r] (clipped at 0), to rank r + 2^k and receives rank r - 2^k's, which covers the
// ranks just before its own, and puts it in front: after ceil(log2 p) rounds rank r holds
// x0 op x1 op ... op xr. The exclusive result is built alongside from the received parts only.
// Every combination puts the lower ranks first: the operator need not be commutative.
// Cost for p ranks and m bytes: ceil(log2 p) rounds, floor(log2 p) message latencies deep (in the
// last round only ranks that never waited send); in round k the ranks r < p - 2^k send m bytes,
// and every rank computes at most one combination per round (two for exscan).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "../detail/serialization.hpp"
#include "context.hpp"
#include "schedule.hpp"

namespace symphony::algorithms {

/// What a prefix scan needs besides its value, kept by the caller across calls so that repeated
/// same-size scans of vectors allocate nothing but their result: the decoded incoming partial,
/// (exscan) the exclusive part and its next version, and the caller's working value.
template <class T>
struct prefix_scratch {
  T incoming{};
  T before{};
  T earlier{};
  T current{};
};

/// `value` holds this rank's value x_rank and is the working partial. Inclusive (`exclusive`
/// false): on return `value` is x0 op ... op x_rank; returns true. Exclusive: returns whether
/// this rank has an exclusive prefix (false on rank 0) and, if so, leaves x0 op ... op x_(rank-1)
/// in `scratch.before`; `value` is then clobbered. `combine(acc, later, from)` sets
/// acc = acc op later; acc is always the value that came from `from`, a lower rank.
template <class Context, class T, class Combine>
bool scan_prefix_doubling(Context& ctx, T& value, Combine&& combine, bool exclusive,
                          prefix_scratch<T>& scratch) {
  constexpr auto id = algorithm_id::prefix_doubling;
  const int p = ctx.size();
  const int me = ctx.rank();
  bool have_before = false;  // scratch.before holds the reduction of the ranks received from
  T& incoming = scratch.incoming;
  std::uint32_t round = 0;
  for (int d = 1; d < p; d <<= 1, ++round) {
    if (me + d < p) {
      const auto bytes = detail::encode_value(value);
      ctx.send(me + d, make_step(id, 0, round), bytes.data(), bytes.size());
    }
    if (me - d < 0) continue;
    const auto m = ctx.receive(me - d, make_step(id, 0, round));
    decode_from(ctx, m, me - d, incoming);
    // The inclusive partial is needed as the result (scan) or for a later send.
    const bool inclusive_needed = !exclusive || me + 2 * d < p;
    if (exclusive) {
      // The received partial goes in front of the exclusive part. When the inclusive partial
      // needs it too, work on a copy (into kept storage); otherwise on `incoming` itself.
      T* front = &incoming;
      if (inclusive_needed) {
        scratch.earlier = incoming;
        front = &scratch.earlier;
      }
      if (have_before) combine(*front, scratch.before, me - d);
      std::swap(scratch.before, *front);
      have_before = true;
    }
    if (inclusive_needed) {
      combine(incoming, value, me - d);
      std::swap(value, incoming);
    }
  }
  return exclusive ? have_before : true;
}

/// Returns x0 op ... op x_rank (inclusive) or, with `exclusive`, x0 op ... op x_(rank-1)
/// (nullopt on rank 0), with scratch of its own (allocates for vectors).
template <class Context, class T, class Combine>
std::optional<T> scan_prefix_doubling(Context& ctx, T value, Combine&& combine, bool exclusive) {
  prefix_scratch<T> scratch;
  if (!scan_prefix_doubling(ctx, value, std::forward<Combine>(combine), exclusive, scratch))
    return std::nullopt;
  return exclusive ? std::move(scratch.before) : std::move(value);
}

}  // namespace symphony::algorithms
