// symphony/algorithms/tuning.hpp: the message sizes at which collectives change algorithm.
//
// Short messages are bound by latency (the number of sequential rounds), long ones by bandwidth
// (the bytes each rank moves), so every collective with a choice has a threshold in bytes
// (Thakur, Rabenseifner and Gropp, "Optimization of Collective Communication Operations in
// MPICH", 2005). Each threshold is read once, when a communicator is made, from its environment
// variable; communicators made from another (split, subgroup) inherit their parent's. A value is a
// whole number of bytes, optionally followed by K, M or G (KiB, MiB, GiB; case-insensitive, "KiB"
// also accepted): `SYMPHONY_BCAST_LONG_BYTES=64K`. 0 means "always the long-message algorithm".
//
// The variables, what each is compared with, and the short / long algorithm:
//   SYMPHONY_BCAST_LONG_BYTES: the root's payload; binomial / scatter + allgather.
//   SYMPHONY_REDUCE_LONG_BYTES: one rank's vector; binomial / Rabenseifner.
//   SYMPHONY_ALLREDUCE_LONG_BYTES: one rank's vector; recursive doubling / Rabenseifner (2^k
//     ranks) or ring (other counts, see the next one).
//   SYMPHONY_ALLREDUCE_RING_MIN_BLOCK_BYTES: a long allreduce on a rank count that is not a
//     power of two goes round a ring while one rank's vector / size() (the ring's block) is at
//     least this, else Rabenseifner (which folds the extra ranks in). The ring takes 2(p - 1)
//     latencies, so past some p its rounds cost more than Rabenseifner's fold; where depends on
//     the vector, hence a block size: in the simulator at 10 us and 10 GB/s the two cross at
//     blocks of about 32 KiB (8 MB vectors: about 200 ranks; 800 KB: about 24; see
//     docs/simulator.md).
//   SYMPHONY_ALLGATHER_LONG_BYTES: size() x one rank's value; Bruck / ring.
//   SYMPHONY_REDUCE_SCATTER_LONG_BYTES: one rank's whole input vector; recursive halving / ring.
//   SYMPHONY_BCAST_PIPELINE_BYTES: the root's payload, when long; scatter + allgather /
//     pipelined chain.
//
// The long-message algorithms of reduce, allreduce and reduce_scatter split vectors into blocks,
// so they apply only where that keeps the result exact: reduce and allreduce of std::vector,
// std::basic_string or std::array of arithmetic elements with a built-in operator
// (symphony::ops::sum, ...); reduce_scatter with an operator declared commutative. Everything
// else always takes the short-message algorithm, which is correct for any type and any
// associative operator. Every rank must use the same thresholds: ranks that choose different
// algorithms get a protocol_error naming both.
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <string>

#include "../error.hpp"

namespace symphony {

/// The thresholds, in bytes, at or above which a collective uses its long-message algorithm.
/// The defaults suit ZeroMQ on one machine (ipc) and a fast LAN; measure with symphony-bench and
/// override per job through the environment, or per communicator with set_thresholds().
struct algorithm_thresholds {
  std::size_t broadcast_long_bytes = 512 * 1024;      ///< SYMPHONY_BCAST_LONG_BYTES
  std::size_t reduce_long_bytes = 64 * 1024;          ///< SYMPHONY_REDUCE_LONG_BYTES
  std::size_t allreduce_long_bytes = 64 * 1024;       ///< SYMPHONY_ALLREDUCE_LONG_BYTES
  std::size_t allgather_long_bytes = 128 * 1024;      ///< SYMPHONY_ALLGATHER_LONG_BYTES
  std::size_t reduce_scatter_long_bytes = 64 * 1024;  ///< SYMPHONY_REDUCE_SCATTER_LONG_BYTES
  /// SYMPHONY_ALLREDUCE_RING_MIN_BLOCK_BYTES: the smallest ring block (one rank's vector /
  /// size()) for which a long allreduce on a non-power-of-two rank count takes the ring rather
  /// than Rabenseifner (see allreduce_takes_ring).
  std::size_t allreduce_ring_min_block_bytes = 32 * 1024;
  /// SYMPHONY_BCAST_PIPELINE_BYTES: a long broadcast (at least broadcast_long_bytes) of at least
  /// this many bytes goes down a pipelined chain instead of scatter + allgather.
  std::size_t broadcast_pipeline_bytes = std::numeric_limits<std::size_t>::max();

  /// The defaults, overridden by every variable that is set (see the top of this header).
  /// Throws config_error naming the variable and its value when one is not a byte count.
  static algorithm_thresholds from_environment() {
    return from_environment([](const std::string& name) -> std::optional<std::string> {
      const char* value = std::getenv(name.c_str());
      if (value == nullptr) return std::nullopt;
      return std::string(value);
    });
  }

  /// The same, reading variables through `lookup` (nullopt for an unset variable).
  static algorithm_thresholds from_environment(
      const std::function<std::optional<std::string>(const std::string&)>& lookup) {
    algorithm_thresholds t;
    const auto read = [&](const char* name, std::size_t& field) {
      if (const auto value = lookup(name)) field = parse_bytes(name, *value);
    };
    read("SYMPHONY_BCAST_LONG_BYTES", t.broadcast_long_bytes);
    read("SYMPHONY_REDUCE_LONG_BYTES", t.reduce_long_bytes);
    read("SYMPHONY_ALLREDUCE_LONG_BYTES", t.allreduce_long_bytes);
    read("SYMPHONY_ALLGATHER_LONG_BYTES", t.allgather_long_bytes);
    read("SYMPHONY_REDUCE_SCATTER_LONG_BYTES", t.reduce_scatter_long_bytes);
    read("SYMPHONY_BCAST_PIPELINE_BYTES", t.broadcast_pipeline_bytes);
    read("SYMPHONY_ALLREDUCE_RING_MIN_BLOCK_BYTES", t.allreduce_ring_min_block_bytes);
    return t;
  }

  /// Whether a long allreduce (at least allreduce_long_bytes) of `bytes` per rank on `ranks`
  /// ranks, not a power of two, goes round a ring: while its blocks, bytes / ranks, are at least
  /// allreduce_ring_min_block_bytes; otherwise Rabenseifner's algorithm. Every rank passes the
  /// same values and so decides the same.
  bool allreduce_takes_ring(std::size_t bytes, int ranks) const {
    return ranks > 0 && bytes / static_cast<std::size_t>(ranks) >= allreduce_ring_min_block_bytes;
  }

  /// Parses "4096", "64K", "64KiB", "1M", "2g" (powers of 1024). Throws config_error naming
  /// `variable` and the value for anything else (empty, negative, fractional, unknown suffix,
  /// too large for size_t).
  static std::size_t parse_bytes(const std::string& variable, const std::string& text) {
    const auto bad = [&](const std::string& why) -> config_error {
      return config_error(variable + "='" + text + "' is not a byte count (" + why +
                          "; write a whole number, optionally followed by K, M or G for KiB, "
                          "MiB, GiB)");
    };
    std::size_t i = 0;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    const std::size_t digits_begin = i;
    std::uint64_t value = 0;
    constexpr auto max = std::numeric_limits<std::size_t>::max();
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      const auto digit = static_cast<std::uint64_t>(text[i] - '0');
      if (value > (max - digit) / 10) throw bad("too large");
      value = value * 10 + digit;
    }
    if (i == digits_begin) throw bad("no digits");
    std::string suffix;
    for (; i < text.size(); ++i)
      if (!std::isspace(static_cast<unsigned char>(text[i])))
        suffix += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    std::uint64_t unit = 1;
    if (suffix == "k" || suffix == "kib")
      unit = std::uint64_t{1} << 10;
    else if (suffix == "m" || suffix == "mib")
      unit = std::uint64_t{1} << 20;
    else if (suffix == "g" || suffix == "gib")
      unit = std::uint64_t{1} << 30;
    else if (!suffix.empty())
      throw bad("unknown suffix '" + suffix + "'");
    if (value > max / unit) throw bad("too large");
    return static_cast<std::size_t>(value * unit);
  }
};

}  // namespace symphony
