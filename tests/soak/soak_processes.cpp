// Soak over real processes: 4 ranks run SYMPHONY_SOAK_OPS mixed collectives (default 100,000;
// 20,000 in sanitizer builds) over three communicators, every result checked, and report their
// open file descriptors and resident memory after a warm-up and at the end: both must stay flat.
// And 8 jobs of 4 ranks at once, each started by symphony-run, must not disturb each other.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <symphony/collectives.hpp>
#include <vector>

#include "soak_core.hpp"
#include "spawn.hpp"

using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
#else
constexpr bool sanitized = false;
#endif

// Sanitizers run everything several times slower: a shorter soak there.
constexpr std::uint64_t default_ops = sanitized ? 20000 : 100000;
constexpr std::uint64_t warm_up_ops = 2000;

std::uint64_t soak_ops() {
  const char* text = std::getenv("SYMPHONY_SOAK_OPS");
  if (text == nullptr || *text == '\0') return default_ops;
  const auto n = std::stoull(text);
  if (n <= warm_up_ops)
    throw std::invalid_argument("SYMPHONY_SOAK_OPS=" + std::string(text) + " must exceed the " +
                                std::to_string(warm_up_ops) + " warm-up operations");
  return n;
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    if (std::getenv("SOAK_DEBUG_FDS")) {  // lists them, to see what leaked when the check fails
      std::error_code ec;
      std::cerr << entry.path() << " -> " << std::filesystem::read_symlink(entry.path(), ec)
                << "\n";
    }
    ++n;
  }
  return n;  // includes the directory iterator's own descriptor, at both measurements alike
}

long resident_kib() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

// The same figures on every line: "SOAK rank R ops N wall_s W fds A B rss_kib C D".
struct figures {
  int rank = -1;
  std::uint64_t ops = 0;
  double wall = 0;
  long fds_start = 0, fds_end = 0, rss_start = 0, rss_end = 0;
};

figures parse(const std::string& output) {
  figures f;
  const auto at = output.find("SOAK rank ");
  if (at == std::string::npos) return f;
  std::istringstream in(output.substr(at));
  std::string word;
  in >> word >> word >> f.rank >> word >> f.ops >> word >> f.wall >> word >> f.fds_start >>
      f.fds_end >> word >> f.rss_start >> f.rss_end;
  return f;
}

}  // namespace

SYMPHONY_SCENARIO(soak) {
  symphony::communicator world;
  soak::communicators<symphony::communicator> comms(world);
  const std::uint64_t total = soak_ops();
  const std::uint64_t seed = 20261202;
  soak::tally t;
  const auto started = std::chrono::steady_clock::now();
  soak::run(comms, seed, 0, warm_up_ops, t);
  soak::run(comms, seed, 0, 40, t, /*largest=*/true);
  world.barrier();
  const auto fds_start = open_fds();
  const auto rss_start = resident_kib();
  soak::run(comms, seed, warm_up_ops, total, t);
  world.barrier();
  const auto fds_end = open_fds();
  const auto rss_end = resident_kib();
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - started;
  std::cout << "SOAK rank " << world.rank() << " ops " << total << " wall_s " << wall.count()
            << " fds " << fds_start << " " << fds_end << " rss_kib " << rss_start << " " << rss_end
            << " (took part in " << t.operations << " operations, contributed " << t.bytes
            << " bytes)" << std::endl;
  return 0;
}

int main(int argc, char** argv) {
  testing::run_scenario_if_child();
  doctest::Context context(argc, argv);
  return context.run();
}

TEST_CASE("soak: 4 processes, 100,000 mixed collectives over 3 communicators, fds and RSS flat") {
  testing::job j{"soak", 4};
  j.limit = 600s;
  if (sanitized) {
    // ASan's quarantine keeps freed memory up to 256 MiB by default, which would read as growth.
    const char* options = std::getenv("ASAN_OPTIONS");
    j.env["ASAN_OPTIONS"] = std::string(options ? options : "") + ":quarantine_size_mb=16";
  }
  const auto results = testing::run_job(j);
  for (const auto& r : results) {
    CHECK_RANK_OK(r);
    const auto f = parse(r.output);
    CAPTURE(r.output);
    REQUIRE(f.rank == r.rank);
    CHECK(f.ops >= (sanitized ? 20000u : 100000u));
    // Flat (after a warm-up of 2,000 operations and 40 at 1 MiB): no descriptor more at the end
    // (ZeroMQ may still be closing a handshake socket at the first count, never the other way
    // round), and memory within 10% + 8 MiB of what it was after warm-up (allocator caches and
    // ZeroMQ's buffers settle during the warm-up).
    CHECK(f.fds_end <= f.fds_start);
    CHECK(f.rss_end <= f.rss_start + f.rss_start / 10 + 8 * 1024);
    MESSAGE("soak rank " << f.rank << ": " << f.ops << " operations in " << f.wall
                         << " s; open fds " << f.fds_start << " -> " << f.fds_end << "; RSS "
                         << f.rss_start << " KiB -> " << f.rss_end << " KiB");
  }
}

#ifdef SYMPHONY_RUN
TEST_CASE("8 concurrent jobs of 4 ranks, each started by symphony-run, all correct") {
  const symphony::detail::temp_directory scratch(std::filesystem::temp_directory_path());
  constexpr int jobs = 8;
  const std::string ops = sanitized ? "2500" : "5000";
  // symphony-run starts this test binary itself (its /proc/self/exe would be symphony-run).
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::vector<pid_t> pids;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < jobs; ++i) {
    const std::string dir =
        (std::filesystem::path(scratch.path()) / ("job" + std::to_string(i))).string();
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("SYMPHONY_TEST_SCENARIO", "soak", 1);
      ::setenv("SYMPHONY_SOAK_OPS", ops.c_str(), 1);
      ::execl(SYMPHONY_RUN, SYMPHONY_RUN, "--timeout", "500", "--wait-timeout", "120",
              "--output-dir", dir.c_str(), "-n", "4", self.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    pids.push_back(pid);
  }
  for (int i = 0; i < jobs; ++i) {
    CAPTURE(i);
    int status = 0;
    ::waitpid(pids[static_cast<std::size_t>(i)], &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    std::string all;
    for (const auto& entry : std::filesystem::directory_iterator(
             std::filesystem::path(scratch.path()) / ("job" + std::to_string(i)))) {
      std::ifstream in(entry.path());
      std::ostringstream text;
      text << in.rdbuf();
      all += text.str();
    }
    CAPTURE(all);
    int reports = 0;
    for (auto at = all.find("SOAK rank "); at != std::string::npos;
         at = all.find("SOAK rank ", at + 1))
      ++reports;
    CHECK(reports == 4);
  }
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - started;
  MESSAGE(jobs << " jobs of 4 ranks x " << ops << " operations each, at once: " << wall.count()
               << " s");
}
#endif
