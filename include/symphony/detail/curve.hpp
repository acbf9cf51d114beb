// symphony/detail/curve.hpp: CURVE security for a job's sockets.
//
// One key pair per job (SYMPHONY_CURVE_SECRET and _PUBLIC, see config.hpp): every listening socket
// is a CURVE server with the job's secret key, every connecting socket a CURVE client that
// presents the job's own pair, and a ZAP handler in each ZeroMQ context admits a client only if
// its public key is the job's. A process without the pair cannot complete a handshake, so it can
// neither read the job's traffic nor inject into it.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "../config.hpp"
#include "../error.hpp"

namespace symphony::detail {

/// A binary CURVE key (what libzmq takes besides Z85).
using curve_key = std::array<std::uint8_t, 32>;
struct binary_curve_keys {
  curve_key public_key{};
  curve_key secret_key{};
};

inline curve_key decode_curve_key(const std::string& name, const std::string& z85) {
  static const std::string alphabet =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  curve_key key{};
  if (z85.size() != 40 || z85.find_first_not_of(alphabet) != std::string::npos ||
      zmq_z85_decode(key.data(), z85.c_str()) == nullptr)
    throw config_error(name +
                       " is not a CURVE key: expected 40 characters of Z85 (as "
                       "zmq_curve_keypair or symphony-run --secure make), got " +
                       std::to_string(z85.size()) + " characters");
  return key;
}

/// Validates the job's key pair: both well-formed Z85, the public key the secret one's. Throws
/// config_error naming the variable at fault; nullopt in, nullopt out.
inline std::optional<binary_curve_keys> checked_curve_keys(const std::optional<curve_keys>& keys) {
  if (!keys) return std::nullopt;
  if (!zmq_has("curve"))
    throw config_error("SYMPHONY_CURVE_SECRET is set but this libzmq has no CURVE support");
  binary_curve_keys b;
  b.public_key = decode_curve_key("SYMPHONY_CURVE_PUBLIC", keys->public_key);
  b.secret_key = decode_curve_key("SYMPHONY_CURVE_SECRET", keys->secret_key);
  std::array<char, 41> derived{};
  if (zmq_curve_public(derived.data(), keys->secret_key.c_str()) != 0 ||
      keys->public_key != derived.data())
    throw config_error(
        "SYMPHONY_CURVE_PUBLIC is not the public half of SYMPHONY_CURVE_SECRET (give the two "
        "halves of one key pair)");
  return b;
}

inline void set_curve_key(zmq::socket_t& socket, int option, const curve_key& key) {
  if (zmq_setsockopt(socket.handle(), option, key.data(), key.size()) != 0) throw zmq::error_t();
}

/// Makes `socket` (before it binds) a CURVE server with the job's secret key.
inline void make_curve_server(zmq::socket_t& socket, const binary_curve_keys& keys) {
  socket.set(zmq::sockopt::curve_server, 1);
  set_curve_key(socket, ZMQ_CURVE_SECRETKEY, keys.secret_key);
}

/// Makes `socket` (before it connects) a CURVE client of a job server, with the job's own pair.
inline void make_curve_client(zmq::socket_t& socket, const binary_curve_keys& keys) {
  set_curve_key(socket, ZMQ_CURVE_SERVERKEY, keys.public_key);
  set_curve_key(socket, ZMQ_CURVE_PUBLICKEY, keys.public_key);
  set_curve_key(socket, ZMQ_CURVE_SECRETKEY, keys.secret_key);
}

/// Answers libzmq's ZAP requests in one context on a thread of its own (a handshake must not
//// wait for the application to call receive): admits a client only if it presents the job's
/// public key, so knowing the server key alone does not let a process in. One per context.
class zap_handler {
 public:
  zap_handler(zmq::context_t& context, const curve_key& job_key)
      : requests_(context, zmq::socket_type::rep), stop_(context, zmq::socket_type::pair) {
    requests_.set(zmq::sockopt::linger, 0);
    stop_.set(zmq::sockopt::linger, 0);
    requests_.bind("inproc://zeromq.zap.01");
    stop_.bind("inproc://symphony-zap-stop");
    zmq::socket_t stopped(context, zmq::socket_type::pair);
    stopped.set(zmq::sockopt::linger, 0);
    stopped.connect("inproc://symphony-zap-stop");
    thread_ = std::thread([this, job_key, s = std::move(stopped)]() mutable { serve(job_key, s); });
  }
  zap_handler(const zap_handler&) = delete;
  zap_handler& operator=(const zap_handler&) = delete;
  ~zap_handler() { stop(); }

  void stop() noexcept {
    if (!thread_.joinable()) return;
    try {
      (void)stop_.send(zmq::str_buffer("stop"), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
    }
    thread_.join();
  }

 private:
  void serve(const curve_key& job_key, zmq::socket_t& stopped) {
    try {
      while (true) {
        zmq::pollitem_t items[] = {{requests_.handle(), 0, ZMQ_POLLIN, 0},
                                   {stopped.handle(), 0, ZMQ_POLLIN, 0}};
        zmq::poll(items, 2, std::chrono::milliseconds(-1));
        if (items[1].revents & ZMQ_POLLIN) return;
        std::vector<zmq::message_t> request;
        do {
          request.emplace_back();
          (void)requests_.recv(request.back(), zmq::recv_flags::none);
        } while (request.back().more());
        // version, request id, domain, address, identity, mechanism, client key
        const bool admit = request.size() >= 7 && request[5].to_string() == "CURVE" &&
                           request[6].size() == job_key.size() &&
                           std::memcmp(request[6].data(), job_key.data(), job_key.size()) == 0;
        const std::string id = request.size() >= 2 ? request[1].to_string() : std::string();
        requests_.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
        requests_.send(zmq::buffer(id), zmq::send_flags::sndmore);
        requests_.send(admit ? zmq::str_buffer("200") : zmq::str_buffer("400"),
                       zmq::send_flags::sndmore);
        requests_.send(admit ? zmq::str_buffer("OK") : zmq::str_buffer("not the job's key"),
                       zmq::send_flags::sndmore);
        requests_.send(zmq::str_buffer(""), zmq::send_flags::sndmore);
        requests_.send(zmq::str_buffer(""), zmq::send_flags::none);
      }
    } catch (const zmq::error_t&) {  // the context is ending
    }
  }

  zmq::socket_t requests_;  // REP at libzmq's ZAP endpoint
  zmq::socket_t stop_;      // a message here ends the thread
  std::thread thread_;
};

}  // namespace symphony::detail
