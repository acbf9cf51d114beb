// tests/soak/soak_core.hpp: a long run of mixed collectives, every result checked.
//
// Every rank draws the same pseudo-random sequence of operations: which communicator (the world,
// a split into even and odd ranks, a subgroup of ranks 0..2), which collective (broadcast,
// reduce, allreduce, gather, scatter, allgather, alltoall, barrier, scan, send/recv around a
// ring), which root, and how many bytes (8 B to 64 KiB, one in 500 at 1 MiB). Values are a
// function of (operation, rank, element), so every rank computes what each result must be
// without a second source of truth. Works over any communicator type (processes or threads).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <symphony/communicator.hpp>

namespace soak {

using element = std::int32_t;

/// What rank `r` contributes to operation `op`: small values, so sums over ranks never overflow.
inline std::vector<element> contribution(std::uint64_t op, int r, std::size_t count) {
  std::vector<element> v(count);
  const auto base = static_cast<element>((op * 131 + static_cast<std::uint64_t>(r) * 17) % 1009);
  for (std::size_t k = 0; k < count; ++k)
    v[k] = base + static_cast<element>(k % 97);
  return v;
}

inline void expect(bool ok, std::uint64_t op, const std::string& what, int rank) {
  if (ok) return;
  std::ostringstream text;
  text << "soak: operation " << op << " (" << what << ") gave a wrong result on rank " << rank;
  throw std::runtime_error(text.str());
}

/// The element-wise sum of ranks [first, last] of communicator `members` (world ranks).
inline std::vector<element> sum_of(std::uint64_t op, const std::vector<int>& members,
                                   std::size_t first, std::size_t last, std::size_t count) {
  std::vector<element> total(count, 0);
  for (std::size_t i = first; i <= last; ++i) {
    const auto v = contribution(op, members[i], count);
    for (std::size_t k = 0; k < count; ++k)
      total[k] += v[k];
  }
  return total;
}

/// Counts of what ran, for the report.
struct tally {
  std::uint64_t operations = 0;  // collectives and send/recv pairs this rank took part in
  std::uint64_t bytes = 0;       // bytes of this rank's contributions
};

/// The communicators of the soak: the world, its split by parity, and ranks 0..2 (when there
/// are at least three ranks). Every rank of `world` must construct one.
template <class Comm>
struct communicators {
  Comm& world;
  Comm parity;
  std::optional<Comm> first_three;  // a subgroup: only its members make it
  std::vector<int> parity_members;
  std::vector<int> three_members;

  explicit communicators(Comm& w) : world(w), parity(w.split(w.rank() % 2)) {
    if (w.size() >= 3 && w.rank() < 3) first_three.emplace(w.subgroup({0, 1, 2}));
    for (int r = 0; r < w.size(); ++r)
      if (r % 2 == w.rank() % 2) parity_members.push_back(r);
    for (int r = 0; r < std::min(3, w.size()); ++r)
      three_members.push_back(r);
  }
};

/// Runs operations [first, last) of the sequence seeded by `seed` on `c`. `largest`: instead,
/// every kind of operation in turn, at 1 MiB on the world (a warm-up that makes the allocator
/// reach the size the largest operations need, so that growth after it means a leak).
template <class Comm>
void run(communicators<Comm>& c, std::uint64_t seed, std::uint64_t first, std::uint64_t last,
         tally& t, bool largest = false) {
  std::mt19937_64 same_everywhere(seed);
  for (std::uint64_t op = 0; op < last; ++op) {
    auto which_comm = same_everywhere() % 4;
    auto kind = same_everywhere() % 10;
    const auto root_draw = same_everywhere();
    const auto shift = same_everywhere() % 14;  // 8 B << 0..13: 8 B .. 64 KiB
    bool huge = same_everywhere() % 500 == 0;
    if (largest) {
      which_comm = 0;
      kind = op % 10;
      huge = true;
    }
    if (op < first) continue;  // the same draws on every rank, whatever range it runs

    Comm* comm = &c.world;
    std::vector<int> members(static_cast<std::size_t>(c.world.size()));
    for (int r = 0; r < c.world.size(); ++r)
      members[static_cast<std::size_t>(r)] = r;
    if (which_comm == 2) {
      comm = &c.parity;
      members = c.parity_members;
    } else if (which_comm == 3 && c.world.size() >= 3) {
      if (!c.first_three) continue;  // not a member: the others run it without this rank
      comm = &*c.first_three;
      members = c.three_members;
    }
    const int n = comm->size();
    const int me = comm->rank();
    const std::size_t bytes = huge ? (std::size_t{1} << 20) : (std::size_t{8} << shift);
    const std::size_t count = bytes / sizeof(element);
    const int root = static_cast<int>(root_draw % static_cast<std::uint64_t>(n));
    const auto mine = contribution(op, members[static_cast<std::size_t>(me)], count);
    const auto of = [&](int r) {
      return contribution(op, members[static_cast<std::size_t>(r)], count);
    };
    ++t.operations;
    t.bytes += bytes;
    switch (kind) {
      case 0: {
        auto v = me == root ? mine : std::vector<element>{};
        comm->broadcast(v, root);
        expect(v == of(root), op, "broadcast", me);
        break;
      }
      case 1: {
        const auto total = comm->reduce(mine, symphony::ops::sum, root);
        if (me == root)
          expect(total == sum_of(op, members, 0, members.size() - 1, count), op, "reduce", me);
        break;
      }
      case 2: {
        const auto total = comm->allreduce(mine, symphony::ops::sum);
        expect(total == sum_of(op, members, 0, members.size() - 1, count), op, "allreduce", me);
        break;
      }
      case 3: {
        const auto all = comm->gather(mine, root);
        if (me == root)
          for (int r = 0; r < n; ++r)
            expect(all[static_cast<std::size_t>(r)] == of(r), op, "gather", me);
        break;
      }
      case 4: {
        std::vector<std::vector<element>> parts;
        if (me == root) {
          // Scatter's values differ per destination: rank r gets contribution(op, r).
          for (int r = 0; r < n; ++r)
            parts.push_back(of(r));
        }
        const auto got = comm->scatter(parts, root);
        expect(got == mine, op, "scatter", me);
        break;
      }
      case 5: {
        const auto all = comm->allgather(mine);
        for (int r = 0; r < n; ++r)
          expect(all[static_cast<std::size_t>(r)] == of(r), op, "allgather", me);
        break;
      }
      case 6: {
        // Smaller pieces: n of them per rank. Piece for rank d from rank s: contribution of s
        // at op + d.
        const std::size_t piece = std::max<std::size_t>(1, count / static_cast<std::size_t>(n));
        std::vector<std::vector<element>> out;
        for (int d = 0; d < n; ++d)
          out.push_back(contribution(op + static_cast<std::uint64_t>(d),
                                     members[static_cast<std::size_t>(me)], piece));
        const auto in = comm->alltoall(out);
        for (int s = 0; s < n; ++s)
          expect(in[static_cast<std::size_t>(s)] ==
                     contribution(op + static_cast<std::uint64_t>(me),
                                  members[static_cast<std::size_t>(s)], piece),
                 op, "alltoall", me);
        break;
      }
      case 7:
        comm->barrier();
        break;
      case 8: {
        const auto prefix = comm->scan(mine, symphony::ops::sum);
        expect(prefix == sum_of(op, members, 0, static_cast<std::size_t>(me), count), op, "scan",
               me);
        break;
      }
      default: {
        if (n == 1) break;
        const int tag = static_cast<int>(op % 1000);
        comm->send(mine, (me + 1) % n, tag);
        const int from = (me + n - 1) % n;
        const auto got = comm->template recv<std::vector<element>>(from, tag);
        expect(got == of(from), op, "send/recv", me);
        break;
      }
    }
  }
}

}  // namespace soak
