// Fuzz target: a PMI-1 server's answers, as symphony/bootstrap/pmi.hpp parses them (pmi_parse,
// pmi_parse_integer, the handshake, get_maxes limits, pmi_parse_piece_header, pmi_decode), driven
// through the real client: bootstrap::pmi_client and its allgather().
//
// Input: one control byte, then the script: every byte a fake server sends, whatever the client
// asks. The server (a thread) writes the script into the connection, then closes its sending
// side, while it reads and drops the client's requests; so each answer line the client reads is
// the next line of the script, and after the script the client meets end-of-file.
//   control bit 0: connect through PMI_PORT=127.0.0.1:<port> with PMI_ID (the handshake tells
//                  rank and size) instead of an inherited PMI_FD socket
//   control bits 1-2: PMI_SIZE - 1 (PMI_FD mode); bits 3-4: PMI_RANK, modulo the size
//   control bit 5: call allgather twice
// (pmi_fuzz.hpp: pmi_control() makes the byte.)
//
// The client must either succeed (a table of size() entries whose own entry is the value this
// rank put, a rank below a positive size) or throw config_error (refusal, closed connection) or
// protocol_error (an answer that does not fit): no other exception, no timeout (the server never
// keeps it waiting: end-of-file comes at once), no crash, no sanitizer report, no allocation out
// of proportion to the script, and the connection closed in every case.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <symphony/bootstrap/pmi.hpp>

#include <array>
#include <functional>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>
#include <vector>

#include "fuzz_support.hpp"
#include "pmi_fuzz.hpp"

namespace {

using symphony_fuzz::check;
using symphony_fuzz::fail;

// Plays the server on `fd` until the client closes its end or `client_done` is set: writes the
// script, then shuts down its sending side; reads and drops whatever the client sends so that the
// client never blocks on a full socket. Allocates nothing: the allocation bounds count every
// thread's allocations.
void serve(int fd, const std::uint8_t* script, std::size_t size,
           const std::atomic<bool>& client_done) {
  std::size_t written = 0;
  bool sending = true;
  if (size == 0) {
    ::shutdown(fd, SHUT_WR);
    sending = false;
  }
  std::array<char, 4096> sink{};
  for (;;) {
    pollfd p{fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
    const int ready = ::poll(&p, 1, 50);
    if (ready < 0 && errno != EINTR) return;
    if (ready <= 0) {
      if (client_done.load()) return;
      continue;
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = ::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) return;
    }
    if (sending && (p.revents & POLLOUT) != 0) {
      const ssize_t n = ::send(fd, script + written, size - written, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) written += static_cast<std::size_t>(n);
      if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) sending = false;
      if (written == size) {
        ::shutdown(fd, SHUT_WR);
        sending = false;
      }
    }
  }
}

// A TCP listener on 127.0.0.1 for PMI_PORT mode, made once per process.
struct listener {
  int fd = -1;
  int port = 0;
  listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd, 16) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length) != 0)
      fail("cannot listen on 127.0.0.1");
    port = ntohs(a.sin_port);
  }
};

// Accepts the client's one connection (or gives up once `client_done`), then serves it.
void accept_and_serve(int listen_fd, const std::uint8_t* script, std::size_t size,
                      const std::atomic<bool>& client_done) {
  for (;;) {
    pollfd p{listen_fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, 50);
    if (ready > 0) {
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        serve(fd, script, size, client_done);
        ::close(fd);
        return;
      }
    }
    if (client_done.load()) return;
  }
}

// The fake server: one thread for the whole run, serving one connection per input. (A thread per
// input cost about 1 ms, mostly mapping and unmapping its stack: most of the target's time.)
class fake_server {
 public:
  fake_server() : thread_([this] { run(); }) {}
  ~fake_server() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  fake_server(const fake_server&) = delete;
  fake_server& operator=(const fake_server&) = delete;

  /// Starts serving `script` on `fd`, or on the next connection accepted from it if `listening`.
  void start(int fd, bool listening, const std::uint8_t* script, std::size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    client_done_.store(false);
    job_ = job{fd, listening, script, size};
    busy_ = true;
    wake_.notify_all();
  }

  /// Tells the server that the client is gone, and waits until it has left the connection.
  void finish() {
    client_done_.store(true);
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return !busy_; });
  }

 private:
  struct job {
    int fd;
    bool listening;
    const std::uint8_t* script;
    std::size_t size;
  };

  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || job_.has_value(); });
      if (!job_) return;
      const job j = *job_;
      job_.reset();
      lock.unlock();
      if (j.listening)
        accept_and_serve(j.fd, j.script, j.size, client_done_);
      else
        serve(j.fd, j.script, j.size, client_done_);
      lock.lock();
      busy_ = false;
      wake_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<job> job_;
  bool busy_ = false;
  bool stopping_ = false;
  std::atomic<bool> client_done_{false};
  std::thread thread_;  // last: starts once the members it uses exist
};

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

// Runs the client against the server; returns normally when its outcome was acceptable.
void run_client(const symphony::bootstrap::environment_lookup& lookup, bool twice) {
  try {
    symphony::bootstrap::pmi_client client(lookup, std::chrono::seconds(3));
    check(client.size() >= 1 && client.rank() >= 0 && client.rank() < client.size(),
          "rank " + std::to_string(client.rank()) + " of size " + std::to_string(client.size()));
    for (int call = 0; call < (twice ? 2 : 1); ++call) {
      const auto table = client.allgather(symphony_fuzz::pmi_own_value);
      check(table.size() == static_cast<std::size_t>(client.size()),
            "allgather returned " + std::to_string(table.size()) + " values for a job of " +
                std::to_string(client.size()));
      check(table[static_cast<std::size_t>(client.rank())] == symphony_fuzz::pmi_own_value,
            "allgather changed this rank's own value");
    }
  } catch (const symphony::config_error&) {
  } catch (const symphony::protocol_error&) {
  } catch (const symphony::timeout_error& e) {
    fail(std::string("timed out although the server had closed: ") + e.what());
  } catch (const std::exception& e) {
    fail(std::string("an answer made the client throw ") + typeid(e).name() + ": " + e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::uint8_t* script = data + 1;
  const std::size_t script_size = size - 1;
  const bool port_mode = (control & 1) != 0;
  const int job_size = ((control >> 1) & 3) + 1;
  const int rank = ((control >> 3) & 3) % job_size;
  const bool twice = (control & 32) != 0;

  static fake_server server;
  std::map<std::string, std::string> environment;
  int client_fd = -1;  // PMI_FD mode: the client's end, which the client must close
  int server_fd = -1;  // PMI_FD mode: the server's end, closed here once the server is done
  if (port_mode) {
    static const listener tcp;
    environment["PMI_PORT"] = "127.0.0.1:" + std::to_string(tcp.port);
    environment["PMI_ID"] = "0";
    server.start(tcp.fd, true, script, script_size);
  } else {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) fail("socketpair failed");
    client_fd = pair[0];
    server_fd = pair[1];
    environment["PMI_FD"] = std::to_string(client_fd);
    environment["PMI_RANK"] = std::to_string(rank);
    environment["PMI_SIZE"] = std::to_string(job_size);
    server.start(server_fd, false, script, script_size);
  }
  const symphony::bootstrap::environment_lookup lookup =
      [&environment](const std::string& name) -> std::optional<std::string> {
    const auto it = environment.find(name);
    if (it == environment.end()) return std::nullopt;
    return it->second;
  };

  symphony_fuzz::reset_allocations();
  run_client(lookup, twice);
  // The answers the client buffers, and its requests, grow with the script; nothing may be sized
  // by a number in it.
  symphony_fuzz::check_largest_allocation("bootstrap::pmi_client", script_size, {8, 64 * 1024});
  server.finish();
  if (!port_mode) {
    check(!is_open(client_fd), "the client left its PMI_FD connection open");
    ::close(server_fd);
  }
  return 0;
}
