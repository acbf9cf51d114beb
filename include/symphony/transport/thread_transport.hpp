// symphony/transport/thread_transport.hpp: ranks as threads of one process.
//
// Each rank has a queue guarded by a mutex; sending copies the payload into the receiver's queue.
// No sockets, no ports: a test or a tutorial runs real collectives on 64 ranks in well under a
// second. When one rank's function throws, the job is marked failed and every rank still waiting
// stops with a symphony::error naming the failed rank, instead of waiting out its timeout.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
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
class thread_hub {
 public:
  struct message {
    detail::header header_;
    std::vector<std::byte> payload;
    const detail::header& header() const { return header_; }
    const std::byte* data() const { return payload.data(); }
    std::size_t size() const { return payload.size(); }
  };

  explicit thread_hub(int ranks) : queues_(static_cast<std::size_t>(ranks)) {}

  int size() const { return static_cast<int>(queues_.size()); }

  void push(int to, message m) {
    auto& q = queues_[static_cast<std::size_t>(to)];
    {
      const std::lock_guard<std::mutex> lock(q.mutex);
      q.messages.push_back(std::move(m));
    }
    q.ready.notify_one();
  }

  std::optional<message> pop(int me, deadline until) {
    auto& q = queues_[static_cast<std::size_t>(me)];
    std::unique_lock<std::mutex> lock(q.mutex);
    const auto ready = [&] { return !q.messages.empty() || failed(); };
    if (until == deadline::max())
      q.ready.wait(lock, ready);
    else if (!q.ready.wait_until(lock, until, ready))
      return std::nullopt;
    if (q.messages.empty()) throw error(failure_message());
    message m = std::move(q.messages.front());
    q.messages.pop_front();
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
    std::deque<message> messages;
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
    hub_->push(to, message{h, std::vector<std::byte>(data, data + size)});
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
