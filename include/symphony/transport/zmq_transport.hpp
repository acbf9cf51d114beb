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
// none at all after abandon() and for a peer whose connection dropped (it cannot take them).
//
// Dead peers. Every PUSH socket is watched with a ZeroMQ socket monitor (handshake and
// disconnect events) and sends heartbeats, so that a peer whose host stops answering is
// disconnected too. A peer is *lost* when its connection has been down for the peer timeout
// (SYMPHONY_PEER_TIMEOUT) after it was up, or after this rank heard from it: a process that was
// never reached may simply not have started yet and is left to the general timeout. A peer that
// finished and exited is lost too, harmlessly: only a rank waiting for a message from it (see
// watch() and lost()), or for room in its queue, reports the loss, and the grace period lets a
// message the peer sent just before it exited arrive first.
//
// CURVE. With the job's key pair (config::curve), the receive socket is a CURVE server and every
// PUSH socket a CURVE client with the same pair, and a ZAP handler (a thread per transport)
// admits only clients that present the job's public key: a process without the pair neither
// connects nor injects.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "../config.hpp"
#include "../detail/address.hpp"
#include "../detail/bind_address.hpp"
#include "../detail/curve.hpp"
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
      : linger_(linger_for(validated(c).timeout)),
        peer_timeout_(c.peer_timeout),
        curve_(detail::checked_curve_keys(c.curve)),
        context_(1),
        inbox_(context_, zmq::socket_type::pull) {
    configure_inbox();
    const auto& own = c.addresses[static_cast<std::size_t>(c.rank)];
    bind(detail::bindable_endpoint(detail::parse_address(own).value,
                                   "the address of rank " + std::to_string(c.rank)),
         "rank " + std::to_string(c.rank) + " cannot bind its address '" + own + "'");
    connect_peers(c.rank, c.addresses);
  }

  /// The first half of joining a job whose addresses are exchanged at start-up (see
  /// bootstrap/join.hpp): binds the receive socket at every endpoint of `listen` ("tcp://*:0"
  /// takes a free port; "ipc://@name" is an abstract socket) before the peers are known.
  /// connect_peers() completes it; until then nothing may be sent. `timeout` bounds how long
  /// undelivered messages linger at destruction. Throws config_error naming the endpoint (and
  /// SYMPHONY_IFACE, a likely culprit) when one cannot be bound.
  /// `peer_timeout` and `curve` as in config (config_error for a malformed key pair).
  zmq_transport(const std::vector<std::string>& listen, std::chrono::milliseconds timeout,
                std::chrono::milliseconds peer_timeout = default_peer_timeout,
                const std::optional<curve_keys>& curve = std::nullopt)
      : linger_(linger_for(timeout)),
        peer_timeout_(peer_timeout),
        curve_(detail::checked_curve_keys(curve)),
        context_(1),
        inbox_(context_, zmq::socket_type::pull) {
    configure_inbox();
    for (const auto& endpoint : listen)
      bind(endpoint, "cannot listen at '" + endpoint +
                         "' (is SYMPHONY_IFACE an interface or address of this machine?)");
  }

  /// Where the receive socket listens, with the ports the system chose, in bind order.
  const std::vector<std::string>& bound_endpoints() const { return bound_; }

  /// The second half: this process is `rank` and `addresses` reach every rank (in rank order;
  /// the own entry is not connected to). Connections are made lazily, on the first send.
  void connect_peers(int rank, const std::vector<std::string>& addresses) {
    rank_ = rank;
    size_ = static_cast<int>(addresses.size());
    endpoints_.clear();
    for (const auto& text : addresses)
      endpoints_.push_back(detail::parse_address(text).value);
    links_.clear();
    links_.resize(addresses.size());
    heard_.assign(addresses.size(), false);
  }

  zmq_transport(zmq_transport&&) = delete;  // sockets are tied to their context: keep in place

  ~zmq_transport() {
    try {
      // Messages queued for a peer whose connection dropped cannot leave: do not linger on them.
      drain_events();
      for (auto& l : links_)
        if (l && !l->up && l->ever_up) l->socket.set(zmq::sockopt::linger, 0);
    } catch (const zmq::error_t&) {  // nothing useful to do in a destructor
    }
  }

  int rank() const { return rank_; }
  int size() const { return size_; }

  /// Payloads of at least this many bytes are handed to ZeroMQ without a copy (below it, the
  /// copy costs less than waiting for ZeroMQ to let go of the caller's buffer).
  static constexpr std::size_t zero_copy_bytes = 64 * 1024;

  bool send(int to, const detail::header& h, const std::byte* data, std::size_t size,
            detail::deadline until) {
    if (size < zero_copy_bytes) return send_frames(to, h, zmq::message_t(data, size), until);
    // Zero copy: ZeroMQ's I/O thread writes the caller's buffer straight to the socket and calls
    // released() when done, which this call waits for, since the caller may reuse the buffer as
    // soon as it returns.
    {
      const std::lock_guard<std::mutex> lock(release_mutex_);
      ++borrowed_;
    }
    const bool sent = send_frames(
        to, h, zmq::message_t(const_cast<std::byte*>(data), size, &released, this), until);
    // Wait in slices, looking at the peer: a lost one will never take the buffer.
    while (!wait_released(std::min(until, detail::clock::now() + peer_timeout_ / 4))) {
      if (!lost(to) && detail::clock::now() < until) continue;
      // Still queued at the deadline (the peer reads nothing, or is gone): drop the queue,
      // which returns the buffer, rather than leave ZeroMQ a pointer into memory the caller
      // will free. The next send to that peer connects again.
      auto& slot = links_[static_cast<std::size_t>(to)];
      slot->socket.set(zmq::sockopt::linger, 0);
      slot.reset();
      wait_released(detail::deadline::max());
      return false;
    }
    return sent;
  }

  bool forward(int to, const detail::header& h, const message& received, detail::deadline until) {
    return send_frames(to, h, received.share(), until);  // no copy of the payload
  }

  /// The next message, or nullopt when `until` passes first or, earlier, when a peer has just
  /// become lost (once per loss; the caller asks lost() whether it cared).
  std::optional<message> receive(detail::deadline until) {
    while (true) {
      zmq::message_t head;
      if (inbox_.recv(head, zmq::recv_flags::dontwait)) return finish_receive(std::move(head));
      drain_events();
      if (report_losses()) return std::nullopt;
      if (detail::clock::now() >= until) return std::nullopt;
      poll_items_.assign(1, zmq::pollitem_t{inbox_.handle(), 0, ZMQ_POLLIN, 0});
      for (const auto& l : links_)
        if (l) poll_items_.push_back(zmq::pollitem_t{l->monitor.handle(), 0, ZMQ_POLLIN, 0});
      zmq::poll(poll_items_.data(), poll_items_.size(), wait_time(std::min(until, next_loss())));
    }
  }

  /// Starts watching rank `to` (connecting to it if this rank has not yet), so that lost() can
  /// tell when it is gone. Called before waiting for a message from it.
  void watch(int to) {
    if (to != rank_ && to >= 0 && to < size_) (void)link(to);
  }

  /// True when rank `to` is lost: its connection has been down for the peer timeout (see the top
  /// of this header). False for a rank that is not watched.
  bool lost(int to) {
    if (to < 0 || to >= size_ || !links_[static_cast<std::size_t>(to)]) return false;
    drain_events();
    return is_lost(to, detail::clock::now());
  }

  /// The peer timeout, for error messages.
  std::chrono::milliseconds peer_timeout() const { return peer_timeout_; }

  void abandon() noexcept {
    linger_ = 0;
    for (auto& l : links_)
      if (l) l->socket.set(zmq::sockopt::linger, 0);
  }

  /// The endpoint this rank's receive socket was last bound to (useful with tcp port 0 in tests).
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

  void bind(const std::string& endpoint, const std::string& failure) {
    try {
      inbox_.bind(endpoint);
    } catch (const zmq::error_t& e) {
      std::string hint;
      if (e.num() == EADDRINUSE) hint = " (another process, or another job, already uses it)";
      if (e.num() == EADDRNOTAVAIL || e.num() == ENODEV) hint = " (that host is not this machine)";
      throw config_error(failure + ": " + e.what() + hint);
    }
    // With IPv6 on, ZeroMQ reports an IPv4 bind as [::ffff:a.b.c.d]; peers read a.b.c.d better.
    std::string bound = inbox_.get(zmq::sockopt::last_endpoint);
    const std::string mapped = "tcp://[::ffff:";
    if (bound.rfind(mapped, 0) == 0 && bound.find(']') != std::string::npos)
      bound = "tcp://" + bound.substr(mapped.size(), bound.find(']') - mapped.size()) +
              bound.substr(bound.find(']') + 1);
    bound_.push_back(std::move(bound));
  }

  void configure(zmq::socket_t& socket) {
    socket.set(zmq::sockopt::ipv6, 1);
    socket.set(zmq::sockopt::linger, linger_);
  }

  void configure_inbox() {
    configure(inbox_);
    if (!curve_) return;
    zap_ = std::make_unique<detail::zap_handler>(context_, curve_->public_key);
    detail::make_curve_server(inbox_, *curve_);
  }

  // ZeroMQ's free function for a borrowed buffer; runs in its I/O thread (or in ours when a
  // message is dropped before it is sent).
  static void released(void* /*data*/, void* hint) {
    auto* self = static_cast<zmq_transport*>(hint);
    // Notified under the lock: once the waiter sees 0 it may return and destroy the transport.
    const std::lock_guard<std::mutex> lock(self->release_mutex_);
    --self->borrowed_;
    self->release_.notify_all();
  }

  // Waits until ZeroMQ holds no borrowed buffer; false if it still does at `until`.
  bool wait_released(detail::deadline until) {
    std::unique_lock<std::mutex> lock(release_mutex_);
    const auto done = [&] { return borrowed_ == 0; };
    if (until == detail::deadline::max()) {
      release_.wait(lock, done);
      return true;
    }
    return release_.wait_until(lock, until, done);
  }

  bool send_frames(int to, const detail::header& h, zmq::message_t payload,
                   detail::deadline until) {
    zmq::socket_t& out = link(to).socket;
    const auto encoded = detail::encode(h);
    // The first frame decides whether the message fits the queue; the second always follows it.
    // While the queue is full, look at the peer every so often: a lost one will never make room.
    while (!out.send(zmq::buffer(encoded), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      if (lost(to)) return false;
      const auto now = detail::clock::now();
      if (now >= until) return false;
      zmq::pollitem_t item{out.handle(), 0, ZMQ_POLLOUT, 0};
      zmq::poll(&item, 1, wait_time(std::min(until, now + peer_timeout_ / 4)));
    }
    (void)out.send(payload, zmq::send_flags::none);
    return true;
  }

  // The connection to one peer and what its monitor said about it.
  struct peer_link {
    zmq::socket_t socket;   // PUSH, connected to the peer's receive socket
    zmq::socket_t monitor;  // PAIR receiving `socket`'s handshake and disconnect events
    bool up = false;        // connected, handshake done, now
    bool ever_up = false;   // was connected once: the peer existed
    detail::deadline down_since = detail::clock::now();
    bool reported = false;  // receive() already returned early for this loss
  };

  peer_link& link(int to) {
    if (to < 0 || static_cast<std::size_t>(to) >= links_.size())
      throw std::logic_error("zmq_transport: send to rank " + std::to_string(to) +
                             " before connect_peers() named the peers");
    auto& slot = links_[static_cast<std::size_t>(to)];
    if (!slot) {
      auto l =
          std::make_unique<peer_link>(peer_link{zmq::socket_t(context_, zmq::socket_type::push),
                                                zmq::socket_t(context_, zmq::socket_type::pair)});
      configure(l->socket);
      const auto beat = static_cast<int>(std::max<long long>(100, peer_timeout_.count() / 3));
      l->socket.set(zmq::sockopt::heartbeat_ivl, beat);
      l->socket.set(zmq::sockopt::heartbeat_timeout,
                    static_cast<int>(std::min<long long>(peer_timeout_.count(), 1 << 30)));
      if (curve_) detail::make_curve_client(l->socket, *curve_);
      const std::string events = "inproc://symphony-monitor-" + std::to_string(to);
      if (zmq_socket_monitor(l->socket.handle(), events.c_str(),
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0)
        throw zmq::error_t();
      l->monitor.set(zmq::sockopt::linger, 0);
      l->monitor.connect(events);
      l->socket.connect(endpoints_[static_cast<std::size_t>(to)].endpoint);
      slot = std::move(l);
    }
    return *slot;
  }

  // Applies every pending monitor event.
  void drain_events() {
    for (auto& l : links_) {
      if (!l) continue;
      zmq::message_t event;
      while (l->monitor.recv(event, zmq::recv_flags::dontwait)) {
        std::uint16_t id = 0;
        if (event.size() >= sizeof id) std::memcpy(&id, event.data(), sizeof id);
        while (event.more())
          (void)l->monitor.recv(event, zmq::recv_flags::none);  // the address
        // Up means the peer completed a ZeroMQ handshake: the kernel of a stopped process
        // still accepts tcp connections, but only a running peer answers the handshake.
        if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
          l->up = l->ever_up = true;
          l->reported = false;
        } else if (id == ZMQ_EVENT_DISCONNECTED && l->up) {
          l->up = false;
          l->down_since = detail::clock::now();
        }
      }
    }
  }

  bool is_lost(int to, detail::deadline now) const {
    const auto& l = links_[static_cast<std::size_t>(to)];
    return l && !l->up && (l->ever_up || heard_[static_cast<std::size_t>(to)]) &&
           now - l->down_since >= peer_timeout_;
  }

  // True (once per loss) when some peer has become lost since the last call.
  bool report_losses() {
    bool any = false;
    const auto now = detail::clock::now();
    for (std::size_t r = 0; r < links_.size(); ++r)
      if (links_[r] && !links_[r]->reported && is_lost(static_cast<int>(r), now)) {
        links_[r]->reported = true;
        any = true;
      }
    return any;
  }

  // When the next down peer would become lost (time_point::max() if none).
  detail::deadline next_loss() const {
    auto next = detail::deadline::max();
    for (std::size_t r = 0; r < links_.size(); ++r) {
      const auto& l = links_[r];
      if (l && !l->up && !l->reported && (l->ever_up || heard_[r]))
        next = std::min(next, l->down_since + peer_timeout_);
    }
    return next;
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
    if (h.source < heard_.size()) heard_[h.source] = true;  // the sender exists
    return message(h, std::move(payload));
  }

  int rank_ = -1;
  int size_ = 0;
  int linger_;
  std::chrono::milliseconds peer_timeout_;
  std::optional<detail::binary_curve_keys> curve_;
  std::vector<detail::address> endpoints_;
  std::vector<std::string> bound_;
  std::vector<bool> heard_;  // per rank: a message came from it (so it was running)
  zmq::context_t context_;   // declared before the sockets: destroyed after them
  std::unique_ptr<detail::zap_handler> zap_;
  zmq::socket_t inbox_;
  std::vector<std::unique_ptr<peer_link>> links_;
  std::vector<zmq::pollitem_t> poll_items_;  // reused by receive()
  std::mutex release_mutex_;
  std::condition_variable release_;
  int borrowed_ = 0;  // caller's buffers ZeroMQ has not released yet
};

}  // namespace symphony
