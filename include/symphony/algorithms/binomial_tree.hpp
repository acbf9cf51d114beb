// symphony/algorithms/binomial_tree.hpp: the shape of a binomial tree over any number of ranks.
//
// Ranks are renumbered relative to the root (relative = (rank - root + size) % size), so the root
// is relative rank 0. Relative rank v > 0 hangs under v with its lowest set bit cleared; its
// children are v + 1, v + 2, v + 4, ... below that lowest bit (all powers of two for the root),
// as long as they are < size. The subtree of v is the contiguous range [v, v + span(v)) of
// relative ranks, which is what lets gather and scatter move one contiguous block per message.
// Depth is ceil(log2(size)): that many rounds for broadcast, reduce, gather and scatter.
#pragma once

#include <array>
#include <cstddef>
#include <utility>
#include <vector>

namespace symphony::algorithms {

/// A few ranks (a rank's children: at most one per bit of an int) in a fixed array, so that
/// walking a tree allocates nothing.
class rank_list {
 public:
  void push_back(int rank) { ranks_[size_++] = rank; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int& operator[](std::size_t i) { return ranks_[i]; }
  int operator[](std::size_t i) const { return ranks_[i]; }
  int* begin() { return ranks_.data(); }
  int* end() { return ranks_.data() + size_; }
  const int* begin() const { return ranks_.data(); }
  const int* end() const { return ranks_.data() + size_; }

  friend bool operator==(const rank_list& a, const std::vector<int>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i]) return false;
    return true;
  }
  friend bool operator==(const rank_list& a, const rank_list& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i]) return false;
    return true;
  }

 private:
  std::array<int, 8 * sizeof(int)> ranks_{};
  std::size_t size_ = 0;
};

class binomial_tree {
 public:
  /// A tree over `size` >= 1 ranks rooted at `root`, 0 <= root < size.
  binomial_tree(int size, int root) : size_(size), root_(root) {}

  int size() const { return size_; }
  int root() const { return root_; }
  int relative(int rank) const { return (rank - root_ + size_) % size_; }
  int absolute(int relative_rank) const { return (relative_rank + root_) % size_; }

  /// The parent of `rank` (absolute), or -1 for the root.
  int parent(int rank) const {
    const int v = relative(rank);
    return v == 0 ? -1 : absolute(v & (v - 1));
  }

  /// Children of `rank` (absolute) in increasing relative rank: v + 1, v + 2, v + 4, ...
  /// Receiving from them in this order extends the rank's contiguous block of relative ranks one
  /// child at a time (what gather and an order-preserving reduce need).
  rank_list children(int rank) const {
    rank_list result;
    const int v = relative(rank);
    for (int mask = 1; mask < limit(v); mask <<= 1)
      if (v + mask < size_) result.push_back(absolute(v + mask));
    return result;
  }

  /// The same children, largest subtree first (ties in increasing relative rank): sending to them
  /// in this order starts the deepest branch earliest (what broadcast and scatter want). Differs
  /// from children() reversed when the last subtree is cut short by the size.
  rank_list children_deepest_first(int rank) const {
    rank_list result = children(rank);
    for (std::size_t i = 1; i < result.size(); ++i)  // insertion sort: stable, and no buffer
      for (std::size_t j = i; j > 0 && span(result[j - 1]) < span(result[j]); --j)
        std::swap(result[j - 1], result[j]);
    return result;
  }

  /// Number of relative ranks in the subtree of `rank`: relative ranks [v, v + span).
  int span(int rank) const {
    const int v = relative(rank);
    return v + limit(v) < size_ ? limit(v) : size_ - v;
  }

  /// Rounds (tree depth): ceil(log2(size)).
  int rounds() const {
    int r = 0;
    while ((1 << r) < size_)
      ++r;
    return r;
  }

 private:
  // The first power of two a child of relative rank v may not reach: v's lowest set bit, or for
  // the root the smallest power of two >= size.
  int limit(int v) const {
    if (v != 0) return v & -v;
    int p = 1;
    while (p < size_)
      p <<= 1;
    return p;
  }

  int size_;
  int root_;
};

}  // namespace symphony::algorithms
