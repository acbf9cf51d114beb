// tests/fuzz/allocation_meter.cpp: counts the program's allocations for fuzz_support.hpp.
//
// Two ways, because sanitizers own the allocator:
//  - under AddressSanitizer (libFuzzer builds, and the g++ ASan build of the replay executables)
//    the sanitizer's allocator calls hooks installed with
//    __sanitizer_install_malloc_and_free_hooks for every malloc and operator new; replacing
//    operator new there would fight the sanitizer's own replacement;
//  - otherwise this file replaces the global operator new and delete (the standard allows a
//    program to), and counts each request *before* it is made, so that a request too large to
//    succeed is counted as well.
// The counters are atomics: the PMI target's fake server runs in a second thread.
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

#include "fuzz_support.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define SYMPHONY_FUZZ_HOOKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SYMPHONY_FUZZ_HOOKS 1
#endif
#endif

namespace {

std::atomic<std::size_t> allocation_count{0};
std::atomic<std::size_t> allocation_total{0};
std::atomic<std::size_t> allocation_largest{0};

void record(std::size_t size) noexcept {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  allocation_total.fetch_add(size, std::memory_order_relaxed);
  std::size_t seen = allocation_largest.load(std::memory_order_relaxed);
  while (size > seen &&
         !allocation_largest.compare_exchange_weak(seen, size, std::memory_order_relaxed)) {
  }
}

}  // namespace

namespace symphony_fuzz {

void reset_allocations() noexcept {
  allocation_count.store(0, std::memory_order_relaxed);
  allocation_total.store(0, std::memory_order_relaxed);
  allocation_largest.store(0, std::memory_order_relaxed);
}

allocation_stats allocations() noexcept {
  allocation_stats s;
  s.count = allocation_count.load(std::memory_order_relaxed);
  s.total = allocation_total.load(std::memory_order_relaxed);
  s.largest = allocation_largest.load(std::memory_order_relaxed);
  return s;
}

}  // namespace symphony_fuzz

#ifdef SYMPHONY_FUZZ_HOOKS

// Declared here rather than through <sanitizer/allocator_interface.h>, which g++ does not ship;
// both compilers' ASan runtimes export it.
extern "C" int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void*, std::size_t),
    void (*free_hook)(const volatile void*));

namespace {

void on_malloc(const volatile void*, std::size_t size) { record(size); }
void on_free(const volatile void*) {}

// Installed during static initialization, before main() starts any thread, as the sanitizer asks.
[[maybe_unused]] const int hooks_installed =
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);

}  // namespace

#else

// The replaceable allocation functions that standard containers and strings use. libstdc++'s
// nothrow and aligned forms pair with the deallocation functions below (the nothrow forms call
// this operator new; the aligned ones allocate and free through their own pair).
void* operator new(std::size_t size) {
  record(size);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

#endif
