// symphony::algorithms::binomial_tree: the shape broadcast, reduce, gather and scatter walk.
//
// The properties are checked for every size from 1 to 64 and every root, because the collectives
// rely on them for any job: one parent per rank, a depth of at most ceil(log2 size), and subtrees
// that are contiguous ranges of relative ranks.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <symphony/algorithms/binomial_tree.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace {

using symphony::algorithms::binomial_tree;

constexpr int largest_size = 64;

// Calls check(tree) for every size 1..64 and every root; a failure names the size and root.
template <class F>
void for_every_tree(F&& check) {
  for (int size = 1; size <= largest_size; ++size) {
    for (int root = 0; root < size; ++root) {
      CAPTURE(size);
      CAPTURE(root);
      check(binomial_tree(size, root));
    }
  }
}

// Ranks as sorted text, e.g. "{3 4 5}", so that a failed CHECK shows both sides.
std::string as_text(std::vector<int> ranks) {
  std::sort(ranks.begin(), ranks.end());
  std::string text = "{";
  for (const int r : ranks)
    text += (text.size() > 1 ? " " : "") + std::to_string(r);
  return text + "}";
}

// The range [first, last) as the same text.
std::string range_text(int first, int last) {
  std::vector<int> ranks;
  for (int r = first; r < last; ++r)
    ranks.push_back(r);
  return as_text(ranks);
}

// `rank` and all its descendants, as relative ranks; stops after `size` ranks so that a cycle in
// a broken tree cannot hang the test.
std::vector<int> subtree(const binomial_tree& tree, int rank) {
  std::vector<int> found;
  std::vector<int> pending{rank};
  while (!pending.empty() && static_cast<int>(found.size()) <= tree.size()) {
    const int r = pending.back();
    pending.pop_back();
    found.push_back(tree.relative(r));
    for (const int child : tree.children(r))
      pending.push_back(child);
  }
  return found;
}

}  // namespace

TEST_CASE("eight ranks rooted at 0: the textbook binomial tree") {
  const binomial_tree tree(8, 0);
  CHECK(tree.size() == 8);
  CHECK(tree.root() == 0);
  CHECK(tree.rounds() == 3);
  CHECK(tree.children(0) == std::vector<int>{1, 2, 4});
  CHECK(tree.children(4) == std::vector<int>{5, 6});
  CHECK(tree.children(6) == std::vector<int>{7});
  CHECK(tree.children(7).empty());
  CHECK(tree.parent(0) == -1);
  CHECK(tree.parent(7) == 6);
  CHECK(tree.parent(6) == 4);
  CHECK(tree.parent(5) == 4);
  CHECK(tree.parent(4) == 0);
  CHECK(tree.span(0) == 8);
  CHECK(tree.span(4) == 4);
  CHECK(tree.span(6) == 2);
  CHECK(tree.span(5) == 1);
}

TEST_CASE("the same shape, rotated, when the root is not rank 0") {
  const binomial_tree tree(8, 3);
  CHECK(tree.relative(3) == 0);
  CHECK(tree.relative(0) == 5);
  CHECK(tree.absolute(5) == 0);
  CHECK(tree.children(3) == std::vector<int>{4, 5, 7});  // relative 1, 2, 4
  CHECK(tree.parent(0) == 7);                            // relative 5 hangs under relative 4
  CHECK(tree.parent(3) == -1);
}

TEST_CASE("a size that is not a power of two cuts the last subtrees short") {
  const binomial_tree tree(6, 0);
  CHECK(tree.rounds() == 3);
  CHECK(tree.children(0) == std::vector<int>{1, 2, 4});
  CHECK(tree.children(4) == std::vector<int>{5});
  CHECK(tree.span(4) == 2);
  CHECK(tree.span(2) == 2);
}

TEST_CASE("one rank is a tree of its own, with no rounds") {
  const binomial_tree tree(1, 0);
  CHECK(tree.parent(0) == -1);
  CHECK(tree.children(0).empty());
  CHECK(tree.span(0) == 1);
  CHECK(tree.rounds() == 0);
}

TEST_CASE("relative and absolute ranks round-trip, with the root at relative 0") {
  for_every_tree([](const binomial_tree& tree) {
    CHECK(tree.relative(tree.root()) == 0);
    CHECK(tree.absolute(0) == tree.root());
    for (int rank = 0; rank < tree.size(); ++rank) {
      CAPTURE(rank);
      CHECK(tree.absolute(tree.relative(rank)) == rank);
      CHECK(tree.relative(tree.absolute(rank)) == rank);
      CHECK(tree.relative(rank) >= 0);
      CHECK(tree.relative(rank) < tree.size());
    }
  });
}

TEST_CASE(
    "the root has no parent; every other rank has exactly one, and parents and children agree") {
  for_every_tree([](const binomial_tree& tree) {
    std::vector<int> times_a_child(static_cast<std::size_t>(tree.size()), 0);
    for (int rank = 0; rank < tree.size(); ++rank) {
      CAPTURE(rank);
      for (const int child : tree.children(rank)) {
        CAPTURE(child);
        REQUIRE(child >= 0);
        REQUIRE(child < tree.size());
        ++times_a_child[static_cast<std::size_t>(child)];
        CHECK(tree.parent(child) == rank);
      }
      if (rank == tree.root()) {
        CHECK(tree.parent(rank) == -1);
      } else {
        const int parent = tree.parent(rank);
        REQUIRE(parent >= 0);
        REQUIRE(parent < tree.size());
        const auto siblings = tree.children(parent);
        CHECK(std::count(siblings.begin(), siblings.end(), rank) == 1);
      }
    }
    for (int rank = 0; rank < tree.size(); ++rank) {
      CAPTURE(rank);
      CHECK(times_a_child[static_cast<std::size_t>(rank)] == (rank == tree.root() ? 0 : 1));
    }
  });
}

TEST_CASE("rounds() is ceil(log2 size)") {
  CHECK(binomial_tree(1, 0).rounds() == 0);
  CHECK(binomial_tree(2, 0).rounds() == 1);
  CHECK(binomial_tree(3, 0).rounds() == 2);
  CHECK(binomial_tree(4, 0).rounds() == 2);
  CHECK(binomial_tree(5, 0).rounds() == 3);
  CHECK(binomial_tree(33, 0).rounds() == 6);
  CHECK(binomial_tree(64, 0).rounds() == 6);
  CHECK(binomial_tree(65, 0).rounds() == 7);
}

TEST_CASE("following parents from any rank reaches the root within rounds() steps") {
  for_every_tree([](const binomial_tree& tree) {
    int deepest = 0;
    for (int rank = 0; rank < tree.size(); ++rank) {
      CAPTURE(rank);
      int steps = 0;
      int r = rank;
      while (r != tree.root() && steps <= tree.rounds()) {
        r = tree.parent(r);
        ++steps;
      }
      CHECK(r == tree.root());
      CHECK(steps <= tree.rounds());
      deepest = std::max(deepest, steps);
    }
    // A power of two needs every round: relative rank size - 1 is rounds() hops from the root.
    if ((tree.size() & (tree.size() - 1)) == 0) CHECK(deepest == tree.rounds());
  });
}

TEST_CASE("the subtree of each rank is the contiguous range of relative ranks [v, v + span)") {
  for_every_tree([](const binomial_tree& tree) {
    CHECK(tree.span(tree.root()) == tree.size());
    for (int rank = 0; rank < tree.size(); ++rank) {
      CAPTURE(rank);
      const int v = tree.relative(rank);
      CHECK(tree.span(rank) >= 1);
      CHECK(as_text(subtree(tree, rank)) == range_text(v, v + tree.span(rank)));
    }
  });
}

TEST_CASE("taking the children in order extends a rank's block one contiguous child at a time") {
  // What gather and reduce rely on: after receiving from children[0..i], a rank holds relative
  // ranks [v, v + 1 + span(children[0]) + ... + span(children[i])).
  for_every_tree([](const binomial_tree& tree) {
    for (int rank = 0; rank < tree.size(); ++rank) {
      CAPTURE(rank);
      const int v = tree.relative(rank);
      int next = v + 1;
      for (const int child : tree.children(rank)) {
        CAPTURE(child);
        CHECK(tree.relative(child) == next);
        next += tree.span(child);
      }
      CHECK(next == v + tree.span(rank));
    }
  });
}

// Broadcast and scatter send to the deepest branch first. children() is in relative-rank order,
// which is not size order when the last subtree is cut short (size 5, rank 0: spans 1, 2, 1).
TEST_CASE("children_deepest_first lists the same children, largest subtree first") {
  for (int size = 1; size <= largest_size; ++size) {
    for (int root = 0; root < size; ++root) {
      const binomial_tree tree(size, root);
      for (int rank = 0; rank < size; ++rank) {
        CAPTURE(size);
        CAPTURE(root);
        CAPTURE(rank);
        auto by_depth = tree.children_deepest_first(rank);
        for (std::size_t i = 1; i < by_depth.size(); ++i)
          REQUIRE(tree.span(by_depth[i - 1]) >= tree.span(by_depth[i]));
        auto in_order = tree.children(rank);
        std::sort(by_depth.begin(), by_depth.end());
        std::sort(in_order.begin(), in_order.end());
        REQUIRE(by_depth == in_order);
      }
    }
  }
  const binomial_tree five(5, 0);
  CHECK(five.children(0) == std::vector<int>{1, 2, 4});
  CHECK(five.children_deepest_first(0) == std::vector<int>{2, 1, 4});
}
