// tests/support/reference.hpp: every collective, every type, checked against a sequential
// reference. Works on any communicator (threads or processes): a failed check throws
// std::runtime_error naming the collective, type, root and rank.
#pragma once

#include <array>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <symphony/collectives.hpp>

namespace reference {

#define REF_CHECK(condition, what)                                                      \
  do {                                                                                  \
    if (!(condition)) {                                                                 \
      std::ostringstream ref_check_text;                                                \
      ref_check_text << __FILE__ << ":" << __LINE__ << ": " << what << ": " #condition; \
      throw std::runtime_error(ref_check_text.str());                                   \
    }                                                                                   \
  } while (0)

/// A plain struct: trivially copyable, travels as raw bytes.
struct pod {
  int a = 0;
  double b = 0;
  char tag[4] = {0, 0, 0, 0};
  friend bool operator==(const pod& x, const pod& y) {
    return x.a == y.a && x.b == y.b && std::string(x.tag, 4) == std::string(y.tag, 4);
  }
};

/// A user type with a cereal `serialize` member: travels through a cereal archive.
struct particle {
  std::string name;
  std::vector<int> ids;
  double mass = 0;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(name, ids, mass);
  }
  friend bool operator==(const particle& x, const particle& y) {
    return x.name == y.name && x.ids == y.ids && x.mass == y.mass;
  }
};

/// One type under test: what rank r contributes, and how to combine two values.
template <class T, class Make, class Op>
struct test_case {
  std::string label;
  Make make;  // T(int rank)
  Op op;      // reduction operator passed to reduce
  bool heavy = false;
};

template <class T, class Make, class Op>
test_case<T, Make, Op> make_case(std::string label, Make make, Op op, bool heavy = false) {
  return {std::move(label), make, op, heavy};
}

/// The sequential reference of a reduction: fold in rank order with the same semantics.
template <class T, class Op>
T fold(const std::vector<T>& values, const Op& op) {
  T acc = values.front();
  for (std::size_t i = 1; i < values.size(); ++i) {
    if constexpr (symphony::detail::is_builtin_operator_v<Op> &&
                  !std::is_arithmetic_v<T>) {  // element-wise, written out independently
      for (std::size_t k = 0; k < acc.size(); ++k)
        acc[k] = op(acc[k], values[i][k]);
    } else {
      acc = op(acc, values[i]);
    }
  }
  return acc;
}

/// Every rank's contribution and the sequential reduction of one case, computed once per case.
template <class T>
struct expected_values {
  std::vector<T> all;  // all[r]: what rank r contributes
  T reduced;           // fold of all, in rank order
};

template <class T, class Make, class Op>
expected_values<T> expect(const test_case<T, Make, Op>& c, int ranks) {
  std::vector<T> all;
  for (int r = 0; r < ranks; ++r)
    all.push_back(c.make(r));
  T reduced = fold(all, c.op);
  return {std::move(all), std::move(reduced)};
}

/// Runs broadcast, reduce, gather and scatter of one type with one root and checks every rank's
/// result.
template <class Comm, class T, class Make, class Op>
void check_case(Comm& comm, const test_case<T, Make, Op>& c, int root,
                const expected_values<T>& expected) {
  const int n = comm.size();
  const int me = comm.rank();
  std::ostringstream where_text;
  where_text << c.label << ", root " << root << ", rank " << me << " of " << n;
  const std::string where = where_text.str();
  const std::vector<T>& all = expected.all;

  T value = me == root ? all[static_cast<std::size_t>(root)] : T{};
  comm.broadcast(value, root);
  REF_CHECK(value == all[static_cast<std::size_t>(root)], "broadcast (" << where << ")");

  const T reduced = comm.reduce(all[static_cast<std::size_t>(me)], c.op, root);
  if (me == root)
    REF_CHECK(reduced == expected.reduced, "reduce (" << where << ")");
  else
    REF_CHECK(reduced == T{}, "reduce result at a non-root (" << where << ")");

  if (c.heavy && root != 0) return;  // all-to-one of 8 MiB values: root 0 is enough

  const std::vector<T> gathered = comm.gather(all[static_cast<std::size_t>(me)], root);
  if (me == root)
    REF_CHECK(gathered == all, "gather (" << where << ")");
  else
    REF_CHECK(gathered.empty(), "gather result at a non-root (" << where << ")");

  const T mine = comm.scatter(me == root ? all : std::vector<T>{}, root);
  REF_CHECK(mine == all[static_cast<std::size_t>(me)], "scatter (" << where << ")");
}

template <class Comm, class T, class Make, class Op>
void check_case(Comm& comm, const test_case<T, Make, Op>& c, int root) {
  check_case(comm, c, root, expect(c, comm.size()));
}

/// Non-commutative reduction operators for the tests: string concatenation and map merging.
using string_map = std::map<std::string, int>;
inline std::string concat(const std::string& a, const std::string& b) {
  return a + b;
}
inline string_map merge(const string_map& a, const string_map& b) {
  string_map r = a;
  for (const auto& [k, v] : b)
    r[k] += v;
  return r;
}

inline std::vector<double> doubles(std::size_t count, int rank) {
  std::vector<double> v(count);
  for (std::size_t i = 0; i < count; ++i)
    v[i] = static_cast<double>(i % 1000) * 0.5 + rank;
  return v;
}

/// Every collective for every type of the core issue, with every root. `heavy` adds the
/// 1 Mi-element vector (8 MiB).
template <class Comm>
void check_all_types(Comm& comm, bool heavy) {
  using symphony::ops::sum;
  const auto pod_op = [](const pod& a, const pod& b) {
    pod r = a;  // associative, not commutative: the leftmost a, the rightmost tag
    r.b = a.b + b.b;
    std::copy(b.tag, b.tag + 4, r.tag);
    return r;
  };
  const auto join = [](const particle& a, const particle& b) {
    particle r = a;
    r.name += "+" + b.name;
    r.ids.insert(r.ids.end(), b.ids.begin(), b.ids.end());
    r.mass += b.mass;
    return r;
  };
  // Every root; the 8 MiB case (heavy) only the first and last root, which keeps the
  // large-payload path covered for every size without minutes of transfers.
  const auto with_every_root = [&](const auto& c) {
    const auto expected = expect(c, comm.size());
    const int n = comm.size();
    for (int root = 0; root < n; ++root)
      if (!c.heavy || root == 0 || root == n - 1) check_case(comm, c, root, expected);
  };
  with_every_root(make_case<int>(
      "int", [](int r) { return r * 7 + 1; }, sum));
  with_every_root(make_case<double>(
      "double", [](int r) { return r + 0.25; }, symphony::ops::max));
  with_every_root(make_case<pod>(
      "pod struct",
      [](int r) {
        return pod{r, r * 1.5, {'p', char('0' + r % 10), 'x', 0}};
      },
      pod_op));
  with_every_root(make_case<std::string>(
      "std::string", [](int r) { return std::string(static_cast<std::size_t>(r), char('a' + r)); },
      concat));
  for (const std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{1000}}) {
    with_every_root(make_case<std::vector<double>>(
        "std::vector<double>(" + std::to_string(count) + ")",
        [count](int r) { return doubles(count, r); }, sum));
  }
  if (heavy)
    with_every_root(make_case<std::vector<double>>(
        "std::vector<double>(1<<20)", [](int r) { return doubles(std::size_t{1} << 20, r); }, sum,
        true));
  with_every_root(make_case<string_map>(
      "std::map<std::string,int>",
      [](int r) {
        return string_map{{"all", r}, {"rank" + std::to_string(r), r * r}};
      },
      merge));
  with_every_root(make_case<particle>(
      "user struct with serialize",
      [](int r) {
        return particle{"p" + std::to_string(r), std::vector<int>(r % 4, r), r * 0.5};
      },
      join));

  comm.barrier();
}

}  // namespace reference
