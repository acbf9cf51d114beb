// CURVE security between real processes: a job given a key pair (SYMPHONY_CURVE_SECRET and
// _PUBLIC) runs its collectives over ipc and tcp, and outsiders are refused: a plain ZeroMQ
// client, a CURVE client with a wrong server key and one with the right server key but its own
// client key connect to rank 0 and send a well-formed symphony message (built with detail::wire)
// that, if delivered, would replace the value rank 0 waits for. Their handshakes never complete
// (watched with a socket monitor, against a control client holding the job's pair that does
// complete) and rank 0 receives the genuine value. Malformed keys are config_errors naming the
// variable.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <symphony/collectives.hpp>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include <unistd.h>

#include "spawn.hpp"

namespace {

using steady = std::chrono::steady_clock;

struct key_pair {
  std::string public_key;
  std::string secret_key;
};

key_pair fresh_keys() {
  std::array<char, 41> pub{};
  std::array<char, 41> sec{};
  REQUIRE(zmq_curve_keypair(pub.data(), sec.data()) == 0);
  return {pub.data(), sec.data()};
}

void set_z85(zmq::socket_t& s, int option, const std::string& key) {
  REQUIRE(zmq_setsockopt(s.handle(), option, key.c_str(), key.size() + 1) == 0);
}

// Connects a PUSH socket prepared by `setup` to `endpoint`, queues a well-formed symphony message
// claiming to be rank 1's point-to-point value 666 with tag 7, and reports whether a ZeroMQ
// handshake completed within `wait`.
bool handshake_completes(const std::string& endpoint,
                         const std::function<void(zmq::socket_t&)>& setup,
                         std::chrono::milliseconds wait) {
  zmq::context_t context(1);
  zmq::socket_t push(context, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 0);
  setup(push);
  REQUIRE(zmq_socket_monitor(push.handle(), "inproc://intruder", ZMQ_EVENT_ALL) == 0);
  zmq::socket_t events(context, zmq::socket_type::pair);
  events.set(zmq::sockopt::linger, 0);
  events.connect("inproc://intruder");
  push.connect(endpoint);

  const int forged = 666;
  const auto payload = symphony::detail::encode_value(forged);  // a view of `forged`
  symphony::detail::header h;
  h.kind = symphony::detail::operation::point_to_point;
  h.source = 1;
  h.tag = 7;
  h.payload_size = payload.size();
  const auto head = symphony::detail::encode(h);
  if (push.send(zmq::buffer(head), zmq::send_flags::sndmore | zmq::send_flags::dontwait))
    (void)push.send(zmq::buffer(payload.data(), payload.size()), zmq::send_flags::dontwait);

  const auto until = steady::now() + wait;
  while (steady::now() < until) {
    zmq::pollitem_t item{events.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1,
              std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now()));
    zmq::message_t event;
    if (!events.recv(event, zmq::recv_flags::dontwait)) continue;
    std::uint16_t id = 0;
    std::memcpy(&id, event.data(), sizeof id);
    while (event.more())
      (void)events.recv(event, zmq::recv_flags::none);
    if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) return true;
  }
  return false;
}

}  // namespace

// Collectives under CURVE; with SYMPHONY_TEST_FLAG set, rank 0 then waits for rank 1's value
// (tag 7), which rank 1 sends only once the driver's intruders have had their go.
SYMPHONY_SCENARIO(secure_job) {
  symphony::communicator world;
  const int n = world.size();
  const int me = world.rank();
  std::string text = me == 0 ? "secret" : "";
  world.broadcast(text, 0);
  SCENARIO_CHECK(text == "secret", "broadcast");
  SCENARIO_CHECK(world.allreduce(me, symphony::ops::sum) == n * (n - 1) / 2, "allreduce");
  const auto all = world.allgather(std::vector<int>(1000, me));
  for (int r = 0; r < n; ++r)
    SCENARIO_CHECK(all[static_cast<std::size_t>(r)] == std::vector<int>(1000, r), "allgather");
  if (const char* flag = std::getenv("SYMPHONY_TEST_FLAG")) {
    if (me == 1) {
      const auto give_up = steady::now() + std::chrono::seconds(60);
      while (!std::filesystem::exists(flag) && steady::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      world.send(42, 0, 7);
    }
    if (me == 0) {
      const int value = world.recv<int>(1, 7);
      SCENARIO_CHECK(value == 42, "rank 0 received " << value << " (666 is the intruders')");
    }
  }
  world.barrier();
  return 0;
}

TEST_CASE("a job with a CURVE key pair runs its collectives over ipc and tcp") {
  const auto keys = fresh_keys();
  for (const bool tcp : {false, true})
    for (const int ranks : {2, 5}) {
      testing::job job{"secure_job", ranks};
      job.tcp = tcp;
      job.env["SYMPHONY_CURVE_PUBLIC"] = keys.public_key;
      job.env["SYMPHONY_CURVE_SECRET"] = keys.secret_key;
      for (const auto& r : testing::run_job(job))
        CHECK_RANK_OK(r);
    }
}

TEST_CASE("processes without the job's key pair can neither connect nor inject") {
  const auto keys = fresh_keys();
  const auto other = fresh_keys();
  for (const bool tcp : {false, true}) {
    CAPTURE(tcp);
    const symphony::detail::temp_directory scratch(std::filesystem::temp_directory_path());
    std::vector<std::string> addresses;
    if (tcp) {
      for (const int port : testing::free_tcp_ports(2))
        addresses.push_back("tcp://127.0.0.1:" + std::to_string(port));
    } else {
      addresses = {"ipc://" + scratch.path() + "/r0", "ipc://" + scratch.path() + "/r1"};
    }
    testing::job job{"secure_job", 2};
    job.env["SYMPHONY_ADDRESSES"] = addresses[0] + "," + addresses[1];
    job.env["SYMPHONY_CURVE_PUBLIC"] = keys.public_key;
    job.env["SYMPHONY_CURVE_SECRET"] = keys.secret_key;
    job.env["SYMPHONY_TEST_FLAG"] = scratch.path() + "/go";
    job.limit = std::chrono::seconds(90);
    std::vector<testing::rank_result> results;
    std::thread running([&] { results = testing::run_job(job); });

    const auto rank0 = addresses[0];
    // The control: a client holding the job's pair completes its handshake (so the monitor does
    // see success when there is one). It sends the same forged message: it is inside the trust
    // boundary, so it connects to rank 1 instead, which never waits for tag 7.
    CHECK(handshake_completes(
        addresses[1],
        [&](zmq::socket_t& s) {
          set_z85(s, ZMQ_CURVE_SERVERKEY, keys.public_key);
          set_z85(s, ZMQ_CURVE_PUBLICKEY, keys.public_key);
          set_z85(s, ZMQ_CURVE_SECRETKEY, keys.secret_key);
        },
        std::chrono::seconds(30)));
    const auto wait = std::chrono::seconds(2);
    CHECK_FALSE(handshake_completes(
        rank0, [](zmq::socket_t&) {}, wait));  // no CURVE at all
    CHECK_FALSE(handshake_completes(           // a wrong server key: its own
        rank0,
        [&](zmq::socket_t& s) {
          set_z85(s, ZMQ_CURVE_SERVERKEY, other.public_key);
          set_z85(s, ZMQ_CURVE_PUBLICKEY, other.public_key);
          set_z85(s, ZMQ_CURVE_SECRETKEY, other.secret_key);
        },
        wait));
    CHECK_FALSE(handshake_completes(  // the job's public key, but not the job's pair
        rank0,
        [&](zmq::socket_t& s) {
          set_z85(s, ZMQ_CURVE_SERVERKEY, keys.public_key);
          set_z85(s, ZMQ_CURVE_PUBLICKEY, other.public_key);
          set_z85(s, ZMQ_CURVE_SECRETKEY, other.secret_key);
        },
        wait));
    std::ofstream(scratch.path() + "/go") << "go\n";
    running.join();
    for (const auto& r : results)
      CHECK_RANK_OK(r);
  }
}

TEST_CASE("the SYMPHONY_ROOT rendezvous of a secure job admits only holders of its key pair") {
  const auto keys = fresh_keys();
  const auto other = fresh_keys();
  const auto root = "tcp://127.0.0.1:" + std::to_string(testing::free_tcp_ports(1).front());
  // Two ranks register (in threads); `member_keys` is what rank 1 holds. Returns what each got:
  // its table or the error it threw.
  const auto exchange = [&](const std::optional<symphony::curve_keys>& member_keys) {
    std::vector<std::string> outcome(2);
    std::vector<std::thread> ranks;
    for (int rank = 0; rank < 2; ++rank)
      ranks.emplace_back([&, rank] {
        symphony::bootstrap::rendezvous_options o;
        o.root = root;
        o.rank = rank;
        o.size = 2;
        o.endpoint = "tcp://127.0.0.1:" + std::to_string(6000 + rank);
        o.job_token = "secure-rendezvous";
        o.timeout = std::chrono::milliseconds(1500);
        o.curve = rank == 0 ? std::optional<symphony::curve_keys>(
                                  symphony::curve_keys{keys.public_key, keys.secret_key})
                            : member_keys;
        try {
          const auto table = symphony::bootstrap::exchange_endpoints(o);
          outcome[static_cast<std::size_t>(rank)] =
              "table of " + std::to_string(table.endpoints.size());
        } catch (const symphony::timeout_error& e) {
          outcome[static_cast<std::size_t>(rank)] = std::string("timeout_error: ") + e.what();
        }
      });
    for (auto& t : ranks)
      t.join();
    return outcome;
  };
  const auto good = exchange(symphony::curve_keys{keys.public_key, keys.secret_key});
  CHECK(good[0] == "table of 2");
  CHECK(good[1] == "table of 2");
  for (const auto& intruder : {std::optional<symphony::curve_keys>{},
                               std::optional<symphony::curve_keys>(
                                   symphony::curve_keys{other.public_key, other.secret_key})}) {
    const auto refused = exchange(intruder);
    CHECK(refused[0].rfind("timeout_error", 0) == 0);  // rank 0 never hears from rank 1
    CHECK(refused[1].rfind("timeout_error", 0) == 0);  // rank 1 never gets through
    CHECK(refused[0].find("1") != std::string::npos);
  }
}

TEST_CASE("malformed or mismatched keys are config_errors naming the variable") {
  const auto keys = fresh_keys();
  const auto other = fresh_keys();
  const auto make = [](const std::string& pub, const std::string& sec) {
    symphony::config c{0, 1, {"ipc://@symphony-curve-keys-" + std::to_string(::getpid())}};
    c.curve = symphony::curve_keys{pub, sec};
    symphony::communicator world(c);
  };
  CHECK_THROWS_WITH_AS(make(keys.public_key, "short"),
                       doctest::Contains("SYMPHONY_CURVE_SECRET is not a CURVE key"),
                       symphony::config_error);
  CHECK_THROWS_WITH_AS(make(keys.public_key.substr(0, 39) + "~", keys.secret_key),
                       doctest::Contains("SYMPHONY_CURVE_PUBLIC is not a CURVE key"),
                       symphony::config_error);
  CHECK_THROWS_WITH_AS(make(other.public_key, keys.secret_key),
                       doctest::Contains("SYMPHONY_CURVE_PUBLIC is not the public half"),
                       symphony::config_error);
  const auto lookup = [&](const std::string& name) -> std::optional<std::string> {
    if (name == "SYMPHONY_NRANKS") return "1";
    if (name == "SYMPHONY_RANK") return "0";
    if (name == "SYMPHONY_ADDRESSES") return "127.0.0.1:5999";
    if (name == "SYMPHONY_CURVE_SECRET") return keys.secret_key;
    return std::nullopt;
  };
  CHECK_THROWS_WITH_AS(symphony::config::from_environment(lookup),
                       doctest::Contains("SYMPHONY_CURVE_SECRET is set but SYMPHONY_CURVE_PUBLIC"),
                       symphony::config_error);
  const auto peer_timeout = [](const std::string& value) {
    return [value](const std::string& name) -> std::optional<std::string> {
      if (name == "SYMPHONY_NRANKS") return "1";
      if (name == "SYMPHONY_RANK") return "0";
      if (name == "SYMPHONY_ADDRESSES") return "127.0.0.1:5999";
      if (name == "SYMPHONY_PEER_TIMEOUT") return value;
      return std::nullopt;
    };
  };
  for (const char* bad : {"0", "inf", "-1", "soon"})
    CHECK_THROWS_WITH_AS(symphony::config::from_environment(peer_timeout(bad)),
                         doctest::Contains("SYMPHONY_PEER_TIMEOUT"), symphony::config_error);
  CHECK(symphony::config::from_environment(peer_timeout("0.5")).peer_timeout ==
        std::chrono::milliseconds(500));
}

int main(int argc, char** argv) {
  testing::run_scenario_if_child();
  return doctest::Context(argc, argv).run();
}
