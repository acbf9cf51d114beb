// symphony/transport/zmq_transport.hpp: the ZeroMQ transport between processes.
//
// Each rank binds one PULL socket at its own address and, on the first message to a peer, connects
// one PUSH socket to that peer's address and keeps it for the life of the communicator: no socket
// is created per operation, and a rank holds sockets only for the peers it actually talks to
// (O(log p) for the tree collectives). A message is two ZeroMQ frames, header and payload; ZeroMQ
// delivers multipart messages whole, and in order between one PUSH and one PULL.
//
// A rank may send before the peer has bound: ZeroMQ queues the message and connects when the peer
// appears, so processes may start in any order. Queues are bounded (ZeroMQ's high-water mark,
// 1000 messages each way); a send that finds the queue full waits at most until the deadline.
// On destruction, undelivered messages get up to the configured timeout to leave (linger), or
// none at all after abandon().
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "../config.hpp"
#include "../detail/address.hpp"
#include "../detail/bind_address.hpp"
#include "../detail/wire.hpp"
#include "../error.hpp"
#include "transport.hpp"

namespace symphony {

class zmq_transport {
 public:
  /// A received message: its decoded header and the payload frame ZeroMQ filled (not copied).
  class message {
   public:
    message(const detail::header& h, zmq::message_t payload)
        : header_(h), payload_(std::move(payload)) {}
    const detail::header& header() const { return header_; }
    const std::byte* data() const { return static_cast<const std::byte*>(payload_.data()); }
    std::size_t size() const { return payload_.size(); }

    // Another reference to the same payload: ZeroMQ shares large buffers by reference count.
    zmq::message_t share() const {
      zmq::message_t copy;
      copy.copy(const_cast<zmq::message_t&>(payload_));  // zmq_msg_copy only adds a reference
      return copy;
    }

   private:
    detail::header header_;
    zmq::message_t payload_;
  };

  /// Binds this rank's receive socket at `c.addresses[c.rank]`. Throws config_error (naming the
  /// rank and address) when the address cannot be bound: in use, not on this host, too long.
  explicit zmq_transport(const config& c)
      : rank_(validated(c).rank),
        size_(c.size),
        linger_(linger_for(c.timeout)),
        context_(1),
        inbox_(context_, zmq::socket_type::pull),
        outboxes_(static_cast<std::size_t>(c.size)) {
    for (const auto& text : c.addresses)
      endpoints_.push_back(detail::parse_address(text).value);
    configure(inbox_);
    const auto& own = endpoints_[static_cast<std::size_t>(rank_)];
    try {
      inbox_.bind(detail::bindable_endpoint(own, "the address of rank " + std::to_string(rank_)));
    } catch (const zmq::error_t& e) {
      std::string hint;
      if (e.num() == EADDRINUSE) hint = " (another process, or another job, already uses it)";
      if (e.num() == EADDRNOTAVAIL || e.num() == ENODEV) hint = " (that host is not this machine)";
      throw config_error("rank " + std::to_string(rank_) + " cannot bind its address '" +
                         c.addresses[static_cast<std::size_t>(rank_)] + "': " + e.what() + hint);
    }
  }

  zmq_transport(zmq_transport&&) = delete;  // sockets are tied to their context: keep in place

  int rank() const { return rank_; }
  int size() const { return size_; }

  bool send(int to, const detail::header& h, const std::byte* data, std::size_t size,
            detail::deadline until) {
    // The one copy the ZeroMQ API forces for a buffer the caller keeps.
    return send_frames(to, h, zmq::message_t(data, size), until);
  }

  bool forward(int to, const detail::header& h, const message& received, detail::deadline until) {
    return send_frames(to, h, received.share(), until);  // no copy of the payload
  }

  std::optional<message> receive(detail::deadline until) {
    while (true) {
      zmq::message_t head;
      if (inbox_.recv(head, zmq::recv_flags::dontwait)) return finish_receive(std::move(head));
      zmq::pollitem_t item{inbox_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, wait_time(until)) == 0 && detail::clock::now() >= until)
        return std::nullopt;
    }
  }

  void abandon() noexcept {
    linger_ = 0;
    for (auto& out : outboxes_)
      if (out) out->set(zmq::sockopt::linger, 0);
  }

  /// The endpoint this rank's receive socket is bound to (useful with tcp port 0 in tests).
  std::string bound_endpoint() const { return inbox_.get(zmq::sockopt::last_endpoint); }

 private:
  static const config& validated(const config& c) {
    c.validate();
    return c;
  }

  static int linger_for(std::chrono::milliseconds timeout) {
    return timeout == wait_forever
               ? -1
               : static_cast<int>(std::min<long long>(timeout.count(), 1 << 30));
  }

  static std::chrono::milliseconds wait_time(detail::deadline until) {
    if (until == detail::deadline::max()) return std::chrono::milliseconds(-1);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - detail::clock::now());
    // Round up so a wait never ends just before its deadline and spins.
    return std::max(left + std::chrono::milliseconds(1), std::chrono::milliseconds(0));
  }

  void configure(zmq::socket_t& socket) {
    socket.set(zmq::sockopt::ipv6, 1);
    socket.set(zmq::sockopt::linger, linger_);
  }

  bool send_frames(int to, const detail::header& h, zmq::message_t payload,
                   detail::deadline until) {
    zmq::socket_t& out = outbox(to);
    const auto encoded = detail::encode(h);
    // The first frame decides whether the message fits the queue; the second always follows it.
    while (!out.send(zmq::buffer(encoded), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      zmq::pollitem_t item{out.handle(), 0, ZMQ_POLLOUT, 0};
      if (zmq::poll(&item, 1, wait_time(until)) == 0 && detail::clock::now() >= until) return false;
    }
    (void)out.send(payload, zmq::send_flags::none);
    return true;
  }

  zmq::socket_t& outbox(int to) {
    auto& slot = outboxes_[static_cast<std::size_t>(to)];
    if (!slot) {
      slot.emplace(context_, zmq::socket_type::push);
      configure(*slot);
      slot->connect(endpoints_[static_cast<std::size_t>(to)].endpoint);
    }
    return *slot;
  }

  message finish_receive(zmq::message_t head) {
    if (!head.more())
      throw protocol_error("received a single-frame message (not a symphony peer?)");
    zmq::message_t payload;
    (void)inbox_.recv(payload, zmq::recv_flags::none);  // parts of a message arrive together
    while (payload.more()) {  // a stray extra frame: drain it so the next message starts clean
      zmq::message_t extra;
      (void)inbox_.recv(extra, zmq::recv_flags::none);
      if (!extra.more())
        throw protocol_error("received a message of more than two frames (not a symphony peer?)");
    }
    const auto h =
        detail::decode(static_cast<const std::byte*>(head.data()), head.size(), payload.size());
    return message(h, std::move(payload));
  }

  int rank_;
  int size_;
  int linger_;
  std::vector<detail::address> endpoints_;
  zmq::context_t context_;  // declared before the sockets: destroyed after them
  zmq::socket_t inbox_;
  std::vector<std::optional<zmq::socket_t>> outboxes_;
};

}  // namespace symphony
