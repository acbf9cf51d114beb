// symphony/algorithms/schedule.hpp: the arithmetic the collective algorithms share.
//
// - Step numbers. Every message of one collective call carries a 32-bit step (detail/wire.hpp)
//   that the receiver matches on. Algorithms build it as algorithm id (8 bits) | phase (4 bits) |
//   round (20 bits), so two phases of one algorithm never collide, and a message of another
//   algorithm than the receiver's own is recognizable: ranks that chose different algorithms for
//   the same call (different thresholds, different vector lengths) get a protocol_error naming
//   both instead of waiting for a message that never comes. The binomial-tree algorithms predate
//   this and use steps 0 and 1, which is algorithm id 0.
// - Blocks: how n elements are cut into p nearly equal contiguous blocks.
// - Folding p ranks onto the largest power of two p' <= p (the "fix-up" of recursive doubling and
//   halving for other rank counts): the first 2(p - p') ranks pair up, even with odd; the even
//   rank hands its value to the odd one and sits out, and the p' ranks left are renumbered
//   0 .. p' - 1 in rank order. Because every virtual rank stands for one or two consecutive ranks,
//   combining in virtual-rank order is combining in rank order: non-commutative operators stay
//   correct.
#pragma once

#include <cstddef>
#include <cstdint>

namespace symphony::algorithms {

/// The algorithm a message belongs to: the top 8 bits of its step.
enum class algorithm_id : std::uint8_t {
  binomial = 0,  // broadcast, reduce, gather, scatter down/up a binomial tree; barrier
  recursive_doubling = 1,
  rabenseifner = 2,
  ring = 3,
  bruck = 4,
  scatter_allgather = 5,
  recursive_halving = 6,
  pairwise = 7,
  prefix_doubling = 8,
  pipeline = 9,  // broadcast down a chain, chunked
};

inline const char* algorithm_name(std::uint32_t id) {
  switch (static_cast<algorithm_id>(id)) {
    case algorithm_id::binomial:
      return "binomial tree";
    case algorithm_id::recursive_doubling:
      return "recursive doubling";
    case algorithm_id::rabenseifner:
      return "Rabenseifner";
    case algorithm_id::ring:
      return "ring";
    case algorithm_id::bruck:
      return "Bruck";
    case algorithm_id::scatter_allgather:
      return "scatter + allgather";
    case algorithm_id::recursive_halving:
      return "recursive halving";
    case algorithm_id::pairwise:
      return "pairwise exchange";
    case algorithm_id::prefix_doubling:
      return "prefix doubling";
    case algorithm_id::pipeline:
      return "pipeline";
  }
  return "unknown algorithm";
}

inline constexpr std::uint32_t max_round = (std::uint32_t{1} << 20) - 1;

/// The step of message `round` of `phase` (< 16) of `algorithm`; round must be <= max_round.
constexpr std::uint32_t make_step(algorithm_id algorithm, std::uint32_t phase,
                                  std::uint32_t round) {
  return (static_cast<std::uint32_t>(algorithm) << 24) | ((phase & 0xfu) << 20) |
         (round & max_round);
}

/// The algorithm id carried by a step.
constexpr std::uint32_t algorithm_of_step(std::uint32_t step) {
  return step >> 24;
}

constexpr bool is_power_of_two(int p) {
  return p > 0 && (p & (p - 1)) == 0;
}

/// The largest power of two <= p (p >= 1).
constexpr int power_of_two_floor(int p) {
  int q = 1;
  while (q <= p / 2)
    q <<= 1;
  return q;
}

/// ceil(log2 p) for p >= 1.
constexpr int ceil_log2(int p) {
  int r = 0;
  while ((1 << r) < p)
    ++r;
  return r;
}

/// Element range [first, first + count) of block i when n elements are cut into `parts` blocks
/// as evenly as possible (the first n % parts blocks get one more).
struct block {
  std::size_t first = 0;
  std::size_t count = 0;
  std::size_t end() const { return first + count; }
};

constexpr block block_of(std::size_t n, std::size_t parts, std::size_t i) {
  const std::size_t base = n / parts;
  const std::size_t extra = n % parts;
  return {i * base + (i < extra ? i : extra), base + (i < extra ? 1 : 0)};
}

/// Folding p ranks onto p' = power_of_two_floor(p) virtual ranks (see the top of this header).
class folding {
 public:
  explicit constexpr folding(int size)
      : size_(size), virtual_size_(power_of_two_floor(size)), paired_(2 * (size - virtual_size_)) {}

  constexpr int size() const { return size_; }
  /// p': the number of ranks that take part after folding.
  constexpr int virtual_size() const { return virtual_size_; }
  /// True for the even ranks among the first 2(p - p'): they hand their value to rank + 1.
  constexpr bool sits_out(int rank) const { return rank < paired_ && rank % 2 == 0; }
  /// True for the odd ranks among the first 2(p - p'): they receive from rank - 1.
  constexpr bool absorbs(int rank) const { return rank < paired_ && rank % 2 == 1; }
  /// Virtual rank of a rank that does not sit out.
  constexpr int virtual_rank(int rank) const {
    return rank < paired_ ? rank / 2 : rank - paired_ / 2;
  }
  /// The rank that plays virtual rank v.
  constexpr int real_rank(int v) const { return v < paired_ / 2 ? 2 * v + 1 : v + paired_ / 2; }
  /// The first rank virtual rank v stands for (v's partner that sat out, or v's own rank).
  constexpr int first_rank(int v) const { return v < paired_ / 2 ? 2 * v : v + paired_ / 2; }
  /// The virtual rank standing for `rank` (its partner's when it sits out).
  constexpr int stands_for(int rank) const {
    return virtual_rank(sits_out(rank) ? rank + 1 : rank);
  }

 private:
  int size_;
  int virtual_size_;
  int paired_;
};

/// `bits`-bit reversal of v (v < 2^bits): where recursive halving, taking the lowest bit first,
/// leaves the block of virtual rank v.
constexpr int reverse_bits(int v, int bits) {
  int r = 0;
  for (int i = 0; i < bits; ++i)
    if (v & (1 << i)) r |= 1 << (bits - 1 - i);
  return r;
}

}  // namespace symphony::algorithms
