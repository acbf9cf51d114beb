// symphony/bootstrap/join.hpp: from "what the launcher set" to "every rank's address".
//
// `symphony::communicator world;` joins its job in three steps:
//   1. plan_join() reads the environment (no socket, no wait) and decides who this rank is and how
//      the ranks will learn each other's addresses;
//   2. the transport binds this rank's receive socket where the plan says (a free tcp port, and a
//      same-machine ipc socket);
//   3. exchange_addresses() trades the bound endpoints with the other ranks and returns, for
//      every rank, the address this rank should use to reach it.
//
// How the addresses are found, first match wins:
//   addresses  SYMPHONY_ADDRESSES (or PYZMQ_COLLECTIVES_ADDRESSES) lists them: nothing to exchange
//              (symphony-run and the launcher header set it). Ranks bind exactly those addresses.
//   root       SYMPHONY_ROOT=host:port: a rendezvous at rank 0 on that address (like PyTorch's
//              MASTER_ADDR and MASTER_PORT). Works under any launcher, ssh or by hand.
//   pmi        the launcher's key-value store (PMI_FD or PMI_PORT: MPICH's mpiexec.hydra,
//              srun --mpi=pmi2, Flux): every rank publishes its endpoints there. Zero
//              configuration.
//   slurm      an srun step with reserved ports (SLURM_STEP_RESV_PORTS, from the site's
//              MpiParams=ports=...) and a block layout: a rendezvous at the first node of
//              SLURM_STEP_NODELIST (where rank 0 runs) on the step's first reserved port.
//   one-node   every rank on one machine, as the launcher says (Open MPI's
//              OMPI_COMM_WORLD_LOCAL_SIZE, hydra's MPI_LOCALNRANKS, a one-node srun step or Flux
//              job): a rendezvous on 127.0.0.1 at a port derived from the launcher's job id
//              (10000-29999, below Linux's ephemeral range). Needs a job id (see
//              default_job_token); two jobs that hash to one port are told apart by the token,
//              and the second fails to bind rather than mix in.
// Anything else (say mpirun across nodes, or a cyclic srun layout without PMI) is a config_error
// that says what was detected and asks for SYMPHONY_ROOT.
//
// Which address is used for which peer: every rank binds a tcp port (on SYMPHONY_IFACE, an
// interface name such as eth0, taken as its IPv4 address, or an IP address of this machine; on all
// interfaces otherwise, or on 127.0.0.1 for a one-node job) and an abstract-namespace ipc socket
// (ipc://@symphony-..., which needs no file and vanishes with the process). Peers on the same
// machine and network namespace (same kernel boot id and namespace inode) talk over ipc, others
// over tcp. SYMPHONY_IPC=0 makes every peer use tcp.
#pragma once

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../detail/address.hpp"
#include "../error.hpp"
#include "detect.hpp"
#include "hostlist.hpp"
#include "pmi.hpp"
#include "rendezvous.hpp"

namespace symphony::bootstrap {

/// How a job's ranks learn each other's addresses (see the top of this header).
enum class exchange_method { addresses, root, pmi, slurm, one_node };

/// The method's name as the documentation and symphony-info write it.
inline const char* name_of(exchange_method m) {
  switch (m) {
    case exchange_method::addresses:
      return "addresses";
    case exchange_method::root:
      return "root";
    case exchange_method::pmi:
      return "pmi";
    case exchange_method::slurm:
      return "slurm";
    case exchange_method::one_node:
      return "one-node";
  }
  return "?";
}

/// Everything plan_join() decided. Plain data: print it, test it, then act on it.
struct join_plan {
  job_identity identity;  ///< who this process is (identity.source says which launcher told)
  exchange_method method = exchange_method::addresses;
  std::chrono::milliseconds timeout = default_timeout;            ///< SYMPHONY_TIMEOUT
  std::chrono::milliseconds peer_timeout = default_peer_timeout;  ///< SYMPHONY_PEER_TIMEOUT
  std::optional<curve_keys> curve;  ///< SYMPHONY_CURVE_SECRET and _PUBLIC
  /// method addresses: the whole job, as config::from_environment() read it.
  std::optional<config> explicit_config;
  /// Where this rank binds its receive socket: a tcp endpoint with port 0 and an ipc endpoint.
  std::vector<std::string> listen;
  std::string root;       ///< root, slurm, one-node: the rendezvous address rank 0 binds
  std::string job_token;  ///< keeps jobs that share a root apart (default_job_token)
  std::string locality;   ///< this machine and network namespace, as exchanged with the others
  bool use_ipc = true;    ///< false: SYMPHONY_IPC=0, every peer over tcp
  std::vector<std::string> notes;  ///< why this method, for symphony-info and error messages
};

/// What exchange_addresses() returns.
struct join_result {
  int rank = 0;
  int size = 1;
  /// The address this rank uses to reach each rank, in rank order (its own entry: where it
  /// listens), and each rank's published tcp endpoint and locality, for diagnostics.
  std::vector<std::string> addresses;
  std::vector<std::string> tcp_endpoints;
  std::vector<std::string> localities;
};

/// Decides how this process joins its job, from the variables `lookup` returns (see the top of
/// this header). Opens no socket and waits for nothing. Throws config_error naming the variable
/// and value at fault, or, when the ranks cannot find each other, saying what was detected and
/// what to set.
inline join_plan plan_join(const environment_lookup& lookup);

/// The same, reading this process's environment.
inline join_plan plan_join();

/// Collective over the whole job (every rank calls it once, after binding `bound`, the endpoints
/// its receive socket listens on, as the transport reports them): publishes this rank's
/// endpoints by the plan's method and returns every rank's address. Throws config_error or
/// timeout_error as rendezvous() and the PMI client do (naming missing ranks, the root, the
/// launcher); never waits beyond the plan's timeout (plus the rendezvous' short grace).
inline join_result exchange_addresses(const join_plan& plan, const std::vector<std::string>& bound);

}  // namespace symphony::bootstrap

namespace symphony::detail {

/// 64-bit FNV-1a of `text`: stable across processes, machines and builds.
inline std::uint64_t fnv1a64(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

inline std::optional<std::string> nonempty(const bootstrap::environment_lookup& lookup,
                                           const std::string& name) {
  auto value = lookup(name);
  if (value && trim(*value).empty()) return std::nullopt;
  return value;
}

/// This machine and network namespace: the kernel's boot id (differs between machines and
/// boots) and the inode of /proc/self/ns/net (differs between namespaces of one kernel). Two
/// processes with the same locality can reach each other's abstract ipc sockets.
inline std::string this_locality() {
  std::string boot_id;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot_id;
  struct stat ns {};
  const std::string netns =
      stat("/proc/self/ns/net", &ns) == 0 ? std::to_string(ns.st_ino) : std::string("?");
  if (boot_id.empty()) {  // not Linux, or no /proc: the host name is the best we have
    char name[256] = {};
    (void)gethostname(name, sizeof name - 1);
    boot_id = std::string("host:") + name;
  }
  return boot_id + "/" + netns;
}

/// A fresh abstract-namespace ipc endpoint, unique to this process and call.
inline std::string fresh_ipc_endpoint(const std::string& token) {
  std::random_device seed;
  const std::uint64_t nonce =
      (static_cast<std::uint64_t>(seed()) << 32) ^ seed() ^ static_cast<std::uint64_t>(getpid());
  const std::uint64_t job = fnv1a64(token);
  char name[64];
  std::snprintf(name, sizeof name, "ipc://@symphony-%08llx-%016llx",
                static_cast<unsigned long long>(job & 0xffffffffULL),
                static_cast<unsigned long long>(nonce));
  return name;
}

/// The first IPv4 address of an interface that is up and not loopback; empty if none.
inline std::string first_outside_ipv4() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return {};
  std::string found;
  for (const ifaddrs* i = list; i != nullptr && found.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_UP) == 0 || (i->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char ip[NI_MAXHOST];
    if (getnameinfo(i->ifa_addr, sizeof(sockaddr_in), ip, sizeof ip, nullptr, 0, NI_NUMERICHOST) ==
        0)
      found = ip;
  }
  freeifaddrs(list);
  return found;
}

/// The address to bind for SYMPHONY_IFACE=`iface`: an IP literal as it is; an interface name
/// resolved to its IPv4 address (else a global IPv6 one), because ZeroMQ, with IPv6 on, may pick
/// an interface's link-local IPv6 address, which other machines cannot use without a scope.
/// Throws config_error naming the value and listing the interfaces when there is no such one.
inline std::string interface_address(const std::string& iface) {
  in6_addr v6{};
  in_addr v4{};
  if (inet_pton(AF_INET, iface.c_str(), &v4) == 1) return iface;
  if (inet_pton(AF_INET6, iface.c_str(), &v6) == 1) return "[" + iface + "]";
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0)
    throw config_error("SYMPHONY_IFACE=" + in_quotes(iface) +
                       ": cannot list this machine's interfaces");
  std::string ipv4;
  std::string ipv6;
  std::vector<std::string> names;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (std::find(names.begin(), names.end(), i->ifa_name) == names.end())
      names.push_back(i->ifa_name);
    if (i->ifa_addr == nullptr || iface != i->ifa_name) continue;
    char ip[NI_MAXHOST];
    const int family = i->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    const socklen_t length = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (getnameinfo(i->ifa_addr, length, ip, sizeof ip, nullptr, 0, NI_NUMERICHOST) != 0) continue;
    if (family == AF_INET && ipv4.empty()) ipv4 = ip;
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
    if (family == AF_INET6 && ipv6.empty() && !IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr))
      ipv6 = "[" + std::string(ip) + "]";
  }
  freeifaddrs(list);
  if (!ipv4.empty()) return ipv4;
  if (!ipv6.empty()) return ipv6;
  std::string known;
  for (const auto& n : names)
    known += (known.empty() ? "" : ", ") + n;
  throw config_error("SYMPHONY_IFACE=" + in_quotes(iface) +
                     " is neither an IP address nor an interface of this machine with a usable "
                     "address (interfaces here: " +
                     known + ")");
}

/// `endpoint` with a wildcard host (tcp://0.0.0.0:p, tcp://[::]:p) replaced by an address other
/// machines can use: without a rendezvous root to observe where a rank connects from (PMI), this
/// machine's first non-loopback IPv4 address, else 127.0.0.1.
inline std::string reachable_endpoint(const std::string& endpoint) {
  const auto parsed = parse_address(endpoint);
  if (!parsed.error.empty() || parsed.value.scheme != address::kind::tcp ||
      !is_wildcard_host(parsed.value.host))
    return endpoint;
  const std::string ip = first_outside_ipv4();
  return with_host(parsed.value, ip.empty() ? "127.0.0.1" : ip);
}

/// True when the launcher of `identity` says that all its ranks run on one machine.
inline bool launcher_says_one_node(const bootstrap::environment_lookup& lookup,
                                   const bootstrap::job_identity& identity) {
  const auto count = [&](const char* name) -> long {
    const auto value = nonempty(lookup, name);
    if (!value || !all_digits(trim(*value)) || trim(*value).size() > 9) return -1;
    return std::stol(trim(*value));
  };
  const auto& s = identity.source;
  if (s == "openmpi") return count("OMPI_COMM_WORLD_LOCAL_SIZE") == identity.size;
  if (s == "pmi") return count("MPI_LOCALNRANKS") == identity.size;
  if (s == "flux") return count("FLUX_JOB_NNODES") == 1;
  if (s == "slurm") return count("SLURM_STEP_NUM_NODES") == 1 || count("SLURM_NNODES") == 1;
  if (s == "pbs" && !identity.hosts.empty()) {
    for (const auto& h : identity.hosts)
      if (h != identity.hosts.front()) return false;
    return true;
  }
  return false;
}

/// The rendezvous port of a one-node job: derived from its job token, in 10000-29999.
inline int one_node_port(const std::string& token) {
  return 10000 + static_cast<int>(fnv1a64(token) % 20000);
}

/// The first port of a Slurm reserved-port list ("12001-12005", "12000,12998-12999").
inline int first_reserved_port(const std::string& ports) {
  return bootstrap::expand_ports(ports, "SLURM_STEP_RESV_PORTS").front();
}

/// PMI values travel as one line of text: the three fields of one rank, joined by '|'.
inline std::string pmi_entry(const std::string& tcp, const std::string& locality,
                             const std::string& ipc) {
  return tcp + "|" + locality + "|" + ipc;
}

}  // namespace symphony::detail

namespace symphony::bootstrap {

inline join_plan plan_join(const environment_lookup& lookup) {
  join_plan plan;
  if (const auto timeout = lookup("SYMPHONY_TIMEOUT"))
    plan.timeout = detail::parse_timeout("SYMPHONY_TIMEOUT", detail::trim(*timeout));
  detail::read_peer_settings(lookup, plan.peer_timeout, plan.curve);

  // An explicit address list is the user's (or symphony-run's) word: nothing to exchange.
  if (detail::nonempty(lookup, "SYMPHONY_ADDRESSES") ||
      (!lookup("SYMPHONY_RANK") && !lookup("SYMPHONY_NRANKS") &&
       detail::nonempty(lookup, "PYZMQ_COLLECTIVES_ADDRESSES"))) {
    plan.explicit_config = config::from_environment(lookup);
    plan.identity.source = lookup("SYMPHONY_ADDRESSES") ? "symphony" : "pyzmq_collectives";
    plan.identity.rank = plan.explicit_config->rank;
    plan.identity.size = plan.explicit_config->size;
    plan.timeout = plan.explicit_config->timeout;
    plan.method = exchange_method::addresses;
    plan.notes.push_back("the addresses come from " +
                         std::string(lookup("SYMPHONY_ADDRESSES") ? "SYMPHONY_ADDRESSES"
                                                                  : "PYZMQ_COLLECTIVES_ADDRESSES"));
    return plan;
  }

  // MPICH hydra's -pmi-port mode sets PMI_PORT and PMI_ID but no PMI_RANK: rank and size come
  // over the PMI wire during the exchange (detect_job() would rightly refuse to guess them).
  const bool pmi_wire_only = detail::nonempty(lookup, "PMI_PORT") &&
                             detail::nonempty(lookup, "PMI_ID") && !lookup("PMI_RANK") &&
                             !lookup("SYMPHONY_RANK") && !lookup("OMPI_COMM_WORLD_RANK");
  if (pmi_wire_only) {
    plan.identity.source = "pmi";
    plan.identity.rank = -1;  // known after the exchange
    plan.identity.size = -1;
    plan.identity.notes.push_back(
        "rank and size come over the PMI wire (PMI_PORT without PMI_RANK)");
  } else {
    plan.identity = detect_job(lookup);
  }
  const auto& id = plan.identity;
  const std::string who = "rank " + std::to_string(id.rank) + " of " + std::to_string(id.size) +
                          " (detected from " + id.source + ")";
  plan.job_token = default_job_token(lookup);
  plan.locality = detail::this_locality();
  if (const auto ipc = detail::nonempty(lookup, "SYMPHONY_IPC")) {
    const std::string v = detail::trim(*ipc);
    if (v != "0" && v != "1")
      throw config_error("SYMPHONY_IPC=" + detail::in_quotes(*ipc) +
                         " must be 1 (peers on this machine use ipc, the default) or 0 (tcp "
                         "for every peer)");
    plan.use_ipc = v == "1";
  }

  const auto root = detail::nonempty(lookup, "SYMPHONY_ROOT");
  if (root && !pmi_wire_only) {
    const auto parsed = detail::parse_address(detail::trim(*root));
    if (!parsed.error.empty())
      throw config_error("SYMPHONY_ROOT=" + detail::in_quotes(*root) + " is not an address: " +
                         parsed.error + " (give rank 0's host and a free port, e.g. node01:29500)");
    plan.method = exchange_method::root;
    plan.root = parsed.value.endpoint;
    plan.notes.push_back("rendezvous at SYMPHONY_ROOT=" + detail::trim(*root));
  } else if (pmi_present(lookup)) {
    plan.method = exchange_method::pmi;
    plan.notes.push_back("the launcher's PMI key-value store (" +
                         std::string(lookup("PMI_FD") ? "PMI_FD" : "PMI_PORT") + ")");
  } else if (id.source == "slurm" && !id.reserved_ports.empty() && !id.hosts.empty()) {
    plan.method = exchange_method::slurm;
    const std::string port = std::to_string(detail::first_reserved_port(id.reserved_ports));
    const std::string& host = id.hosts.front();
    plan.root = host.find(':') != std::string::npos ? "[" + host + "]:" + port : host + ":" + port;
    plan.notes.push_back("rendezvous at rank 0's node " + host +
                         ", first port of SLURM_STEP_RESV_PORTS=" + id.reserved_ports);
  } else if (id.size == 1) {
    plan.method = exchange_method::one_node;
    plan.root = "127.0.0.1:" + std::to_string(detail::one_node_port(plan.job_token));
    plan.notes.push_back("a job of one rank: nothing to exchange");
  } else if (detail::launcher_says_one_node(lookup, id) && plan.job_token != fallback_job_token) {
    plan.method = exchange_method::one_node;
    plan.root = "127.0.0.1:" + std::to_string(detail::one_node_port(plan.job_token));
    plan.notes.push_back("all ranks on this machine (the " + id.source +
                         " launcher says so): rendezvous on 127.0.0.1, port from the job id " +
                         plan.job_token);
  } else {
    std::string why;
    if (id.source == "slurm")
      why = id.hosts.empty() ? "this srun step's layout does not tell rank 0's node (" +
                                   (id.notes.empty() ? std::string("see SLURM_DISTRIBUTION")
                                                     : id.notes.front()) +
                                   ")"
                             : "srun reserved no ports (no SLURM_STEP_RESV_PORTS: the site "
                               "has no MpiParams=ports=..., or --resv-ports=0)";
    else if (id.source == "symphony" || id.source == "pyzmq_collectives")
      why =
          "SYMPHONY_RANK and SYMPHONY_NRANKS are set, but neither SYMPHONY_ADDRESSES nor "
          "SYMPHONY_ROOT";
    else if (plan.job_token == fallback_job_token)
      why = "the launcher gives no job id to derive a port from";
    else
      why =
          "the ranks may be on several machines and the launcher offers no key-value store "
          "symphony can use";
    throw config_error(
        who + " cannot find the other ranks: " + why +
        ". Set SYMPHONY_ROOT=host:port to rank 0's host and a free port (the same on every "
        "rank), or SYMPHONY_ADDRESSES to every rank's address" +
        (id.source == "slurm" ? std::string(", or run srun --mpi=pmi2") : std::string()));
  }

  // Where to listen: a tcp port chosen by the system, and an ipc socket for same-machine peers.
  std::string host = "*";
  if (const auto iface = detail::nonempty(lookup, "SYMPHONY_IFACE")) {
    host = detail::interface_address(detail::trim(*iface));
  } else if (plan.method == exchange_method::one_node) {
    host = "127.0.0.1";
  }
  plan.listen.push_back("tcp://" + host + ":0");
  if (plan.use_ipc) plan.listen.push_back(detail::fresh_ipc_endpoint(plan.job_token));
  return plan;
}

inline join_plan plan_join() {
  return plan_join([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

inline join_result exchange_addresses(const join_plan& plan,
                                      const std::vector<std::string>& bound) {
  join_result result;
  result.rank = plan.identity.rank;
  result.size = plan.identity.size;
  if (plan.method == exchange_method::addresses) {
    result.addresses = plan.explicit_config->addresses;
    result.tcp_endpoints = result.addresses;
    result.localities.assign(result.addresses.size(), std::string());
    return result;
  }
  std::string tcp;
  std::string ipc;
  for (const auto& endpoint : bound)
    (endpoint.rfind("ipc://", 0) == 0 ? ipc : tcp) = endpoint;
  if (tcp.empty())
    throw config_error("rank " + std::to_string(result.rank) +
                       " bound no tcp endpoint to publish (bound: " + std::to_string(bound.size()) +
                       " endpoints)");
  // The locality carries the ipc endpoint too: "<machine>|<ipc endpoint>" ("" when ipc is off).
  const std::string locality = plan.use_ipc ? plan.locality + "|" + ipc : std::string();
  std::vector<std::string> localities;

  if (plan.method == exchange_method::pmi) {
    // One connection for the whole exchange: with hydra's -pmi-port, rank and size come from it.
    pmi_client pmi(plan.timeout);
    result.rank = pmi.rank();
    result.size = pmi.size();
    const auto entries = pmi.allgather(
        detail::pmi_entry(detail::reachable_endpoint(tcp), plan.locality, plan.use_ipc ? ipc : ""));
    for (const auto& entry : entries) {
      const auto bar = entry.find('|');
      const auto second = bar == std::string::npos ? bar : entry.find('|', bar + 1);
      if (second == std::string::npos)
        throw protocol_error("a rank published " + detail::in_quotes(entry) +
                             " in the PMI key-value store, which is not a symphony entry");
      result.tcp_endpoints.push_back(entry.substr(0, bar));
      const std::string peer_ipc = entry.substr(second + 1);
      localities.push_back(peer_ipc.empty()
                               ? std::string()
                               : entry.substr(bar + 1, second - bar - 1) + "|" + peer_ipc);
    }
  } else {
    rendezvous_options options;
    options.root = plan.root;
    options.rank = result.rank;
    options.size = result.size;
    options.endpoint = tcp;
    options.job_token = plan.job_token;
    options.timeout = plan.timeout;
    options.locality = locality;
    options.curve = plan.curve;
    auto exchanged = exchange_endpoints(options);
    result.tcp_endpoints = std::move(exchanged.endpoints);
    localities = std::move(exchanged.localities);
  }

  // Same machine and namespace, and both sides have ipc: use ipc; otherwise tcp.
  const auto machine_of = [](const std::string& l) { return l.substr(0, l.find('|')); };
  const auto ipc_of = [](const std::string& l) {
    const auto bar = l.find('|');
    return bar == std::string::npos ? std::string() : l.substr(bar + 1);
  };
  for (std::size_t r = 0; r < result.tcp_endpoints.size(); ++r) {
    const std::string& peer = r < localities.size() ? localities[r] : std::string();
    const bool same_machine =
        plan.use_ipc && !peer.empty() && !ipc_of(peer).empty() && machine_of(peer) == plan.locality;
    result.addresses.push_back(same_machine ? ipc_of(peer) : result.tcp_endpoints[r]);
  }
  result.localities = std::move(localities);
  return result;
}

}  // namespace symphony::bootstrap
