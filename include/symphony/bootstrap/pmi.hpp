// symphony/bootstrap/pmi.hpp: the launcher's key-value store, over the PMI-1 wire protocol.
//
// MPICH's hydra (mpiexec.hydra), Slurm's pmi2 plugin (srun --mpi=pmi2, which also answers PMI-1
// clients) and Flux's job shell start every task with a connection to a key-value store (KVS):
// each task puts values, all meet at a barrier, and then every task can get every value. This
// header speaks that protocol directly, with no libpmi and no MPI, so that the ranks of a job can
// exchange their endpoints (pmi_allgather) without any address agreed in advance.
//
// How a task reaches its server (the launcher chooses, the environment says):
//   PMI_FD=6                   an inherited, already connected socket (hydra by default, srun,
//                              Flux); PMI_RANK and PMI_SIZE give this task's rank and the size
//   PMI_PORT=host:port         a TCP address to connect to (hydra -pmi-port), with PMI_ID=N: the
//                              server tells rank and size over the connection (there is no
//                              PMI_RANK then). Without PMI_ID, PMI_RANK and PMI_SIZE are read.
// When both are set, PMI_FD wins, as in MPICH's own client.
//
// The protocol: one request line, one answer line, in lock step, each "key=value" tokens separated
// by spaces and ended by a newline (flux-framework RFC 13; MPICH src/pmi; observed with hydra
// 4.0.2 and srun --mpi=pmi2 of Slurm 22.05):
//
//   [PMI_PORT+PMI_ID only]  cmd=initack pmiid=N        -> cmd=initack, then three lines:
//                                                          cmd=set size=S, cmd=set rank=R,
//                                                          cmd=set debug=D
//   cmd=init pmi_version=1 pmi_subversion=1            -> cmd=response_to_init ... rc=0
//   cmd=get_maxes                                      -> cmd=maxes kvsname_max=256
//                                                          keylen_max=64 vallen_max=1024
//   cmd=get_my_kvsname                                 -> cmd=my_kvsname kvsname=kvs_..._vm
//   cmd=put kvsname=K key=k value=v                    -> cmd=put_result rc=0
//   cmd=barrier_in                                     -> cmd=barrier_out   (when all have come)
//   cmd=get kvsname=K key=k                            -> cmd=get_result rc=0 value=v
//   cmd=finalize                                       -> cmd=finalize_ack
//
// An answer with rc other than 0 is a refusal; its msg= says why (hydra: "rc=-1
// msg=key_x_not_found"). Limits, and why this client respects each:
//   * keylen_max and vallen_max count the terminating NUL of the C API: a key holds at most
//     keylen_max-1 characters, a value vallen_max-1. Hydra 4.0.2 silently drops a longer key and
//     silently truncates a longer value (observed), so they are checked here before sending.
//   * A request line is at most 1024 bytes with its newline, sent in one write: Slurm's pmi2 plugin
//     reads a PMI-1 request with a single read() of at most 1024 bytes ("TODO: read until
//     newline", src/plugins/mpi/pmi2/pmi1.c) and MPICH's own line buffers are 1024 bytes
//     (PMIU_MAXLINE). Answers may be longer (hydra sends 1061-byte get_result lines).
//   * A value ends at the first space (hydra 4.0.2 keeps "a" of "a b"), a newline ends the line,
//     MPICH 4.1 and later treat a backslash as an escape, '=' is outside the RFC's "word" of a
//     get_result, and an empty value is rejected by MPICH's parser ("Expecting value after =").
//   * Hydra ends the whole job when it gets a command it does not know, or when a task closes its
//     connection after init without finalize (observed: every rank is killed; closing it before
//     init is harmless). pmi_client therefore always finalizes once init succeeded, also when its
//     constructor fails later.
//
// pmi_allgather encodes values so that any byte string survives all of that: bytes other than
// ASCII letters, digits and - _ . : / @ | , [ ] + ~ become %XX (two upper-case hex digits), so
// endpoint descriptions such as "tcp://10.0.0.5:41234|ipc://@symphony-0123abcd-3" travel
// unchanged and stay readable in the server's logs. A value that does not fit one key is split
// over several: rank r's n-th piece of the c-th allgather of this connection is stored under
// "symphony-c<c>-r<r>-<n>", and piece 0 starts with "<pieces>:<encoded length>:" so that a reader
// knows how many pieces to get and notices a server that truncated one.
//
// Timeouts: every wait (connect, and each request with its answer) is bounded by the timeout the
// client was built with, measured per request; a barrier waits for every rank, so one rank that
// never calls fence() keeps the others waiting until their timeout. symphony::wait_forever waits
// without bound. Name resolution of the PMI_PORT host uses the system resolver and is not bounded.
// A timeout ends the job in practice: a rank that gave up has left the barrier it entered, and
// when the late rank arrives hydra 4.0.2 completes that barrier, cannot answer the rank that left,
// and aborts the whole job (observed). Choose the timeout for the slowest start-up expected.
//
// Errors: a malformed variable is a config_error naming it and its value; a server that refuses a
// request (rc != 0) or closes the connection is a config_error naming the request and the server's
// msg; a server that does not answer in time is a timeout_error naming the request; an answer
// that does not fit the protocol is a protocol_error quoting it. Bad arguments to put() and get()
// (a key with a space, a value too long for the server) are std::invalid_argument, thrown before
// anything is sent.
//
// Use: once per process and connection. pmi_client closes the connection after finalize (Slurm's
// server closes its end too), so a second pmi_client in the same process finds PMI_FD closed (a
// config_error that says so). A program that needs several exchanges keeps one pmi_client and calls allgather()
// on it several times. One thread at a time per pmi_client.
#pragma once

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../transport/transport.hpp"
#include "detect.hpp"

namespace symphony::bootstrap {

/// The sizes the PMI server announced with get_maxes. Each counts a C string's terminating NUL, so
/// a key holds at most keylen_max - 1 characters and a value vallen_max - 1.
struct pmi_limits {
  std::size_t kvsname_max = 16;  ///< longest KVS name + 1 (the RFC's recommended minimum until told)
  std::size_t keylen_max = 32;   ///< longest key + 1
  std::size_t vallen_max = 64;   ///< longest value + 1
};

}  // namespace symphony::bootstrap

namespace symphony::detail {

/// The longest request line a PMI-1 server is sure to read whole, newline included: Slurm's pmi2
/// plugin reads one request with a single read() of at most 1024 bytes, MPICH's buffers hold 1024.
inline constexpr std::size_t pmi_max_request_line = 1024;

/// The longest answer line accepted. Answers may exceed the request limit (a get_result carries a
/// value of up to vallen_max - 1 bytes plus its framing), but a line without end is a broken server.
inline constexpr std::size_t pmi_max_answer_line = 64 * 1024;

/// The destructor waits at most this long (and never longer than the client's timeout) for the
/// finalize_ack: finalize is answered locally by every server, and a program must not hang on exit.
inline constexpr std::chrono::milliseconds pmi_finalize_wait = std::chrono::seconds(5);

/// The largest encoded value allgather assembles from another rank's pieces: bounds what a corrupt
/// header can make a rank fetch.
inline constexpr std::size_t pmi_max_encoded_value = std::size_t{1} << 26;

/// The characters pmi_encode() leaves as they are: letters, digits and the punctuation of endpoint
/// descriptions: all inside RFC 13's value alphabet, stored verbatim by hydra 4.0.2 and Slurm
/// 22.05 (observed), and special to none of them.
inline bool pmi_plain(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-_.:/@|,[]+~").find(static_cast<char>(c)) != std::string_view::npos;
}

/// `value` with every byte that is not pmi_plain() written as %XX (upper-case hex): the result is
/// printable ASCII without space, '=' or backslash, which PMI-1 servers store as it is.
inline std::string pmi_encode(std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (pmi_plain(c)) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0x0f];
    }
  }
  return out;
}

/// The inverse of pmi_encode(); nullopt when `encoded` is not its output (a character that is
/// neither plain nor part of a %XX escape, or a truncated escape).
inline std::optional<std::string> pmi_decode(std::string_view encoded) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  out.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (c == '%') {
      if (encoded.size() - i < 3) return std::nullopt;
      const int high = digit(encoded[i + 1]);
      const int low = digit(encoded[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>((high << 4) | low);
      i += 2;
    } else if (pmi_plain(static_cast<unsigned char>(c))) {
      out += c;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

/// One line of the PMI-1 wire protocol: its key=value tokens in order. Tokens without '=' are kept
/// with an empty value; extra spaces are ignored, as RFC 13 asks of a parser.
struct pmi_message {
  std::vector<std::pair<std::string, std::string>> fields;

  /// The value of the first token named `key`, or nullptr.
  const std::string* find(std::string_view key) const {
    for (const auto& field : fields)
      if (field.first == key) return &field.second;
    return nullptr;
  }
  /// The value of cmd=, or "" when the line has none.
  std::string cmd() const {
    const std::string* value = find("cmd");
    return value ? *value : std::string();
  }
};

/// Splits one line (without its newline) into its tokens.
inline pmi_message pmi_parse(std::string_view line) {
  pmi_message message;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
      ++i;
    std::size_t end = i;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t' && line[end] != '\r')
      ++end;
    if (end > i) {
      const std::string_view token = line.substr(i, end - i);
      const std::size_t eq = token.find('=');
      if (eq == std::string_view::npos)
        message.fields.emplace_back(std::string(token), std::string());
      else
        message.fields.emplace_back(std::string(token.substr(0, eq)),
                                    std::string(token.substr(eq + 1)));
    }
    i = end;
  }
  return message;
}

/// A decimal integer with an optional '-', nothing else; nullopt when `text` is not one or does
/// not fit a long long.
inline std::optional<long long> pmi_parse_integer(std::string_view text) {
  std::size_t i = 0;
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) i = 1;
  if (i == text.size()) return std::nullopt;
  long long value = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return std::nullopt;
    const int d = c - '0';
    if (value > (LLONG_MAX - d) / 10) return std::nullopt;
    value = value * 10 + d;
  }
  return negative ? -value : value;
}

/// A request or answer for an error message: long values are cut, so that a 1000-byte value does
/// not drown the explanation.
inline std::string pmi_shortened(std::string_view line, std::size_t max = 160) {
  if (line.size() <= max) return "'" + std::string(line) + "'";
  return "'" + std::string(line.substr(0, max)) + "...' (" + std::to_string(line.size()) +
         " bytes)";
}

/// "5 s", "0.25 s", "forever".
inline std::string pmi_seconds(std::chrono::milliseconds t) {
  if (t == wait_forever) return "forever";
  const long long ms = t.count();
  std::string text = std::to_string(ms / 1000);
  if (ms % 1000 != 0) {
    std::string fraction = std::to_string(1000 + ms % 1000).substr(1);
    while (!fraction.empty() && fraction.back() == '0')
      fraction.pop_back();
    text += "." + fraction;
  }
  return text + " s";
}

/// host and port of PMI_PORT ("vm:43815", "10.0.0.5:43815", "[fe80::1]:43815").
struct pmi_host_port {
  std::string host;
  int port = 0;
};

/// nullopt when `text` is not host:port with a non-empty host and a port in 1..65535.
inline std::optional<pmi_host_port> pmi_parse_host_port(const std::string& text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return std::nullopt;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos || host.find(']') != std::string::npos) {
    return std::nullopt;  // an IPv6 literal must be bracketed, or the port is ambiguous
  }
  const auto port = pmi_parse_integer(port_text);
  if (!port || port_text[0] == '-' || *port < 1 || *port > 65535) return std::nullopt;
  for (char c : host)
    if (c == ' ' || c == '\t' || c == '/') return std::nullopt;
  return pmi_host_port{host, static_cast<int>(*port)};
}

/// Milliseconds left until `until`, for poll(): -1 for no deadline, 0 when passed.
inline int pmi_poll_milliseconds(deadline until) {
  if (until == deadline::max()) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - clock::now());
  if (left.count() <= 0) return 0;
  return static_cast<int>(std::min<long long>(left.count(), INT_MAX));
}

/// Waits until `fd` has one of `events` (or an error or hang-up, which the next read or write
/// reports): 1 when ready, 0 at the deadline, -1 with errno on a poll failure.
inline int pmi_wait(int fd, short events, deadline until) {
  for (;;) {
    const int ms = pmi_poll_milliseconds(until);
    pollfd entry{fd, events, 0};
    const int ready = ::poll(&entry, 1, ms);
    if (ready > 0) return 1;
    if (ready == 0) {
      if (ms == 0 || clock::now() >= until) return 0;
      continue;  // woke up a little early: rounding
    }
    if (errno != EINTR) return -1;
  }
}

/// Owns one file descriptor; closes it on destruction.
class pmi_fd {
 public:
  pmi_fd() = default;
  explicit pmi_fd(int fd) : fd_(fd) {}
  pmi_fd(pmi_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  pmi_fd& operator=(pmi_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  pmi_fd(const pmi_fd&) = delete;
  pmi_fd& operator=(const pmi_fd&) = delete;
  ~pmi_fd() { reset(); }

  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// A connected TCP socket to host:port, or a config_error naming `variable` and its value (host
/// unknown, connection refused). Connecting waits at most `timeout`: a timeout_error after that.
inline pmi_fd pmi_connect(const pmi_host_port& where, const std::string& variable,
                          const std::string& value, std::chrono::milliseconds timeout) {
  const std::string named = variable + "=" + in_quotes(value);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(where.port);
  const int status = ::getaddrinfo(where.host.c_str(), port.c_str(), &hints, &found);
  if (status != 0)
    throw config_error(named + ": cannot resolve the PMI server's host " + in_quotes(where.host) +
                       ": " + ::gai_strerror(status));
  struct release {
    addrinfo* list;
    ~release() { ::freeaddrinfo(list); }
  } guard{found};

  const deadline until = deadline_after(timeout);
  std::string failures;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    pmi_fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                       a->ai_protocol));
    if (fd.get() < 0) continue;
    int error = 0;
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      error = errno;
      if (error == EINPROGRESS || error == EINTR) {
        const int ready = pmi_wait(fd.get(), POLLOUT, until);
        if (ready == 0)
          throw timeout_error(named + ": connecting to the PMI server took longer than " +
                              pmi_seconds(timeout));
        socklen_t size = sizeof error;
        if (ready < 0 || ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &size) != 0)
          error = errno;
      }
    }
    if (error == 0) {
      // Lock-step requests of a few bytes: Nagle's algorithm would only add delay.
      const int one = 1;
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    if (!failures.empty()) failures += "; ";
    failures += std::strerror(error);
  }
  throw config_error(named + ": cannot connect to the PMI server at " + in_quotes(where.host) +
                     " port " + port + ": " + (failures.empty() ? "no address" : failures));
}

/// One connection to a PMI-1 server: lock-step request and answer lines, each bounded by the
/// timeout. Finalizes on destruction when init succeeded (hydra kills the job otherwise).
class pmi_connection {
 public:
  pmi_connection(pmi_fd fd, std::string via, std::chrono::milliseconds timeout)
      : fd_(std::move(fd)), via_(std::move(via)), timeout_(timeout) {}

  pmi_connection(pmi_connection&&) noexcept = default;
  pmi_connection& operator=(pmi_connection&&) = delete;
  pmi_connection(const pmi_connection&) = delete;
  pmi_connection& operator=(const pmi_connection&) = delete;

  ~pmi_connection() { finalize_quietly(); }

  /// "PMI_FD=6" or "PMI_PORT=vm:43815 (PMI_ID=2)".
  const std::string& via() const { return via_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  /// Appended to messages once known: "rank 2 of 4".
  void set_identity(std::string identity) { identity_ = std::move(identity); }
  /// From now on, the destructor sends finalize.
  void set_initialized() { initialized_ = true; }

  /// Sends `request` (no newline) and reads the answer; throws when the answer is not `expected`
  /// or carries rc != 0. `context` says what the request was for, for messages ("" if obvious).
  pmi_message transact(const std::string& request, const std::string& expected,
                       const std::string& context = "") {
    const deadline until = deadline_after(timeout_);
    send_line(request, until, context);
    return expect(read_line(request, until, context), request, expected, context);
  }

  /// Reads one more answer line to `request` and checks it as transact() does (the handshake's
  /// answer is several lines).
  pmi_message receive(const std::string& request, const std::string& expected,
                      const std::string& context = "") {
    return expect(read_line(request, deadline_after(timeout_), context), request, expected,
                  context);
  }

  /// The server's words for messages: "the PMI server (PMI_FD=6, rank 2 of 4)".
  std::string server() const {
    return "the PMI server (" + via_ + (identity_.empty() ? "" : ", " + identity_) + ")";
  }

  /// Throws a protocol_error about `answer` to `request`, and stops using the connection.
  [[noreturn]] void unexpected(const std::string& request, const std::string& answer,
                               const std::string& why) {
    fail(protocol_error(server() + " answered " + pmi_shortened(request) + " with " +
                        pmi_shortened(answer) + ": " + why));
  }

 private:
  template <class Error>
  [[noreturn]] void fail(const Error& error) {
    broken_ = std::make_exception_ptr(error);
    throw error;
  }

  void check_usable() const {
    if (broken_) std::rethrow_exception(broken_);
    if (fd_.get() < 0) throw config_error(server() + ": the connection is closed");
  }

  static std::string for_what(const std::string& context) {
    return context.empty() ? "" : " (" + context + ")";
  }

  void send_line(const std::string& request, deadline until, const std::string& context) {
    check_usable();
    const std::string line = request + "\n";
    std::size_t sent = 0;
    while (sent < line.size()) {
      const int ready = pmi_wait(fd_.get(), POLLOUT, until);
      if (ready == 0)
        fail(timeout_error(server() + " did not accept " + pmi_shortened(request) +
                           for_what(context) + " within " + pmi_seconds(timeout_)));
      const ssize_t n = ::send(fd_.get(), line.data() + sent, line.size() - sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      closed_ = true;
      fail(config_error(server() + " closed the connection: sending " + pmi_shortened(request) +
                        for_what(context) + " failed: " + std::strerror(errno)));
    }
  }

  std::string read_line(const std::string& request, deadline until, const std::string& context) {
    check_usable();
    for (;;) {
      const std::size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      if (buffer_.size() > pmi_max_answer_line)
        fail(protocol_error(server() + " answered " + pmi_shortened(request) +
                            " with more than " + std::to_string(pmi_max_answer_line) +
                            " bytes and no end of line: " + pmi_shortened(buffer_)));
      const int ready = pmi_wait(fd_.get(), POLLIN, until);
      if (ready == 0) {
        std::string message = server() + " did not answer " + pmi_shortened(request) +
                              for_what(context) + " within " + pmi_seconds(timeout_);
        if (request == "cmd=barrier_in")
          message += ": the barrier waits for every rank of the job, and some rank has not "
                     "reached it (still starting, busy or stuck, or not calling fence() or "
                     "allgather() like the others)";
        fail(timeout_error(message));
      }
      char chunk[4096];
      const ssize_t n = ready < 0 ? -1 : ::recv(fd_.get(), chunk, sizeof chunk, MSG_DONTWAIT);
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      closed_ = true;
      fail(config_error(server() + " closed the connection while this process waited for the " +
                        "answer to " + pmi_shortened(request) + for_what(context) +
                        (n < 0 ? std::string(": ") + std::strerror(errno) : std::string()) +
                        (buffer_.empty() ? "" : "; it had sent " + pmi_shortened(buffer_))));
    }
  }

  pmi_message expect(const std::string& answer, const std::string& request,
                     const std::string& expected, const std::string& context) {
    pmi_message message = pmi_parse(answer);
    if (message.cmd() != expected)
      unexpected(request, answer, "expected cmd=" + expected);
    const std::string* rc = message.find("rc");
    if (rc != nullptr && *rc != "0") {
      const auto code = pmi_parse_integer(*rc);
      if (!code) unexpected(request, answer, "rc is not a number");
      const std::string* msg = message.find("msg");
      // Refused, but in step: the connection stays usable (a get of a missing key, say).
      throw config_error(server() + " refused " + pmi_shortened(request) + for_what(context) +
                         ": rc=" + *rc + (msg ? " msg=" + *msg : std::string(" (no msg)")));
    }
    return message;
  }

  /// Best effort, never throws, waits at most min(timeout, pmi_finalize_wait). Skips answers that
  /// are still due (a barrier_out after a timeout) until the finalize_ack.
  void finalize_quietly() noexcept {
    if (fd_.get() < 0 || !initialized_ || closed_) return;
    try {
      const deadline until = deadline_after(std::min(timeout_, pmi_finalize_wait));
      broken_ = nullptr;  // a late answer is skipped below; finalize is still owed
      send_line("cmd=finalize", until, "");
      for (;;) {
        const std::string line = read_line("cmd=finalize", until, "");
        if (pmi_parse(line).cmd() == "finalize_ack") break;
      }
    } catch (...) {
      // Nothing to report to: the process is tearing the connection down either way.
    }
    fd_.reset();
  }

  pmi_fd fd_;
  std::string via_;
  std::chrono::milliseconds timeout_;
  std::string identity_;
  std::string buffer_;
  bool initialized_ = false;
  bool closed_ = false;
  std::exception_ptr broken_;
};

/// Reads this process's environment.
inline bootstrap::environment_lookup pmi_process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

/// An integer variable in [low, high], or a config_error naming it, its value and `why`.
inline int pmi_integer_variable(const bootstrap::environment_lookup& lookup,
                                const std::string& name, long long low, long long high,
                                const std::string& why) {
  const auto text = lookup(name);
  if (!text) throw config_error(name + " is not set; " + why);
  const auto value = pmi_parse_integer(*text);
  if (!value)
    throw config_error(name + "=" + in_quotes(*text) + " is not a whole number; " + why);
  if (*value < low || *value > high)
    throw config_error(name + "=" + in_quotes(*text) + " is outside " + std::to_string(low) +
                       ".." + std::to_string(high) + "; " + why);
  return static_cast<int>(*value);
}

/// The inherited socket named by PMI_FD, checked, or a config_error that says what is wrong.
inline pmi_fd pmi_inherited_socket(const std::string& text) {
  const std::string named = "PMI_FD=" + in_quotes(text);
  const auto number = pmi_parse_integer(text);
  if (!number || text[0] == '-' || *number > INT_MAX)
    throw config_error(named + " is not a file descriptor number (the launcher sets it to the "
                               "number of a socket this process inherited)");
  const int fd = static_cast<int>(*number);
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0)
    throw config_error(named + ": no file descriptor " + text +
                       " is open in this process. It was closed before (a PMI connection "
                       "serves one client: a second pmi_client in a process finds it finalized "
                       "and closed), or a program between the launcher and this one closed "
                       "its inherited descriptors");
  struct stat status {};
  if (::fstat(fd, &status) != 0 || !S_ISSOCK(status.st_mode))
    throw config_error(named + ": file descriptor " + text +
                       " is not a socket, so it is not a PMI connection (was PMI_FD inherited "
                       "from an outer job and its number reused?)");
  // The connection is this process's alone: children started later must not keep it open.
  ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  return pmi_fd(fd);
}

/// The key of the `piece`-th piece of `rank`'s value in the `call`-th allgather.
inline std::string pmi_allgather_key(unsigned call, int rank, std::size_t piece) {
  return "symphony-c" + std::to_string(call) + "-r" + std::to_string(rank) + "-" +
         std::to_string(piece);
}

/// A request line is "cmd=put kvsname=K key=k value=v": the bytes it takes besides v.
inline std::size_t pmi_put_overhead(const std::string& kvsname, const std::string& key) {
  return std::string_view("cmd=put kvsname=").size() + kvsname.size() +
         std::string_view(" key=").size() + key.size() + std::string_view(" value=").size() +
         1;  // newline
}

/// Splits `encoded` into the values to put for `rank` in allgather number `call`, the first
/// starting with "<pieces>:<encoded length>:". Each value fits the server's vallen_max and its
/// put request fits pmi_max_request_line. Returns (key, value) pairs.
inline std::vector<std::pair<std::string, std::string>> pmi_allgather_pieces(
    const std::string& encoded, unsigned call, int rank, const std::string& kvsname,
    const bootstrap::pmi_limits& limits) {
  const std::size_t total = encoded.size();
  // Room for the header: its two numbers have at most as many digits as total + 1.
  const std::size_t reserve = 2 * (std::to_string(total + 1).size() + 1);
  std::vector<std::pair<std::string, std::string>> pieces;
  std::size_t offset = 0;
  do {
    const std::size_t index = pieces.size();
    std::string key = pmi_allgather_key(call, rank, index);
    if (key.size() > limits.keylen_max - 1)
      throw config_error("the PMI server's keylen_max=" + std::to_string(limits.keylen_max) +
                         " is too small for symphony's key " + in_quotes(key));
    const std::size_t overhead = pmi_put_overhead(kvsname, key);
    std::size_t room = limits.vallen_max - 1;
    room = std::min(room, overhead < pmi_max_request_line ? pmi_max_request_line - overhead : 0);
    if (index == 0) room = room > reserve ? room - reserve : 0;
    if (room < 8)
      throw config_error("the PMI server's limits (vallen_max=" +
                         std::to_string(limits.vallen_max) + ", KVS name of " +
                         std::to_string(kvsname.size()) +
                         " characters) leave no room for symphony's values");
    const std::size_t take = std::min(room, total - offset);
    pieces.emplace_back(std::move(key), encoded.substr(offset, take));
    offset += take;
  } while (offset < total);
  pieces.front().second = std::to_string(pieces.size()) + ":" + std::to_string(total) + ":" +
                          pieces.front().second;
  return pieces;
}

/// The header of piece 0: (pieces, encoded length, where the data starts); nullopt if malformed.
struct pmi_piece_header {
  std::size_t pieces = 0;
  std::size_t total = 0;
  std::size_t data = 0;
};

inline std::optional<pmi_piece_header> pmi_parse_piece_header(std::string_view first) {
  const std::size_t colon1 = first.find(':');
  if (colon1 == std::string_view::npos) return std::nullopt;
  const std::size_t colon2 = first.find(':', colon1 + 1);
  if (colon2 == std::string_view::npos) return std::nullopt;
  const std::string_view pieces_text = first.substr(0, colon1);
  const std::string_view total_text = first.substr(colon1 + 1, colon2 - colon1 - 1);
  if (pieces_text.empty() || total_text.empty() || pieces_text[0] == '-' || total_text[0] == '-')
    return std::nullopt;
  const auto pieces = pmi_parse_integer(pieces_text);
  const auto total = pmi_parse_integer(total_text);
  if (!pieces || !total) return std::nullopt;
  if (*total < 0 || static_cast<unsigned long long>(*total) > pmi_max_encoded_value)
    return std::nullopt;
  if (*pieces < 1 || *pieces > *total + 1) return std::nullopt;
  return pmi_piece_header{static_cast<std::size_t>(*pieces), static_cast<std::size_t>(*total),
                          colon2 + 1};
}

/// Throws std::invalid_argument unless `key` is a key the server stores as it is.
inline void pmi_check_key(const std::string& key, const bootstrap::pmi_limits& limits) {
  if (key.empty()) throw std::invalid_argument("PMI key is empty");
  for (char c : key)
    if (c <= ' ' || c > '~' || c == '=')
      throw std::invalid_argument("PMI key " + in_quotes(key) +
                                  " holds a space, '=' or a character outside printable ASCII");
  if (key.size() > limits.keylen_max - 1)
    throw std::invalid_argument("PMI key " + in_quotes(key) + " is " +
                                std::to_string(key.size()) + " characters long; the server "
                                "stores keys of at most " + std::to_string(limits.keylen_max - 1));
}

}  // namespace symphony::detail

namespace symphony::bootstrap {

/// A connection to the launcher's PMI-1 key-value store (see the top of this header).
///
/// Construction connects (PMI_FD or PMI_PORT), identifies (PMI_ID handshake), initializes and
/// learns the limits and the KVS name; destruction finalizes. Move-only; one thread at a time.
class pmi_client {
 public:
  /// Connects to the server the environment (read through `lookup`) names: PMI_FD with PMI_RANK
  /// and PMI_SIZE, or PMI_PORT with PMI_ID (or with PMI_RANK and PMI_SIZE). `timeout` bounds the
  /// connect and each request (symphony::wait_forever: no bound); it must be positive.
  ///
  /// Throws config_error when neither PMI_FD nor PMI_PORT is set, when a variable is malformed
  /// (naming it and its value), when the connection cannot be made or the server refuses or closes
  /// it (naming the request and the server's msg); timeout_error when the server does not answer
  /// in time; protocol_error when an answer does not fit the protocol. On any failure after init
  /// the connection is finalized before the exception leaves.
  pmi_client(const environment_lookup& lookup, std::chrono::milliseconds timeout)
      : connection_(open(lookup, timeout, rank_, size_)) {
    if (rank_ >= 0) connection_.set_identity(identity());
    const auto init = connection_.transact("cmd=init pmi_version=1 pmi_subversion=1",
                                           "response_to_init");
    connection_.set_initialized();
    if (const std::string* version = init.find("pmi_version"); version && *version != "1")
      throw config_error(connection_.server() + " speaks PMI version " + *version +
                         ", not version 1 (the only one this client speaks)");
    read_limits(connection_.transact("cmd=get_maxes", "maxes"));
    const auto name = connection_.transact("cmd=get_my_kvsname", "my_kvsname");
    const std::string* kvsname = name.find("kvsname");
    if (kvsname == nullptr || kvsname->empty())
      connection_.unexpected("cmd=get_my_kvsname", "cmd=my_kvsname ...", "no kvsname");
    kvsname_ = *kvsname;
  }

  /// The same, reading this process's environment.
  explicit pmi_client(std::chrono::milliseconds timeout = default_timeout)
      : pmi_client(detail::pmi_process_environment(), timeout) {}

  pmi_client(pmi_client&&) noexcept = default;
  pmi_client& operator=(pmi_client&&) = delete;
  pmi_client(const pmi_client&) = delete;
  pmi_client& operator=(const pmi_client&) = delete;

  /// Sends finalize and closes the connection (best effort: never throws, waits at most the
  /// timeout and never more than 5 s).
  ~pmi_client() = default;

  /// This process's rank, 0 <= rank() < size(): from PMI_RANK, or, with PMI_PORT and PMI_ID,
  /// as the server told it (hydra -pmi-port sets no PMI_RANK).
  int rank() const { return rank_; }
  /// The number of ranks in the job, from PMI_SIZE or the server.
  int size() const { return size_; }
  /// The KVS name the server gave (e.g. "kvs_11272_0_2118796631_vm" under hydra, "27.0" under
  /// srun).
  const std::string& kvsname() const { return kvsname_; }
  /// The server's limits (get_maxes).
  const pmi_limits& limits() const { return limits_; }
  /// How the server was reached, for messages: "PMI_FD=6" or "PMI_PORT=vm:43815 (PMI_ID=2)".
  const std::string& connection() const { return connection_.via(); }

  /// Stores `value` under `key`, visible to all ranks after the next fence(). Both are sent as
  /// they are: the key must be 1..keylen_max-1 printable ASCII characters without '=' or space;
  /// the value 1..vallen_max-1 of them and its request line at most 1024 bytes (encode arbitrary
  /// text with allgather, or detail::pmi_encode). A key must not be put twice. Throws
  /// std::invalid_argument for a bad key or value (nothing is sent), config_error when the server
  /// refuses, timeout_error, protocol_error.
  void put(const std::string& key, const std::string& value) { do_put(key, value, ""); }

  /// Commits this rank's puts and waits until every rank has called fence(); afterwards every
  /// rank's puts are visible to get(). Collective: every rank must call it, the same number of
  /// times. Throws timeout_error when the other ranks do not all arrive within the timeout,
  /// config_error when the server fails the barrier or closes the connection.
  void fence() { do_fence(""); }

  /// The value stored under `key` (put by any rank before the last fence, or by the launcher:
  /// "PMI_process_mapping"), exactly as the server sends it. Throws std::invalid_argument for a
  /// malformed key, config_error when the server has no such key (naming it and the server's msg),
  /// timeout_error, protocol_error.
  std::string get(const std::string& key) { return do_get(key, ""); }

  /// Every rank's `value`, in rank order (entry rank() is this rank's own `value`). Any bytes are
  /// allowed; they are encoded and, when longer than one key holds, split over several keys (see
  /// the top of this header). Collective: every rank calls it, the same number of times; each
  /// call uses fresh keys, so calls may repeat. Costs one fence, about one put per vallen_max
  /// bytes, and one get per piece of each other rank's value.
  ///
  /// Throws as put, fence and get do; config_error naming the rank whose value is missing;
  /// protocol_error when a value read back is not one a symphony rank wrote (or arrived truncated).
  std::vector<std::string> allgather(const std::string& value) {
    const unsigned call = calls_++;
    const std::string encoded = detail::pmi_encode(value);
    const std::string own = "allgather: rank " + std::to_string(rank_) + "'s own value";
    for (const auto& piece : detail::pmi_allgather_pieces(encoded, call, rank_, kvsname_, limits_))
      do_put(piece.first, piece.second, own);
    do_fence("allgather: waiting for every rank's value");

    std::vector<std::string> table(static_cast<std::size_t>(size_));
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) {
        table[static_cast<std::size_t>(r)] = value;
        continue;
      }
      const std::string context = "allgather: reading rank " + std::to_string(r) + "'s value";
      const std::string first_key = detail::pmi_allgather_key(call, r, 0);
      const std::string first = do_get(first_key, context);
      const auto header = detail::pmi_parse_piece_header(first);
      // A rank never announces more pieces than it could put: their keys must fit keylen_max
      // (else the gets below would fail as if this caller had passed a bad key).
      const bool too_many_pieces =
          header && detail::pmi_allgather_key(call, r, header->pieces - 1).size() >
                        limits_.keylen_max - 1;
      if (!header || too_many_pieces)
        throw protocol_error(connection_.server() + " holds " + detail::pmi_shortened(first) +
                             " under " + detail::in_quotes(first_key) + " (rank " + std::to_string(r) +
                             "'s value), which no symphony rank writes" +
                             (too_many_pieces ? " (more pieces than keys of at most " +
                                                    std::to_string(limits_.keylen_max - 1) +
                                                    " characters can name)"
                                              : std::string()) +
                             ": does rank " + std::to_string(r) +
                             " run another program or version?");
      std::string data = first.substr(header->data);
      for (std::size_t i = 1; i < header->pieces; ++i)
        data += do_get(detail::pmi_allgather_key(call, r, i), context);
      auto decoded = detail::pmi_decode(data);
      if (data.size() != header->total || !decoded)
        throw protocol_error(connection_.server() + " returned rank " + std::to_string(r) +
                             "'s value as " + std::to_string(data.size()) + " bytes in " +
                             std::to_string(header->pieces) + " piece(s), but rank " +
                             std::to_string(r) + " wrote " + std::to_string(header->total) +
                             (decoded ? "" : " and it is not validly encoded") +
                             ": the server truncated or altered it");
      table[static_cast<std::size_t>(r)] = std::move(*decoded);
    }
    return table;
  }

 private:
  void do_put(const std::string& key, const std::string& value, const std::string& context) {
    detail::pmi_check_key(key, limits_);
    if (value.empty())
      throw std::invalid_argument("PMI value for key " + detail::in_quotes(key) +
                                  " is empty; PMI-1 servers reject empty values");
    for (char c : value)
      if (c <= ' ' || c > '~' || c == '=')
        throw std::invalid_argument(
            "PMI value for key " + detail::in_quotes(key) +
            " holds a space, '=' or a character outside printable ASCII; encode it first");
    if (value.size() > limits_.vallen_max - 1)
      throw std::invalid_argument("PMI value for key " + detail::in_quotes(key) + " is " +
                                  std::to_string(value.size()) +
                                  " bytes; the server stores at most " +
                                  std::to_string(limits_.vallen_max - 1));
    const std::string request = "cmd=put kvsname=" + kvsname_ + " key=" + key + " value=" + value;
    if (request.size() + 1 > detail::pmi_max_request_line)
      throw std::invalid_argument(
          "PMI put of key " + detail::in_quotes(key) + " would be a " + std::to_string(request.size() + 1) +
          "-byte request; PMI-1 servers read at most " +
          std::to_string(detail::pmi_max_request_line) + " bytes per request");
    connection_.transact(request, "put_result", context);
  }

  void do_fence(const std::string& context) {
    // PMI-1's commit is local to MPICH's client library: on the wire, the barrier is the commit.
    connection_.transact("cmd=barrier_in", "barrier_out", context);
  }

  std::string do_get(const std::string& key, const std::string& context) {
    detail::pmi_check_key(key, limits_);
    const std::string request = "cmd=get kvsname=" + kvsname_ + " key=" + key;
    const auto answer = connection_.transact(request, "get_result", context);
    const std::string* value = answer.find("value");
    if (value == nullptr) connection_.unexpected(request, "cmd=get_result ...", "no value");
    return *value;
  }

  std::string identity() const {
    return "rank " + std::to_string(rank_) + " of " + std::to_string(size_);
  }

  /// Connects as the environment says and, with PMI_PORT + PMI_ID, performs the handshake that
  /// tells rank and size. Sets `rank` and `size`.
  static detail::pmi_connection open(const environment_lookup& lookup,
                                     std::chrono::milliseconds timeout, int& rank, int& size) {
    if (timeout <= std::chrono::milliseconds::zero())
      throw config_error("PMI timeout must be positive (symphony::wait_forever waits forever), "
                         "not " + std::to_string(timeout.count()) + " ms");
    const std::string why_rank =
        "the launcher sets PMI_RANK and PMI_SIZE beside PMI_FD (or PMI_PORT without PMI_ID)";
    auto read_identity = [&] {
      rank = detail::pmi_integer_variable(lookup, "PMI_RANK", 0, INT_MAX, why_rank);
      size = detail::pmi_integer_variable(lookup, "PMI_SIZE", 1, INT_MAX, why_rank);
      if (rank >= size)
        throw config_error("PMI_RANK=" + detail::in_quotes(std::to_string(rank)) +
                           " is not below PMI_SIZE=" + detail::in_quotes(std::to_string(size)));
    };

    if (const auto fd_text = lookup("PMI_FD")) {
      detail::pmi_fd fd = detail::pmi_inherited_socket(*fd_text);
      read_identity();
      return detail::pmi_connection(std::move(fd), "PMI_FD=" + *fd_text, timeout);
    }
    const auto port_text = lookup("PMI_PORT");
    if (!port_text)
      throw config_error("neither PMI_FD nor PMI_PORT is set: this process was not started by a "
                         "launcher that serves PMI-1 (mpiexec.hydra, srun --mpi=pmi2, flux run)");
    const auto where = detail::pmi_parse_host_port(*port_text);
    if (!where)
      throw config_error("PMI_PORT=" + detail::in_quotes(*port_text) +
                         " is not host:port with a port in 1..65535 (e.g. 'node7:43815', "
                         "'[fe80::1]:43815')");
    const auto id_text = lookup("PMI_ID");
    std::optional<int> id;
    if (id_text)
      id = detail::pmi_integer_variable(lookup, "PMI_ID", 0, INT_MAX,
                                        "hydra -pmi-port numbers its processes 0, 1, ...");
    else
      read_identity();
    std::string via = "PMI_PORT=" + *port_text;
    if (id) via += " (PMI_ID=" + *id_text + ")";
    detail::pmi_connection connection(detail::pmi_connect(*where, "PMI_PORT", *port_text, timeout),
                                      std::move(via), timeout);
    if (id) handshake(connection, *id, rank, size);
    return connection;
  }

  /// PMI_PORT's prefix to the protocol: initack, then size, rank and debug from the server.
  static void handshake(detail::pmi_connection& connection, int id, int& rank, int& size) {
    const std::string request = "cmd=initack pmiid=" + std::to_string(id);
    connection.transact(request, "initack");
    std::optional<long long> told_size, told_rank;
    for (int line = 0; line < 3; ++line) {  // MPICH's client reads exactly these three lines
      const auto set = connection.receive(request, "set");
      if (const std::string* v = set.find("size")) told_size = detail::pmi_parse_integer(*v);
      if (const std::string* v = set.find("rank")) told_rank = detail::pmi_parse_integer(*v);
    }
    if (!told_size || !told_rank || *told_size < 1 || *told_size > INT_MAX || *told_rank < 0 ||
        *told_rank >= *told_size)
      connection.unexpected(request, "cmd=set ...",
                            "the handshake did not give a rank below a positive size");
    size = static_cast<int>(*told_size);
    rank = static_cast<int>(*told_rank);
  }

  void read_limits(const detail::pmi_message& maxes) {
    auto read = [&](const char* name, std::size_t& into) {
      const std::string* text = maxes.find(name);
      if (text == nullptr) return;  // keep the RFC's minimum
      const auto value = detail::pmi_parse_integer(*text);
      if (!value || *value < 2 || *value > (1 << 24))
        connection_.unexpected("cmd=get_maxes", "cmd=maxes ... " + std::string(name) + "=" + *text,
                               std::string(name) + " is not a usable size");
      into = static_cast<std::size_t>(*value);
    };
    read("kvsname_max", limits_.kvsname_max);
    read("keylen_max", limits_.keylen_max);
    read("vallen_max", limits_.vallen_max);
  }

  int rank_ = -1;
  int size_ = 0;
  detail::pmi_connection connection_;
  std::string kvsname_;
  pmi_limits limits_;
  unsigned calls_ = 0;
};

/// True when the environment (read through `lookup`) names a PMI-1 server: PMI_FD or PMI_PORT is
/// set (even to an empty or malformed value, which pmi_client then reports).
inline bool pmi_present(const environment_lookup& lookup) {
  return lookup("PMI_FD").has_value() || lookup("PMI_PORT").has_value();
}

/// The same, reading this process's environment.
inline bool pmi_present() {
  return pmi_present(detail::pmi_process_environment());
}

/// Every rank's `value`, in rank order, through the launcher's key-value store: connects, calls
/// pmi_client::allgather once and finalizes. Collective: every rank of the job calls it. Once per
/// process (the connection is finalized on return); to learn the rank before choosing the value,
/// or to exchange more than once, use a pmi_client. Throws as pmi_client and its allgather do.
inline std::vector<std::string> pmi_allgather(const std::string& value,
                                              std::chrono::milliseconds timeout,
                                              const environment_lookup& lookup) {
  pmi_client client(lookup, timeout);
  return client.allgather(value);
}

/// The same, reading this process's environment.
inline std::vector<std::string> pmi_allgather(const std::string& value,
                                              std::chrono::milliseconds timeout = default_timeout) {
  return pmi_allgather(value, timeout, detail::pmi_process_environment());
}

}  // namespace symphony::bootstrap
