// pmi_allgather_main: one rank of a job started by a PMI-1 launcher (mpiexec.hydra -n 4 ...,
// with or without -pmi-port; srun --mpi=pmi2 works too). Each rank exchanges values through the
// launcher's key-value store and checks the table it gets back. Prints one line per rank:
//
//   pmi_allgather_main: rank R of N ok (...timings...)
//
// and exits 0, or prints what went wrong and exits 1.
//
//   pmi_allgather_main            a pmi_client: rank and size from the connection (so that it
//                                 also works with -pmi-port, where PMI_RANK is not set), then an
//                                 endpoint-like value per rank and a 3000-byte value holding every
//                                 awkward character (split over several keys), then 20 more
//                                 exchanges on the same connection (the steady-state cost)
//   pmi_allgather_main --free     the free function pmi_allgather(), once, with a value derived
//                                 from PMI_RANK (or, without it, from the process id)
//   pmi_allgather_main --straggler  rank 3 comes 3 s late: the others must fail with a
//                                 timeout_error after their 1 s timeout, not hang
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <symphony/bootstrap/pmi.hpp>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double milliseconds_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

/// What an endpoint description looks like when the communicator publishes one.
std::string endpoint(int rank) {
  return "tcp://127.0.0.1:" + std::to_string(41000 + rank) + "|ipc://@symphony-pmitest-" +
         std::to_string(rank) + "|bootid:netns";
}

/// 3000 bytes with everything the wire protocol cannot carry as it is.
std::string awkward(int rank) {
  std::string v = "rank=" + std::to_string(rank) + " has spaces, %41, \\ backslash, ;#&'\"\n\t";
  for (int c = 1; c < 256; ++c)
    v += static_cast<char>(c);
  while (v.size() < 3000)
    v += static_cast<char>('A' + (v.size() + static_cast<std::size_t>(rank)) % 26);
  return v;
}

int fail(const std::string& what) {
  std::cerr << "pmi_allgather_main: FAILED: " << what << std::endl;
  return 1;
}

/// Checks `table` against `expected(r)`; "" when it matches.
template <class Expected>
std::string mismatch(const std::vector<std::string>& table, int size, Expected expected) {
  if (table.size() != static_cast<std::size_t>(size))
    return "table has " + std::to_string(table.size()) + " entries, expected " +
           std::to_string(size);
  for (int r = 0; r < size; ++r)
    if (table[static_cast<std::size_t>(r)] != expected(r))
      return "entry " + std::to_string(r) + " is '" + table[static_cast<std::size_t>(r)].substr(0, 80) +
             "', expected '" + expected(r).substr(0, 80) + "'";
  return "";
}

int with_client() {
  const auto start = clock_type::now();
  symphony::bootstrap::pmi_client pmi(std::chrono::seconds(30));
  const double connected = milliseconds_since(start);
  const int rank = pmi.rank();
  const int size = pmi.size();

  // The environment, where present, must agree with what the server said.
  if (const char* env_rank = std::getenv("PMI_RANK"))
    if (std::to_string(rank) != env_rank)
      return fail("rank " + std::to_string(rank) + " but PMI_RANK=" + env_rank);

  const auto t1 = clock_type::now();
  const auto table = pmi.allgather(endpoint(rank));
  const double first = milliseconds_since(t1);
  if (auto why = mismatch(table, size, endpoint); !why.empty())
    return fail("rank " + std::to_string(rank) + ", endpoints: " + why);

  const auto t2 = clock_type::now();
  const auto long_table = pmi.allgather(awkward(rank));
  const double second = milliseconds_since(t2);
  if (auto why = mismatch(long_table, size, awkward); !why.empty())
    return fail("rank " + std::to_string(rank) + ", 3000-byte values: " + why);

  // Steady state: all ranks have started, so this is the exchange itself, not start-up skew.
  constexpr int repeats = 20;
  const auto t3 = clock_type::now();
  for (int i = 0; i < repeats; ++i) {
    auto suffixed = [i](int r) { return endpoint(r) + "#" + std::to_string(i); };
    if (auto why = mismatch(pmi.allgather(suffixed(rank)), size, suffixed); !why.empty())
      return fail("rank " + std::to_string(rank) + ", repeat " + std::to_string(i) + ": " + why);
  }
  const double repeated = milliseconds_since(t3) / repeats;

  std::string mapping;
  if (rank == 0) mapping = ", PMI_process_mapping=" + pmi.get("PMI_process_mapping");

  std::printf("pmi_allgather_main: rank %d of %d ok (%s, kvsname %s, vallen_max %zu; "
              "connect+init %.2f ms, first allgather %.2f ms, 3000-byte allgather %.2f ms, "
              "then %.2f ms per allgather over %d more%s)\n",
              rank, size, pmi.connection().c_str(), pmi.kvsname().c_str(),
              pmi.limits().vallen_max, connected, first, second, repeated, repeats,
              mapping.c_str());
  return 0;
}

/// Rank 3 joins the exchange 3 s late; the others, with a 1 s timeout, must give up with a
/// timeout_error that names the barrier, within the bound, rather than hang. (When rank 3 then
/// enters the barrier, hydra 4.0.2 completes it, fails to write barrier_out to the ranks that
/// left, and aborts the job: rank 3 prints nothing and mpiexec exits with 255.)
int with_straggler() {
  symphony::bootstrap::pmi_client pmi(std::chrono::seconds(1));
  if (pmi.rank() == 3) ::usleep(3000 * 1000);
  const auto start = clock_type::now();
  try {
    pmi.allgather(endpoint(pmi.rank()));
  } catch (const symphony::timeout_error& e) {
    const double waited = milliseconds_since(start);
    const std::string what = e.what();
    if (what.find("cmd=barrier_in") == std::string::npos || waited < 900 || waited > 2500)
      return fail("rank " + std::to_string(pmi.rank()) + " waited " + std::to_string(waited) +
                  " ms and got: " + what);
    std::printf("pmi_allgather_main: rank %d of %d ok (timed out as expected after %.0f ms: "
                "%s)\n",
                pmi.rank(), pmi.size(), waited, what.c_str());
    return 0;
  }
  return fail("rank " + std::to_string(pmi.rank()) + ": allgather completed without rank 3");
}

int with_free_function() {
  const char* env_rank = std::getenv("PMI_RANK");
  const std::string own = env_rank ? endpoint(std::atoi(env_rank))
                                   : "pid:" + std::to_string(::getpid()) + " on a host";
  const auto start = clock_type::now();
  const auto table = symphony::bootstrap::pmi_allgather(own, std::chrono::seconds(30));
  const double took = milliseconds_since(start);
  const int size = static_cast<int>(table.size());
  int rank = -1;
  if (env_rank) {
    rank = std::atoi(env_rank);
    if (auto why = mismatch(table, size, endpoint); !why.empty())
      return fail("rank " + std::to_string(rank) + ": " + why);
  } else {
    // Without PMI_RANK: the own value appears exactly once, and all values differ.
    for (int r = 0; r < size; ++r)
      if (table[static_cast<std::size_t>(r)] == own) rank = rank < 0 ? r : -2;
    if (rank < 0 || std::set<std::string>(table.begin(), table.end()).size() != table.size())
      return fail("own value '" + own + "' is not in the table exactly once");
  }
  std::printf("pmi_allgather_main: rank %d of %d ok (pmi_allgather %.2f ms, connect to "
              "finalize)\n",
              rank, size, took);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "--free") return with_free_function();
    if (mode == "--straggler") return with_straggler();
    if (mode.empty()) return with_client();
    return fail("unknown argument '" + mode + "' (use no argument, --free or --straggler)");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
