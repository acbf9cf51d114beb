// Repeated same-size collectives allocate nothing but what their results need, and their
// caller-buffer forms nothing at all (the guarantee in communicator.hpp): counted by replacing the
// global operator new in this executable, per thread, over in-process threads and over real
// processes (ZeroMQ, ipc and tcp).
//
// What is counted: every operator new of this program, symphony's and the standard library's,
// and libzmq's too (its operator new resolves to this one). libzmq takes its message buffers and
// queue chunks from malloc, not operator new, so they are not counted: they are ZeroMQ's, and its
// allocator recycles them. The counts are per thread, so over threads each rank counts its own.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdlib>
#include <new>
#include <sstream>
#include <string>
#include <symphony/collectives.hpp>
#include <symphony/threads.hpp>
#include <vector>

#include "spawn.hpp"

namespace {
thread_local std::size_t allocations = 0;  // operator new calls by this thread

void* counted(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) {
  return counted(size);
}
void* operator new[](std::size_t size) {
  return counted(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  ++allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

// A trivially copyable value: travels as its own bytes.
struct particle {
  double x, y, z;
  int id;
};

particle add(const particle& a, const particle& b) {
  return {a.x + b.x, a.y + b.y, a.z + b.z, a.id + b.id};
}

constexpr int warmup = 10;
constexpr int calls = 20;
// Over threads, which rank's pool a recycled buffer lands in depends on timing, so a pool may
// still grow by a few buffers after the warm-up: up to 5, in all 20 calls, are let pass.
// A per-call allocation would show 20.
constexpr std::size_t settling = 5;

// Runs `call` warmup times, then `calls` times counting this thread's allocations; returns a
// complaint naming the operation when there were more than `allowed` per call, else "".
// A barrier follows each call, as in a loop of computing and communicating: a root that runs
// ahead of its peers by more calls than ever before has more messages in flight, and over threads
// each needs a buffer (over ZeroMQ, libzmq's).
template <class Comm, class Call>
std::string measure(Comm& comm, const char* what, std::size_t allowed, Call&& call) {
  const int rank = comm.rank();
  for (int i = 0; i < warmup; ++i) {
    call();
    comm.barrier();
  }
  const std::size_t before = allocations;
  for (int i = 0; i < calls; ++i) {
    call();
    comm.barrier();
  }
  const std::size_t made = allocations - before;
  if (made <= allowed * calls + settling) return {};
  std::ostringstream text;
  text << "rank " << rank << ": " << what << " made " << made << " allocations in " << calls
       << " calls, " << allowed << " per call allowed\n";
  return text.str();
}

// Every checked collective at one size, under the communicator's current thresholds: the
// value-returning forms allocate their results and nothing else; the caller-buffer forms
// (allreduce_in_place, reduce_in_place, allgather and gather into a vector) allocate nothing at
// all. Each call's result is kept in a variable that outlives the loop, as a caller reusing it
// would.
template <class Comm>
std::string check_size(Comm& comm, std::size_t count, const char* label) {
  const int me = comm.rank();
  const auto p = static_cast<std::size_t>(comm.size());
  std::string problems;
  const auto note = [&](const std::string& what) {
    return std::string(what) + " of " + std::to_string(count) + " doubles (" + label + ")";
  };
  std::vector<double> value(count, me + 1.0);
  std::vector<double> result;

  problems += measure(comm, note("broadcast").c_str(), 0, [&] { comm.broadcast(value, 0); });
  // The result of reduce and allreduce is a new vector: one allocation, the result's (at the
  // reduce's other ranks the copy that the call reduces in place, then drops).
  problems += measure(comm, note("reduce").c_str(), 1,
                      [&] { result = comm.reduce(value, symphony::ops::sum, 0); });
  problems += measure(comm, note("allreduce").c_str(), 1,
                      [&] { result = comm.allreduce(value, symphony::ops::sum); });
  // reduce_scatter: its block of the result; its working copy of the input is kept.
  const std::vector<double> blocks(p * count, 1.0);
  problems += measure(comm, note("reduce_scatter").c_str(), 1,
                      [&] { result = comm.reduce_scatter(blocks, symphony::ops::sum); });
  // alltoall: the outer vector and one per rank.
  std::vector<std::vector<double>> per_rank(p, value), got;
  problems +=
      measure(comm, note("alltoall").c_str(), p + 1, [&] { got = comm.alltoall(per_rank); });
  // scan and exscan: the result; the partials they receive and combine are kept.
  problems += measure(comm, note("scan").c_str(), 1,
                      [&] { result = comm.scan(value, symphony::ops::sum); });
  problems += measure(comm, note("exscan").c_str(), 1,
                      [&] { result = comm.exscan(value, symphony::ops::sum); });
  // The variable-count forms: their result (the root's, for gatherv); the counts vector is
  // refilled in place.
  std::vector<std::size_t> counts;
  problems += measure(comm, note("gatherv").c_str(), 1,
                      [&] { result = comm.gatherv(value, counts, static_cast<int>(p) - 1); });
  problems += measure(comm, note("allgatherv").c_str(), 1,
                      [&] { result = comm.allgatherv(value, counts); });
  std::vector<std::vector<double>> pieces(p, value);
  problems += measure(comm, note("scatter").c_str(), 1, [&] { result = comm.scatter(pieces, 0); });
  const std::vector<std::size_t> shares(p, count);
  problems += measure(comm, note("scatterv").c_str(), 1,
                      [&] { result = comm.scatterv(blocks, shares, 0); });
  // allgather: the outer vector and one per rank.
  std::vector<std::vector<double>> all;
  problems += measure(comm, note("allgather").c_str(), p + 1, [&] { all = comm.allgather(value); });

  // The caller-buffer forms: nothing. The work vector is refilled each call (same size: no
  // allocation), as a loop that reduces fresh values each iteration would.
  std::vector<double> work;
  problems += measure(comm, note("reduce_in_place").c_str(), 0, [&] {
    work = value;
    comm.reduce_in_place(work, symphony::ops::sum, 0);
  });
  problems += measure(comm, note("allreduce_in_place").c_str(), 0, [&] {
    work = value;
    comm.allreduce_in_place(work, symphony::ops::sum);
  });
  problems += measure(comm, note("allgather into a vector").c_str(), 0,
                      [&] { comm.allgather(value, all); });
  problems += measure(comm, note("gather into a vector").c_str(), 0,
                      [&] { comm.gather(value, all, static_cast<int>(p) - 1); });

  if (me == 0 && count > 0 && !(value.size() == count)) problems += "broadcast lost elements\n";
  return problems;
}

template <class Comm>
std::string check_particles(Comm& comm) {
  const int me = comm.rank();
  std::string problems;
  particle mine{1.0 * me, 2.0, 3.0, me};
  particle got{};
  problems += measure(comm, "broadcast of a struct", 0, [&] { comm.broadcast(mine, 0); });
  problems += measure(comm, "reduce of a struct", 0, [&] { got = comm.reduce(mine, add, 0); });
  problems += measure(comm, "allreduce of a struct", 0, [&] { got = comm.allreduce(mine, add); });
  std::vector<particle> all;
  problems += measure(comm, "allgather of a struct", 1, [&] { all = comm.allgather(mine); });
  problems += measure(comm, "reduce_in_place of a struct", 0, [&] {
    got = mine;
    comm.reduce_in_place(got, add, 0);
  });
  problems += measure(comm, "allreduce_in_place of a struct", 0, [&] {
    got = mine;
    comm.allreduce_in_place(got, add);
  });
  problems +=
      measure(comm, "allgather of a struct into a vector", 0, [&] { comm.allgather(mine, all); });
  problems +=
      measure(comm, "gather of a struct into a vector", 0, [&] { comm.gather(mine, all, 0); });
  return problems;
}

// Short and long payloads under the default thresholds, then again with every long-message
// algorithm chosen (thresholds 0).
template <class Comm>
std::string check_everything(Comm& comm) {
  std::string problems = check_particles(comm);
  for (const std::size_t count : {std::size_t{1}, std::size_t{1000}, std::size_t{40000}})
    problems += check_size(comm, count, "default thresholds");
  symphony::algorithm_thresholds all_long;
  all_long.broadcast_long_bytes = 0;
  all_long.reduce_long_bytes = 0;
  all_long.allreduce_long_bytes = 0;
  all_long.allgather_long_bytes = 0;
  all_long.reduce_scatter_long_bytes = 0;
  comm.set_thresholds(all_long);
  for (const std::size_t count : {std::size_t{1000}, std::size_t{40000}})
    problems += check_size(comm, count, "long algorithms");
  comm.barrier();
  return problems;
}

}  // namespace

SYMPHONY_SCENARIO(allocations) {
  symphony::communicator world;
  const std::string problems = check_everything(world);
  if (!problems.empty()) {
    std::cout << problems;
    return 1;
  }
  return 0;
}

TEST_CASE("repeated collectives over threads allocate only their results, in place nothing") {
  for (const int n : {2, 3, 4, 5}) {
    CAPTURE(n);
    std::vector<std::string> problems(static_cast<std::size_t>(n));
    symphony::run_threads(n, [&](symphony::thread_communicator& comm) {
      problems[static_cast<std::size_t>(comm.rank())] = check_everything(comm);
    });
    for (const auto& text : problems)
      CHECK_MESSAGE(text.empty(), text);
  }
}

TEST_CASE("repeated collectives between processes allocate only their results, in place nothing") {
  for (const bool tcp : {false, true}) {
    for (const int n : {2, 3, 4}) {
      CAPTURE(n);
      CAPTURE(tcp);
      testing::job j{"allocations", n};
      j.tcp = tcp;
      for (const auto& rank : testing::run_job(j))
        CHECK_RANK_OK(rank);
    }
  }
}

int main(int argc, char** argv) {
  testing::run_scenario_if_child();
  doctest::Context context(argc, argv);
  return context.run();
}
