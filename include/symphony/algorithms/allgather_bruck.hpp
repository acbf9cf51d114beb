// symphony/algorithms/allgather_bruck.hpp: allgather by Bruck's algorithm (Bruck et al., 1997).
//
// Every rank starts a block with its own entry. In round k = 0, 1, ... with distance d = 2^k it
// sends the first min(d, p - d) entries of its block to rank r - d and appends the same number
// received from rank r + d (mod p). The block of rank r always holds the entries of ranks
// r, r + 1, r + 2, ... in that order, doubling each round, so after ceil(log2 p) rounds it holds
// all p, for any p (unlike recursive doubling, which needs a power of two). Entries may differ in
// size: a block is a sequence of length-prefixed segments (detail/segments.hpp).
// Cost for p ranks and m bytes per entry: ceil(log2 p) rounds; every rank sends and receives
// (p - 1) m bytes, and copies each received byte once into its block. Best for short values;
// long ones want the ring (allgather_ring.hpp), which moves as many bytes but copies none and
// keeps every message between neighbours.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../detail/segments.hpp"
#include "schedule.hpp"

namespace symphony::algorithms {

/// What allgather_bruck needs besides the block, kept by a caller between calls so that repeated
/// calls allocate nothing once the vectors have grown.
struct bruck_scratch {
  std::vector<std::size_t> ends;          // ends[i]: where segment i ends in the block
  std::vector<detail::segment> received;  // the segments of one received message
};

/// `block` holds exactly this rank's entry as one segment; on return it holds all p segments:
/// segment i is the entry of rank (rank + i) % p. Its capacity is reused.
template <class Context>
void allgather_bruck(Context& ctx, std::vector<std::byte>& block, bruck_scratch& scratch,
                     algorithm_id id, std::uint32_t phase) {
  const int p = ctx.size();
  const int me = ctx.rank();
  auto& ends = scratch.ends;
  ends.assign(1, block.size());
  // Room for p entries of this rank's size: one allocation when all sizes are equal, instead of
  // the block moving (and faulting in fresh pages) as it doubles.
  block.reserve(block.size() * static_cast<std::size_t>(p));
  std::uint32_t round = 0;
  for (int d = 1; d < p; d <<= 1, ++round) {
    const int n = d < p - d ? d : p - d;
    const auto step = make_step(id, phase, round);
    ctx.send((me - d + p) % p, step, block.data(), ends[static_cast<std::size_t>(n) - 1]);
    const int from = (me + d) % p;
    const auto m = ctx.receive(from, step);
    if (!detail::split_segments(m.data(), m.size(), static_cast<std::size_t>(n), scratch.received))
      ctx.fail(from, "sent an allgather block that is not " + std::to_string(n) + " values");
    const std::size_t base = block.size();
    block.insert(block.end(), m.data(), m.data() + m.size());
    for (const auto& s : scratch.received)
      ends.push_back(base + s.end());
  }
}

/// The same, taking the block by value and returning it (allocates its bookkeeping per call).
template <class Context>
std::vector<std::byte> allgather_bruck(Context& ctx, std::vector<std::byte> block, algorithm_id id,
                                       std::uint32_t phase) {
  bruck_scratch scratch;
  allgather_bruck(ctx, block, scratch, id, phase);
  return block;
}

}  // namespace symphony::algorithms
