// symphony/transport/thread_transport.hpp: ranks as threads of one process.
//
// Each rank has a queue guarded by a mutex; sending copies the payload into the receiver's queue.
// No sockets, no ports: a test or a tutorial runs real collectives on 64 ranks in well under a
// second. When one rank's function throws, the job is marked failed and every rank still waiting
// stops with a symphony::error naming the failed rank, instead of waiting out its timeout.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "../detail/wire.hpp"
#include "../error.hpp"
#include "transport.hpp"

namespace symphony {

namespace detail {

/// The queues of every rank of one in-process job, shared by the ranks' transports.
///
/// Payload buffers are recycled: a message returns its buffer to the queue it was sent to when it
/// is destroyed, and the next message to that queue reuses it, so repeated same-size collectives
/// allocate nothing once every queue holds enough buffers. Messages must not outlive the hub.
class thread_hub {
  struct queue;

 public:
  class message {
   public:
    message(const detail::header& h, std::vector<std::byte> payload, queue* home)
        : header_(h), payload_(std::move(payload)), home_(home) {}
    message(message&& other) noexcept
        : header_(other.header_), payload_(std::move(other.payload_)), home_(other.home_) {
      other.home_ = nullptr;
    }
    message& operator=(message&& other) noexcept {
      if (this != &other) {
        recycle();
        header_ = other.header_;
        payload_ = std::move(other.payload_);
        home_ = other.home_;
        other.home_ = nullptr;
      }
      return *this;
    }
    message(const message&) = delete;
    message& operator=(const message&) = delete;
    ~message() { recycle(); }

    const detail::header& header() const { return header_; }
    const std::byte* data() const { return payload_.data(); }
    std::size_t size() const { return payload_.size(); }

   private:
    void recycle() noexcept {
      if (home_ == nullptr || payload_.capacity() == 0) return;
      try {
        const std::lock_guard<std::mutex> lock(home_->mutex);
        home_->spare.push_back(std::move(payload_));
      } catch (...) {  // no room to keep it: the buffer is simply freed
      }
      home_ = nullptr;
    }

    detail::header header_;
    std::vector<std::byte> payload_;
    queue* home_;  // where the buffer goes back to
  };

  explicit thread_hub(int ranks) : queues_(static_cast<std::size_t>(ranks)) {}

  int size() const { return static_cast<int>(queues_.size()); }

  /// Queues a copy of `size` bytes at `data` for rank `to`, in a recycled buffer when one is free.
  void push(int to, const detail::header& h, const std::byte* data, std::size_t size) {
    auto& q = queues_[static_cast<std::size_t>(to)];
    {
      const std::lock_guard<std::mutex> lock(q.mutex);
      std::vector<std::byte> payload;
      if (size > 0 && !q.spare.empty()) {
        payload = std::move(q.spare.back());
        q.spare.pop_back();
      }
      payload.assign(data, data + size);
      q.messages.push_back(message{h, std::move(payload), &q});
    }
    q.ready.notify_one();
  }

  std::optional<message> pop(int me, deadline until) {
    auto& q = queues_[static_cast<std::size_t>(me)];
    std::unique_lock<std::mutex> lock(q.mutex);
    const auto ready = [&] { return q.head < q.messages.size() || failed(); };
    if (until == deadline::max())
      q.ready.wait(lock, ready);
    else if (!q.ready.wait_until(lock, until, ready))
      return std::nullopt;
    if (q.head == q.messages.size()) throw error(failure_message());
    std::optional<message> m(std::move(q.messages[q.head++]));
    // A vector used as a FIFO keeps its capacity, where a deque frees and allocates blocks as it
    // goes: emptied, it starts over; half consumed, the rest moves to the front.
    if (q.head == q.messages.size()) {
      q.messages.clear();
      q.head = 0;
    } else if (q.head > 64 && q.head * 2 > q.messages.size()) {
      q.messages.erase(q.messages.begin(),
                       q.messages.begin() + static_cast<std::ptrdiff_t>(q.head));
      q.head = 0;
    }
    lock.unlock();  // the moved-from message recycles nothing, but its destructor may not lock
    return m;
  }

  /// Marks the job failed because of `rank` and wakes every waiting rank.
  void fail(int rank, const std::string& what) {
    {
      const std::lock_guard<std::mutex> lock(failure_mutex_);
      if (failed_rank_ >= 0) return;  // keep the first failure: it is the cause
      failed_rank_ = rank;
      failure_ = what;
    }
    for (auto& q : queues_) {
      const std::lock_guard<std::mutex> lock(q.mutex);  // no waiter may miss the wake-up
      q.ready.notify_all();
    }
  }

 private:
  struct queue {
    std::mutex mutex;
    std::condition_variable ready;
    // Declared before the messages, so that it outlives them: a message left in the queue when
    // the hub goes returns its buffer here as it is destroyed.
    std::vector<std::vector<std::byte>> spare;  // payload buffers to reuse
    std::vector<message> messages;              // [head, end) are waiting
    std::size_t head = 0;
  };

  bool failed() const {
    const std::lock_guard<std::mutex> lock(failure_mutex_);
    return failed_rank_ >= 0;
  }
  std::string failure_message() const {
    const std::lock_guard<std::mutex> lock(failure_mutex_);
    return "stopped waiting: rank " + std::to_string(failed_rank_) + " failed: " + failure_;
  }

  std::vector<queue> queues_;
  mutable std::mutex failure_mutex_;
  int failed_rank_ = -1;
  std::string failure_;
};

}  // namespace detail

/// The transport of one rank of an in-process job (see run_threads in communicator.hpp).
class thread_transport {
 public:
  using message = detail::thread_hub::message;

  thread_transport(std::shared_ptr<detail::thread_hub> hub, int rank)
      : hub_(std::move(hub)), rank_(rank) {}

  int rank() const { return rank_; }
  int size() const { return hub_->size(); }

  bool send(int to, const detail::header& h, const std::byte* data, std::size_t size,
            detail::deadline /*queues are unbounded*/) {
    hub_->push(to, h, data, size);
    return true;
  }

  bool forward(int to, const detail::header& h, const message& received, detail::deadline until) {
    return send(to, h, received.data(), received.size(), until);
  }

  std::optional<message> receive(detail::deadline until) { return hub_->pop(rank_, until); }

  void abandon() noexcept {}

 private:
  std::shared_ptr<detail::thread_hub> hub_;
  int rank_;
};

}  // namespace symphony
