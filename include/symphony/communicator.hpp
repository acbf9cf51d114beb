// symphony/communicator.hpp: basic_communicator, the object every collective is called on.
//
// A communicator is a group of ranks that talk to each other. `symphony::communicator` is the one
// over ZeroMQ between processes; its default constructor reads the job from the environment
// (see config.hpp). The transport is a template parameter (transport/transport.hpp), so the same
// code runs over in-process threads (threads.hpp) or a simulator.
//
// Collective operations (broadcast, reduce, gather, scatter, barrier, allreduce, allgather,
// alltoall, reduce_scatter, scan, exscan, gatherv, scatterv, allgatherv) must be called by every
// rank of the communicator, in the same order, with the same root. Point-to-point send/recv pair
// up by (source, tag) and arrive in the order they were sent. A communicator is used by one thread
// at a time.
//
// Algorithms: each collective picks its algorithm from the message size and the number of ranks
// (algorithms/: one file per algorithm, with its cost). Short messages take the algorithm with
// the fewest rounds (binomial tree, recursive doubling, Bruck), long ones the algorithm that moves
// the fewest bytes (scatter + allgather, Rabenseifner, ring). The thresholds are read from the
// environment when a communicator is made (a malformed one is a config_error naming it):
//
//   SYMPHONY_BCAST_LONG_BYTES           broadcast       default 512K
//   SYMPHONY_REDUCE_LONG_BYTES          reduce          default 64K  (vectors, built-in ops)
//   SYMPHONY_ALLREDUCE_LONG_BYTES       allreduce       default 64K  (vectors, built-in ops)
//   SYMPHONY_ALLGATHER_LONG_BYTES       allgather(v)    default 128K (size() x one value)
//   SYMPHONY_REDUCE_SCATTER_LONG_BYTES  reduce_scatter  default 64K  (commutative ops)
//   SYMPHONY_ALLREDUCE_RING_MIN_BLOCK_BYTES  allreduce on non-powers of two: ring or
//                                            Rabenseifner, default 32K (vector / size())
//
// and can be replaced per communicator with set_thresholds(); see algorithms/tuning.hpp.
//
// Copies and allocations: raw-byte payloads of zmq_transport::zero_copy_bytes (64 KiB) or more
// go to ZeroMQ without a copy (the call returns once ZeroMQ has released the buffer); received
// payloads are decoded with one copy into the result, or combined straight into the accumulator
// (reductions of vectors with built-in operators). Repeated same-size calls allocate only their
// results: the algorithms' bookkeeping is scratch the communicator keeps between calls. The
// caller-buffer forms (allreduce_in_place, reduce_in_place, allgather and gather into a vector)
// reuse the caller's storage and allocate nothing at all (tests/collectives/allocations.cpp
// counts every operator new).
//
// Value types: trivially copyable types and std::vector / std::basic_string of them travel as raw
// bytes; anything cereal can serialize (std::map, std::vector<std::string>, structs with a
// `serialize` member) travels through a cereal binary archive. Receiving types must be
// default-constructible. Both sides must use the same type.
#pragma once

#include <algorithm>
#include <any>
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

#include "algorithms/allgather_bruck.hpp"
#include "algorithms/allgather_ring.hpp"
#include "algorithms/allreduce_rabenseifner.hpp"
#include "algorithms/allreduce_recursive_doubling.hpp"
#include "algorithms/allreduce_ring.hpp"
#include "algorithms/alltoall_pairwise.hpp"
#include "algorithms/barrier_dissemination.hpp"
#include "algorithms/broadcast_binomial.hpp"
#include "algorithms/broadcast_pipeline.hpp"
#include "algorithms/broadcast_scatter_allgather.hpp"
#include "algorithms/element_buffer.hpp"
#include "algorithms/gather_binomial.hpp"
#include "algorithms/reduce_binomial.hpp"
#include "algorithms/reduce_rabenseifner.hpp"
#include "algorithms/reduce_scatter_halving.hpp"
#include "algorithms/reduce_scatter_ring.hpp"
#include "algorithms/scan_prefix_doubling.hpp"
#include "algorithms/scatter_binomial.hpp"
#include "algorithms/schedule.hpp"
#include "algorithms/tuning.hpp"
#include "bootstrap/join.hpp"
#include "config.hpp"
#include "detail/communicator_id.hpp"
#include "detail/mailbox.hpp"
#include "detail/segments.hpp"
#include "detail/serialization.hpp"
#include "detail/value_type.hpp"
#include "detail/wire.hpp"
#include "error.hpp"
#include "ops.hpp"
#include "transport/zmq_transport.hpp"

namespace symphony {

template <class Transport>
class basic_communicator {
 public:
  using transport_type = Transport;

  /// Joins the job its launcher started (bootstrap/join.hpp): symphony-run's or a user's
  /// SYMPHONY_ADDRESSES, a rendezvous at SYMPHONY_ROOT, the launcher's PMI key-value store
  /// (mpiexec.hydra, srun --mpi=pmi2), an srun step's reserved ports, or loopback when the launcher
  /// says all ranks share this machine. Every rank of the job must construct its communicator;
  /// the constructor returns when this rank knows every rank's address. Peers on this machine are
  /// reached over ipc, the others over tcp. Throws config_error naming the variable at fault, or
  /// saying what was detected and what to set when the ranks cannot find each other;
  /// timeout_error when other ranks do not join within SYMPHONY_TIMEOUT (naming them).
  template <class T = Transport,
            std::enable_if_t<std::is_constructible_v<T, const config&>, int> = 0>
  basic_communicator() : basic_communicator(bootstrap::plan_join()) {}

  /// Joins the job as `plan` (from bootstrap::plan_join()) says; what the default constructor
  /// does, for programs that inspect or adjust the plan first (symphony-info prints it).
  template <class T = Transport,
            std::enable_if_t<std::is_constructible_v<T, const config&>, int> = 0>
  explicit basic_communicator(const bootstrap::join_plan& plan)
      : mailbox_(
            plan.explicit_config
                ? std::make_shared<detail::mailbox<Transport>>(
                      stamp_of(bootstrap::default_job_token(), plan.explicit_config->addresses),
                      *plan.explicit_config)
                : std::make_shared<detail::mailbox<Transport>>(0, plan.listen, plan.timeout,
                                                               plan.peer_timeout, plan.curve)),
        timeout_(plan.timeout) {
    if (!plan.explicit_config) {
      auto& transport = mailbox_->transport();
      const auto joined = bootstrap::exchange_addresses(plan, transport.bound_endpoints());
      // The published tcp endpoints are the same list on every rank (unlike `addresses`, which
      // picks ipc or tcp per peer) and name ports only this job holds.
      mailbox_->restamp(stamp_of(plan.job_token, joined.tcp_endpoints));
      transport.connect_peers(joined.rank, joined.addresses);
    }
    init_world();
  }

  /// Joins the job described by `c` (validated; config_error on a bad field).
  template <class T = Transport,
            std::enable_if_t<std::is_constructible_v<T, const config&>, int> = 0>
  explicit basic_communicator(const config& c)
      : mailbox_(std::make_shared<detail::mailbox<Transport>>(stamp_of("", c.addresses), c)),
        timeout_(c.timeout) {
    init_world();
  }

  /// Over an already made transport (in-process threads, a simulator); every rank of the
  /// transport is a member. `timeout` bounds every blocking wait (wait_forever: no bound).
  template <class T = Transport, std::enable_if_t<std::is_move_constructible_v<T>, int> = 0>
  explicit basic_communicator(Transport transport,
                              std::chrono::milliseconds timeout = default_timeout)
      : mailbox_(std::make_shared<detail::mailbox<Transport>>(detail::job_stamp("in-process"),
                                                              std::move(transport))),
        timeout_(timeout) {
    init_world();
  }

  basic_communicator(const basic_communicator&) = delete;
  basic_communicator& operator=(const basic_communicator&) = delete;
  basic_communicator(basic_communicator&&) noexcept = default;
  basic_communicator& operator=(basic_communicator&&) noexcept = default;
  ~basic_communicator() = default;

  /// False for a communicator this rank is not a member of (split with a negative color) and for
  /// a moved-from one; every operation on such a communicator throws std::logic_error.
  explicit operator bool() const noexcept { return mailbox_ != nullptr && rank_ >= 0; }

  /// This process's rank in the communicator, 0 <= rank() < size() (-1 if not a member).
  int rank() const { return rank_; }
  /// Number of ranks in the communicator.
  int size() const { return static_cast<int>(members_.size()); }
  /// The communicator's name in error messages ("world" for the job's communicator).
  const std::string& name() const { return name_; }
  /// The deadline of one blocking wait.
  std::chrono::milliseconds timeout() const { return timeout_; }

  // --- point to point -------------------------------------------------------------------------

  /// Sends `value` to rank `dest` with `tag` (>= 0). Returns once the value may be changed; does
  /// not wait for the receiver. Sending to oneself is allowed. Throws std::invalid_argument for a
  /// bad dest or tag, timeout_error if the queue to `dest` stays full until the timeout.
  template <class T>
  void send(const T& value, int dest, int tag = 0) {
    require_member("send");
    check_rank("send", "dest", dest);
    check_tag("send", tag);
    const auto bytes = detail::encode_value(value);
    detail::header h = make_header(detail::operation::point_to_point, 0, tag);
    post(dest, h, bytes.data(), bytes.size(),
         [&] { return "send (tag " + std::to_string(tag) + ")"; });
  }

  /// Receives the next value rank `source` sent with `tag`, as T. Throws timeout_error if none
  /// arrives within the timeout, protocol_error if the payload is not a T.
  template <class T>
  T recv(int source, int tag = 0) {
    T value{};
    recv(value, source, tag);
    return value;
  }

  /// The same, receiving into an existing object (reuses a vector's capacity).
  template <class T>
  void recv(T& value, int source, int tag = 0) {
    require_member("recv");
    check_rank("recv", "source", source);
    check_tag("recv", tag);
    const auto what = [&] { return "recv (tag " + std::to_string(tag) + ")"; };
    detail::match_key key{id_, true, 0, tag, world_rank(source)};
    const auto m = wait_for(key, source, what);
    const std::string problem = detail::decode_value(m.data(), m.size(), value);
    if (!problem.empty())
      fail_protocol(what() + ": rank " + std::to_string(source) + " sent " + problem);
  }

  // --- communicators from communicators -------------------------------------------------------

  /// Collective: splits this communicator as MPI_Comm_split does. Ranks that pass the same
  /// `color` (>= 0) form one new communicator, ordered by `key` and then by their rank here. A
  /// negative color (symphony::no_color) means "in no new communicator": that rank gets a
  /// communicator that converts to false. The new communicators share this one's connections
  /// (no new sockets) and never mix their messages with this one's or each other's.
  /// Cost: a gather and a broadcast of two ints per rank.
  basic_communicator split(int color, int key = 0) {
    require_member("split");
    std::vector<std::array<int, 2>> all = gather(std::array<int, 2>{color, key}, 0);
    broadcast(all, 0);
    if (color < 0) return basic_communicator(not_a_member{});
    std::vector<int> chosen;  // ranks of this communicator with the same color, in new-rank order
    for (int r = 0; r < size(); ++r)
      if (all[static_cast<std::size_t>(r)][0] == color) chosen.push_back(r);
    std::stable_sort(chosen.begin(), chosen.end(), [&](int a, int b) {
      return all[static_cast<std::size_t>(a)][1] < all[static_cast<std::size_t>(b)][1];
    });
    return derive(chosen,
                  detail::derived_id(id_, {1, sequence_, static_cast<std::uint64_t>(color)}),
                  name_ + "/split(color " + std::to_string(color) + ")");
  }

  /// A communicator of the listed ranks of this one, in the listed order (new rank i is
  /// ranks[i]). Not collective over this communicator: only the listed ranks call it, and they
  /// must create their subgroups in the same order (as MPI_Comm_create_group). No message is sent.
  /// Throws std::invalid_argument if a rank is out of range, listed twice, or if the calling rank
  /// is not listed.
  basic_communicator subgroup(const std::vector<int>& ranks) {
    require_member("subgroup");
    std::vector<std::uint64_t> fields{2};
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      check_rank("subgroup", "member", ranks[i]);
      for (std::size_t j = 0; j < i; ++j)
        if (ranks[j] == ranks[i])
          throw std::invalid_argument("subgroup: rank " + std::to_string(ranks[i]) +
                                      " is listed twice");
      fields.push_back(static_cast<std::uint64_t>(ranks[i]));
    }
    if (std::find(ranks.begin(), ranks.end(), rank_) == ranks.end())
      throw std::invalid_argument(
          "subgroup: the calling rank " + std::to_string(rank_) +
          " is not among the listed ranks (only members create a subgroup)");
    fields.push_back(static_cast<std::uint64_t>(subgroups_made_[ranks]++));
    std::string label = name_ + "/subgroup(" + std::to_string(ranks.size()) + " ranks from " +
                        std::to_string(ranks.front()) + ")";
    return derive(ranks, detail::derived_id(id_, fields), std::move(label));
  }

  // --- collectives ----------------------------------------------------------------------------

  /// Collective: every rank must call it with the same root. Afterwards every rank's `value` equals
  /// the root's (the other ranks' values are replaced, whatever they held).
  /// Short payloads (< SYMPHONY_BCAST_LONG_BYTES) go down a binomial tree: ceil(log2 p) rounds,
  /// every non-root receives the payload once, the root sends it ceil(log2 p) times. Long ones are
  /// scattered and allgathered (van de Geijn): ceil(log2 p) + p - 2 rounds, every rank receives
  /// the payload once, the root sends it once and no rank sends it more than about twice. The root
  /// chooses and tells the others, so their `value` need not have the root's size. Throws
  /// protocol_error if a message does not decode as a T.
  template <class T>
  void broadcast(T& value, int root = 0) {
    auto ctx = begin<T>(detail::operation::broadcast, root);
    const int p = size();
    if constexpr (std::is_trivially_copyable_v<T>) {
      // Every rank knows the size: the choice needs no announcement.
      if (p > 1 && sizeof(T) >= thresholds_.broadcast_long_bytes) {
        auto* bytes = reinterpret_cast<std::byte*>(std::addressof(value));
        broadcast_long(ctx, root, bytes, sizeof(T), bytes);
        return;
      }
      ctx.expect_algorithm(algorithms::algorithm_id::binomial);
      if (rank_ == root) {
        algorithms::broadcast_binomial(ctx, root, reinterpret_cast<const std::byte*>(&value),
                                       sizeof(T));
      } else {
        const auto received = algorithms::broadcast_binomial(ctx, root, nullptr, 0);
        algorithms::decode_from(ctx, *received, root, value);
      }
    } else {
      // The size is the root's alone: its first message down the binomial tree starts with the
      // algorithm it chose, followed by the whole payload (binomial) or by the payload's size
      // (scatter + allgather, which then moves the payload).
      if (p == 1) return;
      if (rank_ == root) {
        const auto bytes = detail::encode_value(value);
        if (bytes.size() >= thresholds_.broadcast_long_bytes) {
          std::array<std::byte, 9> announcement{std::byte{broadcast_announces_size}};
          for (int i = 0; i < 8; ++i)
            announcement[static_cast<std::size_t>(1 + i)] = static_cast<std::byte>(
                (static_cast<std::uint64_t>(bytes.size()) >> (8 * i)) & 0xff);
          algorithms::broadcast_binomial(ctx, root, announcement.data(), announcement.size());
          broadcast_long(ctx, root, bytes.data(), bytes.size(), nullptr);
        } else {
          scratch_.assign(1, std::byte{broadcast_carries_payload});
          scratch_.insert(scratch_.end(), bytes.data(), bytes.data() + bytes.size());
          algorithms::broadcast_binomial(ctx, root, scratch_.data(), scratch_.size());
        }
        return;
      }
      const auto received = algorithms::broadcast_binomial(ctx, root, nullptr, 0);
      const int parent = algorithms::binomial_tree(p, root).parent(rank_);
      if (received->size() >= 1 && received->data()[0] == std::byte{broadcast_carries_payload}) {
        const std::string problem =
            detail::decode_value(received->data() + 1, received->size() - 1, value);
        if (!problem.empty()) ctx.fail(parent, "sent " + problem);
        return;
      }
      if (received->size() != 9 || received->data()[0] != std::byte{broadcast_announces_size})
        ctx.fail(parent, "sent a broadcast message of " + std::to_string(received->size()) +
                             " bytes that starts with neither payload nor size");
      std::uint64_t total = 0;
      for (int i = 0; i < 8; ++i)
        total |= static_cast<std::uint64_t>(received->data()[1 + i]) << (8 * i);
      const auto size_bytes = static_cast<std::size_t>(total);
      if constexpr (detail::is_contiguous_raw_v<T>) {
        using element = typename T::value_type;
        if (size_bytes % sizeof(element) != 0)
          ctx.fail(parent, "announced a broadcast of " + std::to_string(size_bytes) +
                               " bytes, not a whole number of " + std::to_string(sizeof(element)) +
                               "-byte elements (do all ranks use the same type?)");
        value.resize(size_bytes / sizeof(element));  // the payload lands in place: no copy
        broadcast_long(ctx, root, nullptr, size_bytes, reinterpret_cast<std::byte*>(value.data()));
      } else {
        scratch_.resize(size_bytes);
        broadcast_long(ctx, root, nullptr, size_bytes, scratch_.data());
        const std::string problem = detail::decode_value(scratch_.data(), size_bytes, value);
        if (!problem.empty()) ctx.fail(root, "sent " + problem);
      }
    }
  }

  /// Collective: combines every rank's `value` with `op` (symphony::ops::sum, ..., or a callable
  /// T(const T&, const T&), combined in rank order). The root gets the result; the other ranks get
  /// a value-initialized T. Throws protocol_error if built-in element-wise operators meet
  /// sequences of different lengths.
  /// Binomial tree: ceil(log2 p) rounds (+1 for a non-commutative op with root != 0), p - 1
  /// messages of one value each. Vectors of arithmetic elements of at least
  /// SYMPHONY_REDUCE_LONG_BYTES with a built-in operator use Rabenseifner's reduce-scatter +
  /// gather instead: about 2 log2 p rounds, and the root receives about 2m bytes instead of
  /// m log2 p. Allocates the result (a copy of `value` on every rank, which the call reduces in
  /// place); reduce_in_place() allocates nothing.
  template <class T, class Op>
  T reduce(const T& value, Op op, int root = 0) {
    T result = value;
    reduce_in_place(result, op, root);
    if (rank_ != root) return T{};
    return result;
  }

  /// Collective, reduce() into the caller's own object, like MPI_Reduce with MPI_IN_PLACE at the
  /// root: every rank must call it (or reduce(), with which it interoperates: the same
  /// algorithms, messages and errors) with the same root. The root's `values` becomes
  /// values[0] op values[1] op ... op values[p-1]. The other ranks' `values` is consumed: it holds
  /// an unspecified partial result afterwards (MPI leaves the send buffer unchanged, but keeping
  /// it would cost a copy of the whole vector on every rank on every call, the copy this form
  /// exists to avoid; call reduce() to keep it).
  /// Repeated calls with values of the same size allocate nothing on any rank when T is
  /// trivially copyable, or a std::vector, std::basic_string or std::array of arithmetic
  /// elements under a built-in operator (other types may allocate to decode what they receive).
  /// Throws std::invalid_argument for a bad root, protocol_error as reduce().
  template <class T, class Op>
  void reduce_in_place(T& values, Op op, int root = 0) {
    auto ctx = begin<T>(detail::operation::reduce, root);
    if constexpr (algorithms::splits_into_elements_v<T, Op>) {
      using element = typename T::value_type;
      if (size() > 1 && std::size(values) * sizeof(element) >= thresholds_.reduce_long_bytes) {
        ctx.expect_algorithm(algorithms::algorithm_id::rabenseifner);
        algorithms::element_buffer<element, Op> buffer(std::data(values), std::size(values), op);
        algorithms::reduce_rabenseifner(ctx, buffer, root, reusable_.offsets);
        return;
      }
    }
    ctx.expect_algorithm(algorithms::algorithm_id::binomial);
    auto combine = in_place(ctx, op, [&](T& acc, const T& later, int from) {
      const std::string problem = detail::combine_into(op, acc, later);
      if (!problem.empty()) ctx.fail(from, problem);
    });
    algorithms::reduce_binomial_in_place(ctx, root, values, combine, detail::is_commutative_v<Op>);
  }

  /// Collective: the root gets size() values, element r from rank r; the other ranks get an empty
  /// vector. Values may differ in size between ranks (strings, maps). Binomial tree:
  /// ceil(log2 p) rounds, the root receives (p - 1) values.
  template <class T>
  std::vector<T> gather(const T& value, int root = 0) {
    std::vector<T> result;
    gather(value, result, root);
    return result;
  }

  /// Collective, gather() into the caller's vector (interoperates with gather(): the same
  /// algorithm, messages and errors). The root's `out` is resized to size() and element r
  /// becomes rank r's value, reusing the storage of `out` and of its elements (a vector element
  /// keeps its capacity); the other ranks' `out` is left untouched. `value` must not be an
  /// element of `out`. Repeated calls with values of the same size allocate nothing when T is
  /// trivially copyable or a vector or string of trivially copyable elements.
  /// Throws std::invalid_argument for a bad root, protocol_error if a value does not decode as a T.
  template <class T>
  void gather(const T& value, std::vector<T>& out, int root = 0) {
    auto ctx = begin<T>(detail::operation::gather, root);
    const auto bytes = detail::encode_value(value);
    auto& block = reusable_.block;
    algorithms::gather_binomial(ctx, root, bytes.data(), bytes.size(), block);
    if (rank_ != root) return;
    auto& segments = reusable_.segments;
    if (!detail::split_segments(block.data(), block.size(), members_.size(), segments))
      ctx.fail(root, "assembled a gather block that is not " + std::to_string(size()) + " values");
    out.resize(members_.size());
    for (std::size_t i = 0; i < segments.size(); ++i) {
      const int from = (root + static_cast<int>(i)) % size();
      const std::string problem = detail::decode_value(segments[i].data, segments[i].size,
                                                       out[static_cast<std::size_t>(from)]);
      if (!problem.empty()) ctx.fail(from, "contributed " + problem);
    }
  }

  /// Collective: the root passes size() values (else std::invalid_argument at the root, before
  /// anything is sent); every rank r gets values[r]. Other ranks' `values` are ignored (pass {}).
  /// Binomial tree: ceil(log2 p) rounds, the root sends p - 1 values in ceil(log2 p) messages.
  template <class T>
  T scatter(const std::vector<T>& values, int root = 0) {
    check_rank("scatter", "root", root);
    if (rank_ == root && values.size() != members_.size())
      throw std::invalid_argument("scatter: root " + std::to_string(root) + " passed " +
                                  std::to_string(values.size()) + " values to communicator '" +
                                  name_ + "' of size " + std::to_string(size()) +
                                  " (pass exactly one value per rank)");
    auto ctx = begin<T>(detail::operation::scatter, root);
    auto& block = reusable_.block;
    block.clear();
    if (rank_ == root)
      for (int i = 0; i < size(); ++i) {
        const auto bytes =
            detail::encode_value(values[static_cast<std::size_t>((root + i) % size())]);
        detail::append_segment(block, bytes.data(), bytes.size());
      }
    T result{};
    algorithms::scatter_binomial(
        ctx, root, block.data(), block.size(),
        [&](const std::byte* data, std::size_t size) {
          const std::string problem = detail::decode_value(data, size, result);
          if (!problem.empty()) ctx.fail(root, "sent " + problem);
        },
        reusable_.segments);
    return result;
  }

  /// Collective: returns on any rank only after every rank has called it. Dissemination:
  /// ceil(log2 p) rounds of one empty message per rank.
  void barrier() {
    auto ctx = begin<void>(detail::operation::barrier, -1);
    algorithms::barrier_dissemination(ctx);
  }

  /// Collective: every rank gets the combination of all ranks' values with `op`, in rank order
  /// (x0 op x1 op ... op x(p-1)), the same on every rank. `op` is as for reduce: a built-in
  /// operator (element-wise on vectors, strings and arrays of arithmetic elements; every rank
  /// must pass the same number of elements, else protocol_error) or any associative callable
  /// T(const T&, const T&), which need not be commutative.
  /// Recursive doubling: log2 p' rounds for p' = the largest power of two <= p, +2 when p is not
  /// one (to fold the extra ranks in and hand them the result); every rank sends m bytes per
  /// round. Vectors of arithmetic elements of at least SYMPHONY_ALLREDUCE_LONG_BYTES with a
  /// built-in operator use Rabenseifner's reduce-scatter + allgather when p is a power of two
  /// (2 log2 p rounds, about 2m bytes sent per rank), and otherwise a ring (2(p - 1) rounds,
  /// 2m(p - 1)/p bytes per rank) while its blocks m / p are at least
  /// SYMPHONY_ALLREDUCE_RING_MIN_BLOCK_BYTES, else Rabenseifner with the extra ranks folded in.
  /// Allocates the result (a copy of `value`, reduced in place); allreduce_in_place() allocates
  /// nothing.
  template <class T, class Op>
  T allreduce(const T& value, Op op) {
    T result = value;
    allreduce_in_place(result, op);
    return result;
  }

  /// Collective, allreduce() into the caller's own object, like MPI_Allreduce with MPI_IN_PLACE:
  /// every rank's `values` becomes values[0] op values[1] op ... op values[p-1], the same on every
  /// rank. Interoperates with allreduce() (the same algorithms, messages and errors): a rank may
  /// call one form and its peer the other. Repeated calls with values of the same size allocate
  /// nothing when T is trivially copyable, or a std::vector, std::basic_string or std::array of
  /// arithmetic elements under a built-in operator (other types may allocate to decode what they
  /// receive). Throws protocol_error as allreduce().
  template <class T, class Op>
  void allreduce_in_place(T& values, Op op) {
    auto ctx = begin<T>(detail::operation::allreduce, -1);
    if constexpr (algorithms::splits_into_elements_v<T, Op>) {
      using element = typename T::value_type;
      if (size() > 1 && std::size(values) * sizeof(element) >= thresholds_.allreduce_long_bytes) {
        algorithms::element_buffer<element, Op> buffer(std::data(values), std::size(values), op);
        const std::size_t bytes = std::size(values) * sizeof(element);
        if (algorithms::is_power_of_two(size()) ||
            !thresholds_.allreduce_takes_ring(bytes, size())) {
          ctx.expect_algorithm(algorithms::algorithm_id::rabenseifner);
          algorithms::allreduce_rabenseifner(ctx, buffer, reusable_.offsets);
        } else {
          ctx.expect_algorithm(algorithms::algorithm_id::ring);
          algorithms::allreduce_ring(ctx, buffer, reusable_.offsets);
        }
        return;
      }
    }
    ctx.expect_algorithm(algorithms::algorithm_id::recursive_doubling);
    // Moved through the algorithm and back: a vector keeps its storage.
    values =
        algorithms::allreduce_recursive_doubling(ctx, std::move(values), ordered_combine(ctx, op));
  }

  /// Collective: every rank gets size() values, element r from rank r. Values may differ in size
  /// between ranks (strings, maps). Throws protocol_error if a value does not decode as a T.
  /// Bruck: ceil(log2 p) rounds, every rank sends and receives (p - 1) m bytes. Values for which
  /// size() times their encoded size is at least SYMPHONY_ALLGATHER_LONG_BYTES go around a ring
  /// instead (p - 1 rounds, the same bytes, forwarded without copies), after a Bruck round of
  /// placeholders that tells every rank which values will come that way (skipped when T is
  /// trivially copyable, whose size every rank knows).
  template <class T>
  std::vector<T> allgather(const T& value) {
    std::vector<T> result;
    allgather(value, result);
    return result;
  }

  /// Collective, allgather() into the caller's vector (interoperates with allgather(): the same
  /// algorithms, messages and errors). Every rank's `out` is resized to size() and element r
  /// becomes rank r's value, reusing the storage of `out` and of its elements (a vector element
  /// keeps its capacity). `value` must not be an element of `out`. Repeated calls with values of
  /// the same size allocate nothing when T is trivially copyable or a vector or string of
  /// trivially copyable elements. Throws protocol_error if a value does not decode as a T.
  template <class T>
  void allgather(const T& value, std::vector<T>& out) {
    auto ctx = begin<T>(detail::operation::allgather, -1);
    out.resize(members_.size());
    const auto bytes = detail::encode_value(value);
    const auto decode = [&](int from, const std::byte* data, std::size_t n) {
      const std::string problem =
          detail::decode_value(data, n, out[static_cast<std::size_t>(from)]);
      if (!problem.empty()) ctx.fail(from, "contributed " + problem);
    };
    allgather_bytes(ctx, bytes, std::is_trivially_copyable_v<T>, decode,
                    [&](int from, message&& m) { decode(from, m.data(), m.size()); });
    out[static_cast<std::size_t>(rank_)] = value;
  }

  /// Collective: every rank passes size() values, values[i] for rank i (else
  /// std::invalid_argument on the calling rank, before anything is sent), and gets size()
  /// values back: element i is what rank i passed for this rank. Values may differ in size.
  /// Pairwise exchange: one round of p - 1 concurrent messages per rank, each rank sending and
  /// receiving (p - 1) values, the minimum.
  template <class T>
  std::vector<T> alltoall(const std::vector<T>& values) {
    require_member("alltoall");
    if (values.size() != members_.size())
      throw std::invalid_argument("alltoall: rank " + std::to_string(rank_) + " passed " +
                                  std::to_string(values.size()) + " values to communicator '" +
                                  name_ + "' of size " + std::to_string(size()) +
                                  " (pass exactly one value per rank)");
    auto ctx = begin<T>(detail::operation::alltoall, -1);
    ctx.expect_algorithm(algorithms::algorithm_id::pairwise);
    std::vector<T> result(members_.size());
    result[static_cast<std::size_t>(rank_)] = values[static_cast<std::size_t>(rank_)];
    algorithms::alltoall_pairwise(
        ctx,
        [&](int peer, auto&& send) {
          const auto bytes = detail::encode_value(values[static_cast<std::size_t>(peer)]);
          send(bytes.data(), bytes.size());
        },
        [&](int peer, const message& m) {
          algorithms::decode_from(ctx, m, peer, result[static_cast<std::size_t>(peer)]);
        });
    return result;
  }

  /// Collective, as MPI_Reduce_scatter_block: every rank passes size() * k elements (the same k
  /// on every rank; a length that is not a multiple of size() is std::invalid_argument on the
  /// calling rank, different lengths on different ranks a protocol_error). Block i is elements
  /// [i k, (i + 1) k). Rank i gets block i reduced element by element over all ranks with `op`: a
  /// built-in operator (arithmetic E) or a callable E(const E&, const E&), applied in rank order
  /// (it need not be commutative). E may be any type cereal serializes.
  /// Recursive halving: log2 p' rounds for p' = the largest power of two <= p (+2 when p is not
  /// one), every rank sends about m (p' - 1)/p' bytes of its m-byte vector, m more in the pairs
  /// folded for other p. Commutative operators (the built-in ones, ops::commutative(f)) with
  /// k * size() * sizeof(E) >= SYMPHONY_REDUCE_SCATTER_LONG_BYTES use a ring: p - 1 rounds,
  /// m (p - 1)/p bytes per rank for any p.
  template <class E, class Op>
  std::vector<E> reduce_scatter(const std::vector<E>& values, Op op) {
    require_member("reduce_scatter");
    const auto p = members_.size();
    if (values.size() % p != 0)
      throw std::invalid_argument("reduce_scatter: rank " + std::to_string(rank_) + " passed " +
                                  std::to_string(values.size()) +
                                  " elements, not a multiple of the size " + std::to_string(p) +
                                  " of communicator '" + name_ +
                                  "' (pass size() blocks of the same length)");
    auto ctx = begin<E>(detail::operation::reduce_scatter, -1);
    const std::size_t k = values.size() / p;
    const auto me = static_cast<std::size_t>(rank_);
    if (p == 1) return values;
    auto& work = reusable_.template kept<std::vector<E>>();  // kept: same-size calls reuse it
    auto& offsets = reusable_.offsets;
    if (detail::is_commutative_v<Op> &&
        values.size() * sizeof(E) >= thresholds_.reduce_scatter_long_bytes) {
      ctx.expect_algorithm(algorithms::algorithm_id::ring);
      work.assign(values.begin(), values.end());
      algorithms::element_buffer<E, Op> buffer(work.data(), work.size(), op);
      offsets.resize(p + 1);
      for (std::size_t i = 0; i <= p; ++i)
        offsets[i] = i * k;
      algorithms::reduce_scatter_ring(ctx, buffer, offsets, algorithms::algorithm_id::ring, 0);
      return std::vector<E>(
          std::make_move_iterator(work.begin() + static_cast<std::ptrdiff_t>(me * k)),
          std::make_move_iterator(work.begin() + static_cast<std::ptrdiff_t>((me + 1) * k)));
    }

    // Recursive halving leaves virtual rank v with slot reverse_bits(v): lay the blocks out so
    // that slot holds the blocks of the ranks v stands for.
    constexpr auto id = algorithms::algorithm_id::recursive_halving;
    ctx.expect_algorithm(id);
    const algorithms::folding fold(size());
    const int slots = fold.virtual_size();
    const int bits = algorithms::ceil_log2(slots);
    work.clear();
    work.reserve(values.size());
    offsets.assign(1, 0);
    for (int s = 0; s < slots; ++s) {
      const int v = algorithms::reverse_bits(s, bits);
      const auto first = static_cast<std::size_t>(fold.first_rank(v));
      const auto last = static_cast<std::size_t>(fold.real_rank(v));
      work.insert(work.end(), values.begin() + static_cast<std::ptrdiff_t>(first * k),
                  values.begin() + static_cast<std::ptrdiff_t>((last + 1) * k));
      offsets.push_back(work.size());
    }
    algorithms::element_buffer<E, Op> buffer(work.data(), work.size(), op);
    const auto held = algorithms::reduce_scatter_halving(ctx, buffer, offsets, id);
    std::vector<E> result(k);
    const auto block_step = algorithms::make_step(id, 2, 0);
    if (held.virtual_rank < 0) {  // sat out: the partner sends this rank's block
      const auto m = ctx.receive(rank_ + 1, block_step);
      algorithms::element_buffer<E, Op> mine(result.data(), k, op);
      const std::string problem = mine.assign(0, k, m.data(), m.size());
      if (!problem.empty()) ctx.fail(rank_ + 1, problem);
      return result;
    }
    auto first = offsets[static_cast<std::size_t>(held.slot)];
    if (fold.first_rank(held.virtual_rank) != rank_) {  // also holds the partner's block, first
      const auto bytes = buffer.pack(first, k);
      ctx.send(rank_ - 1, block_step, bytes.data(), bytes.size());
      first += k;
    }
    std::move(work.begin() + static_cast<std::ptrdiff_t>(first),
              work.begin() + static_cast<std::ptrdiff_t>(first + k), result.begin());
    return result;
  }

  /// Collective: rank r gets x0 op x1 op ... op xr (inclusive prefix), with `op` as for
  /// allreduce (applied in rank order; need not be commutative).
  /// Recursive doubling of the distance: ceil(log2 p) rounds, every rank sends at most one value
  /// and computes at most one combination per round.
  template <class T, class Op>
  T scan(const T& value, Op op) {
    auto ctx = begin<T>(detail::operation::scan, -1);
    ctx.expect_algorithm(algorithms::algorithm_id::prefix_doubling);
    T result(value);
    algorithms::scan_prefix_doubling(ctx, result, ordered_combine(ctx, op), false,
                                     reusable_.template kept<algorithms::prefix_scratch<T>>());
    return result;
  }

  /// Collective: rank r > 0 gets x0 op ... op x(r-1) (exclusive prefix); rank 0, before which
  /// there is nothing, gets a value-initialized T (MPI leaves it undefined). `op` as for scan.
  /// The same rounds as scan; ranks combine at most two values per round.
  template <class T, class Op>
  T exscan(const T& value, Op op) {
    auto ctx = begin<T>(detail::operation::exscan, -1);
    ctx.expect_algorithm(algorithms::algorithm_id::prefix_doubling);
    auto& scratch = reusable_.template kept<algorithms::prefix_scratch<T>>();
    scratch.current = value;  // the working partial, in kept storage
    if (!algorithms::scan_prefix_doubling(ctx, scratch.current, ordered_combine(ctx, op), true,
                                          scratch))
      return T{};
    return std::move(scratch.before);  // the result; the next call refills before
  }

  /// Collective: every rank passes a vector of its own length; the root gets the concatenation in
  /// rank order (rank 0's elements first), the other ranks an empty vector. E is any element type
  /// (raw bytes when trivially copyable, else cereal). Binomial tree as gather: ceil(log2 p)
  /// rounds, the root receives every other rank's elements once.
  template <class E>
  std::vector<E> gatherv(const std::vector<E>& values, int root = 0) {
    std::vector<std::size_t> counts;
    return gatherv(values, counts, root);
  }

  /// The same; the root's `counts` becomes the number of elements each rank passed (counts[r] from
  /// rank r: rank r's elements start at counts[0] + ... + counts[r-1]); other ranks' is emptied.
  template <class E>
  std::vector<E> gatherv(const std::vector<E>& values, std::vector<std::size_t>& counts,
                         int root = 0) {
    auto ctx = begin<E>(detail::operation::gatherv, root);
    ctx.expect_algorithm(algorithms::algorithm_id::binomial);
    counts.clear();
    const auto bytes = detail::encode_value(values);
    auto& block = reusable_.block;
    algorithms::gather_binomial(ctx, root, bytes.data(), bytes.size(), block);
    if (rank_ != root) return {};
    auto& segments = reusable_.segments;
    if (!detail::split_segments(block.data(), block.size(), members_.size(), segments))
      ctx.fail(root,
               "assembled a gatherv block that is not " + std::to_string(size()) + " vectors");
    auto& views = reusable_.views;
    views.assign(members_.size(), {nullptr, 0});
    for (std::size_t i = 0; i < segments.size(); ++i)
      views[(static_cast<std::size_t>(root) + i) % members_.size()] = {segments[i].data,
                                                                       segments[i].size};
    return concatenate<E>(ctx, views, counts);
  }

  /// Collective: the root passes the concatenation of every rank's elements in rank order and
  /// `counts`, the number of elements for each rank (size() entries summing to values.size(), else
  /// std::invalid_argument at the root before anything is sent); rank r gets its counts[r]
  /// elements. Other ranks' `values` and `counts` are ignored (pass {}). Binomial tree as scatter:
  /// ceil(log2 p) rounds, the root sends every other rank's elements once.
  template <class E>
  std::vector<E> scatterv(const std::vector<E>& values, const std::vector<std::size_t>& counts,
                          int root = 0) {
    check_rank("scatterv", "root", root);
    if (rank_ == root) {
      if (counts.size() != members_.size())
        throw std::invalid_argument("scatterv: root " + std::to_string(root) + " passed " +
                                    std::to_string(counts.size()) + " counts to communicator '" +
                                    name_ + "' of size " + std::to_string(size()) +
                                    " (pass one count per rank)");
      const auto total = std::accumulate(counts.begin(), counts.end(), std::size_t{0});
      if (total != values.size())
        throw std::invalid_argument("scatterv: root " + std::to_string(root) +
                                    "'s counts add up to " + std::to_string(total) +
                                    " but it passed " + std::to_string(values.size()) +
                                    " elements");
    }
    auto ctx = begin<E>(detail::operation::scatterv, root);
    ctx.expect_algorithm(algorithms::algorithm_id::binomial);
    auto& block = reusable_.block;
    block.clear();
    if (rank_ == root) {
      auto& starts = reusable_.offsets;
      starts.assign(members_.size() + 1, 0);
      for (std::size_t r = 0; r < members_.size(); ++r)
        starts[r + 1] = starts[r] + counts[r];
      for (int i = 0; i < size(); ++i) {
        const auto r = static_cast<std::size_t>((root + i) % size());
        const auto bytes = algorithms::encode_elements(values.data() + starts[r], counts[r]);
        detail::append_segment(block, bytes.data(), bytes.size());
      }
    }
    std::vector<E> result;
    algorithms::scatter_binomial(
        ctx, root, block.data(), block.size(),
        [&](const std::byte* data, std::size_t n) {
          const std::string problem = detail::decode_value(data, n, result);
          if (!problem.empty()) ctx.fail(root, "sent " + problem);
        },
        reusable_.segments);
    return result;
  }

  /// Collective: every rank passes a vector of its own length and gets the concatenation of all
  /// of them in rank order. E as for gatherv. Algorithms as allgather (Bruck, ring for the long
  /// vectors): ceil(log2 p) rounds for short vectors, every rank receives every other's elements
  /// once.
  template <class E>
  std::vector<E> allgatherv(const std::vector<E>& values) {
    std::vector<std::size_t> counts;
    return allgatherv(values, counts);
  }

  /// The same; `counts` becomes the number of elements each rank passed, on every rank.
  template <class E>
  std::vector<E> allgatherv(const std::vector<E>& values, std::vector<std::size_t>& counts) {
    auto ctx = begin<E>(detail::operation::allgatherv, -1);
    const auto bytes = detail::encode_value(values);
    const auto p = members_.size();
    auto& views = reusable_.views;
    views.assign(p, {nullptr, 0});
    auto& kept = reusable_.kept_messages;  // long values, in place before taking views
    kept.clear();
    kept.resize(p);
    allgather_bytes(  // short values' views point into reusable_.block, valid until the next call
        ctx, bytes, false,
        [&](int from, const std::byte* data, std::size_t n) {
          views[static_cast<std::size_t>(from)] = {data, n};
        },
        [&](int from, message&& m) { kept[static_cast<std::size_t>(from)].emplace(std::move(m)); });
    for (std::size_t r = 0; r < p; ++r)
      if (kept[r]) views[r] = {kept[r]->data(), kept[r]->size()};
    views[static_cast<std::size_t>(rank_)] = {bytes.data(), bytes.size()};
    auto result = concatenate<E>(ctx, views, counts);
    kept.clear();  // hand the messages back to the transport now, not at the next call
    return result;
  }

  /// The thresholds at which this communicator's collectives switch to their long-message
  /// algorithms (read from the environment when the communicator was made; see
  /// algorithms/tuning.hpp).
  const algorithm_thresholds& thresholds() const { return thresholds_; }

  /// Replaces the thresholds. Not collective, but every rank must set the same ones before its
  /// next collective: ranks that choose different algorithms for one call get a protocol_error.
  /// Communicators made from this one afterwards inherit them.
  void set_thresholds(const algorithm_thresholds& t) { thresholds_ = t; }

 private:
  using message = typename Transport::message;

  // What the algorithms see of one collective call (see algorithms/context.hpp).
  class operation_context {
   public:
    operation_context(basic_communicator& comm, detail::operation kind, std::uint64_t sequence,
                      int root, detail::value_type type)
        : comm_(comm), kind_(kind), sequence_(sequence), root_(root), type_(type) {}

    int rank() const { return comm_.rank_; }
    int size() const { return comm_.size(); }

    void send(int to, std::uint32_t step, const std::byte* data, std::size_t size) {
      detail::header h = comm_.make_header(kind_, sequence_, root_);
      h.step = step;
      h.type = type_;
      comm_.post(to, h, data, size, [&] { return describe(); });
    }

    void forward(int to, std::uint32_t step, const message& received) {
      detail::header h = comm_.make_header(kind_, sequence_, root_);
      h.step = step;
      h.type = type_;
      h.payload_size = received.size();
      if (!comm_.mailbox_->transport().forward(static_cast<int>(comm_.world_rank(to)), h, received,
                                               detail::deadline_after(comm_.timeout_)))
        comm_.fail_queue_full(describe(), to);
    }

    message receive(int from, std::uint32_t step) {
      const auto source = comm_.world_rank(from);
      const detail::match_key key{comm_.id_, false, sequence_, step, source};
      const auto check = [&](const detail::header& h) {
        if (h.step == detail::probe_step) {
          check_probe(h);
          return;
        }
        check_same_call(h);
        if (h.source == source && h.communicator == comm_.id_ && h.sequence > sequence_ &&
            h.kind != detail::operation::point_to_point)
          fail_moved_on(h, from);
      };
      if (!checked_early_) {  // a mismatched message may have arrived before this call began
        comm_.mailbox_->for_each_early(comm_.id_, sequence_, check);
        comm_.mailbox_->for_each_stale(comm_.id_, sequence_, check);
        checked_early_ = true;
      }
      if (!comm_.mailbox_->has(key))
        if (const auto* later = comm_.mailbox_->latest_from(comm_.id_, source);
            later != nullptr && later->sequence > sequence_)
          fail_moved_on(*later, from);
      message m = comm_.wait_for(
          key, from, [&] { return describe(); }, check, [&] { send_probe(from); });
      check_same_call(m.header());
      return m;
    }

    // Tells `to`, which this rank has waited for a while, what this rank is waiting in (a probe:
    // see detail::probe_step). Best effort: a full queue means the peer is busy, not mismatched.
    void send_probe(int to) {
      detail::header h = comm_.make_header(kind_, sequence_, root_);
      h.step = detail::probe_step;
      h.type = type_;
      (void)comm_.mailbox_->transport().send(static_cast<int>(comm_.world_rank(to)), h, nullptr, 0,
                                             detail::clock::now());
    }

    // A peer's probe: it waits in its call `h.sequence` for this rank. One for this call that
    // disagrees (operation, root, value type) is a mismatch; this rank answers with its own probe
    // before it throws, so that the peer, which may be waiting for this rank alone, learns it too.
    // One for a call this rank has finished is no evidence (this rank's message may still be on
    // its way to the peer), nor is one for a later call (this rank will get there).
    void check_probe(const detail::header& h) {
      if (h.communicator != comm_.id_ || h.sequence != sequence_) return;
      if (h.kind == kind_ && h.tag == root_ && !(h.type != type_)) return;
      try {
        check_same_call(h);
      } catch (const protocol_error&) {
        send_probe(comm_.local_rank(h.source));
        throw;
      }
    }

    /// Every message of this call must belong to `id` (the top bits of its step): a message of
    /// another algorithm means the ranks chose differently (different thresholds or sizes).
    void expect_algorithm(algorithms::algorithm_id id) { algorithm_ = static_cast<int>(id); }

    // Every message of this call (same communicator and sequence number) must come from a rank
    // in the same operation with the same root and algorithm; anything else means the ranks
    // disagree.
    void check_same_call(const detail::header& h) {
      if (h.kind == detail::operation::point_to_point || h.communicator != comm_.id_) return;
      if (h.sequence < sequence_) fail_finished(h);
      if (h.sequence != sequence_) return;
      const int from = comm_.local_rank(h.source);
      if (h.kind != kind_)
        comm_.fail_protocol("rank " + std::to_string(comm_.rank_) + " is in " + describe() +
                            " but rank " + std::to_string(from) + " sent a " +
                            detail::operation_name(h.kind) +
                            " message for the same call: every rank must call the same "
                            "collectives in the same order");
      if (h.tag != root_)
        comm_.fail_protocol("rank " + std::to_string(comm_.rank_) + " is in " + describe() +
                            " but rank " + std::to_string(from) + " called it with root " +
                            std::to_string(h.tag) + ": every rank must pass the same root");
      if (h.type != type_)
        comm_.fail_protocol("rank " + std::to_string(comm_.rank_) + " is in " + describe() +
                            " with values of type " + detail::describe(type_) + " but rank " +
                            std::to_string(from) + " called it with " + detail::describe(h.type) +
                            ": every rank must pass values of the same type");
      const auto algorithm = algorithms::algorithm_of_step(h.step);
      if (algorithm_ >= 0 && h.step != detail::probe_step &&
          algorithm != static_cast<std::uint32_t>(algorithm_))
        comm_.fail_protocol(
            "rank " + std::to_string(comm_.rank_) + " is in " + describe() + " using the " +
            algorithms::algorithm_name(static_cast<std::uint32_t>(algorithm_)) +
            " algorithm but rank " + std::to_string(from) + " sent a message of the " +
            algorithms::algorithm_name(algorithm) +
            " algorithm: every rank must pass values of the same size and use the same "
            "thresholds (SYMPHONY_*_LONG_BYTES, set_thresholds)");
    }

    // A message of a call this rank has finished: in a correct program every message of a call is
    // received within it, so the sender called something else then (another collective, another
    // root: calls where this rank had nothing to receive from it, say two roots of a broadcast).
    [[noreturn]] void fail_finished(const detail::header& h) const {
      const auto& past = comm_.recent_[h.sequence % comm_.recent_.size()];
      std::string mine = "a call it has finished";
      if (past.sequence == h.sequence)
        mine = describe_call(past.kind, past.root, past.type) + " there";
      std::string theirs = describe_call(h.kind, h.tag, h.type);
      comm_.fail_protocol("rank " + std::to_string(comm_.local_rank(h.source)) +
                          " sent a message of call #" + std::to_string(h.sequence) +
                          " on communicator '" + comm_.name_ + "' as a " + theirs + ", but rank " +
                          std::to_string(comm_.rank_) + " called " + mine +
                          ": every rank must call the same collectives in the same order, with "
                          "the same root and value type (found in " +
                          describe() + ")");
    }

    // `from` sent a message of a later call while this rank waits for its message of this call:
    // messages from one rank arrive in order, so it finished this call without sending what this
    // rank's call expects (it called another collective or root, where it had nothing to send).
    [[noreturn]] void fail_moved_on(const detail::header& h, int from) const {
      comm_.fail_protocol("rank " + std::to_string(comm_.rank_) + " is in " + describe() +
                          " and waits for a message from rank " + std::to_string(from) +
                          ", which has already gone on to call #" + std::to_string(h.sequence) +
                          " (a " + describe_call(h.kind, h.tag, h.type) +
                          "): it called something else as call #" + std::to_string(sequence_) +
                          " (every rank must call the same collectives in the same order, with "
                          "the same root)");
    }

    static std::string describe_call(detail::operation kind, int root, detail::value_type type) {
      std::string text = detail::operation_name(kind);
      if (is_rooted(kind)) text += " (root " + std::to_string(root) + ")";
      if (type.kind != detail::type_kind::none) text += " of " + detail::describe(type);
      return text;
    }

    [[noreturn]] void fail(int from, const std::string& what) {
      comm_.fail_protocol(describe() + ": rank " + std::to_string(from) + " " + what);
    }

    std::string describe() const {
      std::string text = detail::operation_name(kind_);
      if (root_ >= 0) text += " (root " + std::to_string(root_) + ")";
      return text + " [call #" + std::to_string(sequence_) + " on communicator '" + comm_.name_ +
             "']";
    }

   private:
    basic_communicator& comm_;
    detail::operation kind_;
    std::uint64_t sequence_;
    int root_;
    detail::value_type type_;
    int algorithm_ = -1;  // the algorithm id every message must carry; -1: not known yet
    bool checked_early_ = false;
  };

  // The first byte of a broadcast's first message, for value types whose size only the root
  // knows: the payload follows (binomial tree), or its 8-byte size (scatter + allgather follows).
  static constexpr unsigned char broadcast_carries_payload = 0;
  static constexpr unsigned char broadcast_announces_size = 1;

  // A long broadcast (every rank knows `size`): scatter + allgather, or from
  // SYMPHONY_BCAST_PIPELINE_BYTES on a pipelined chain.
  void broadcast_long(operation_context& ctx, int root, const std::byte* data, std::size_t size,
                      std::byte* out) {
    if (size >= thresholds_.broadcast_pipeline_bytes) {
      ctx.expect_algorithm(algorithms::algorithm_id::pipeline);
      algorithms::broadcast_pipeline(ctx, root, data, size, out);
    } else {
      ctx.expect_algorithm(algorithms::algorithm_id::scatter_allgather);
      algorithms::broadcast_scatter_allgather(ctx, root, data, size, out);
    }
  }

  // combine(acc, later, from) for the algorithms that combine in rank order (recursive doubling,
  // scans): acc is the lower ranks' value, so it came from `from` when from < rank. Element-wise
  // operators on sequences of different lengths fail naming the rank and both lengths.
  template <class Op>
  auto ordered_combine(operation_context& ctx, const Op& op) {
    return in_place(ctx, op, [&ctx, &op, me = rank_](auto& acc, const auto& later, int from) {
      using T = std::decay_t<decltype(acc)>;
      if constexpr (detail::is_builtin_operator_v<Op> && detail::element_sequence<T>::value) {
        if (acc.size() != later.size()) {
          const auto theirs = from < me ? acc.size() : later.size();
          const auto mine = from < me ? later.size() : acc.size();
          ctx.fail(from, "contributed " + std::to_string(theirs) +
                             " elements to an element-wise reduction where this rank has " +
                             std::to_string(mine) +
                             " (every rank must pass the same number of elements)");
        }
      }
      const std::string problem = detail::combine_into(op, acc, later);
      if (!problem.empty()) ctx.fail(from, problem);
    });
  }

  // A combine for the whole-value algorithms (reduce_binomial, recursive doubling) that, for
  // vectors of arithmetic elements under a built-in operator, also combines a received payload
  // straight into the accumulator (algorithms::combines_payload_v): no decoded copy, no
  // allocation. Anything else goes through `whole(acc, later, from)`.
  template <class Op, class Whole>
  struct payload_combiner {
    operation_context& ctx;
    const Op& op;
    Whole whole;

    template <class A, class B>
    void operator()(A& acc, const B& later, int from) {
      whole(acc, later, from);
    }

    template <class T, std::enable_if_t<algorithms::splits_into_elements_v<T, Op>, int> = 0>
    void operator()(T& acc, const std::byte* data, std::size_t size, bool incoming_first,
                    int from) {
      using element = typename T::value_type;
      const std::size_t mine = std::size(acc);
      if (size != mine * sizeof(element)) {
        if (size % sizeof(element) != 0)
          ctx.fail(from, "contributed " + std::to_string(size) + " bytes, not a whole number of " +
                             std::to_string(sizeof(element)) +
                             "-byte elements (do all ranks use the same type?)");
        ctx.fail(from, "contributed " + std::to_string(size / sizeof(element)) +
                           " elements to an element-wise reduction where this rank has " +
                           std::to_string(mine) +
                           " (every rank must pass the same number of elements)");
      }
      algorithms::element_buffer<element, Op> buffer(std::data(acc), mine, op);
      (void)buffer.combine(0, mine, data, size, incoming_first);  // the size is checked above
    }
  };

  template <class Op, class Whole>
  static payload_combiner<Op, Whole> in_place(operation_context& ctx, const Op& op, Whole whole) {
    return {ctx, op, std::move(whole)};
  }

  // Allgather of encoded values (allgather, allgatherv). A rank whose value is long (size() times
  // its size reaches the allgather threshold) sends it around a ring; the others' values travel
  // in a Bruck allgather, together with a one-byte placeholder for each long value so that every
  // rank learns which values the ring will bring. `fixed_size`: every rank's value has the same
  // size (trivially copyable T), so all ranks agree without placeholders and a long value goes
  // straight to the ring. Calls on_value(rank, data, size) for the short values of other ranks
  // (pointing into reusable_.block) and on_message(rank, message&&) for the long ones. Its
  // bookkeeping lives in reusable_: repeated same-size calls allocate nothing here.
  template <class OnValue, class OnMessage>
  void allgather_bytes(operation_context& ctx, const detail::encoded_value& own, bool fixed_size,
                       OnValue&& on_value, OnMessage&& on_message) {
    const int p = size();
    if (p == 1) {
      ctx.expect_algorithm(algorithms::algorithm_id::bruck);
      return;
    }
    const auto threshold = thresholds_.allgather_long_bytes;
    const auto pu = static_cast<std::size_t>(p);
    // own.size() * p >= threshold, without overflow
    const bool own_long = own.size() >= threshold / pu + (threshold % pu != 0 ? 1 : 0);
    if (fixed_size && own_long) {
      ctx.expect_algorithm(algorithms::algorithm_id::ring);
      reusable_.travels.assign(pu, true);
      algorithms::allgather_ring(ctx, own.data(), own.size(), reusable_.travels,
                                 algorithms::algorithm_id::ring, 0,
                                 [&](int from, message&& m) { on_message(from, std::move(m)); });
      return;
    }
    constexpr auto id = algorithms::algorithm_id::bruck;
    ctx.expect_algorithm(id);
    auto& block = reusable_.block;
    block.clear();
    const std::size_t entry = 1 + (own_long ? 0 : own.size());
    block.reserve(detail::segment_prefix + entry);
    for (int i = 0; i < 8; ++i)
      block.push_back(
          static_cast<std::byte>((static_cast<std::uint64_t>(entry) >> (8 * i)) & 0xff));
    block.push_back(std::byte{static_cast<unsigned char>(own_long ? 1 : 0)});
    if (!own_long) block.insert(block.end(), own.data(), own.data() + own.size());
    algorithms::allgather_bruck(ctx, block, reusable_.bruck, id, 0);

    auto& segments = reusable_.segments;
    if (!detail::split_segments(block.data(), block.size(), pu, segments))
      ctx.fail(rank_, "assembled an allgather block that is not " + std::to_string(p) + " values");
    auto& travels = reusable_.travels;
    travels.assign(pu, false);
    travels[static_cast<std::size_t>(rank_)] = own_long;
    bool any = own_long;
    for (std::size_t i = 1; i < pu; ++i) {
      const int from = (rank_ + static_cast<int>(i)) % p;
      const auto& s = segments[i];
      if (s.size >= 1 && s.data[0] == std::byte{0}) {
        on_value(from, s.data + 1, s.size - 1);
      } else if (s.size == 1 && s.data[0] == std::byte{1}) {
        travels[static_cast<std::size_t>(from)] = true;
        any = true;
      } else {
        ctx.fail(from,
                 "contributed a malformed allgather entry of " + std::to_string(s.size) + " bytes");
      }
    }
    if (any)
      algorithms::allgather_ring(ctx, own.data(), own.size(), travels, id, 1,
                                 [&](int from, message&& m) { on_message(from, std::move(m)); });
  }

  // The concatenation, in rank order, of every rank's encoded std::vector<E> (views[r]); counts
  // becomes the number of elements of each.
  template <class E>
  std::vector<E> concatenate(operation_context& ctx,
                             const std::vector<std::pair<const std::byte*, std::size_t>>& views,
                             std::vector<std::size_t>& counts) {
    const std::size_t p = views.size();
    counts.assign(p, 0);
    std::vector<E> result;
    if constexpr (std::is_trivially_copyable_v<E>) {
      std::size_t total = 0;
      for (std::size_t r = 0; r < p; ++r) {
        if (views[r].second % sizeof(E) != 0)
          ctx.fail(static_cast<int>(r), "contributed " + std::to_string(views[r].second) +
                                            " bytes, not a whole number of " +
                                            std::to_string(sizeof(E)) +
                                            "-byte elements (do all ranks use the same type?)");
        counts[r] = views[r].second / sizeof(E);
        total += counts[r];
      }
      result.resize(total);
      std::size_t at = 0;
      for (std::size_t r = 0; r < p; ++r) {
        if (views[r].second != 0)
          std::memcpy(static_cast<void*>(result.data() + at), views[r].first, views[r].second);
        at += counts[r];
      }
    } else {
      std::vector<E> piece;
      for (std::size_t r = 0; r < p; ++r) {
        const std::string problem = detail::decode_value(views[r].first, views[r].second, piece);
        if (!problem.empty()) ctx.fail(static_cast<int>(r), "contributed " + problem);
        counts[r] = piece.size();
        result.insert(result.end(), std::make_move_iterator(piece.begin()),
                      std::make_move_iterator(piece.end()));
      }
    }
    return result;
  }

  // A communicator this rank is not a member of.
  struct not_a_member {};
  explicit basic_communicator(not_a_member) : timeout_(default_timeout), rank_(-1) {}

  // A communicator over `ranks` (ranks of this one) sharing this one's mailbox.
  basic_communicator derive(const std::vector<int>& ranks, std::uint64_t id,
                            std::string name) const {
    basic_communicator c{not_a_member{}};
    c.mailbox_ = mailbox_;
    c.timeout_ = timeout_;
    c.id_ = id;
    c.name_ = std::move(name);
    c.thresholds_ = thresholds_;
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      c.members_.push_back(members_[static_cast<std::size_t>(ranks[i])]);
      if (ranks[i] == rank_) c.rank_ = static_cast<int>(i);
    }
    return c;
  }

  void init_world() {
    auto& transport = mailbox_->transport();
    rank_ = transport.rank();
    members_.resize(static_cast<std::size_t>(transport.size()));
    for (std::size_t i = 0; i < members_.size(); ++i)
      members_[i] = static_cast<int>(i);
    thresholds_ = algorithm_thresholds::from_environment();
  }

  // V: the element type of the call's values (void: none), which every message announces.
  template <class V>
  operation_context begin(detail::operation kind, int root) {
    require_member(detail::operation_name(kind));
    if (root != -1 || is_rooted(kind)) check_rank(detail::operation_name(kind), "root", root);
    const auto type = detail::value_type_of<V>();
    ++sequence_;
    recent_[sequence_ % recent_.size()] = {sequence_, kind, root, type};
    return operation_context(*this, kind, sequence_, root, type);
  }

  // This rank's recent calls, so that a message of a call it already finished can be reported
  // with what this rank called then.
  struct past_call {
    std::uint64_t sequence = 0;
    detail::operation kind = detail::operation::point_to_point;
    int root = -1;
    detail::value_type type;
  };

  static std::uint32_t stamp_of(const std::string& token, const std::vector<std::string>& list) {
    std::string identity = token;
    for (const auto& entry : list)
      identity += "\n" + entry;
    return detail::job_stamp(identity);
  }

  static bool is_rooted(detail::operation kind) {
    switch (kind) {
      case detail::operation::broadcast:
      case detail::operation::reduce:
      case detail::operation::gather:
      case detail::operation::scatter:
      case detail::operation::gatherv:
      case detail::operation::scatterv:
        return true;
      default:
        return false;
    }
  }

  detail::header make_header(detail::operation kind, std::uint64_t sequence, int tag) const {
    detail::header h;
    h.kind = kind;
    h.source = static_cast<std::uint32_t>(world_rank(rank_));
    h.tag = tag;
    h.communicator = id_;
    h.sequence = sequence;
    h.job = mailbox_->stamp();
    return h;
  }

  // The rank in this communicator of world rank `world` (-1 if not a member).
  int local_rank(std::uint32_t world) const {
    for (std::size_t i = 0; i < members_.size(); ++i)
      if (members_[i] == static_cast<int>(world)) return static_cast<int>(i);
    return -1;
  }

  std::uint32_t world_rank(int rank) const {
    return static_cast<std::uint32_t>(members_[static_cast<std::size_t>(rank)]);
  }

  template <class Describe>
  void post(int to, detail::header& h, const std::byte* data, std::size_t size,
            Describe&& describe) {
    h.payload_size = size;
    if (!mailbox_->transport().send(static_cast<int>(world_rank(to)), h, data, size,
                                    detail::deadline_after(timeout_)))
      fail_queue_full(describe(), to);
  }

  // A send that could not queue its message: the peer is lost, or its queue stayed full.
  [[noreturn]] void fail_queue_full(const std::string& what, int to) {
    if (peer_is_lost(to)) fail_peer_lost(what, to, "while this rank waited to send to it");
    fail_timeout(what, "its queue of unsent messages to rank " + std::to_string(to) +
                           " stayed full (is that rank reading?)");
  }

  // Transports whose clock is virtual (the simulator) say so with `virtual_time`.
  template <class T, class = void>
  struct has_virtual_time : std::false_type {};
  template <class T>
  struct has_virtual_time<T, std::void_t<decltype(T::virtual_time)>>
      : std::bool_constant<T::virtual_time> {};

  // How long a collective's receive waits before it probes its peer: 1 s, or a quarter of the
  // timeout when that is shorter, so that a mismatch is found well before the timeout.
  std::chrono::milliseconds probe_after() const {
    return std::max(std::chrono::milliseconds(10),
                    std::min(std::chrono::milliseconds(1000), timeout_ / 4));
  }

  // Transports that detect dead peers (zmq_transport) have watch() and lost(); others do not.
  template <class T, class = void>
  struct detects_lost_peers : std::false_type {};
  template <class T>
  struct detects_lost_peers<T, std::void_t<decltype(std::declval<T&>().lost(0))>> : std::true_type {
  };

  bool peer_is_lost(int rank) {
    if constexpr (detects_lost_peers<Transport>::value)
      return mailbox_->transport().lost(static_cast<int>(world_rank(rank)));
    else
      return false;
  }

  // Waits for the message `key` from rank `from`, for at most the timeout, and fails early with
  // peer_lost_error when `from` is lost: the transport's receive() returns early on every new
  // loss, and a message the peer sent before it went is still taken (one last look, no wait).
  //
  // A collective's receive also passes `stalled`, called when the wait has lasted probe_after()
  // and then after each doubling of that (1 s, 2 s, 4 s, ...): it sends the peer a probe, so that
  // ranks that disagree about a call in which both only wait find out (see detail::probe_step).
  // Not over a virtual-time transport (the simulator), whose ranks wait in real time for reasons
  // that are not the network's, and where an extra message would change the simulated times.
  template <class Describe, class Inspect = void (*)(const detail::header&),
            class Stalled = void (*)()>
  message wait_for(
      const detail::match_key& key, int from, Describe&& describe,
      Inspect&& inspect = [](const detail::header&) {}, Stalled&& stalled = [] {}) {
    if constexpr (detects_lost_peers<Transport>::value)
      mailbox_->transport().watch(static_cast<int>(world_rank(from)));
    const auto until = detail::deadline_after(timeout_);
    auto probe_wait = probe_after();
    auto next_probe = detail::clock::now() + probe_wait;
    while (true) {
      const bool gone = peer_is_lost(from);
      const bool probes = !has_virtual_time<Transport>::value && !gone && next_probe < until;
      auto m = mailbox_->receive(key,
                                 gone     ? detail::clock::now()
                                 : probes ? next_probe
                                          : until,
                                 inspect);
      if (m) return std::move(*m);
      if (probes && detail::clock::now() >= next_probe) {
        stalled();
        probe_wait *= 2;
        next_probe = detail::clock::now() + probe_wait;
      }
      if (gone) fail_peer_lost(describe(), from, "while this rank waited for a message from it");
      if (detail::clock::now() >= until)
        fail_timeout(describe(), "no message came from rank " + std::to_string(from));
    }
  }

  [[noreturn]] void fail_peer_lost(const std::string& what, int peer, const std::string& when) {
    mailbox_->transport().abandon();
    std::string text =
        "symphony: rank " + std::to_string(rank_) + " lost rank " + std::to_string(peer);
    if (static_cast<int>(world_rank(peer)) != peer)
      text += " (world rank " + std::to_string(world_rank(peer)) + ")";
    text += " in " + what + ": its connection dropped " + when +
            " and did not come back (the process died, or exited before its part was done; "
            "SYMPHONY_PEER_TIMEOUT sets how long a dropped connection may stay down)";
    throw peer_lost_error(text, peer, static_cast<int>(world_rank(peer)), what);
  }

  [[noreturn]] void fail_timeout(const std::string& what, const std::string& detail) {
    mailbox_->transport().abandon();
    throw timeout_error("symphony: rank " + std::to_string(rank_) + " timed out after " +
                        seconds_text(timeout_) + " in " + what + ": " + detail +
                        " (SYMPHONY_TIMEOUT sets the limit)");
  }

  [[noreturn]] void fail_protocol(const std::string& what) {
    mailbox_->transport().abandon();
    throw protocol_error("symphony: " + what);
  }

  void require_member(const char* operation) const {
    if (!*this)
      throw std::logic_error(std::string(operation) +
                             ": this communicator has no members here (a split with a negative "
                             "color, or moved from)");
  }

  void check_rank(const char* operation, const char* role, int value) const {
    if (value < 0 || value >= size())
      throw std::invalid_argument(std::string(operation) + ": " + role + " " +
                                  std::to_string(value) + " is not a rank of communicator '" +
                                  name_ + "' (size " + std::to_string(size()) + ")");
  }

  static void check_tag(const char* operation, int tag) {
    if (tag < 0)
      throw std::invalid_argument(std::string(operation) + ": tag " + std::to_string(tag) +
                                  " is negative (tags are >= 0)");
  }

  static std::string seconds_text(std::chrono::milliseconds t) {
    const auto ms = t.count();
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
  }

  std::shared_ptr<detail::mailbox<Transport>> mailbox_;  // shared with derived communicators
  std::chrono::milliseconds timeout_;
  std::uint64_t id_ = 0;  // 0: the world communicator
  std::string name_ = "world";
  std::vector<int> members_;  // world rank of each rank
  int rank_ = 0;
  std::uint64_t sequence_ = 0;                      // collectives called so far
  std::map<std::vector<int>, int> subgroups_made_;  // per member list, so ids differ
  algorithm_thresholds thresholds_;                 // when collectives switch algorithm
  std::vector<std::byte> scratch_;                  // reused between calls: no allocation each

  // What collectives need besides their results, grown once and overwritten by each call, so
  // that repeated same-size calls allocate nothing for it. No call holds it across another. It
  // keeps the capacity of the largest call so far (gather's block: every rank's value at the
  // root), as scratch_ does for broadcast.
  struct reusable_bookkeeping {
    std::vector<std::size_t> offsets;       // block offsets of the long-message reductions
    std::vector<std::byte> block;           // gather's and Bruck's block of segments
    algorithms::bruck_scratch bruck;        // Bruck's segment ends and received segments
    std::vector<detail::segment> segments;  // a gathered block split into values
    std::vector<bool> travels;              // which ranks' values go around allgather's ring
    std::vector<std::pair<const std::byte*, std::size_t>> views;  // the v-forms' pieces
    std::vector<std::optional<message>> kept_messages;  // allgatherv's long values, in place
    // Typed scratch, one object per type: reduce_scatter's working copy of its input (a
    // std::vector<E>), scan's and exscan's partials (algorithms::prefix_scratch<T>).
    std::map<std::type_index, std::any> typed;

    template <class S>
    S& kept() {
      auto found = typed.find(std::type_index(typeid(S)));
      if (found == typed.end())
        found = typed.emplace(std::type_index(typeid(S)), std::any(std::in_place_type<S>)).first;
      return *std::any_cast<S>(&found->second);
    }
  };
  reusable_bookkeeping reusable_;
  std::array<past_call, 16> recent_{};  // the last calls, by sequence % 16
};

/// The color that puts a rank in no new communicator in split().
inline constexpr int no_color = -1;

/// The communicator between processes over ZeroMQ; `communicator world;` joins the job.
using communicator = basic_communicator<zmq_transport>;

}  // namespace symphony
