// tests/fuzz/fuzz_support.hpp: what every fuzz target shares.
//
// Each fuzz_<target>.cpp defines LLVMFuzzerTestOneInput, libFuzzer's entry point. Built with
// clang's -fsanitize=fuzzer, libFuzzer supplies main() and mutates inputs; built with any other
// compiler, replay_main.cpp supplies a main() that feeds it every file of the corpus once.
//
// A target reports a violated expectation with fail(), which prints it and aborts: libFuzzer
// saves the input as a crash artifact, the replay main dies, and either way the CTest test fails.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace symphony_fuzz {

/// Prints "fuzz check failed: <what>" to stderr and aborts (never returns, never throws, so that
/// the code under test cannot swallow it).
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz check failed: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

/// fail(what) unless `ok`.
inline void check(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

/// What the program allocated (operator new, and malloc in sanitizer builds) between
/// reset_allocations() and allocations(), in every thread.
struct allocation_stats {
  std::size_t count = 0;    ///< number of allocations
  std::size_t total = 0;    ///< bytes requested, summed over all of them
  std::size_t largest = 0;  ///< the largest single request
};

/// Starts a new measurement (allocation_meter.cpp).
void reset_allocations() noexcept;

/// The allocations since the last reset_allocations() (allocation_meter.cpp).
allocation_stats allocations() noexcept;

/// How much a decoder may allocate for an input of `input_size` bytes: `per_byte` bytes for each
/// input byte plus `fixed` bytes (error messages, stream buffers, a locale).
struct allocation_bound {
  std::size_t per_byte = 0;
  std::size_t fixed = 0;
  std::size_t for_input(std::size_t input_size) const { return per_byte * input_size + fixed; }
};

/// Fails unless every byte allocated since reset_allocations(), summed, stays within `bound` for
/// an input of `input_size` bytes: a decoder's memory must be proportional to what it was given,
/// whatever sizes the input declares. `what` names the decoder in the message.
inline void check_total_allocation(const char* what, std::size_t input_size,
                                   allocation_bound bound) {
  const allocation_stats s = allocations();
  if (s.total > bound.for_input(input_size))
    fail(std::string(what) + " allocated " + std::to_string(s.total) + " bytes in " +
         std::to_string(s.count) + " allocations (largest " + std::to_string(s.largest) +
         ") for an input of " + std::to_string(input_size) + " bytes; the bound is " +
         std::to_string(bound.for_input(input_size)));
}

/// The same for the largest single allocation only, for code whose total may legitimately grow
/// faster than its input (a client that builds one request per answer line it reads).
inline void check_largest_allocation(const char* what, std::size_t input_size,
                                     allocation_bound bound) {
  const allocation_stats s = allocations();
  if (s.largest > bound.for_input(input_size))
    fail(std::string(what) + " made an allocation of " + std::to_string(s.largest) +
         " bytes for an input of " + std::to_string(input_size) + " bytes; the bound is " +
         std::to_string(bound.for_input(input_size)));
}

}  // namespace symphony_fuzz
