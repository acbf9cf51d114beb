// symphony/detail/fiber.hpp: stackful coroutines on one thread (the simulator's ranks).
//
// A fiber is an execution context with a stack of its own. switch_fiber(from, to) suspends the
// running context `from` and resumes `to` where it last switched away, or starts its body. A
// switch is a few hundred nanoseconds of user-space work, against 10-25 us for handing a turn
// from one OS thread to another, which is what lets the simulator run algorithms whose ranks
// block p^2 times on thousands of ranks.
//
// Built on POSIX ucontext. A stack is an mmap'd region with an inaccessible guard page below it,
// so an overflow faults at once instead of overwriting a neighbour; the pages are only touched
// (and become resident) as the fiber uses them. Each switch also swaps the C++ runtime's record
// of the exceptions being handled, which is per thread: a fiber may block inside a catch block
// while another throws and catches. Under AddressSanitizer and ThreadSanitizer every switch is
// announced to the sanitizer, which would otherwise take the new stack for a wild pointer (ASan)
// or not see that fibers take turns (TSan).
#pragma once

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <system_error>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SYMPHONY_FIBER_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define SYMPHONY_FIBER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(SYMPHONY_FIBER_ASAN)
#define SYMPHONY_FIBER_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(SYMPHONY_FIBER_TSAN)
#define SYMPHONY_FIBER_TSAN 1
#endif
#if defined(SYMPHONY_FIBER_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(SYMPHONY_FIBER_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

// The Itanium C++ ABI's per-thread exception state (libstdc++ and libc++abi alike): the chain of
// exceptions being handled and the count of uncaught ones.
namespace __cxxabiv1 {
struct __cxa_eh_globals;
extern "C" __cxa_eh_globals* __cxa_get_globals() noexcept;
}  // namespace __cxxabiv1

namespace symphony::detail {

class fiber;
void switch_fiber(fiber& from, fiber& to);

/// An execution context of this thread: the thread's own (default constructor) or a fiber that
/// runs a body on a stack of its own. Neither copyable nor movable (the saved context points
/// into itself). A fiber must have finished (its body returned) before it is destroyed: a
/// suspended fiber's stack is freed without unwinding it, so its objects are never destroyed.
class fiber {
 public:
  /// The stack a fiber gets unless told otherwise: 256 KiB, of which rank code may use about
  /// 200 KiB (every symphony collective runs in 32 KiB, under AddressSanitizer too).
  static constexpr std::size_t default_stack_bytes = std::size_t{256} * 1024;
  /// The smallest stack accepted: less does not hold the frames of a collective call.
  static constexpr std::size_t minimum_stack_bytes = std::size_t{32} * 1024;

  /// The calling thread's own context: what fibers switch back to. Owns no stack.
  fiber() {
#if defined(SYMPHONY_FIBER_TSAN)
    tsan_fiber_ = __tsan_get_current_fiber();
#endif
  }

  /// A fiber that runs `body` when first switched to, on a stack of `stack_bytes` (rounded up to
  /// whole pages) plus a guard page. `body` returns the context to switch to when it ends; it must
  /// not throw (an exception escaping it calls std::terminate). Throws std::system_error when the
  /// stack cannot be mapped (the process's map count or address space is exhausted).
  fiber(std::size_t stack_bytes, std::function<fiber&()> body) : body_(std::move(body)) {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    stack_size_ = (stack_bytes + page - 1) / page * page;
    mapped_size_ = stack_size_ + page;
    void* region = mmap(nullptr, mapped_size_, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (region == MAP_FAILED)
      throw std::system_error(
          errno, std::generic_category(),
          "symphony: cannot map a fiber stack of " + std::to_string(mapped_size_) + " bytes");
    mapped_ = static_cast<char*>(region);
    if (mprotect(mapped_, page, PROT_NONE) != 0) {  // stacks grow down: the guard is below
      const int code = errno;
      munmap(mapped_, mapped_size_);
      throw std::system_error(code, std::generic_category(),
                              "symphony: cannot protect a fiber stack's guard page");
    }
    stack_bottom_ = mapped_ + page;
    getcontext(&context_);
    context_.uc_stack.ss_sp = stack_bottom_;
    context_.uc_stack.ss_size = stack_size_;
    context_.uc_link = nullptr;  // the body never returns into ucontext: see entry()
    makecontext(&context_, &fiber::entry, 0);
#if defined(SYMPHONY_FIBER_TSAN)
    tsan_fiber_ = __tsan_create_fiber(0);
#endif
  }

  fiber(const fiber&) = delete;
  fiber& operator=(const fiber&) = delete;

  ~fiber() {
    if (mapped_ == nullptr) return;
#if defined(SYMPHONY_FIBER_TSAN)
    __tsan_destroy_fiber(tsan_fiber_);
#endif
    munmap(mapped_, mapped_size_);
  }

  /// True once the body has returned.
  bool finished() const {
    return finished_;
  }

 private:
  friend void switch_fiber(fiber& from, fiber& to);

  struct exception_state {  // what __cxa_get_globals() points to
    void* caught = nullptr;
    unsigned int uncaught = 0;
  };

  static exception_state& thread_exception_state() {
    return *reinterpret_cast<exception_state*>(__cxxabiv1::__cxa_get_globals());
  }

  // The fiber being started by the current switch (makecontext passes no pointer portably).
  static fiber*& starting() {
    static thread_local fiber* f = nullptr;
    return f;
  }

  // The context that made the latest switch on this thread (ASan learns a thread's stack bounds
  // from the switch that leaves it).
  static fiber*& switching_from() {
    static thread_local fiber* f = nullptr;
    return f;
  }

  // First thing on a fiber's stack: finish the switch that started it, run the body, and leave
  // for good (this stack is never resumed; its owner frees it).
  static void entry() {
    fiber& self = *starting();
    self.arrive(nullptr);
    fiber& next = self.run_body();
    self.finished_ = true;
    // The same steps as switch_fiber() before its jump, written out here on purpose: the
    // sanitizers must be told of a switch in the frame that makes it (returning from a helper
    // after __tsan_switch_to_fiber unwinds the new fiber's shadow stack, and TSan crashes).
    thread_exception_state() = next.exceptions_;
    next.prepare_start();
    switching_from() = &self;
#if defined(SYMPHONY_FIBER_ASAN)
    __sanitizer_start_switch_fiber(nullptr, next.stack_bottom_, next.stack_size_);
#endif
#if defined(SYMPHONY_FIBER_TSAN)
    __tsan_switch_to_fiber(next.tsan_fiber_, 0);
#endif
    setcontext(&next.context_);
    std::terminate();  // setcontext returns only on failure
  }

  fiber& run_body() noexcept {
    return body_();
  }

  // Before switching to this context: if it never ran, entry() must find it.
  void prepare_start() {
    if (started_ || mapped_ == nullptr) return;
    started_ = true;
    starting() = this;
  }

  // Completes a switch into this context (ASan: adopt this stack, learn the one left).
  void arrive([[maybe_unused]] void* fake_stack) {
#if defined(SYMPHONY_FIBER_ASAN)
    const void* bottom = nullptr;
    std::size_t size = 0;
    __sanitizer_finish_switch_fiber(fake_stack, &bottom, &size);
    fiber* left = switching_from();
    if (left != nullptr && left->mapped_ == nullptr) {  // a thread's own stack: now known
      left->stack_bottom_ = static_cast<char*>(const_cast<void*>(bottom));
      left->stack_size_ = size;
    }
#endif
  }

  std::function<fiber&()> body_;
  ucontext_t context_{};
  char* mapped_ = nullptr;  // the stack and its guard page (null: the thread's own context)
  std::size_t mapped_size_ = 0;
  char* stack_bottom_ = nullptr;  // lowest usable address (ASan wants it for every target)
  std::size_t stack_size_ = 0;
  bool started_ = false;
  bool finished_ = false;
  exception_state exceptions_;  // this context's exception state while it is switched out
#if defined(SYMPHONY_FIBER_ASAN)
  void* fake_stack_ = nullptr;  // ASan's stack of this context while it is switched out
#endif
#if defined(SYMPHONY_FIBER_TSAN)
  void* tsan_fiber_ = nullptr;
#endif
};

/// Suspends `from`, which must be the context running now, and resumes `to` (starting its body if
/// it never ran); returns when some context switches back to `from`. `to` must not have finished.
inline void switch_fiber(fiber& from, fiber& to) {
  auto& exceptions = fiber::thread_exception_state();
  from.exceptions_ = exceptions;
  exceptions = to.exceptions_;
  to.prepare_start();
  fiber::switching_from() = &from;
#if defined(SYMPHONY_FIBER_ASAN)
  __sanitizer_start_switch_fiber(&from.fake_stack_, to.stack_bottom_, to.stack_size_);
#endif
#if defined(SYMPHONY_FIBER_TSAN)
  __tsan_switch_to_fiber(to.tsan_fiber_, 0);
#endif
  if (swapcontext(&from.context_, &to.context_) != 0) std::terminate();
#if defined(SYMPHONY_FIBER_ASAN)
  from.arrive(from.fake_stack_);
#else
  from.arrive(nullptr);
#endif
}

}  // namespace symphony::detail
