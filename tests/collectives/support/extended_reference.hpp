// tests/collectives/support/extended_reference.hpp: the collectives beyond the core five
// (allreduce, allgather, alltoall, reduce_scatter, scan, exscan, gatherv, scatterv, allgatherv)
// and the long-message algorithms of broadcast and reduce, checked on every rank against a
// sequential reference. Works on any communicator (threads or processes); a failed check throws
// std::runtime_error naming the collective, the type, the root, the rank and the thresholds.
//
// The values are chosen so that results are exact whatever the order of combination (small
// integers and halves in doubles) and so that non-commutative operators (string concatenation,
// 2x2 matrix products, struct joins) catch any combination out of rank order.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "reference.hpp"

namespace extended {

using reference::particle;

/// A 2x2 matrix of integers modulo a prime: trivially copyable, its product is associative and
/// not commutative.
struct matrix {
  std::int64_t a = 1, b = 0, c = 0, d = 1;
  friend bool operator==(const matrix& x, const matrix& y) {
    return x.a == y.a && x.b == y.b && x.c == y.c && x.d == y.d;
  }
};
inline constexpr std::int64_t modulus = 1000003;
inline matrix multiply(const matrix& x, const matrix& y) {
  return {(x.a * y.a + x.b * y.c) % modulus, (x.a * y.b + x.b * y.d) % modulus,
          (x.c * y.a + x.d * y.c) % modulus, (x.c * y.b + x.d * y.d) % modulus};
}
inline matrix make_matrix(int r, int salt = 0) {
  return {r + 2, 1 + salt, r % 3, 1};
}

inline std::string concat(const std::string& a, const std::string& b) {
  return a + b;
}
inline particle join(const particle& a, const particle& b) {
  particle r = a;
  r.name += "+" + b.name;
  r.ids.insert(r.ids.end(), b.ids.begin(), b.ids.end());
  r.mass += b.mass;
  return r;
}
inline particle make_particle(int r) {
  return particle{"p" + std::to_string(r), std::vector<int>(static_cast<std::size_t>(r % 3), r),
                  r * 0.5};
}
/// Strings of different lengths, some empty, one much longer.
inline std::string make_string(int r) {
  return std::string(static_cast<std::size_t>(r % 5 + (r == 3 ? 300 : 0)),
                     static_cast<char>('a' + r % 26));
}
inline std::vector<double> doubles(std::size_t count, int r) {
  return reference::doubles(count, r);
}

/// The threshold settings every check runs under: everything short, everything long, and a
/// middle one (100 bytes) that mixes both in one job. The collectives that have no threshold
/// (scan, exscan, alltoall, gatherv, scatterv) are checked only under the first.
inline std::vector<std::pair<std::string, symphony::algorithm_thresholds>> settings() {
  symphony::algorithm_thresholds shorts;
  constexpr auto never = std::numeric_limits<std::size_t>::max();
  shorts.broadcast_long_bytes = shorts.reduce_long_bytes = shorts.allreduce_long_bytes =
      shorts.allgather_long_bytes = shorts.reduce_scatter_long_bytes = never;
  symphony::algorithm_thresholds longs;
  longs.broadcast_long_bytes = longs.reduce_long_bytes = longs.allreduce_long_bytes =
      longs.allgather_long_bytes = longs.reduce_scatter_long_bytes = 0;
  symphony::algorithm_thresholds middle;
  middle.broadcast_long_bytes = middle.reduce_long_bytes = middle.allreduce_long_bytes =
      middle.allgather_long_bytes = middle.reduce_scatter_long_bytes = 100;
  middle.broadcast_pipeline_bytes = 100;  // long broadcasts: the pipelined chain here
  return {{"short", shorts}, {"long", longs}, {"100 bytes", middle}};
}

/// Sequential fold in rank order.
template <class T, class Op>
T fold(const std::vector<T>& values, const Op& op, std::size_t first, std::size_t last) {
  T acc = values[first];
  for (std::size_t i = first + 1; i < last; ++i) {
    if constexpr (symphony::detail::is_builtin_operator_v<Op> && !std::is_arithmetic_v<T>) {
      for (std::size_t k = 0; k < acc.size(); ++k)
        acc[k] = op(acc[k], values[i][k]);
    } else {
      acc = op(acc, values[i]);
    }
  }
  return acc;
}

template <class T, class Make>
std::vector<T> all_values(int n, Make make) {
  std::vector<T> all;
  for (int r = 0; r < n; ++r)
    all.push_back(make(r));
  return all;
}

struct place {
  std::string text;
};
template <class Comm>
place where(const Comm& comm, const std::string& setting, const std::string& what, int root = -1) {
  std::ostringstream s;
  s << what << ", rank " << comm.rank() << " of " << comm.size();
  if (root >= 0) s << ", root " << root;
  s << ", thresholds " << setting;
  return {s.str()};
}

// --- allreduce, scan, exscan: one type and operator -------------------------------------------

template <class Comm, class T, class Make, class Op>
void check_reductions(Comm& comm, const std::string& setting, const std::string& label, Make make,
                      Op op, bool scans) {
  const int n = comm.size();
  const auto me = static_cast<std::size_t>(comm.rank());
  const auto all = all_values<T>(n, make);
  const T mine = all[me];
  const auto at = [&](const char* what) {
    return where(comm, setting, std::string(what) + " " + label).text;
  };

  const T expected = fold(all, op, 0, all.size());
  const T total = comm.allreduce(mine, op);
  REF_CHECK(total == expected, at("allreduce"));
  // The caller-buffer form, twice into the same object (the second call reuses its storage), the
  // second time beside ranks that call the value-returning form: they interoperate.
  T in_place = mine;
  comm.allreduce_in_place(in_place, op);
  REF_CHECK(in_place == expected, at("allreduce_in_place"));
  in_place = mine;
  if (me % 2 == 0)
    comm.allreduce_in_place(in_place, op);
  else
    in_place = comm.allreduce(mine, op);
  REF_CHECK(in_place == expected, at("allreduce_in_place beside allreduce"));
  if (!scans) return;
  const T prefix = comm.scan(mine, op);
  REF_CHECK(prefix == fold(all, op, 0, me + 1), at("scan"));
  const T before = comm.exscan(mine, op);
  REF_CHECK(before == (me == 0 ? T{} : fold(all, op, 0, me)), at("exscan"));
}

template <class Comm>
void check_allreduce_scan(Comm& comm, const std::string& setting, bool scans = true) {
  using symphony::ops::sum;
  check_reductions<Comm, int>(
      comm, setting, "int sum", [](int r) { return r * 7 + 1; }, sum, scans);
  check_reductions<Comm, double>(
      comm, setting, "double max", [](int r) { return (r % 5) + 0.5; }, symphony::ops::max, scans);
  check_reductions<Comm, std::string>(comm, setting, "string concat", make_string, concat, scans);
  check_reductions<Comm, matrix>(
      comm, setting, "matrix product", [](int r) { return make_matrix(r); }, multiply, scans);
  check_reductions<Comm, particle>(comm, setting, "particle join", make_particle, join, scans);
  for (const std::size_t length : {0, 1, 5, 64}) {
    check_reductions<Comm, std::vector<double>>(
        comm, setting, "vector<double>(" + std::to_string(length) + ") sum",
        [length](int r) { return doubles(length, r); }, sum, scans);
  }
  check_reductions<Comm, std::vector<int>>(
      comm, setting, "vector<int>(37) max",
      [](int r) {
        std::vector<int> v(37);
        for (std::size_t i = 0; i < v.size(); ++i)
          v[i] = static_cast<int>((i * 31 + static_cast<std::size_t>(r) * 17) % 101);
        return v;
      },
      symphony::ops::max, scans);
  check_reductions<Comm, std::array<long, 30>>(
      comm, setting, "array<long, 30> sum",
      [](int r) {
        std::array<long, 30> a{};
        for (std::size_t i = 0; i < a.size(); ++i)
          a[i] = static_cast<long>(i) * r - 3;
        return a;
      },
      sum, scans);
  check_reductions<Comm, std::string>(
      comm, setting, "string(200) bit_xor",
      [](int r) { return std::string(200, static_cast<char>('A' + r % 20)); },
      symphony::ops::bit_xor, scans);
}

// --- allgather, allgatherv ----------------------------------------------------------------------

template <class Comm, class T, class Make>
void check_allgather_of(Comm& comm, const std::string& setting, const std::string& label,
                        Make make) {
  const auto all = all_values<T>(comm.size(), make);
  const auto& mine = all[static_cast<std::size_t>(comm.rank())];
  const auto got = comm.allgather(mine);
  REF_CHECK(got == all, where(comm, setting, "allgather " + label).text);
  // Into a vector of the wrong length holding stale values, then again into the same vector
  // beside ranks that call the value-returning form.
  std::vector<T> out(static_cast<std::size_t>(comm.size()) + 2, all.back());
  comm.allgather(mine, out);
  REF_CHECK(out == all, where(comm, setting, "allgather into a vector " + label).text);
  if (comm.rank() % 2 == 0)
    comm.allgather(mine, out);
  else
    out = comm.allgather(mine);
  REF_CHECK(out == all,
            where(comm, setting, "allgather into a vector beside allgather " + label).text);
}

template <class Comm, class E, class Make>
void check_allgatherv_of(Comm& comm, const std::string& setting, const std::string& label,
                         Make make) {
  const auto all = all_values<std::vector<E>>(comm.size(), make);
  std::vector<E> expected;
  std::vector<std::size_t> expected_counts;
  for (const auto& v : all) {
    expected.insert(expected.end(), v.begin(), v.end());
    expected_counts.push_back(v.size());
  }
  std::vector<std::size_t> counts{99};
  const auto got = comm.allgatherv(all[static_cast<std::size_t>(comm.rank())], counts);
  REF_CHECK(got == expected, where(comm, setting, "allgatherv " + label).text);
  REF_CHECK(counts == expected_counts, where(comm, setting, "allgatherv counts " + label).text);
  REF_CHECK(comm.allgatherv(all[static_cast<std::size_t>(comm.rank())]) == expected,
            where(comm, setting, "allgatherv without counts " + label).text);
}

template <class Comm>
void check_allgathers(Comm& comm, const std::string& setting) {
  check_allgather_of<Comm, int>(comm, setting, "int", [](int r) { return r * 3 - 7; });
  check_allgather_of<Comm, std::string>(comm, setting, "string", make_string);
  check_allgather_of<Comm, particle>(comm, setting, "particle", make_particle);
  check_allgather_of<Comm, std::vector<double>>(
      comm, setting, "vector<double> of varied lengths",
      [](int r) { return doubles(static_cast<std::size_t>((r % 3) * 9), r); });
  check_allgather_of<Comm, std::array<double, 8>>(comm, setting, "array<double, 8>", [](int r) {
    std::array<double, 8> a{};
    a.fill(r + 0.5);
    return a;
  });
  check_allgather_of<Comm, std::map<std::string, int>>(comm, setting, "map", [](int r) {
    return std::map<std::string, int>{{"r", r}, {std::string(static_cast<std::size_t>(r), 'k'), 1}};
  });
  check_allgatherv_of<Comm, double>(comm, setting, "vector<double>", [](int r) {
    return doubles(static_cast<std::size_t>((r % 3) * 5 + (r == 1 ? 40 : 0)), r);
  });
  check_allgatherv_of<Comm, std::string>(comm, setting, "vector<string>", [](int r) {
    return std::vector<std::string>(static_cast<std::size_t>(r % 3), make_string(r));
  });
}

// --- alltoall -----------------------------------------------------------------------------------

template <class Comm>
void check_alltoall(Comm& comm, const std::string& setting) {
  const int n = comm.size();
  const int me = comm.rank();
  const auto text = [](int from, int to) {
    return std::to_string(from) + ">" + std::to_string(to) +
           std::string(static_cast<std::size_t>((from + 2 * to) % 7), 'x');
  };
  std::vector<std::string> strings;
  std::vector<int> ints;
  std::vector<particle> particles;
  for (int to = 0; to < n; ++to) {
    strings.push_back(text(me, to));
    ints.push_back(me * 1000 + to);
    particles.push_back(make_particle(me * n + to));
  }
  const auto got_strings = comm.alltoall(strings);
  const auto got_ints = comm.alltoall(ints);
  const auto got_particles = comm.alltoall(particles);
  REF_CHECK(got_strings.size() == static_cast<std::size_t>(n),
            where(comm, setting, "alltoall size").text);
  for (int from = 0; from < n; ++from) {
    const auto f = static_cast<std::size_t>(from);
    REF_CHECK(got_strings[f] == text(from, me),
              where(comm, setting, "alltoall string from " + std::to_string(from)).text);
    REF_CHECK(got_ints[f] == from * 1000 + me,
              where(comm, setting, "alltoall int from " + std::to_string(from)).text);
    REF_CHECK(got_particles[f] == make_particle(from * n + me),
              where(comm, setting, "alltoall particle from " + std::to_string(from)).text);
  }
}

// --- reduce_scatter -----------------------------------------------------------------------------

template <class Comm, class E, class Make, class Op>
void check_reduce_scatter_of(Comm& comm, const std::string& setting, const std::string& label,
                             std::size_t k, Make make, Op op) {
  const int n = comm.size();
  const auto me = static_cast<std::size_t>(comm.rank());
  const std::size_t length = k * static_cast<std::size_t>(n);
  // rank r's element i: make(r, i)
  std::vector<std::vector<E>> all(static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r)
    for (std::size_t i = 0; i < length; ++i)
      all[static_cast<std::size_t>(r)].push_back(make(r, i));
  std::vector<E> expected;
  for (std::size_t i = me * k; i < (me + 1) * k; ++i) {
    E acc = all[0][i];
    for (std::size_t r = 1; r < all.size(); ++r)
      acc = op(acc, all[r][i]);
    expected.push_back(acc);
  }
  const auto got = comm.reduce_scatter(all[me], op);
  REF_CHECK(got == expected,
            where(comm, setting, "reduce_scatter " + label + " k=" + std::to_string(k)).text);
}

template <class Comm>
void check_reduce_scatters(Comm& comm, const std::string& setting) {
  for (const std::size_t k : {0, 1, 3}) {
    check_reduce_scatter_of<Comm, int>(
        comm, setting, "int sum", k,
        [](int r, std::size_t i) { return static_cast<int>(i) * 10 + r; }, symphony::ops::sum);
  }
  check_reduce_scatter_of<Comm, double>(
      comm, setting, "double sum", 16, [](int r, std::size_t i) { return (i % 7) * 0.5 + r; },
      symphony::ops::sum);
  check_reduce_scatter_of<Comm, std::string>(
      comm, setting, "string concat", 2,
      [](int r, std::size_t i) {
        return std::string(1, static_cast<char>('a' + r % 26)) + std::to_string(i % 3);
      },
      concat);
  check_reduce_scatter_of<Comm, matrix>(
      comm, setting, "matrix product", 1,
      [](int r, std::size_t i) { return make_matrix(r, static_cast<int>(i)); }, multiply);
  check_reduce_scatter_of<Comm, long>(
      comm, setting, "long commutative user max", 5,
      [](int r, std::size_t i) {
        return static_cast<long>((static_cast<std::size_t>(r) * 37 + i * 11) % 53);
      },
      symphony::ops::commutative([](long a, long b) { return a < b ? b : a; }));
}

// --- rooted: broadcast and reduce (long algorithms), gatherv, scatterv --------------------------

template <class Comm, class T>
void check_broadcast_of(Comm& comm, const std::string& setting, const std::string& label, int root,
                        const T& root_value, const T& others_start) {
  T value = comm.rank() == root ? root_value : others_start;
  comm.broadcast(value, root);
  REF_CHECK(value == root_value, where(comm, setting, "broadcast " + label, root).text);
}

template <class Comm, class T, class Make, class Op>
void check_reduce_of(Comm& comm, const std::string& setting, const std::string& label, int root,
                     Make make, Op op) {
  const auto all = all_values<T>(comm.size(), make);
  const T got = comm.reduce(all[static_cast<std::size_t>(comm.rank())], op, root);
  if (comm.rank() == root)
    REF_CHECK(got == fold(all, op, 0, all.size()),
              where(comm, setting, "reduce " + label, root).text);
  else
    REF_CHECK(got == T{}, where(comm, setting, "reduce at a non-root " + label, root).text);
  // The caller-buffer form (the non-roots' values are consumed: not checked), then beside ranks
  // that call the value-returning form.
  T in_place = all[static_cast<std::size_t>(comm.rank())];
  comm.reduce_in_place(in_place, op, root);
  if (comm.rank() == root)
    REF_CHECK(in_place == fold(all, op, 0, all.size()),
              where(comm, setting, "reduce_in_place " + label, root).text);
  in_place = all[static_cast<std::size_t>(comm.rank())];
  if (comm.rank() % 2 == 1)
    comm.reduce_in_place(in_place, op, root);
  else
    in_place = comm.reduce(in_place, op, root);
  if (comm.rank() == root)
    REF_CHECK(in_place == fold(all, op, 0, all.size()),
              where(comm, setting, "reduce_in_place beside reduce " + label, root).text);
}

// gather into the caller's vector: the root's is resized and filled, the others' left untouched.
template <class Comm, class T, class Make>
void check_gather_into(Comm& comm, const std::string& setting, const std::string& label, int root,
                       Make make) {
  const auto all = all_values<T>(comm.size(), make);
  const auto& mine = all[static_cast<std::size_t>(comm.rank())];
  const std::vector<T> stale(3, make(comm.size() + 5));
  std::vector<T> out = stale;
  comm.gather(mine, out, root);
  REF_CHECK(out == (comm.rank() == root ? all : stale),
            where(comm, setting, "gather into a vector " + label, root).text);
  if (comm.rank() % 2 == 0)
    comm.gather(mine, out, root);
  else if (comm.rank() == root)
    out = comm.gather(mine, root);
  else
    REF_CHECK(comm.gather(mine, root).empty(),
              where(comm, setting, "gather at a non-root " + label, root).text);
  REF_CHECK(out == (comm.rank() == root ? all : stale),
            where(comm, setting, "gather into a vector beside gather " + label, root).text);
}

template <class Comm, class E, class Make>
void check_gatherv_scatterv_of(Comm& comm, const std::string& setting, const std::string& label,
                               int root, Make make) {
  const int n = comm.size();
  const auto all = all_values<std::vector<E>>(n, make);
  std::vector<E> concatenated;
  std::vector<std::size_t> expected_counts;
  for (const auto& v : all) {
    concatenated.insert(concatenated.end(), v.begin(), v.end());
    expected_counts.push_back(v.size());
  }
  const bool at_root = comm.rank() == root;
  std::vector<std::size_t> counts{42};
  const auto gathered = comm.gatherv(all[static_cast<std::size_t>(comm.rank())], counts, root);
  REF_CHECK(gathered == (at_root ? concatenated : std::vector<E>{}),
            where(comm, setting, "gatherv " + label, root).text);
  REF_CHECK(counts == (at_root ? expected_counts : std::vector<std::size_t>{}),
            where(comm, setting, "gatherv counts " + label, root).text);
  REF_CHECK(comm.gatherv(all[static_cast<std::size_t>(comm.rank())], root) ==
                (at_root ? concatenated : std::vector<E>{}),
            where(comm, setting, "gatherv without counts " + label, root).text);
  const auto mine = comm.scatterv(at_root ? concatenated : std::vector<E>{},
                                  at_root ? expected_counts : std::vector<std::size_t>{}, root);
  REF_CHECK(mine == all[static_cast<std::size_t>(comm.rank())],
            where(comm, setting, "scatterv " + label, root).text);
}

template <class Comm>
void check_rooted(Comm& comm, const std::string& setting, int root, bool gathervs = true) {
  const int n = comm.size();
  // broadcast: the non-roots start with values of another size, which must not matter
  check_broadcast_of(
      comm, setting, "string", root,
      std::string(static_cast<std::size_t>(root * 13 % 50 + (root % 4 == 1 ? 400 : 0)), 'b'),
      std::string(7, 'z'));
  check_broadcast_of(comm, setting, "empty string", root, std::string(), std::string(3, 'z'));
  check_broadcast_of(comm, setting, "vector<double>", root,
                     doubles(static_cast<std::size_t>(root * 5 + n), root), doubles(2, -1));
  check_broadcast_of(comm, setting, "vector<char> shorter than the rank count", root,
                     std::vector<char>(static_cast<std::size_t>(n / 2), 'c'), std::vector<char>());
  check_broadcast_of(comm, setting, "particle", root, make_particle(root + 40), particle{});
  check_broadcast_of(comm, setting, "map", root,
                     std::map<std::string, int>{{"root", root}, {std::string(150, 'm'), n}},
                     std::map<std::string, int>{{"x", 1}});
  std::array<int, 40> big{};
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<int>(i) * (root + 1);
  check_broadcast_of(comm, setting, "array<int, 40>", root, big, std::array<int, 40>{});
  check_broadcast_of(comm, setting, "int", root, root * 11, -1);

  using symphony::ops::sum;
  check_reduce_of<Comm, std::vector<double>>(
      comm, setting, "vector<double>(50) sum", root, [](int r) { return doubles(50, r); }, sum);
  check_reduce_of<Comm, std::vector<double>>(
      comm, setting, "vector<double>(3) sum", root, [](int r) { return doubles(3, r); }, sum);
  check_reduce_of<Comm, std::vector<long>>(
      comm, setting, "vector<long>(20) max", root,
      [](int r) {
        std::vector<long> v(20);
        for (std::size_t i = 0; i < v.size(); ++i)
          v[i] = static_cast<long>((i * 13 + static_cast<std::size_t>(r) * 7) % 29);
        return v;
      },
      symphony::ops::max);
  check_reduce_of<Comm, std::array<int, 33>>(
      comm, setting, "array<int, 33> sum", root,
      [](int r) {
        std::array<int, 33> a{};
        a.fill(r);
        return a;
      },
      sum);
  check_reduce_of<Comm, std::string>(comm, setting, "string concat", root, make_string, concat);
  check_reduce_of<Comm, particle>(comm, setting, "particle join", root, make_particle, join);
  check_reduce_of<Comm, matrix>(
      comm, setting, "matrix product", root, [](int r) { return make_matrix(r); }, multiply);

  check_gather_into<Comm, int>(comm, setting, "int", root, [](int r) { return r * 5 - 2; });
  check_gather_into<Comm, std::string>(comm, setting, "string", root, make_string);
  check_gather_into<Comm, std::vector<double>>(comm, setting, "vector<double>", root, [](int r) {
    return doubles(static_cast<std::size_t>((r % 4) * 7), r);
  });

  if (!gathervs) return;
  check_gatherv_scatterv_of<Comm, int>(comm, setting, "vector<int>", root, [](int r) {
    return std::vector<int>(static_cast<std::size_t>(r % 4), r);
  });
  check_gatherv_scatterv_of<Comm, std::string>(comm, setting, "vector<string>", root, [](int r) {
    return std::vector<std::string>(static_cast<std::size_t>(r % 3), make_string(r));
  });
  check_gatherv_scatterv_of<Comm, particle>(comm, setting, "vector<particle>", root, [](int r) {
    return std::vector<particle>(static_cast<std::size_t>(r % 2), make_particle(r));
  });
}

/// Every new collective and long-message algorithm under every threshold setting (those without
/// thresholds under the first only); rooted ones with every root when `every_root`, else roots 0
/// and size() - 1.
template <class Comm>
void check_everything(Comm& comm, bool every_root) {
  for (const auto& [name, thresholds] : settings()) {
    comm.set_thresholds(thresholds);
    const bool first = name == settings().front().first;
    check_allreduce_scan(comm, name, first);
    check_allgathers(comm, name);
    if (first) check_alltoall(comm, name);
    check_reduce_scatters(comm, name);
    for (int root = 0; root < comm.size(); ++root)
      if (every_root || root == 0 || root == comm.size() - 1) check_rooted(comm, name, root, first);
    comm.barrier();
  }
}

}  // namespace extended
