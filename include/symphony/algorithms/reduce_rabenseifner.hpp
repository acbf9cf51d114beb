// symphony/algorithms/reduce_rabenseifner.hpp: reduce of a long vector as a reduce-scatter by
// recursive halving followed by a gather to the root (Rabenseifner, 1997).
//
// The vector is cut into p' = power_of_two_floor(p) nearly equal blocks; recursive halving
// (reduce_scatter_halving.hpp) leaves each virtual rank with one block reduced over all ranks.
// The gather retraces the halving rounds backwards: in each, of every pair of partners still
// holding data, the one on the root's side of that round's bit receives everything the other
// holds (the adjacent blocks) and the other is done, so the held range doubles towards the root.
// When the root was folded away (p not a power of two), its partner sends it the result.
// Combining follows rank order, but the blocking needs an element-wise operator: the communicator
// uses it for vectors of arithmetic elements with a built-in operator.
// Cost for p ranks and m bytes: 2 log2 p' rounds (+1 or +2 when p is not a power of two); each
// virtual rank sends m (p' - 1) / p' bytes in the reduce-scatter and at most that again in the
// gather; the root receives 2m (p' - 1) / p' in all (m more when it is one of the folded pairs),
// against m ceil(log2 p) for the binomial tree.
#pragma once

#include <cstdint>
#include <vector>

#include "reduce_scatter_halving.hpp"
#include "schedule.hpp"

namespace symphony::algorithms {

/// Leaves the root's `buffer` (an element_buffer) holding the reduction of all ranks' buffers;
/// the other ranks' buffers are left partly reduced (meaningless). `offsets` is scratch
/// (overwritten): a caller that keeps it between calls allocates nothing.
template <class Context, class Buffer>
void reduce_rabenseifner(Context& ctx, Buffer& buffer, int root,
                         std::vector<std::size_t>& offsets) {
  constexpr auto id = algorithm_id::rabenseifner;
  const int me = ctx.rank();
  const folding fold(ctx.size());
  const int slots = fold.virtual_size();
  offsets.resize(static_cast<std::size_t>(slots) + 1);
  for (int s = 0; s < slots; ++s)
    offsets[static_cast<std::size_t>(s)] =
        block_of(buffer.size(), static_cast<std::size_t>(slots), static_cast<std::size_t>(s)).first;
  offsets.back() = buffer.size();
  const auto check = [&](const std::string& problem, int from) {
    if (!problem.empty()) ctx.fail(from, problem);
  };
  const int root_v = fold.stands_for(root);  // the virtual rank that gathers the result
  const int gatherer = fold.real_rank(root_v);

  const halving_result held = reduce_scatter_halving(ctx, buffer, offsets, id);
  if (held.virtual_rank >= 0) {
    const int v = held.virtual_rank;
    int lo = held.slot;
    int hi = held.slot + 1;
    for (int k = ceil_log2(slots) - 1; k >= 0; --k) {
      const int mask = 1 << k;
      const auto step = make_step(id, 2, static_cast<std::uint32_t>(k));
      const int partner = fold.real_rank(v ^ mask);
      if (((v ^ root_v) & mask) != 0) {  // on the far side of this bit: hand over, done
        const auto bytes = buffer.pack(
            offsets[static_cast<std::size_t>(lo)],
            offsets[static_cast<std::size_t>(hi)] - offsets[static_cast<std::size_t>(lo)]);
        ctx.send(partner, step, bytes.data(), bytes.size());
        break;
      }
      const int width = hi - lo;
      const int other_lo = (v & mask) ? lo - width : hi;
      const auto first = offsets[static_cast<std::size_t>(other_lo)];
      const auto count = offsets[static_cast<std::size_t>(other_lo + width)] - first;
      const auto m = ctx.receive(partner, step);
      check(buffer.assign(first, count, m.data(), m.size()), partner);
      lo = (v & mask) ? other_lo : lo;
      hi = lo + 2 * width;
    }
    if (me == gatherer && gatherer != root) {
      const auto bytes = buffer.pack(0, buffer.size());
      ctx.send(root, make_step(id, 3, 0), bytes.data(), bytes.size());
    }
  }
  if (me == root && gatherer != root) {
    const auto m = ctx.receive(gatherer, make_step(id, 3, 0));
    check(buffer.assign(0, buffer.size(), m.data(), m.size()), gatherer);
  }
}

/// The same with a table of block offsets of its own (one allocation per call).
template <class Context, class Buffer>
void reduce_rabenseifner(Context& ctx, Buffer& buffer, int root) {
  std::vector<std::size_t> offsets;
  reduce_rabenseifner(ctx, buffer, root, offsets);
}

}  // namespace symphony::algorithms
