// tests/fuzz/payload_types.hpp: the value types the payload fuzz target decodes into, shared with
// fuzz_seeds.cpp, which writes valid encodings of each as seeds.
//
// An input's first byte picks the type (its value modulo payload_type_count); the rest is the
// payload. The list covers both paths of symphony/detail/serialization.hpp: raw (int,
// std::vector<double>, std::string) and cereal, including every cereal loader that sizes a
// container from a count it read (vector, string, list, unordered_set, nested vectors, map).
#pragma once

#include <symphony/detail/serialization.hpp>

#include <cstddef>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace symphony_fuzz {

/// A user struct with a serialize member, as an application would send.
struct record {
  int id = 0;
  std::string name;
  std::vector<double> values;
  std::map<std::string, int> counts;
  std::optional<std::string> note;
  bool done = false;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(id, name, values, counts, note, done);
  }
};

/// The types, in the order of the selector byte. `canonical` says whether cereal's encoding of a
/// value is the only encoding that decodes to it: then a payload that decodes must be exactly the
/// encoding of what it decoded to. Hash and tree containers are not canonical (their elements may
/// arrive in another order, or repeated). `stable_bytes` says whether equal values always encode
/// to equal bytes; not so for hash containers, whose order depends on their bucket count.
template <class T, bool Canonical, bool StableBytes = true>
struct payload_type {
  using type = T;
  static constexpr bool canonical = Canonical;
  static constexpr bool stable_bytes = StableBytes;
};

using payload_types = std::tuple<
    payload_type<int, true>,                                            // 0 raw
    payload_type<std::vector<double>, true>,                            // 1 raw
    payload_type<std::string, true>,                                    // 2 raw
    payload_type<std::vector<std::string>, true>,                       // 3 cereal
    payload_type<std::map<std::string, int>, false>,                    // 4 cereal
    payload_type<record, false>,                                        // 5 cereal
    payload_type<std::vector<std::vector<int>>, true>,                  // 6 cereal, binary blocks
    payload_type<std::list<std::string>, true>,                         // 7 cereal
    payload_type<std::unordered_set<std::string>, false, false>,        // 8 cereal
    payload_type<std::variant<int, std::string, std::vector<std::string>>, true>,  // 9 cereal
    payload_type<std::vector<bool>, true>,                              // 10 cereal
    payload_type<std::pair<std::string, std::optional<std::vector<int>>>, true>>;  // 11 cereal

inline constexpr std::size_t payload_type_count = std::tuple_size_v<payload_types>;

/// One sample value per type, for the seeds (index as in payload_types).
inline auto payload_samples() {
  record r;
  r.id = 7;
  r.name = "worker";
  r.values = {1.5, -2.25, 1e300};
  r.counts = {{"a", 1}, {"bb", -2}};
  r.note = "late";
  r.done = true;
  return std::make_tuple(
      -123456, std::vector<double>{0.5, -1.0, 3.25}, std::string("hello, world"),
      std::vector<std::string>{"alpha", "", "gamma gamma"},
      std::map<std::string, int>{{"x", 1}, {"y", 2}, {"zz", -3}}, r,
      std::vector<std::vector<int>>{{1, 2, 3}, {}, {-4}},
      std::list<std::string>{"one", "two"}, std::unordered_set<std::string>{"solo"},
      std::variant<int, std::string, std::vector<std::string>>(std::vector<std::string>{"v", "w"}),
      std::vector<bool>{true, false, true},
      std::pair<std::string, std::optional<std::vector<int>>>("key", std::vector<int>{9, 8}));
}

}  // namespace symphony_fuzz
