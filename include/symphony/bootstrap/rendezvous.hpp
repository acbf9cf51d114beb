// symphony/bootstrap/rendezvous.hpp: every rank learns every rank's endpoint through rank 0.
//
// Under a scheduler nobody hands out peer addresses. Each rank binds its own receive socket on a
// free port (its *endpoint*) and calls rendezvous(): all ranks register with rank 0 at an address
// they know in advance, the *root* (SYMPHONY_ROOT=host:port, like PyTorch's MASTER_ADDR and
// MASTER_PORT); rank 0 collects `size` registrations and sends the whole table (one endpoint per
// rank, in rank order) back to every rank.
//
// Protocol
//   Rank 0 binds a ZeroMQ ROUTER at the root; every other rank connects a DEALER to it. Both exist
//   only during the call, in a ZeroMQ context of their own; on return rank 0's socket lingers at
//   most 2 s to deliver its last messages, the others' not at all. A job of one rank opens no
//   socket. Each message is one frame:
//
//     "SYRV" (4 bytes) | version (u16, 1) | kind (u8) | fields
//     integers are little-endian; a string is a u32 length and that many bytes
//
//     kind 1 register  rank -> root  rank u32, size u32, nonce u64, job token, endpoint, host,
//                                    locality
//     kind 2 ack       root -> rank  rank u32, size u32, ranks registered so far u32
//     kind 3 table     root -> rank  count u32, then count (endpoint, locality) in rank order
//     kind 4 reject    root -> rank  reason u8, message (shown verbatim in the exception)
//                      reasons: 1 another job, 2 inconsistent (this rank is the culprit),
//                      3 job aborted, 4 ranks missing at the deadline, 5 protocol version
//
//   A rank sends `register` at once (ZeroMQ holds it until the connection to the root is up, so
//   ranks may start before rank 0) and repeats it, after 1, 2, 4 ... at most 30 s, until the root
//   acknowledges it. The nonce, random per call, tells a repeat from a second process that claims
//   the same rank. When all `size` ranks are registered the root sends `table` to each of them
//   and returns; the others return when the table arrives.
//
//   An endpoint whose host is a wildcard (tcp://*:port, tcp://0.0.0.0:port, tcp://[::]:port)
//   cannot be connected to. The root replaces such a host with the address it saw the
//   registration come from (for its own endpoint: the root's host); with an ipc root, all ranks
//   share one host and the wildcard becomes 127.0.0.1.
//
// Failures. Nothing blocks beyond the timeout unless the caller passes wait_forever. Rank 0 waits
// `timeout` for the registrations; the others wait `timeout` plus a grace period (a fifth of it,
// 0.5 to 3 s) for rank 0's verdict, so that they normally fail with rank 0's explanation, not a
// bare timeout.
//   * Missing ranks: at its deadline rank 0 sends every registered rank a rejection and throws
//     timeout_error; all of them fail with the same message, e.g. "ranks 3, 5-7 of 8 did not
//     register with the rendezvous root tcp://10.0.0.5:29500 within 5 s".
//   * Rank 0 absent: the others throw timeout_error naming the root address ("got no answer from
//     the rendezvous root ..."), or, if rank 0 acknowledged them but then fell silent, saying so.
//   * Another job at the same root: every registration carries the job token; rank 0 answers a
//     registration with another token with a rejection that makes that rank throw config_error
//     ("rank 2 of another job (token ...) tried to join ... use a different SYMPHONY_ROOT port"),
//     and goes on waiting for its own ranks. The other job's rank 0 cannot bind the root (the port
//     is taken) and throws config_error at once.
//   * Inconsistent registrations (a rank registered twice, a different size, a rank out of range,
//     an endpoint that is not an address or is another rank's): the job cannot be right, so rank 0
//     sends the culprit and every registered rank a rejection naming both registrations and throws
//     config_error with the same message; they throw config_error too.
//   * A malformed or foreign message (wrong magic, truncated, extra bytes, wrong frame count, an
//     oversized string) is ignored, never answered and never trusted, and the first one is logged
//     to stderr. Such messages do arrive: libzmq's compatibility with ZMTP 1.0 turns raw bytes
//     sent to the port (an HTTP request, a port scanner) into messages. A message with the right
//     magic and another version is answered with a version rejection (config_error at its
//     sender). Messages over 64 KiB are refused by ZeroMQ itself.
//
// The job token only keeps jobs apart; it is not a secret and authenticates nothing. Anyone who
// can reach the root port can register.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>
#include <zmq.hpp>

#include "../config.hpp"
#include "../detail/address.hpp"
#include "../detail/bind_address.hpp"
#include "../detail/curve.hpp"
#include "../error.hpp"
#include "../transport/transport.hpp"
#include "detect.hpp"

namespace symphony::bootstrap {

/// What one rank brings to the rendezvous. Every rank of a job passes the same root, size, job
/// token and (normally) timeout; rank and endpoint are its own.
struct rendezvous_options {
  /// Rank 0's rendezvous address, in any form config.hpp accepts: host:port, tcp://host:port,
  /// [ipv6]:port or ipc:///path (usually SYMPHONY_ROOT). Rank 0 binds it (a host name is resolved
  /// to this machine's address, as for a rank's own address); the others connect to it.
  std::string root;
  int rank = 0;  ///< this rank, 0 <= rank < size
  int size = 1;  ///< number of ranks in the job
  /// This rank's own, already bound receive address, e.g. "tcp://10.0.0.5:41234" or
  /// "ipc:///tmp/job/rank3". A wildcard host (*, 0.0.0.0, ::) is replaced by an address the root
  /// can reach (see the top of this header).
  std::string endpoint;
  /// Identifies the job, so that a second job that uses the same root by mistake is turned away.
  /// Empty: default_job_token() of this process's environment.
  std::string job_token;
  /// How long rank 0 waits for all registrations, and (plus a grace period) how long the others
  /// wait for the table. Positive; symphony::wait_forever waits forever.
  std::chrono::milliseconds timeout = default_timeout;
  /// This rank's host, for error messages only. Empty: gethostname().
  std::string host;
  /// Opaque text (at most 255 bytes) handed back with the table, one per rank, so that ranks can
  /// tell which peers share their machine (the communicator puts a host identity here). May be
  /// empty.
  std::string locality;
  /// The job's CURVE key pair (SYMPHONY_CURVE_SECRET/_PUBLIC): set, the root accepts only
  /// registrations from holders of the pair and the exchange is encrypted.
  std::optional<curve_keys> curve;
};

/// What exchange_endpoints() returns: one entry per rank, in rank order, identical on every rank.
struct rendezvous_result {
  std::vector<std::string> endpoints;   ///< as rendezvous() returns them
  std::vector<std::string> localities;  ///< each rank's rendezvous_options::locality
};

/// The token default_job_token() returns when no launcher identifies the job. Every job without
/// a job id gets it, so it cannot tell two such jobs apart: give them different SYMPHONY_ROOT
/// ports, or set SYMPHONY_JOB_TOKEN.
inline constexpr const char* fallback_job_token = "symphony:no-job-id";

/// A job token that every rank of one job derives identically from its environment, and that
/// differs between concurrent jobs when the launcher gives each job an id. First match wins:
///
///   1. SYMPHONY_JOB_TOKEN                    set explicitly: used as it is
///   2. the innermost launcher's job id:
///        Open MPI (OMPI_COMM_WORLD_RANK set)  "openmpi:" PMIX_NAMESPACE, else
///                                             "openmpi:" OMPI_MCA_ess_base_jobid (equal in 4.1)
///        PMI (PMI_RANK or PMI_ID set)         "pmi:" PMI_JOBID (srun --mpi=pmi2: "<job>.<step>");
///                                             MPICH hydra puts no job id in the environment
///        an srun step (SLURM_PROCID and       "slurm:" SLURM_JOB_ID "." SLURM_STEP_ID
///          SLURM_STEP_ID set, no MPI launcher)
///   3. the enclosing allocation: "flux:" FLUX_JOB_ID, "slurm:" SLURM_JOB_ID, "pbs:" PBS_JOBID,
///      "lsf:" LSB_JOBID (with "[" LSB_JOBINDEX "]" for an array element)
///   4. fallback_job_token
///
/// Why Slurm's step id is read only when no MPI launcher is innermost: mpirun and mpiexec started
/// inside an allocation leave their ranks the variables of the srun steps that carried their
/// daemons, and those differ between nodes (captured across two emulated nodes: hydra's rank 5
/// has SLURM_STEP_ID=1 while ranks 0-3 have step 0; Open MPI's rank 5 has step 3 while the ranks
/// beside mpirun have none). The allocation's id is the same on every node, so a job whose
/// launcher names no id of its own (hydra) falls back to it: it keeps different allocations apart,
/// not two launches in one allocation.
inline std::string default_job_token(const environment_lookup& lookup);

/// The same, reading this process's environment.
inline std::string default_job_token();

/// Exchanges endpoints: returns every rank's endpoint, in rank order (entry `rank` is this rank's
/// own, with a wildcard host replaced), identical on every rank.
///
/// This is a collective operation: every rank of the job must call it, with the same root, size
/// and job token. Rank 0 binds the root for the duration of the call; the call opens and closes
/// its own sockets and returns after they are closed (rank 0 lingers at most 2 s to deliver the
/// table). A job of size 1 opens no socket at all.
///
/// Throws config_error for bad options (naming the field and value), when rank 0 cannot bind the
/// root, when rank 0 turns this rank away (another job's token, an inconsistent registration) or
/// aborts the job; timeout_error when ranks are missing at rank 0's deadline (listing them) or
/// rank 0 does not answer in time (naming the root); protocol_error when the table does not fit
/// this rank's registration. See the top of this header for the messages.
inline std::vector<std::string> rendezvous(const rendezvous_options& options);

/// The same exchange, returning every rank's locality beside its endpoint.
inline rendezvous_result exchange_endpoints(const rendezvous_options& options);

}  // namespace symphony::bootstrap

namespace symphony::detail {

// --- the wire format -----------------------------------------------------------------------------

inline constexpr std::string_view rendezvous_magic = "SYRV";
inline constexpr std::uint16_t rendezvous_version = 1;

// Limits checked on both sides: a sender never produces more, a receiver never believes more.
inline constexpr std::size_t rendezvous_max_token = 1024;
inline constexpr std::size_t rendezvous_max_endpoint = 1024;
inline constexpr std::size_t rendezvous_max_host = 255;
inline constexpr std::size_t rendezvous_max_text = 16384;
// What the root's socket accepts at all; a registration is at most about 2.3 KiB.
inline constexpr std::int64_t rendezvous_root_max_message = 64 * 1024;

/// Message kinds. Values are part of the wire format.
enum class rendezvous_kind : std::uint8_t { registration = 1, ack = 2, table = 3, reject = 4 };

/// Why the root turned a rank away. Values are part of the wire format.
enum class reject_reason : std::uint8_t {
  another_job = 1,       ///< the registration carries another job's token
  inconsistent = 2,      ///< this registration contradicts the job (the receiver is the culprit)
  aborted = 3,           ///< another rank's registration contradicts the job; all ranks fail
  missing_ranks = 4,     ///< the deadline passed with ranks still missing
  version_mismatch = 5,  ///< the registration was in another protocol version
};

struct rendezvous_registration {
  std::uint32_t rank = 0;
  std::uint32_t size = 0;
  std::uint64_t nonce = 0;
  std::string token;
  std::string endpoint;
  std::string host;
  std::string locality;
};

struct rendezvous_ack {
  std::uint32_t rank = 0;
  std::uint32_t size = 0;
  std::uint32_t registered = 0;
};

struct rendezvous_table {
  std::vector<std::string> endpoints;
  std::vector<std::string> localities;  // one per endpoint; missing ones travel as empty
};

struct rendezvous_reject {
  reject_reason reason = reject_reason::aborted;
  std::string message;
};

/// Builds one message: header first, then the fields in order.
class rendezvous_writer {
 public:
  explicit rendezvous_writer(rendezvous_kind kind, std::uint16_t version = rendezvous_version)
      : bytes_(rendezvous_magic) {
    u16(version);
    u8(static_cast<std::uint8_t>(kind));
  }
  void u8(std::uint8_t v) { bytes_.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) { little_endian(v, 2); }
  void u32(std::uint32_t v) { little_endian(v, 4); }
  void u64(std::uint64_t v) { little_endian(v, 8); }
  void text(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    bytes_.append(s.data(), s.size());
  }
  std::string take() { return std::move(bytes_); }

 private:
  void little_endian(std::uint64_t v, int width) {
    for (int i = 0; i < width; ++i)
      bytes_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string bytes_;
};

inline std::string encode(const rendezvous_registration& m) {
  rendezvous_writer w(rendezvous_kind::registration);
  w.u32(m.rank);
  w.u32(m.size);
  w.u64(m.nonce);
  w.text(m.token);
  w.text(m.endpoint);
  w.text(m.host);
  w.text(m.locality);
  return w.take();
}

inline std::string encode(const rendezvous_ack& m) {
  rendezvous_writer w(rendezvous_kind::ack);
  w.u32(m.rank);
  w.u32(m.size);
  w.u32(m.registered);
  return w.take();
}

inline std::string encode(const rendezvous_table& m) {
  rendezvous_writer w(rendezvous_kind::table);
  w.u32(static_cast<std::uint32_t>(m.endpoints.size()));
  for (std::size_t i = 0; i < m.endpoints.size(); ++i) {
    w.text(m.endpoints[i]);
    w.text(i < m.localities.size() ? m.localities[i] : std::string());
  }
  return w.take();
}

inline std::string encode(const rendezvous_reject& m) {
  rendezvous_writer w(rendezvous_kind::reject);
  w.u8(static_cast<std::uint8_t>(m.reason));
  w.text(m.message.substr(0, rendezvous_max_text));
  return w.take();
}

/// Reads fields from untrusted bytes: every read is bounds-checked, and the first failure is kept
/// as `problem` (all later reads fail too).
class rendezvous_reader {
 public:
  explicit rendezvous_reader(std::string_view bytes) : bytes_(bytes) {}

  bool u8(std::uint8_t& v, const char* what) { return little_endian(v, 1, what); }
  bool u16(std::uint16_t& v, const char* what) { return little_endian(v, 2, what); }
  bool u32(std::uint32_t& v, const char* what) { return little_endian(v, 4, what); }
  bool u64(std::uint64_t& v, const char* what) { return little_endian(v, 8, what); }
  bool text(std::string& s, std::size_t max, const char* what) {
    std::uint32_t length = 0;
    if (!u32(length, what)) return false;
    if (length > max)
      return fail(std::string(what) + " is " + std::to_string(length) + " bytes long (at most " +
                  std::to_string(max) + ")");
    if (length > left()) return fail(std::string(what) + " is cut short");
    s.assign(bytes_.substr(position_, length));
    position_ += length;
    return true;
  }
  /// True when every byte was read; a message with bytes left over is malformed.
  bool finish() {
    if (!problem_.empty()) return false;
    if (left() != 0) return fail(std::to_string(left()) + " unexpected bytes at the end");
    return true;
  }
  std::size_t left() const { return bytes_.size() - position_; }
  bool fail(std::string why) {
    if (problem_.empty()) problem_ = std::move(why);
    return false;
  }
  const std::string& problem() const { return problem_; }

 private:
  template <class Int>
  bool little_endian(Int& v, std::size_t width, const char* what) {
    if (!problem_.empty()) return false;
    if (left() < width) return fail(std::string("message ends before its ") + what);
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < width; ++i)
      value |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes_[position_ + i]))
               << (8 * i);
    v = static_cast<Int>(value);
    position_ += width;
    return true;
  }
  std::string_view bytes_;
  std::size_t position_ = 0;
  std::string problem_;
};

/// What a received frame turned out to be.
struct rendezvous_decoded {
  enum class status {
    ok,             ///< a well-formed message of this version: `body` holds it
    not_ours,       ///< does not start with the magic: not a rendezvous message at all
    other_version,  ///< the magic, but another protocol version (`version`)
    malformed,      ///< the magic and this version, but the fields do not parse (`problem`)
  };
  status state = status::malformed;
  std::uint16_t version = 0;
  std::string problem;
  std::variant<std::monostate, rendezvous_registration, rendezvous_ack, rendezvous_table,
               rendezvous_reject>
      body;
};

/// Decodes one frame. Never throws on bad input and never allocates more than the frame's size
/// suggests: a length or count is checked against the bytes actually present before use.
inline rendezvous_decoded decode_rendezvous(std::string_view bytes) {
  rendezvous_decoded out;
  if (bytes.substr(0, rendezvous_magic.size()) != rendezvous_magic) {
    out.state = rendezvous_decoded::status::not_ours;
    out.problem = "does not start with \"SYRV\"";
    return out;
  }
  rendezvous_reader in(bytes.substr(rendezvous_magic.size()));
  std::uint8_t kind = 0;
  if (!in.u16(out.version, "version") || !in.u8(kind, "kind")) {
    out.problem = in.problem();
    return out;
  }
  if (out.version != rendezvous_version) {
    out.state = rendezvous_decoded::status::other_version;
    out.problem = "protocol version " + std::to_string(out.version);
    return out;
  }
  switch (static_cast<rendezvous_kind>(kind)) {
    case rendezvous_kind::registration: {
      rendezvous_registration m;
      if (in.u32(m.rank, "rank") && in.u32(m.size, "size") && in.u64(m.nonce, "nonce") &&
          in.text(m.token, rendezvous_max_token, "job token") &&
          in.text(m.endpoint, rendezvous_max_endpoint, "endpoint") &&
          in.text(m.host, rendezvous_max_host, "host") &&
          in.text(m.locality, rendezvous_max_host, "locality"))
        out.body = std::move(m);
      break;
    }
    case rendezvous_kind::ack: {
      rendezvous_ack m;
      if (in.u32(m.rank, "rank") && in.u32(m.size, "size") && in.u32(m.registered, "count"))
        out.body = m;
      break;
    }
    case rendezvous_kind::table: {
      rendezvous_table m;
      std::uint32_t count = 0;
      if (!in.u32(count, "endpoint count")) break;
      if (count > in.left() / 8) {  // each entry takes at least its two 4-byte lengths
        in.fail("endpoint count " + std::to_string(count) + " exceeds what the message holds");
        break;
      }
      m.endpoints.resize(count);
      m.localities.resize(count);
      bool ok = true;
      for (std::size_t i = 0; ok && i < count; ++i)
        ok = in.text(m.endpoints[i], rendezvous_max_endpoint, "endpoint") &&
             in.text(m.localities[i], rendezvous_max_host, "locality");
      if (ok) out.body = std::move(m);
      break;
    }
    case rendezvous_kind::reject: {
      rendezvous_reject m;
      std::uint8_t reason = 0;
      if (!in.u8(reason, "reason")) break;
      if (reason < 1 || reason > 5) {
        in.fail("unknown rejection reason " + std::to_string(reason));
        break;
      }
      m.reason = static_cast<reject_reason>(reason);
      if (in.text(m.message, rendezvous_max_text, "message")) out.body = std::move(m);
      break;
    }
    default:
      in.fail("unknown message kind " + std::to_string(kind));
  }
  if (in.finish() && out.body.index() != 0) {
    out.state = rendezvous_decoded::status::ok;
  } else {
    out.body = std::monostate{};
    out.problem = in.problem();
  }
  return out;
}

// --- text for messages ---------------------------------------------------------------------------

/// "5 s", "0.25 s", "forever".
inline std::string seconds_text(std::chrono::milliseconds t) {
  if (t == wait_forever) return "forever";
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", static_cast<double>(t.count()) / 1000.0);
  std::string s = text;
  while (s.back() == '0')
    s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s + " s";
}

/// Sorted, distinct ranks as "3, 5-7"; after `max_groups` groups the rest is counted, not listed.
inline std::string rank_ranges(const std::vector<int>& ranks, std::size_t max_groups = 16) {
  std::string out;
  std::size_t groups = 0;
  for (std::size_t i = 0; i < ranks.size();) {
    std::size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1)
      ++j;
    if (groups == max_groups) {
      out += " and " + std::to_string(ranks.size() - i) + " more";
      break;
    }
    if (groups++ > 0) out += ", ";
    out += std::to_string(ranks[i]);
    if (j > i) out += "-" + std::to_string(ranks[j]);
    i = j + 1;
  }
  return out;
}

/// "rank 3 of 8" or "ranks 3, 5-7 of 8".
inline std::string ranks_of(const std::vector<int>& ranks, int size) {
  return (ranks.size() == 1 ? "rank " : "ranks ") + rank_ranges(ranks) + " of " +
         std::to_string(size);
}

/// "rank 2 (host vm, endpoint tcp://127.0.0.1:4001)".
inline std::string rank_described(std::uint32_t rank, const std::string& host,
                                  const std::string& endpoint) {
  return "rank " + std::to_string(rank) + " (host " + in_quotes(host) + ", endpoint " +
         in_quotes(endpoint) + ")";
}

// --- helpers -------------------------------------------------------------------------------------

/// Logs the first malformed or foreign message of one rendezvous call to stderr and drops the rest
/// quietly: one bad peer must not flood the log, but nobody should wonder why a message vanished.
class rendezvous_log {
 public:
  explicit rendezvous_log(int rank) : rank_(rank) {}
  void ignored(const std::string& what, const std::string& peer) {
    if (ignored_++ == 0)
      std::cerr << "symphony rendezvous (rank " << rank_ << "): ignored " << what
                << (peer.empty() ? "" : " from " + peer)
                << "; further messages that are not a rendezvous message are ignored silently\n";
  }

 private:
  int rank_;
  std::size_t ignored_ = 0;
};

inline bool is_wildcard_host(const std::string& host) {
  return host == "*" || host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0";
}

/// `endpoint` with its wildcard host replaced by `host` (an IP literal or a name).
inline std::string with_host(const address& endpoint, std::string host) {
  const std::string mapped = "::ffff:";  // an IPv4 peer seen through a dual-stack socket
  if (host.compare(0, mapped.size(), mapped) == 0 && host.find('.') != std::string::npos)
    host = host.substr(mapped.size());
  const bool v6 = host.find(':') != std::string::npos;
  return "tcp://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(endpoint.port);
}

inline std::string this_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown-host";
  return name;
}

/// 64 random bits per call: ranks that are threads of one process must differ too.
inline std::uint64_t rendezvous_nonce() {
  std::random_device device;
  std::uint64_t nonce = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  nonce ^= static_cast<std::uint64_t>(::getpid()) << 16;
  nonce ^= static_cast<std::uint64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  nonce ^= static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
  return nonce;
}

/// The time left until `until`, for zmq::poll: -1 for forever, else rounded up so that a wait
/// never ends just before its deadline and spins.
inline std::chrono::milliseconds poll_time(deadline until) {
  if (until == deadline::max()) return std::chrono::milliseconds(-1);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
  return std::max(left + std::chrono::milliseconds(1), std::chrono::milliseconds(0));
}

/// zmq::poll on one socket; a signal (EINTR) counts as "nothing yet", the caller's loop retries.
inline short poll_one(zmq::socket_t& socket, short events, deadline until) {
  zmq::pollitem_t item{socket.handle(), 0, events, 0};
  try {
    zmq::poll(&item, 1, poll_time(until));
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
    return 0;
  }
  return item.revents;
}

/// One whole received message: at most `keep` frames are kept, the rest drained and counted.
struct received_frames {
  std::vector<zmq::message_t> frames;
  std::size_t count = 0;
  std::string peer;  // "peer <ip>" for log lines, when ZeroMQ knows the sender's address
  std::string peer_ip;
};

inline received_frames receive_frames(zmq::socket_t& socket, std::size_t keep) {
  received_frames out;
  while (true) {
    zmq::message_t part;
    if (!socket.recv(part, zmq::recv_flags::dontwait)) break;  // the parts of a message arrive
    const bool more = part.more();                             // together: this is the end
    // The sender's address travels with the frames that came over the wire; a ROUTER's routing
    // id frame is made locally and has none, and ipc peers have none at all.
    if (out.peer_ip.empty() && out.count < keep) {
      try {
        out.peer_ip = part.gets("Peer-Address");
        out.peer = "peer " + out.peer_ip;
      } catch (const zmq::error_t&) {
      }
    }
    ++out.count;
    if (out.frames.size() < keep) out.frames.push_back(std::move(part));
    if (!more) break;
  }
  return out;
}

inline std::string_view frame_bytes(const zmq::message_t& frame) {
  return {static_cast<const char*>(frame.data()), frame.size()};
}

/// The options, checked and completed. Bad values are config_errors naming the field.
struct rendezvous_plan {
  int rank = 0;
  int size = 1;
  address root;
  address own;           // this rank's endpoint, parsed
  std::string endpoint;  // normalized
  std::string token;
  std::string host;
  std::string locality;
  std::chrono::milliseconds timeout{};
  std::uint64_t nonce = 0;
  std::optional<binary_curve_keys> curve;
};

inline rendezvous_plan plan_rendezvous(const bootstrap::rendezvous_options& o) {
  rendezvous_plan p;
  if (o.size < 1)
    throw config_error("rendezvous_options.size=" + std::to_string(o.size) +
                       ": a job needs at least one rank");
  if (o.rank < 0 || o.rank >= o.size)
    throw config_error("rendezvous_options.rank=" + std::to_string(o.rank) + " is not in 0.." +
                       std::to_string(o.size - 1) + " (size " + std::to_string(o.size) + ")");
  p.rank = o.rank;
  p.size = o.size;
  const auto root = parse_address(o.root);
  if (!root.error.empty())
    throw config_error(
        "the rendezvous root " + in_quotes(o.root) +
        " (rendezvous_options.root, usually SYMPHONY_ROOT) is not an address: " + root.error);
  p.root = root.value;
  const auto own = parse_address(o.endpoint);
  if (!own.error.empty())
    throw config_error("rank " + std::to_string(o.rank) + "'s endpoint " + in_quotes(o.endpoint) +
                       " (rendezvous_options.endpoint) is not an address: " + own.error);
  if (own.value.endpoint.size() > rendezvous_max_endpoint)
    throw config_error("rank " + std::to_string(o.rank) + "'s endpoint is longer than " +
                       std::to_string(rendezvous_max_endpoint) + " bytes");
  p.own = own.value;
  p.endpoint = own.value.endpoint;
  p.token = o.job_token.empty() ? bootstrap::default_job_token() : o.job_token;
  if (p.token.size() > rendezvous_max_token)
    throw config_error("the job token is " + std::to_string(p.token.size()) +
                       " bytes long; at most " + std::to_string(rendezvous_max_token) +
                       " are allowed");
  p.host = (o.host.empty() ? this_host_name() : o.host).substr(0, rendezvous_max_host);
  if (o.locality.size() > rendezvous_max_host)
    throw config_error("rendezvous_options.locality is " + std::to_string(o.locality.size()) +
                       " bytes long; at most " + std::to_string(rendezvous_max_host) +
                       " are allowed");
  p.locality = o.locality;
  if (o.timeout.count() <= 0)
    throw config_error(
        "rendezvous_options.timeout must be positive (use symphony::wait_forever "
        "to wait forever)");
  p.timeout = o.timeout;
  p.curve = checked_curve_keys(o.curve);
  p.nonce = rendezvous_nonce();
  return p;
}

/// This rank's own endpoint as the table shows it: a wildcard host becomes the root's host (the
/// name the other ranks already use to reach rank 0's machine), or 127.0.0.1 with an ipc root.
inline std::string own_table_entry(const rendezvous_plan& p) {
  if (p.own.scheme != address::kind::tcp || !is_wildcard_host(p.own.host)) return p.endpoint;
  if (p.rank == 0 && p.root.scheme == address::kind::tcp && !is_wildcard_host(p.root.host))
    return with_host(p.own, p.root.host);
  return with_host(p.own, "127.0.0.1");
}

// --- rank 0 --------------------------------------------------------------------------------------

/// Rank 0's side: binds the root, collects registrations, answers them, sends the table.
class rendezvous_root {
 public:
  explicit rendezvous_root(const rendezvous_plan& plan)
      : plan_(plan),
        log_(0),
        root_text_(plan.root.endpoint),
        context_(1),
        socket_(context_, zmq::socket_type::router),
        members_(static_cast<std::size_t>(plan.size)) {
    // Linger bounds how long closing may wait to deliver the table or a rejection to a rank that
    // has gone away; 2 s is plenty for a few bytes to a live peer.
    const auto linger = std::clamp<long long>(
        plan.timeout == wait_forever ? 2000 : plan.timeout.count(), 250, 2000);
    socket_.set(zmq::sockopt::linger, static_cast<int>(linger));
    socket_.set(zmq::sockopt::ipv6, 1);
    socket_.set(zmq::sockopt::router_mandatory, 1);  // a reply to a vanished rank fails visibly
    socket_.set(zmq::sockopt::maxmsgsize, rendezvous_root_max_message);
    if (plan.curve) {
      zap_ = std::make_unique<zap_handler>(context_, plan.curve->public_key);
      make_curve_server(socket_, *plan.curve);
    }
    try {
      socket_.bind(bindable_endpoint(plan.root, "the rendezvous root"));
    } catch (const zmq::error_t& e) {
      std::string hint;
      if (e.num() == EADDRINUSE)
        hint =
            " (another program, or another job's rank 0, listens there: use a different "
            "SYMPHONY_ROOT port)";
      if (e.num() == EADDRNOTAVAIL || e.num() == ENODEV)
        hint = " (that host is not this machine: SYMPHONY_ROOT must name rank 0's host)";
      throw config_error("rank 0 cannot bind the rendezvous root " + in_quotes(root_text_) + ": " +
                         e.what() + hint);
    }
    member self;
    self.nonce = plan.nonce;
    self.endpoint = own_table_entry(plan);
    self.host = plan.host;
    self.locality = plan.locality;
    members_[0] = std::move(self);
  }

  rendezvous_table run() {
    const deadline until = deadline_after(plan_.timeout);
    while (registered_ < plan_.size) {
      if ((poll_one(socket_, ZMQ_POLLIN, until) & ZMQ_POLLIN) != 0) {
        handle(receive_frames(socket_, 3));
      } else if (clock::now() >= until) {
        give_up();
      }
    }
    rendezvous_table table;
    for (const auto& m : members_) {
      table.endpoints.push_back(m->endpoint);
      table.localities.push_back(m->locality);
    }
    const std::string bytes = encode(table);
    for (std::size_t r = 1; r < members_.size(); ++r)
      if (!reply(members_[r]->identity, bytes))
        std::cerr << "symphony rendezvous (rank 0): could not hand the table to rank " << r
                  << " (it disconnected)\n";
    return table;
  }

 private:
  struct member {
    std::uint64_t nonce = 0;
    std::string endpoint;
    std::string host;
    std::string locality;
    std::string identity;  // ZeroMQ routing id of its connection
  };

  bool reply(const std::string& identity, const std::string& bytes) {
    try {
      if (!socket_.send(zmq::buffer(identity),
                        zmq::send_flags::sndmore | zmq::send_flags::dontwait))
        return false;
      (void)socket_.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
      return true;
    } catch (const zmq::error_t& e) {
      if (e.num() == EHOSTUNREACH || e.num() == EAGAIN) return false;  // that peer is gone
      throw;
    }
  }

  void handle(const received_frames& in) {
    if (in.count == 0) return;
    if (in.count != 2) {  // routing id + one frame
      log_.ignored("a message of " + std::to_string(in.count - 1) + " frames", in.peer);
      return;
    }
    const std::string identity(frame_bytes(in.frames[0]));
    const auto decoded = decode_rendezvous(frame_bytes(in.frames[1]));
    using status = rendezvous_decoded::status;
    if (decoded.state == status::other_version) {
      log_.ignored("a registration in " + decoded.problem, in.peer);
      reply(identity, encode(rendezvous_reject{
                          reject_reason::version_mismatch,
                          "the rendezvous root " + in_quotes(root_text_) +
                              " speaks protocol version " + std::to_string(rendezvous_version) +
                              ", this rank version " + std::to_string(decoded.version) +
                              " (are all ranks built with the same symphony?)"}));
      return;
    }
    if (decoded.state != status::ok) {
      log_.ignored(std::string(decoded.state == status::not_ours ? "a foreign message"
                                                                 : "a malformed message") +
                       " (" + decoded.problem + ")",
                   in.peer);
      return;
    }
    const auto* registration = std::get_if<rendezvous_registration>(&decoded.body);
    if (registration == nullptr) {
      log_.ignored("a message that is not a registration", in.peer);
      return;
    }
    handle(identity, *registration, in.peer_ip);
  }

  void handle(const std::string& identity, const rendezvous_registration& r,
              const std::string& peer_ip) {
    if (r.token != plan_.token) return turn_away(identity, r);

    const auto size = static_cast<std::uint32_t>(plan_.size);
    const std::string who = rank_described(r.rank, r.host, r.endpoint);
    const std::string here = "the rendezvous root " + in_quotes(root_text_) + " (rank 0, host " +
                             in_quotes(plan_.host) + ")";
    const std::string same_token_hint =
        " (if two jobs share this SYMPHONY_ROOT and job token, give them different ports)";
    if (r.size != size)
      return abort_job(
          identity, who + " registered for a job of " + std::to_string(r.size) + " ranks with " +
                        here + ", whose job has " + std::to_string(size) +
                        " ranks: every rank must be started with the same size" + same_token_hint);
    if (r.rank >= size)
      return abort_job(identity, who + " registered with " + here + ", but the job's ranks are 0-" +
                                     std::to_string(size - 1) + same_token_hint);
    auto& slot = members_[r.rank];
    if (slot && slot->nonce == r.nonce) {  // a repeat of a registration we have: its connection
      slot->identity = identity;           // may be new, so answer there
      reply(identity,
            encode(rendezvous_ack{r.rank, size, static_cast<std::uint32_t>(registered_)}));
      return;
    }
    if (slot)
      return abort_job(identity, "rank " + std::to_string(r.rank) + " registered twice with " +
                                     here + ": first from host " + in_quotes(slot->host) +
                                     " with endpoint " + in_quotes(slot->endpoint) +
                                     ", then from host " + in_quotes(r.host) + " with endpoint " +
                                     in_quotes(r.endpoint) +
                                     "; every process needs a rank of its own" + same_token_hint);
    const auto parsed = parse_address(r.endpoint);
    if (!parsed.error.empty())
      return abort_job(identity, who + " registered with " + here +
                                     " an endpoint that is not an address: " + parsed.error);
    std::string endpoint = parsed.value.endpoint;
    if (parsed.value.scheme == address::kind::tcp && is_wildcard_host(parsed.value.host))
      endpoint = with_host(parsed.value, peer_ip.empty() ? "127.0.0.1" : peer_ip);
    for (std::size_t other = 0; other < members_.size(); ++other)
      if (members_[other] && members_[other]->endpoint == endpoint)
        return abort_job(identity,
                         who + " registered with " + here + " the endpoint " + in_quotes(endpoint) +
                             ", which rank " + std::to_string(other) + " (host " +
                             in_quotes(members_[other]->host) +
                             ") registered already: every rank needs an endpoint of its own");
    slot = member{r.nonce, std::move(endpoint), r.host, r.locality, identity};
    ++registered_;
    reply(identity, encode(rendezvous_ack{r.rank, size, static_cast<std::uint32_t>(registered_)}));
  }

  // Another job's rank: answer it, note it for a later timeout message, and carry on.
  void turn_away(const std::string& identity, const rendezvous_registration& r) {
    const std::string message =
        "rank " + std::to_string(r.rank) + " of another job (token " + in_quotes(r.token) +
        ", host " + in_quotes(r.host) + ") tried to join the rendezvous at " +
        in_quotes(root_text_) + ", which belongs to the job with token " + in_quotes(plan_.token) +
        " (its rank 0 runs on host " + in_quotes(plan_.host) +
        "): two jobs use one root address; use a different SYMPHONY_ROOT port for each";
    reply(identity, encode(rendezvous_reject{reject_reason::another_job, message}));
    if (std::find(foreign_tokens_.begin(), foreign_tokens_.end(), r.token) ==
            foreign_tokens_.end() &&
        foreign_tokens_.size() < 4) {
      foreign_tokens_.push_back(r.token);
      std::cerr << "symphony rendezvous (rank 0): turned away " << message << "\n";
    }
  }

  // The job cannot be right: tell the culprit and every registered rank, then fail here too.
  [[noreturn]] void abort_job(const std::string& culprit, const std::string& message) {
    reply(culprit, encode(rendezvous_reject{reject_reason::inconsistent, message}));
    const std::string bytes = encode(rendezvous_reject{reject_reason::aborted, message});
    for (std::size_t r = 1; r < members_.size(); ++r)
      if (members_[r] && members_[r]->identity != culprit) reply(members_[r]->identity, bytes);
    throw config_error(message);
  }

  [[noreturn]] void give_up() {
    std::vector<int> missing;
    for (std::size_t r = 0; r < members_.size(); ++r)
      if (!members_[r]) missing.push_back(static_cast<int>(r));
    std::string message = ranks_of(missing, plan_.size) +
                          " did not register with the rendezvous root " + in_quotes(root_text_) +
                          " within " + seconds_text(plan_.timeout) + " (" +
                          std::to_string(registered_) + " of " + std::to_string(plan_.size) +
                          " did; are the missing ranks running, with this SYMPHONY_ROOT?)";
    if (!foreign_tokens_.empty()) {
      message += "; the root turned away ranks of another job (token";
      for (std::size_t i = 0; i < foreign_tokens_.size(); ++i)
        message += (i ? ", " : " ") + in_quotes(foreign_tokens_[i]);
      message += "), which may be the missing ones started with another job token";
    }
    const std::string bytes = encode(rendezvous_reject{reject_reason::missing_ranks, message});
    for (std::size_t r = 1; r < members_.size(); ++r)
      if (members_[r]) reply(members_[r]->identity, bytes);
    throw timeout_error(message);
  }

  const rendezvous_plan& plan_;
  rendezvous_log log_;
  std::string root_text_;
  zmq::context_t context_;            // declared before the sockets: destroyed after them
  std::unique_ptr<zap_handler> zap_;  // a secure job's ZAP handler
  zmq::socket_t socket_;
  std::vector<std::optional<member>> members_;
  int registered_ = 1;  // rank 0 itself
  std::vector<std::string> foreign_tokens_;
};

// --- every other rank ----------------------------------------------------------------------------

/// How much longer than `timeout` a rank other than 0 waits, so that rank 0's verdict (which it
/// sends at its own deadline, and it may have started a little later) normally arrives first.
inline std::chrono::milliseconds rendezvous_grace(std::chrono::milliseconds timeout) {
  return std::clamp(timeout / 5, std::chrono::milliseconds(500), std::chrono::milliseconds(3000));
}

/// A rank other than 0: registers with the root until acknowledged, then waits for the table.
class rendezvous_member {
 public:
  explicit rendezvous_member(const rendezvous_plan& plan)
      : plan_(plan),
        log_(plan.rank),
        root_text_(plan.root.endpoint),
        context_(1),
        socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);  // nothing worth delivering once the call is over
    socket_.set(zmq::sockopt::ipv6, 1);
    // Not ZMQ_IMMEDIATE: it would drop the queued registration when the root is not up yet,
    // and, worse, discard a table that arrived but was not read yet when rank 0 closes.
    socket_.set(zmq::sockopt::reconnect_ivl, 100);
    socket_.set(zmq::sockopt::reconnect_ivl_max, 1000);
    const std::int64_t largest_table =
        4096 + static_cast<std::int64_t>(plan.size) * (4 + rendezvous_max_endpoint);
    socket_.set(zmq::sockopt::maxmsgsize, std::max<std::int64_t>(largest_table, 64 * 1024));
    if (plan.curve) make_curve_client(socket_, *plan.curve);
    try {
      socket_.connect(plan.root.endpoint);
    } catch (const zmq::error_t& e) {
      throw config_error("rank " + std::to_string(plan.rank) +
                         " cannot connect to the rendezvous root " + in_quotes(root_text_) + ": " +
                         e.what());
    }
  }

  rendezvous_table run() {
    const auto grace = rendezvous_grace(plan_.timeout);
    const auto wait = plan_.timeout >= wait_forever - grace ? wait_forever : plan_.timeout + grace;
    const deadline until = deadline_after(wait);
    const std::string registration = encode(rendezvous_registration{
        static_cast<std::uint32_t>(plan_.rank), static_cast<std::uint32_t>(plan_.size), plan_.nonce,
        plan_.token, plan_.endpoint, plan_.host, plan_.locality});
    // ZeroMQ queues the registration until the connection is up, and a live connection does not
    // lose it; repeats only cover a connection that broke with it in flight. They back off
    // (1, 2, 4 ... 30 s) so that few pile up while rank 0 has not started; the root recognizes a
    // repeat by its nonce.
    auto interval = std::chrono::milliseconds(1000);
    deadline next_send = clock::now();
    while (true) {
      if (!acknowledged_ && clock::now() >= next_send) {
        (void)socket_.send(zmq::buffer(registration), zmq::send_flags::dontwait);  // full: later
        next_send = clock::now() + interval;
        interval = std::min(interval * 2, std::chrono::milliseconds(30000));
      }
      const deadline wake = acknowledged_ ? until : std::min(until, next_send);
      if ((poll_one(socket_, ZMQ_POLLIN, wake) & ZMQ_POLLIN) != 0)
        if (auto table = handle(receive_frames(socket_, 2))) return *table;
      if (clock::now() >= until) throw timeout_error(silence(wait));
    }
  }

 private:
  std::optional<rendezvous_table> handle(const received_frames& in) {
    if (in.count == 0) return std::nullopt;
    if (in.count != 1) {
      log_.ignored("a message of " + std::to_string(in.count) + " frames", in.peer);
      return std::nullopt;
    }
    const auto decoded = decode_rendezvous(frame_bytes(in.frames[0]));
    using status = rendezvous_decoded::status;
    if (decoded.state == status::other_version)
      throw config_error("the rendezvous root " + in_quotes(root_text_) + " answered rank " +
                         std::to_string(plan_.rank) + " in protocol " + decoded.problem +
                         "; this rank speaks version " + std::to_string(rendezvous_version) +
                         " (are all ranks built with the same symphony?)");
    if (decoded.state != status::ok) {
      log_.ignored(std::string(decoded.state == status::not_ours ? "a foreign message"
                                                                 : "a malformed message") +
                       " (" + decoded.problem + ")",
                   in.peer);
      return std::nullopt;
    }
    if (const auto* ack = std::get_if<rendezvous_ack>(&decoded.body)) {
      if (ack->rank == static_cast<std::uint32_t>(plan_.rank)) acknowledged_ = true;
      return std::nullopt;
    }
    if (const auto* reject = std::get_if<rendezvous_reject>(&decoded.body)) {
      if (reject->reason == reject_reason::missing_ranks) throw timeout_error(reject->message);
      throw config_error(reject->message);
    }
    if (const auto* table = std::get_if<rendezvous_table>(&decoded.body)) return checked(*table);
    log_.ignored("a registration (only rank 0 takes those)", in.peer);
    return std::nullopt;
  }

  // The table must be for this job and show this rank where it registered.
  rendezvous_table checked(const rendezvous_table& table) const {
    const auto me = static_cast<std::size_t>(plan_.rank);
    if (table.endpoints.size() != static_cast<std::size_t>(plan_.size))
      throw protocol_error("the rendezvous root " + in_quotes(root_text_) + " sent a table of " +
                           std::to_string(table.endpoints.size()) + " endpoints to rank " +
                           std::to_string(plan_.rank) + " of a job of " +
                           std::to_string(plan_.size));
    const bool wildcard =
        plan_.own.scheme == address::kind::tcp && is_wildcard_host(plan_.own.host);
    if (!wildcard && table.endpoints[me] != plan_.endpoint)
      throw protocol_error("the rendezvous root " + in_quotes(root_text_) + " lists " +
                           in_quotes(table.endpoints[me]) + " for rank " +
                           std::to_string(plan_.rank) + ", which registered " +
                           in_quotes(plan_.endpoint));
    return table;
  }

  std::string silence(std::chrono::milliseconds waited) const {
    const std::string who =
        "rank " + std::to_string(plan_.rank) + " of " + std::to_string(plan_.size) + " ";
    if (acknowledged_)
      return who + "registered with the rendezvous root " + in_quotes(root_text_) +
             " but got neither the table nor an error within " + seconds_text(waited) +
             " (rank 0 may have died, or started much later than this rank)";
    return who + "got no answer from the rendezvous root " + in_quotes(root_text_) + " within " +
           seconds_text(waited) +
           ": rank 0 is not running, or does not listen at that address, or another program "
           "does (check SYMPHONY_ROOT, and that rank 0 runs on that host)";
  }

  const rendezvous_plan& plan_;
  rendezvous_log log_;
  std::string root_text_;
  bool acknowledged_ = false;
  zmq::context_t context_;  // declared before the socket: destroyed after it
  zmq::socket_t socket_;
};

}  // namespace symphony::detail

namespace symphony::bootstrap {

inline std::string default_job_token(const environment_lookup& lookup) {
  // Empty values carry no id; treat them as unset.
  const auto get = [&](const char* name) -> std::optional<std::string> {
    auto value = lookup(name);
    if (value && value->empty()) return std::nullopt;
    return value;
  };
  const auto either = [&](const char* name, const char* old_name) {
    auto value = get(name);
    return value ? value : get(old_name);
  };
  if (const auto token = get("SYMPHONY_JOB_TOKEN")) return *token;

  bool mpi_launcher = false;  // then Slurm's step variables may be stale: see the declaration
  if (get("OMPI_COMM_WORLD_RANK")) {
    mpi_launcher = true;
    // One prefix for both: Open MPI 4 sets them equal, Open MPI 5 only PMIX_NAMESPACE.
    if (const auto ns = get("PMIX_NAMESPACE")) return "openmpi:" + *ns;
    if (const auto id = get("OMPI_MCA_ess_base_jobid")) return "openmpi:" + *id;
  } else if (get("PMI_RANK") || get("PMI_ID")) {
    mpi_launcher = true;
    if (const auto id = get("PMI_JOBID")) return "pmi:" + *id;
  }
  const auto slurm_job = either("SLURM_JOB_ID", "SLURM_JOBID");
  if (!mpi_launcher && slurm_job && get("SLURM_PROCID"))
    if (const auto step = either("SLURM_STEP_ID", "SLURM_STEPID"))
      return "slurm:" + *slurm_job + "." + *step;

  if (const auto id = get("FLUX_JOB_ID")) return "flux:" + *id;
  if (slurm_job) return "slurm:" + *slurm_job;
  if (const auto id = get("PBS_JOBID")) return "pbs:" + *id;
  if (const auto id = get("LSB_JOBID")) {
    const auto index = get("LSB_JOBINDEX");  // array elements share LSB_JOBID
    return "lsf:" + *id + (index && *index != "0" ? "[" + *index + "]" : "");
  }
  return fallback_job_token;
}

inline std::string default_job_token() {
  return default_job_token([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

inline rendezvous_result exchange_endpoints(const rendezvous_options& options) {
  const detail::rendezvous_plan plan = detail::plan_rendezvous(options);
  if (plan.size == 1)
    return {{detail::own_table_entry(plan)}, {plan.locality}};  // nobody to wait for
  auto table =
      plan.rank == 0 ? detail::rendezvous_root(plan).run() : detail::rendezvous_member(plan).run();
  return {std::move(table.endpoints), std::move(table.localities)};
}

inline std::vector<std::string> rendezvous(const rendezvous_options& options) {
  return exchange_endpoints(options).endpoints;
}

}  // namespace symphony::bootstrap
