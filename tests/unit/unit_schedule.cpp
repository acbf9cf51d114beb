// The arithmetic the collective algorithms share (algorithms/schedule.hpp) and the parsing of the
// algorithm thresholds (algorithms/tuning.hpp).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <symphony/algorithms/schedule.hpp>
#include <symphony/algorithms/tuning.hpp>

namespace alg = symphony::algorithms;

TEST_CASE("blocks cover the elements contiguously and differ in size by at most one") {
  for (std::size_t n = 0; n <= 70; ++n)
    for (std::size_t parts = 1; parts <= 20; ++parts) {
      CAPTURE(n);
      CAPTURE(parts);
      std::size_t next = 0;
      for (std::size_t i = 0; i < parts; ++i) {
        const auto b = alg::block_of(n, parts, i);
        CHECK(b.first == next);
        CHECK((b.count == n / parts || b.count == n / parts + 1));
        next = b.end();
      }
      CHECK(next == n);
    }
}

TEST_CASE("folding maps the ranks that stay onto 0 .. p'-1 in rank order") {
  for (int p = 1; p <= 70; ++p) {
    CAPTURE(p);
    const alg::folding fold(p);
    const int q = fold.virtual_size();
    CHECK(alg::is_power_of_two(q));
    CHECK(q <= p);
    CHECK(2 * q > p);
    int expected_virtual = 0;
    int sitting_out = 0;
    for (int r = 0; r < p; ++r) {
      CAPTURE(r);
      CHECK(!(fold.sits_out(r) && fold.absorbs(r)));
      if (fold.sits_out(r)) {
        ++sitting_out;
        CHECK(fold.absorbs(r + 1));
        CHECK(fold.stands_for(r) == fold.virtual_rank(r + 1));
        continue;
      }
      const int v = fold.virtual_rank(r);
      CHECK(v == expected_virtual++);  // order preserved: combining in virtual order is rank order
      CHECK(fold.real_rank(v) == r);
      CHECK(fold.stands_for(r) == v);
      CHECK(fold.first_rank(v) == (fold.absorbs(r) ? r - 1 : r));
    }
    CHECK(expected_virtual == q);
    CHECK(sitting_out == p - q);
  }
}

TEST_CASE("bit reversal is an involution and a permutation") {
  for (int bits = 0; bits <= 6; ++bits) {
    std::set<int> seen;
    for (int v = 0; v < (1 << bits); ++v) {
      CHECK(alg::reverse_bits(alg::reverse_bits(v, bits), bits) == v);
      seen.insert(alg::reverse_bits(v, bits));
    }
    CHECK(seen.size() == static_cast<std::size_t>(1 << bits));
  }
  CHECK(alg::reverse_bits(1, 3) == 4);
  CHECK(alg::reverse_bits(6, 3) == 3);
}

TEST_CASE("steps carry the algorithm, and phases and rounds never collide") {
  std::set<std::uint32_t> steps;
  for (const auto id : {alg::algorithm_id::recursive_doubling, alg::algorithm_id::ring})
    for (std::uint32_t phase = 0; phase < 16; ++phase)
      for (const std::uint32_t round : {0u, 1u, 77u, alg::max_round}) {
        const auto step = alg::make_step(id, phase, round);
        CHECK(alg::algorithm_of_step(step) == static_cast<std::uint32_t>(id));
        CHECK(steps.insert(step).second);
      }
  // The binomial algorithms' steps 0 and 1 belong to algorithm 0.
  CHECK(alg::algorithm_of_step(0) == static_cast<std::uint32_t>(alg::algorithm_id::binomial));
  CHECK(alg::algorithm_of_step(1) == static_cast<std::uint32_t>(alg::algorithm_id::binomial));
  CHECK(std::string(alg::algorithm_name(2)) == "Rabenseifner");
  CHECK(std::string(alg::algorithm_name(200)) == "unknown algorithm");
}

TEST_CASE("powers of two and logarithms") {
  CHECK(alg::power_of_two_floor(1) == 1);
  CHECK(alg::power_of_two_floor(7) == 4);
  CHECK(alg::power_of_two_floor(8) == 8);
  CHECK(alg::power_of_two_floor(33) == 32);
  CHECK(alg::ceil_log2(1) == 0);
  CHECK(alg::ceil_log2(2) == 1);
  CHECK(alg::ceil_log2(33) == 6);
  CHECK(!alg::is_power_of_two(0));
  CHECK(!alg::is_power_of_two(12));
}

TEST_CASE("byte counts: numbers with K, M, G suffixes; anything else names variable and value") {
  using symphony::algorithm_thresholds;
  CHECK(algorithm_thresholds::parse_bytes("V", "0") == 0);
  CHECK(algorithm_thresholds::parse_bytes("V", "4096") == 4096);
  CHECK(algorithm_thresholds::parse_bytes("V", "64k") == 65536);
  CHECK(algorithm_thresholds::parse_bytes("V", "64KiB") == 65536);
  CHECK(algorithm_thresholds::parse_bytes("V", " 3 M ") == 3u << 20);
  CHECK(algorithm_thresholds::parse_bytes("V", "1g") == std::size_t{1} << 30);
  for (const std::string bad : {"", " ", "x", "-5", "+5", "1.0", "10 KB", "5T",
                                "18446744073709551616", "18446744073709551615K"}) {
    CAPTURE(bad);
    try {
      (void)algorithm_thresholds::parse_bytes("SYMPHONY_BCAST_LONG_BYTES", bad);
      FAIL("accepted");
    } catch (const symphony::config_error& e) {
      CHECK(std::string(e.what()).find("SYMPHONY_BCAST_LONG_BYTES='" + bad + "'") !=
            std::string::npos);
    }
  }
}
