// Collectives over the in-process thread transport: the same algorithms as between processes,
// fast enough to try every size from 1 to 64 ranks with every root.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <symphony/collectives.hpp>
#include <vector>

#include "reference.hpp"

using namespace std::chrono_literals;
using symphony::thread_communicator;

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST_CASE("every collective with every type and every root, 1 to 16 ranks") {
  for (int n = 1; n <= 16; ++n) {
    CAPTURE(n);
    CHECK_NOTHROW(symphony::run_threads(
        n, [](thread_communicator& comm) { reference::check_all_types(comm, /*heavy=*/false); }));
  }
}

TEST_CASE("broadcast, reduce, gather, scatter and barrier for every size from 1 to 64 ranks") {
  for (int n = 1; n <= 64; ++n) {
    CAPTURE(n);
    CHECK_NOTHROW(symphony::run_threads(n, [](thread_communicator& comm) {
      for (int root = 0; root < comm.size(); ++root) {
        reference::check_case(comm,
                              reference::make_case<int>(
                                  "int", [](int r) { return r + 1; }, symphony::ops::sum),
                              root);
        reference::check_case(
            comm,
            reference::make_case<std::string>(
                "string", [](int r) { return std::to_string(r); }, reference::concat),
            root);
        comm.barrier();
      }
    }));
  }
}

TEST_CASE("a non-commutative reduction combines in rank order whatever the root") {
  symphony::run_threads(5, [](thread_communicator& comm) {
    for (int root = 0; root < comm.size(); ++root) {
      const std::string piece(1, static_cast<char>('a' + comm.rank()));
      const std::string word = comm.reduce(piece, reference::concat, root);
      if (comm.rank() == root) REF_CHECK(word == "abcde", "root " << root << " got " << word);
    }
  });
}

TEST_CASE("built-in operators are element-wise on vectors and arrays") {
  symphony::run_threads(4, [](thread_communicator& comm) {
    const std::vector<int> v{comm.rank(), 10 * comm.rank(), 1};
    const auto total = comm.reduce(v, symphony::ops::sum, 2);
    if (comm.rank() == 2) REF_CHECK((total == std::vector<int>{6, 60, 4}), "sum of vectors");
    const std::array<unsigned, 2> bits{1u << comm.rank(), 0xffu};
    const auto anded = comm.reduce(bits, symphony::ops::bit_or, 0);
    if (comm.rank() == 0) REF_CHECK((anded == std::array<unsigned, 2>{15u, 0xffu}), "bit_or");
    const auto smallest = comm.reduce(comm.rank() - 1.5, symphony::ops::min, 3);
    if (comm.rank() == 3) REF_CHECK(smallest == -1.5, "min");
  });
}

TEST_CASE("point-to-point: order per tag, tags matched independently, self-send, receive into") {
  symphony::run_threads(3, [](thread_communicator& comm) {
    const int next = (comm.rank() + 1) % comm.size();
    const int prev = (comm.rank() + comm.size() - 1) % comm.size();
    for (int i = 0; i < 100; ++i)
      comm.send(i, next, /*tag=*/1);
    comm.send(std::string("tag two"), next, 2);
    // Tag 2 was sent last but is received first: tags are matched independently.
    REF_CHECK(comm.recv<std::string>(prev, 2) == "tag two", "tag 2");
    for (int i = 0; i < 100; ++i)
      REF_CHECK(comm.recv<int>(prev, 1) == i, "in order, i = " << i);
    comm.send(std::vector<double>{1.5, 2.5}, comm.rank(), 9);
    std::vector<double> into;
    into.reserve(16);
    comm.recv(into, comm.rank(), 9);
    REF_CHECK((into == std::vector<double>{1.5, 2.5}), "self-send");
  });
}

TEST_CASE("collectives and point-to-point messages interleave without mixing") {
  symphony::run_threads(4, [](thread_communicator& comm) {
    const int next = (comm.rank() + 1) % comm.size();
    const int prev = (comm.rank() + comm.size() - 1) % comm.size();
    for (int i = 0; i < 200; ++i) {
      comm.send(i * 10 + comm.rank(), next, 0);
      int x = comm.rank() == i % 4 ? i : -1;
      comm.broadcast(x, i % 4);
      REF_CHECK(x == i, "broadcast " << i);
      REF_CHECK(comm.recv<int>(prev, 0) == i * 10 + prev, "p2p " << i);
      const int total = comm.reduce(1, symphony::ops::sum, (i + 1) % 4);
      if (comm.rank() == (i + 1) % 4) REF_CHECK(total == 4, "reduce " << i);
    }
  });
}

TEST_CASE("ranks that call different collectives get a protocol_error naming both") {
  const std::string what = error_of([] {
    symphony::run_threads(
        2,
        [](thread_communicator& comm) {
          int x = 1;
          if (comm.rank() == 0)
            comm.broadcast(x, 0);
          else
            (void)comm.scatter(std::vector<int>{}, 0);
        },
        5s);
  });
  CHECK(what.find("broadcast") != std::string::npos);
  CHECK(what.find("scatter") != std::string::npos);
  CHECK(what.find("same collectives in the same order") != std::string::npos);
}

TEST_CASE("ranks that pass different roots get a protocol_error") {
  const std::string what = error_of([] {
    symphony::run_threads(
        3,
        [](thread_communicator& comm) {
          int x = 1;
          comm.broadcast(x, comm.rank() == 2 ? 1 : 0);
        },
        5s);
  });
  CHECK(what.find("root") != std::string::npos);
  CHECK(what.find("same root") != std::string::npos);
}

TEST_CASE("element-wise reduction of vectors of different lengths is a protocol_error") {
  const std::string what = error_of([] {
    symphony::run_threads(
        2,
        [](thread_communicator& comm) {
          (void)comm.reduce(std::vector<int>(static_cast<std::size_t>(comm.rank() + 1), 1),
                            symphony::ops::sum, 0);
        },
        5s);
  });
  CHECK(what.find("2 elements") != std::string::npos);
  CHECK(what.find("this rank has 1") != std::string::npos);
}

TEST_CASE("a rank that never joins a collective makes the others time out, naming it") {
  std::atomic<int> timeouts{0};
  std::string first_message;
  const auto started = std::chrono::steady_clock::now();
  CHECK_NOTHROW(symphony::run_threads(
      3,
      [&](thread_communicator& comm) {
        if (comm.rank() == 2) return;  // never shows up
        try {
          comm.barrier();
        } catch (const symphony::timeout_error& e) {
          if (timeouts++ == 0) first_message = e.what();
        }
      },
      200ms));
  CHECK(timeouts == 2);
  CHECK(first_message.find("barrier") != std::string::npos);
  CHECK(first_message.find("timed out after 200 ms") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
}

TEST_CASE("when one rank throws, run_threads rethrows it and the others stop at once") {
  const auto started = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH_AS(symphony::run_threads(
                           4,
                           [](thread_communicator& comm) {
                             if (comm.rank() == 1) throw std::logic_error("rank 1 gave up");
                             comm.barrier();
                           },
                           60s),
                       "rank 1 gave up", std::logic_error);
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}

TEST_CASE("bad arguments are std::invalid_argument on the calling rank, naming the value") {
  symphony::run_threads(1, [](thread_communicator& comm) {
    int x = 0;
    CHECK_THROWS_WITH_AS(comm.broadcast(x, 1), doctest::Contains("root 1 is not a rank"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS((void)comm.reduce(x, symphony::ops::sum, -1), doctest::Contains("root -1"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(comm.send(x, 3), doctest::Contains("dest 3"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(comm.send(x, 0, -2), doctest::Contains("tag -2"), std::invalid_argument);
    CHECK_THROWS_WITH_AS((void)comm.scatter(std::vector<int>{1, 2}, 0),
                         doctest::Contains("passed 2 values"), std::invalid_argument);
  });
}

TEST_CASE("receiving a value of the wrong type is a protocol_error naming the sender") {
  const std::string what = error_of([] {
    symphony::run_threads(
        2,
        [](thread_communicator& comm) {
          if (comm.rank() == 0)
            comm.send(std::int16_t{5}, 1);
          else
            (void)comm.recv<double>(0);
        },
        5s);
  });
  CHECK(what.find("rank 0") != std::string::npos);
  CHECK(what.find("2 bytes") != std::string::npos);
}
