// symphony::bootstrap::rendezvous with ranks as threads of this process, over tcp on 127.0.0.1:
// complete jobs of several sizes (proved by a ring exchange over the returned table), and every
// failure the protocol promises to report: missing ranks, an absent or silent root, another job's
// ranks, inconsistent registrations and malformed messages.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <symphony/bootstrap/rendezvous.hpp>
#include <vector>
#include <zmq.hpp>

#include "rendezvous_harness.hpp"

namespace {

using namespace rendezvous_test;
namespace detail = symphony::detail;

// Generous bounds for a loaded 2-core machine (and sanitizers): a wait that should end at T must
// end before T + this.
constexpr milliseconds slack = 1500ms;

void check_all_ok_and_equal(const std::vector<outcome>& results) {
  REQUIRE(!results.empty());
  for (std::size_t r = 0; r < results.size(); ++r) {
    CAPTURE(r);
    CHECK_MESSAGE(results[r].ok(), describe(results[r]));
    CHECK(results[r].table == results[0].table);
  }
}

/// A connected raw ZeroMQ DEALER, to play a misbehaving rank.
struct raw_dealer {
  explicit raw_dealer(zmq::context_t& context, const std::string& root)
      : socket(context, zmq::socket_type::dealer) {
    socket.set(zmq::sockopt::linger, 0);
    socket.connect("tcp://" + root);
  }
  void send(const std::string& bytes) {
    (void)socket.send(zmq::buffer(bytes), zmq::send_flags::none);
  }
  /// The next reply within `wait`, decoded; nullopt when none comes.
  std::optional<detail::rendezvous_decoded> reply(milliseconds wait) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, wait) == 0) return std::nullopt;
    zmq::message_t m;
    (void)socket.recv(m, zmq::recv_flags::none);
    return detail::decode_rendezvous({static_cast<const char*>(m.data()), m.size()});
  }
  zmq::socket_t socket;
};

detail::rendezvous_registration registration(int rank, int size, const std::string& token,
                                             std::uint64_t nonce = 42) {
  return {static_cast<std::uint32_t>(rank),
          static_cast<std::uint32_t>(size),
          nonce,
          token,
          "tcp://127.0.0.1:" + std::to_string(45000 + rank),
          "raw-host",
          ""};
}

}  // namespace

TEST_CASE("every rank gets the same table, and the table works: sizes 1, 2, 7 and 33") {
  for (const int size : {1, 2, 7, 33}) {
    CAPTURE(size);
    const auto results = run_ring_job(free_root(), size);
    check_all_ok_and_equal(results);
    REQUIRE(results[0].table.size() == static_cast<std::size_t>(size));
    for (int r = 0; r < size; ++r) {
      CAPTURE(r);
      CHECK(results[static_cast<std::size_t>(r)].ring_from == (r + size - 1) % size);
      CHECK(detail::parse_address(results[0].table[static_cast<std::size_t>(r)]).error.empty());
    }
  }
}

TEST_CASE("exchange_endpoints hands every rank each rank's locality beside its endpoint") {
  const auto root = free_root();
  constexpr int size = 5;
  std::vector<symphony::bootstrap::rendezvous_result> results(size);
  std::vector<std::thread> ranks;
  for (int r = 0; r < size; ++r)
    ranks.emplace_back([&, r] {
      auto options = options_for(root, r, size, "locality-job", 10000ms);
      options.locality = "machine-" + std::to_string(r % 2);
      results[static_cast<std::size_t>(r)] = symphony::bootstrap::exchange_endpoints(options);
    });
  for (auto& t : ranks)
    t.join();
  const strings expected = {"machine-0", "machine-1", "machine-0", "machine-1", "machine-0"};
  for (const auto& result : results) {
    CHECK(result.localities == expected);
    CHECK(result.endpoints == results[0].endpoints);
    CHECK(result.endpoints.size() == static_cast<std::size_t>(size));
  }
}

TEST_CASE("a job of one opens no socket: it returns its own endpoint at once") {
  // The root's port is taken, so a bind would fail: nothing is bound.
  const auto root = free_root();
  auto blocker = run_ranks(
      {{options_for(root, 0, 2, "other", 800ms), 0ms}, {options_for(root, 0, 1, "single"), 200ms}});
  REQUIRE(blocker[1].ok());
  CHECK(blocker[1].table == strings{"tcp://127.0.0.1:40000"});
  CHECK(blocker[1].elapsed < 100ms);
  CHECK(blocker[0].error == "timeout_error");  // its rank 1 never came
}

TEST_CASE("an ipc root and ipc endpoints") {
  const symphony::detail::temp_directory dir(std::filesystem::temp_directory_path());
  std::vector<participant> ranks;
  for (int r = 0; r < 3; ++r) {
    auto o = options_for("ipc://" + dir.path() + "/root", r, 3);
    o.endpoint = "ipc://" + dir.path() + "/rank" + std::to_string(r);
    ranks.push_back({o, milliseconds(r == 0 ? 300 : 0)});  // rank 0 last: the others wait for it
  }
  const auto results = run_ranks(ranks);
  check_all_ok_and_equal(results);
  CHECK(results[2].table[2] == "ipc://" + dir.path() + "/rank2");
}

TEST_CASE("a wildcard host in an endpoint becomes an address the root can reach") {
  // Only the text is carried: nothing binds 0.0.0.0.
  const auto root = free_root();
  std::vector<participant> ranks;
  for (int r = 0; r < 3; ++r) {
    auto o = options_for(root, r, 3);
    o.endpoint = (r == 2 ? "tcp://*:" : "tcp://0.0.0.0:") + std::to_string(41000 + r);
    ranks.push_back({o, 0ms});
  }
  const auto results = run_ranks(ranks);
  check_all_ok_and_equal(results);
  CHECK(results[0].table ==
        strings{"tcp://127.0.0.1:41000", "tcp://127.0.0.1:41001", "tcp://127.0.0.1:41002"});
}

TEST_CASE("the root sees the address a registration came from (what replaces a wildcard)") {
  // The table above cannot show it (127.0.0.1 is also the fallback), so look at the frames.
  zmq::context_t context;
  zmq::socket_t root(context, zmq::socket_type::router);
  root.set(zmq::sockopt::linger, 0);
  root.set(zmq::sockopt::ipv6, 1);  // as the rendezvous root sets it
  root.bind("tcp://127.0.0.1:*");
  const std::string endpoint = root.get(zmq::sockopt::last_endpoint);
  raw_dealer rank(context, endpoint.substr(6));
  rank.send(detail::encode(registration(1, 2, "t")));
  zmq::pollitem_t item{root.handle(), 0, ZMQ_POLLIN, 0};
  REQUIRE(zmq::poll(&item, 1, std::chrono::milliseconds(3000)) == 1);
  const auto frames = detail::receive_frames(root, 3);
  CHECK(frames.count == 2);
  // A dual-stack socket shows an IPv4 peer as ::ffff:127.0.0.1; the table gets plain IPv4.
  CHECK((frames.peer_ip == "127.0.0.1" || frames.peer_ip == "::ffff:127.0.0.1"));
  CHECK(detail::with_host(detail::parse_address("tcp://*:5000").value, frames.peer_ip) ==
        "tcp://127.0.0.1:5000");
  CHECK(detail::with_host(detail::parse_address("tcp://*:5000").value, "::1") ==
        "tcp://[::1]:5000");
}

TEST_CASE("ranks may start in any order, and wait_forever waits as long as it takes") {
  const auto root = free_root();
  std::vector<participant> ranks;
  for (int r = 0; r < 4; ++r)
    ranks.push_back({options_for(root, r, 4, "late", symphony::wait_forever),
                     milliseconds(r == 0 ? 600 : 100 * (3 - r))});
  check_all_ok_and_equal(run_ranks(ranks));
}

TEST_CASE("missing ranks: every rank fails within the timeout, and all name the same ranks") {
  const auto root = free_root();
  const milliseconds timeout = 1000ms;
  std::vector<participant> ranks;
  for (const int r : {0, 1, 2, 4})  // of 8: ranks 3 and 5-7 never start
    ranks.push_back({options_for(root, r, 8, "test-job", timeout), 0ms});
  const auto results = run_ranks(ranks);
  const std::string expected =
      "ranks 3, 5-7 of 8 did not register with the rendezvous root "
      "'tcp://127.0.0.1:" +
      root.substr(root.find(':') + 1) + "' within 1 s";
  for (std::size_t i = 0; i < results.size(); ++i) {
    CAPTURE(i);
    const auto& o = results[i];
    MESSAGE(describe(o));
    CHECK(o.error == "timeout_error");
    CHECK_MESSAGE(contains(o.message, expected), o.message);
    CHECK(contains(o.message, "4 of 8 did"));
    CHECK(o.elapsed >= timeout - 50ms);  // ranks 1-4 hear it from rank 0 at rank 0's deadline
    CHECK(o.elapsed < timeout + slack);
  }
}

TEST_CASE("one missing rank is named alone") {
  const auto root = free_root();
  const auto results = run_ranks({{options_for(root, 0, 3, "test-job", 600ms), 0ms},
                                  {options_for(root, 2, 3, "test-job", 600ms), 0ms}});
  for (const auto& o : results) {
    CHECK(o.error == "timeout_error");
    CHECK_MESSAGE(contains(o.message, "rank 1 of 3 did not register"), o.message);
  }
}

TEST_CASE("rank 0 absent: the others fail naming the root address, within timeout and grace") {
  const auto root = free_root();
  const milliseconds timeout = 600ms;
  const auto results = run_ranks({{options_for(root, 1, 3, "test-job", timeout), 0ms},
                                  {options_for(root, 2, 3, "test-job", timeout), 0ms}});
  for (const auto& o : results) {
    MESSAGE(describe(o));
    CHECK(o.error == "timeout_error");
    CHECK_MESSAGE(
        contains(o.message, "got no answer from the rendezvous root 'tcp://" + root + "'"),
        o.message);
    const auto grace = detail::rendezvous_grace(timeout);
    CHECK(o.elapsed >= timeout + grace - 50ms);
    CHECK(o.elapsed < timeout + grace + slack);
  }
}

TEST_CASE("a root that acknowledges and then falls silent is reported as such") {
  const auto root = free_root();
  zmq::context_t context;
  zmq::socket_t fake(context, zmq::socket_type::router);
  fake.set(zmq::sockopt::linger, 0);
  fake.bind("tcp://" + root);
  std::vector<outcome> result;
  std::thread rank([&] { result = run_ranks({{options_for(root, 1, 2, "t", 500ms), 0ms}}); });
  zmq::pollitem_t item{fake.handle(), 0, ZMQ_POLLIN, 0};
  REQUIRE(zmq::poll(&item, 1, std::chrono::milliseconds(3000)) == 1);
  zmq::message_t identity, body;
  (void)fake.recv(identity);
  (void)fake.recv(body);
  // Junk first (ignored by the rank), then the acknowledgement, then nothing.
  for (const std::string& reply : {std::string("junk"), std::string("SYRV\x01"),
                                   detail::encode(detail::rendezvous_ack{1, 2, 2})}) {
    (void)fake.send(zmq::buffer(identity.to_string()), zmq::send_flags::sndmore);
    (void)fake.send(zmq::buffer(reply), zmq::send_flags::none);
  }
  rank.join();
  REQUIRE(result.size() == 1);
  CHECK(result[0].error == "timeout_error");
  CHECK_MESSAGE(contains(result[0].message, "registered with the rendezvous root 'tcp://" + root +
                                                "' but got neither the table nor an error"),
                result[0].message);
}

TEST_CASE("a root of another protocol version makes the rank fail at once") {
  const auto root = free_root();
  zmq::context_t context;
  zmq::socket_t fake(context, zmq::socket_type::router);
  fake.set(zmq::sockopt::linger, 0);
  fake.bind("tcp://" + root);
  std::vector<outcome> result;
  std::thread rank([&] { result = run_ranks({{options_for(root, 1, 2, "t", 3000ms), 0ms}}); });
  zmq::pollitem_t item{fake.handle(), 0, ZMQ_POLLIN, 0};
  REQUIRE(zmq::poll(&item, 1, std::chrono::milliseconds(3000)) == 1);
  zmq::message_t identity, body;
  (void)fake.recv(identity);
  (void)fake.recv(body);
  detail::rendezvous_writer v2(detail::rendezvous_kind::ack, 2);
  (void)fake.send(zmq::buffer(identity.to_string()), zmq::send_flags::sndmore);
  (void)fake.send(zmq::buffer(v2.take()), zmq::send_flags::none);
  rank.join();
  CHECK(result[0].error == "config_error");
  CHECK(contains(result[0].message, "protocol version 2"));
  CHECK(result[0].elapsed < 1000ms);
}

TEST_CASE("another job's rank is turned away with config_error, and the real job completes") {
  const auto root = free_root();
  const auto results = run_ranks({
      {options_for(root, 0, 3, "job-A"), 0ms},
      {options_for(root, 1, 3, "job-A"), 0ms},
      {options_for(root, 2, 3, "job-A"), 500ms},  // the job cannot finish before the intruder
      {options_for(root, 1, 3, "job-B", 3000ms), 100ms},
  });
  for (int r = 0; r < 3; ++r) {
    CAPTURE(r);
    CHECK_MESSAGE(results[static_cast<std::size_t>(r)].ok(),
                  describe(results[static_cast<std::size_t>(r)]));
    CHECK(results[static_cast<std::size_t>(r)].table == results[0].table);
  }
  const auto& intruder = results[3];
  MESSAGE(describe(intruder));
  CHECK(intruder.error == "config_error");
  CHECK(contains(intruder.message, "rank 1 of another job (token 'job-B', host 'test-host')"));
  CHECK(contains(intruder.message, "tried to join the rendezvous at 'tcp://" + root + "'"));
  CHECK(contains(intruder.message, "token 'job-A'"));
  CHECK(contains(intruder.message, "use a different SYMPHONY_ROOT port"));
  CHECK(intruder.elapsed < 1000ms);
}

TEST_CASE("another job's rank 0 cannot bind the root that is in use, and fails at once") {
  const auto root = free_root();
  const auto results = run_ranks({
      {options_for(root, 0, 2, "job-A"), 0ms},
      {options_for(root, 0, 2, "job-B"), 200ms},
      {options_for(root, 1, 2, "job-A"), 500ms},
  });
  CHECK_MESSAGE(results[0].ok(), describe(results[0]));
  CHECK_MESSAGE(results[2].ok(), describe(results[2]));
  CHECK(results[1].error == "config_error");
  CHECK_MESSAGE(
      contains(results[1].message, "rank 0 cannot bind the rendezvous root 'tcp://" + root + "'"),
      results[1].message);
  CHECK(contains(results[1].message, "use a different SYMPHONY_ROOT port"));
  CHECK(results[1].elapsed < 500ms);
}

TEST_CASE("a rank registered twice: every rank fails with config_error naming both") {
  const auto root = free_root();
  auto twin = options_for(root, 2, 4);
  twin.endpoint = "tcp://127.0.0.1:49999";
  const auto results = run_ranks({
      {options_for(root, 0, 4), 0ms},
      {options_for(root, 1, 4), 0ms},
      {options_for(root, 2, 4), 0ms},
      {twin, 400ms},  // rank 3 never starts, so rank 0 is still waiting when the twin comes
  });
  for (std::size_t i = 0; i < results.size(); ++i) {
    CAPTURE(i);
    const auto& o = results[i];
    MESSAGE(describe(o));
    CHECK(o.error == "config_error");
    CHECK(contains(o.message, "rank 2 registered twice with the rendezvous root"));
    CHECK(contains(o.message, "'tcp://127.0.0.1:40002'"));
    CHECK(contains(o.message, "'tcp://127.0.0.1:49999'"));
    CHECK(o.elapsed < 2000ms);  // long before the 5 s timeout
  }
}

TEST_CASE("a rank started with another size: the culprit and rank 0 name both sizes") {
  const auto root = free_root();
  const auto results = run_ranks({
      {options_for(root, 0, 3), 0ms},
      {options_for(root, 1, 3), 0ms},
      {options_for(root, 2, 5), 300ms},
  });
  for (std::size_t i = 0; i < results.size(); ++i) {
    CAPTURE(i);
    const auto& o = results[i];
    MESSAGE(describe(o));
    CHECK(o.error == "config_error");
    CHECK(contains(o.message,
                   "rank 2 (host 'test-host', endpoint 'tcp://127.0.0.1:40002') "
                   "registered for a job of 5 ranks"));
    CHECK(contains(o.message, "whose job has 3 ranks"));
    CHECK(o.elapsed < 2000ms);
  }
}

TEST_CASE("a registration with a rank out of range is refused and aborts the job") {
  // rendezvous() itself refuses rank >= size, so a raw socket sends the impossible registration.
  const auto root = free_root();
  zmq::context_t context;
  raw_dealer rogue(context, root);
  std::vector<outcome> results;
  std::thread job([&] {
    results = run_ranks({{options_for(root, 0, 3), 0ms}, {options_for(root, 1, 3), 0ms}});
  });
  std::this_thread::sleep_for(300ms);
  rogue.send(detail::encode(registration(7, 3, "test-job")));
  const auto reply = rogue.reply(2000ms);
  job.join();
  REQUIRE(reply);
  REQUIRE(reply->state == detail::rendezvous_decoded::status::ok);
  const auto* reject = std::get_if<detail::rendezvous_reject>(&reply->body);
  REQUIRE(reject != nullptr);
  CHECK(reject->reason == detail::reject_reason::inconsistent);
  CHECK(contains(reject->message, "rank 7 (host 'raw-host'"));
  CHECK(contains(reject->message, "the job's ranks are 0-2"));
  for (const auto& o : results) {
    CHECK(o.error == "config_error");
    CHECK(o.message == reject->message);
  }
}

TEST_CASE("two ranks with one endpoint: config_error naming both ranks") {
  const auto root = free_root();
  auto copy = options_for(root, 2, 3);
  copy.endpoint = options_for(root, 1, 3).endpoint;
  const auto results =
      run_ranks({{options_for(root, 0, 3), 0ms}, {options_for(root, 1, 3), 0ms}, {copy, 300ms}});
  for (const auto& o : results) {
    CHECK(o.error == "config_error");
    CHECK_MESSAGE(contains(o.message, "the endpoint 'tcp://127.0.0.1:40001', which rank 1"),
                  o.message);
  }
}

TEST_CASE("malformed and foreign messages at the root are ignored; the job completes") {
  const auto root = free_root();
  const auto port = static_cast<std::uint16_t>(std::stoi(root.substr(root.find(':') + 1)));
  std::vector<outcome> results;
  std::thread job([&] {
    results = run_ranks({{options_for(root, 0, 3), 0ms},
                         {options_for(root, 1, 3), 0ms},
                         {options_for(root, 2, 3), 1200ms}});  // after all the junk below
  });
  std::this_thread::sleep_for(200ms);

  // Raw bytes over plain TCP, not even ZeroMQ's handshake: libzmq's ZMTP 1.0 compatibility turns
  // them into messages of a few frames, which reach the root and must be ignored.
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    std::string junk = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    std::mt19937 random(7);
    for (int i = 0; i < 4096; ++i)
      junk.push_back(static_cast<char>(random()));
    CHECK(::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL) > 0);
    ::close(fd);
  }

  zmq::context_t context;
  raw_dealer rogue(context, root);
  const std::string valid = detail::encode(registration(1, 3, "test-job"));
  std::string huge_count = detail::rendezvous_writer(detail::rendezvous_kind::table).take();
  huge_count += std::string("\xff\xff\xff\x7f", 4);
  const std::vector<std::string> junk = {
      "",                                                             // empty frame
      "hello",                                                        // not ours
      "SYRV",                                                         // cut in the header
      valid.substr(0, valid.size() - 3),                              // cut in the host
      valid + "x",                                                    // a byte too many
      std::string("SYRV\x01\x00\x09", 7),                             // unknown kind
      detail::encode(detail::rendezvous_ack{1, 3, 1}),                // only the root sends acks
      detail::encode(detail::rendezvous_table{{"tcp://1.2.3.4:5"}, {}}),  // or tables
      huge_count,
      std::string("SYRV\x01\x00\x01", 7) + std::string(16, '\0') + "\xff\xff\xff\xff",
  };
  for (const auto& bytes : junk)
    rogue.send(bytes);
  (void)rogue.socket.send(zmq::buffer(valid), zmq::send_flags::sndmore);  // two frames
  (void)rogue.socket.send(zmq::buffer(valid), zmq::send_flags::none);
  CHECK_FALSE(rogue.reply(300ms));  // garbage is never answered

  // Larger than the root accepts: ZeroMQ drops the connection, the root never sees it.
  raw_dealer big(context, root);
  big.send(std::string(100 * 1024, 'S'));

  // A registration in another protocol version is answered, so that its sender learns why.
  raw_dealer newer(context, root);
  detail::rendezvous_writer v2(detail::rendezvous_kind::registration, 2);
  v2.u32(1);
  newer.send(v2.take());
  const auto reply = newer.reply(2000ms);
  REQUIRE(reply);
  const auto* reject = std::get_if<detail::rendezvous_reject>(&reply->body);
  REQUIRE(reject != nullptr);
  CHECK(reject->reason == detail::reject_reason::version_mismatch);
  CHECK(contains(reject->message, "protocol version 1, this rank version 2"));

  job.join();
  check_all_ok_and_equal(results);
  CHECK(results[0].table ==
        strings{"tcp://127.0.0.1:40000", "tcp://127.0.0.1:40001", "tcp://127.0.0.1:40002"});
}

TEST_CASE("bad options are config_errors naming the field, before any socket is opened") {
  const auto root = free_root();
  const auto error_of = [](const rendezvous_options& o) { return attempt(o); };
  auto o = options_for(root, 3, 3);
  CHECK(contains(error_of(o).message, "rendezvous_options.rank=3 is not in 0..2"));
  o = options_for(root, 0, 0);
  CHECK(contains(error_of(o).message, "rendezvous_options.size=0"));
  o = options_for("127.0.0.1", 0, 2);
  CHECK(contains(error_of(o).message, "the rendezvous root '127.0.0.1'"));
  CHECK(contains(error_of(o).message, "missing :port"));
  o = options_for(root, 1, 2);
  o.endpoint = "udp://x:1";
  CHECK(contains(error_of(o).message, "rank 1's endpoint 'udp://x:1'"));
  o = options_for(root, 1, 2, "t", 0ms);
  CHECK(contains(error_of(o).message, "timeout must be positive"));
  o = options_for(root, 1, 2, std::string(2000, 't'));
  CHECK(contains(error_of(o).message, "the job token is 2000 bytes long"));
  for (const auto& bad : {options_for(root, 3, 3), options_for(root, 0, 0)}) {
    const auto result = attempt(bad);
    CHECK(result.error == "config_error");
    CHECK(result.elapsed < 100ms);
  }
}
