// symphony::config: reading the job from the environment, and checking a hand-built config.
//
// Every environment here is a std::map read through config::from_environment(lookup), so no test
// touches the process's real environment. Every rejection must be a config_error whose message
// names the culprit: the variable (or config field) and the value it holds.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <symphony/config.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using environment = std::map<std::string, std::string>;

symphony::config read(const environment& env) {
  return symphony::config::from_environment(
      [&env](const std::string& name) -> std::optional<std::string> {
        const auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
      });
}

// A good three-rank job, as symphony-run would describe it to rank 1.
environment good_job() {
  return {{"SYMPHONY_NRANKS", "3"},
          {"SYMPHONY_RANK", "1"},
          {"SYMPHONY_ADDRESSES", "node0:5000,node1:5001,node2:5002"}};
}

// The same job under the names pyzmq-collectives uses.
environment pyzmq_job() {
  return {{"PYZMQ_COLLECTIVES_NRANKS", "2"},
          {"PYZMQ_COLLECTIVES_RANK", "0"},
          {"PYZMQ_COLLECTIVES_ADDRESSES", "py0:6000,py1:6001"}};
}

// what() of the config_error that `fn` throws; fails the calling test if it throws nothing or
// anything else.
template <class F>
std::string message_of(F&& fn) {
  try {
    fn();
  } catch (const symphony::config_error& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("expected a symphony::config_error, got another exception: " << e.what());
    return {};
  }
  FAIL_CHECK("expected a symphony::config_error, but nothing was thrown");
  return {};
}

// The parts `message` does not contain, followed by the message itself; "" when it contains them
// all. Written so that a failed `CHECK(unmentioned(message, {...}) == "")` shows what is missing
// and what was said instead.
std::string unmentioned(const std::string& message, const std::vector<std::string>& parts) {
  std::string missing;
  for (const auto& part : parts)
    if (message.find(part) == std::string::npos) missing += "[" + part + "] ";
  return missing.empty() ? "" : missing + "not in: " + message;
}

}  // namespace

TEST_CASE("from_environment reads rank, size, addresses and timeout from SYMPHONY_ variables") {
  SUBCASE("a three-rank job") {
    const auto c = read(good_job());
    CHECK(c.rank == 1);
    CHECK(c.size == 3);
    CHECK(c.addresses == std::vector<std::string>{"node0:5000", "node1:5001", "node2:5002"});
    CHECK(c.timeout == symphony::default_timeout);
    CHECK(c.timeout == 300s);
  }
  SUBCASE("a one-rank job") {
    const auto c = read({{"SYMPHONY_NRANKS", "1"},
                         {"SYMPHONY_RANK", "0"},
                         {"SYMPHONY_ADDRESSES", "ipc:///tmp/symphony-0"}});
    CHECK(c.rank == 0);
    CHECK(c.size == 1);
    CHECK(c.addresses == std::vector<std::string>{"ipc:///tmp/symphony-0"});
  }
  SUBCASE("every address form may appear in one job") {
    const auto c = read({{"SYMPHONY_NRANKS", "4"},
                         {"SYMPHONY_RANK", "3"},
                         {"SYMPHONY_ADDRESSES", "h:1,tcp://h:2,[::1]:3,ipc:///tmp/s"}});
    CHECK(c.rank == 3);
    CHECK(c.addresses.size() == 4);
  }
  SUBCASE("blanks around numbers and around commas are ignored") {
    const auto c = read({{"SYMPHONY_NRANKS", " 3 "},
                         {"SYMPHONY_RANK", "2\n"},
                         {"SYMPHONY_ADDRESSES", " a:1 , b:2,c:3 "}});
    CHECK(c.size == 3);
    CHECK(c.rank == 2);
    CHECK(c.addresses == std::vector<std::string>{"a:1", "b:2", "c:3"});
  }
  SUBCASE("the addresses are kept as written; normalizing them is parse_address's job") {
    auto env = good_job();
    env["SYMPHONY_ADDRESSES"] = "tcp://node0:5000,node1:05001,node2:5002";
    CHECK(read(env).addresses ==
          std::vector<std::string>{"tcp://node0:5000", "node1:05001", "node2:5002"});
  }
}

TEST_CASE("PYZMQ_COLLECTIVES_ variables are the fallback when no SYMPHONY_ core variable is set") {
  SUBCASE("only PYZMQ_COLLECTIVES_ is set: it is read") {
    const auto c = read(pyzmq_job());
    CHECK(c.size == 2);
    CHECK(c.rank == 0);
    CHECK(c.addresses == std::vector<std::string>{"py0:6000", "py1:6001"});
  }
  SUBCASE("both are set: SYMPHONY_ wins") {
    auto env = good_job();
    env.merge(pyzmq_job());
    const auto c = read(env);
    CHECK(c.size == 3);
    CHECK(c.rank == 1);
    CHECK(c.addresses.front() == "node0:5000");
  }
  SUBCASE("SYMPHONY_TIMEOUT is not a core variable: it applies to a PYZMQ_COLLECTIVES_ job") {
    auto env = pyzmq_job();
    env["SYMPHONY_TIMEOUT"] = "7";
    const auto c = read(env);
    CHECK(c.size == 2);
    CHECK(c.timeout == 7s);
  }
  SUBCASE("errors in a PYZMQ_COLLECTIVES_ job name the PYZMQ_COLLECTIVES_ variable") {
    auto env = pyzmq_job();
    env["PYZMQ_COLLECTIVES_RANK"] = "5";
    const auto message = message_of([&] { read(env); });
    CHECK(unmentioned(message, {"PYZMQ_COLLECTIVES_RANK=5", "PYZMQ_COLLECTIVES_NRANKS=2"}) == "");
  }
}

TEST_CASE("a half-set SYMPHONY_ environment is reported, not completed from PYZMQ_COLLECTIVES_") {
  auto env = pyzmq_job();
  std::string missing;
  SUBCASE("only SYMPHONY_NRANKS") {
    env["SYMPHONY_NRANKS"] = "2";
    missing = "SYMPHONY_RANK";
  }
  SUBCASE("only SYMPHONY_RANK") {
    env["SYMPHONY_RANK"] = "0";
    missing = "SYMPHONY_NRANKS";
  }
  SUBCASE("only SYMPHONY_ADDRESSES") {
    env["SYMPHONY_ADDRESSES"] = "a:1,b:2";
    missing = "SYMPHONY_NRANKS";
  }
  SUBCASE("SYMPHONY_NRANKS and SYMPHONY_RANK, no SYMPHONY_ADDRESSES") {
    env["SYMPHONY_NRANKS"] = "2";
    env["SYMPHONY_RANK"] = "0";
    missing = "SYMPHONY_ADDRESSES";
  }
  CAPTURE(missing);
  CHECK_THROWS_AS(read(env), symphony::config_error);
  const auto message = message_of([&] { read(env); });
  CHECK(unmentioned(message, {missing + " is not set"}) == "");
  CHECK(message.find("PYZMQ") == std::string::npos);
}

TEST_CASE("a missing variable is named, with the full set a launcher must provide") {
  auto env = good_job();
  std::string missing;
  SUBCASE("SYMPHONY_NRANKS") {
    missing = "SYMPHONY_NRANKS";
  }
  SUBCASE("SYMPHONY_RANK") {
    missing = "SYMPHONY_RANK";
  }
  SUBCASE("SYMPHONY_ADDRESSES") {
    missing = "SYMPHONY_ADDRESSES";
  }
  env.erase(missing);
  CAPTURE(missing);
  CHECK_THROWS_AS(read(env), symphony::config_error);
  const auto message = message_of([&] { read(env); });
  CHECK(unmentioned(message, {missing + " is not set", "SYMPHONY_NRANKS", "SYMPHONY_RANK",
                              "SYMPHONY_ADDRESSES"}) == "");
}

TEST_CASE("an empty environment is reported by the first variable symphony looks for") {
  CHECK_THROWS_AS(read({}), symphony::config_error);
  CHECK(unmentioned(message_of([] { read({}); }), {"SYMPHONY_NRANKS is not set"}) == "");
}

TEST_CASE("a malformed SYMPHONY_NRANKS or SYMPHONY_RANK is rejected with its name and value") {
  auto env = good_job();
  std::vector<std::string> expected;
  SUBCASE("a rank that is not a number") {
    env["SYMPHONY_RANK"] = "one";
    expected = {"SYMPHONY_RANK='one'", "not a whole number"};
  }
  SUBCASE("a rank with a fraction") {
    env["SYMPHONY_RANK"] = "1.5";
    expected = {"SYMPHONY_RANK='1.5'", "not a whole number"};
  }
  SUBCASE("a rank with a sign") {
    env["SYMPHONY_RANK"] = "+1";
    expected = {"SYMPHONY_RANK='+1'", "not a whole number"};
  }
  SUBCASE("an empty rank") {
    env["SYMPHONY_RANK"] = "";
    expected = {"SYMPHONY_RANK=''", "not a whole number"};
  }
  SUBCASE("a negative rank") {
    env["SYMPHONY_RANK"] = "-1";
    expected = {"SYMPHONY_RANK='-1'", "negative"};
  }
  SUBCASE("a rank equal to the size (ranks count from 0)") {
    env["SYMPHONY_RANK"] = "3";
    expected = {"SYMPHONY_RANK=3", "SYMPHONY_NRANKS=3", "not below"};
  }
  SUBCASE("a rank above the size") {
    env["SYMPHONY_RANK"] = "17";
    expected = {"SYMPHONY_RANK=17", "SYMPHONY_NRANKS=3"};
  }
  SUBCASE("a size that is not a number") {
    env["SYMPHONY_NRANKS"] = "three";
    expected = {"SYMPHONY_NRANKS='three'", "not a whole number"};
  }
  SUBCASE("a negative size") {
    env["SYMPHONY_NRANKS"] = "-3";
    expected = {"SYMPHONY_NRANKS='-3'", "negative"};
  }
  SUBCASE("a size of zero") {
    env["SYMPHONY_NRANKS"] = "0";
    env["SYMPHONY_RANK"] = "0";
    env["SYMPHONY_ADDRESSES"] = "";
    expected = {"SYMPHONY_NRANKS=0", "at least one rank"};
  }
  SUBCASE("a size too large for an int") {
    env["SYMPHONY_NRANKS"] = "99999999999";
    expected = {"SYMPHONY_NRANKS='99999999999'", "too large"};
  }
  CAPTURE(env["SYMPHONY_NRANKS"]);
  CAPTURE(env["SYMPHONY_RANK"]);
  CHECK_THROWS_AS(read(env), symphony::config_error);
  CHECK(unmentioned(message_of([&] { read(env); }), expected) == "");
}

TEST_CASE("SYMPHONY_ADDRESSES must hold one well-formed, distinct address per rank") {
  auto env = good_job();
  std::vector<std::string> expected;

  SUBCASE("too few addresses") {
    env["SYMPHONY_ADDRESSES"] = "node0:5000,node1:5001";
    expected = {"SYMPHONY_ADDRESSES='node0:5000,node1:5001' has 2 address(es)",
                "SYMPHONY_NRANKS=3"};
  }
  SUBCASE("too many addresses") {
    env["SYMPHONY_ADDRESSES"] = "a:1,b:2,c:3,d:4";
    expected = {"SYMPHONY_ADDRESSES='a:1,b:2,c:3,d:4' has 4 address(es)", "SYMPHONY_NRANKS=3"};
  }
  SUBCASE("no address at all") {
    env["SYMPHONY_ADDRESSES"] = "";
    expected = {"SYMPHONY_ADDRESSES='' has 0 address(es)", "SYMPHONY_NRANKS=3"};
  }
  SUBCASE("a trailing comma adds an empty entry") {
    env["SYMPHONY_ADDRESSES"] = "a:1,b:2,c:3,";
    expected = {"SYMPHONY_ADDRESSES='a:1,b:2,c:3,' has 4 address(es)", "SYMPHONY_NRANKS=3"};
  }

  // A malformed entry is named by its position and its text, with the reason.
  const auto entry_1 = [&](const std::string& text, const std::string& reason) {
    env["SYMPHONY_ADDRESSES"] = "node0:5000," + text + ",node2:5002";
    expected = {"SYMPHONY_ADDRESSES entry 1", "(rank 1)", "'" + text + "'", reason};
  };
  SUBCASE("no port") {
    entry_1("node1", "missing :port");
  }
  SUBCASE("empty host") {
    entry_1(":5001", "missing host");
  }
  SUBCASE("an unbracketed IPv6 address") {
    entry_1("::1:5001", "brackets");
  }
  SUBCASE("an unknown scheme") {
    entry_1("udp://node1:5001", "unsupported transport 'udp'");
  }
  SUBCASE("an empty ipc path") {
    entry_1("ipc://", "no path");
  }
  SUBCASE("port 0") {
    entry_1("node1:0", "out of range 1-65535");
  }
  SUBCASE("port 65536") {
    entry_1("node1:65536", "out of range 1-65535");
  }
  SUBCASE("port 99999") {
    entry_1("node1:99999", "out of range 1-65535");
  }
  SUBCASE("a port that is not a number") {
    entry_1("node1:http", "'http' is not a number");
  }
  SUBCASE("an empty entry between commas") {
    entry_1("", "empty address");
  }

  // Duplicates are found after normalization, so different spellings of one endpoint collide.
  const auto duplicates = [&](const std::string& list, const std::string& ranks,
                              const std::string& endpoint) {
    env["SYMPHONY_ADDRESSES"] = list;
    expected = {"SYMPHONY_ADDRESSES gives ranks " + ranks, "same address '" + endpoint + "'"};
  };
  SUBCASE("the same address twice") {
    duplicates("h:1,h:1,h:3", "0 and 1", "tcp://h:1");
  }
  SUBCASE("duplicates that are not neighbours") {
    duplicates("h:1,h:2,h:1", "0 and 2", "tcp://h:1");
  }
  SUBCASE("host:port and tcp://host:port") {
    duplicates("h:1,tcp://h:1,h:3", "0 and 1", "tcp://h:1");
  }
  SUBCASE("a port with a leading zero") {
    duplicates("h:1,h:2,h:02", "1 and 2", "tcp://h:2");
  }
  SUBCASE("[::1]:5 and tcp://[::1]:5") {
    duplicates("[::1]:5,x:1,tcp://[::1]:5", "0 and 2", "tcp://[::1]:5");
  }
  SUBCASE("the same ipc path") {
    duplicates("ipc:///tmp/s,ipc:///tmp/s,h:3", "0 and 1", "ipc:///tmp/s");
  }

  CAPTURE(env["SYMPHONY_ADDRESSES"]);
  CHECK_THROWS_AS(read(env), symphony::config_error);
  CHECK(unmentioned(message_of([&] { read(env); }), expected) == "");
}

TEST_CASE("addresses that share a host or a port but not both are distinct") {
  auto env = good_job();
  env["SYMPHONY_ADDRESSES"] = "h:1,h:2,g:1";
  CHECK_NOTHROW(read(env));
}

TEST_CASE("SYMPHONY_TIMEOUT is in seconds; 0 and inf wait forever") {
  auto env = good_job();
  SUBCASE("unset: 300 seconds") {
    CHECK(read(env).timeout == 300s);
  }
  SUBCASE("whole seconds") {
    env["SYMPHONY_TIMEOUT"] = "10";
    CHECK(read(env).timeout == 10s);
  }
  SUBCASE("a fraction: 0.5 is 500 ms") {
    env["SYMPHONY_TIMEOUT"] = "0.5";
    CHECK(read(env).timeout == 500ms);
  }
  SUBCASE("blanks around the number are ignored, as for the other variables") {
    env["SYMPHONY_TIMEOUT"] = " 2 \n";
    CHECK(read(env).timeout == 2s);
  }
  SUBCASE("a tiny positive timeout stays positive rather than becoming wait-forever") {
    env["SYMPHONY_TIMEOUT"] = "0.0001";
    CHECK(read(env).timeout == 1ms);
  }
  SUBCASE("0 waits forever") {
    env["SYMPHONY_TIMEOUT"] = "0";
    CHECK(read(env).timeout == symphony::wait_forever);
  }
  SUBCASE("inf waits forever") {
    env["SYMPHONY_TIMEOUT"] = "inf";
    CHECK(read(env).timeout == symphony::wait_forever);
  }
}

TEST_CASE("a malformed SYMPHONY_TIMEOUT is rejected with its value") {
  auto env = good_job();
  std::string value;
  std::string reason;
  SUBCASE("not a number") {
    value = "abc";
    reason = "not a number of seconds";
  }
  SUBCASE("negative") {
    value = "-1";
    reason = "negative";
  }
  SUBCASE("empty") {
    value = "";
    reason = "not a number of seconds";
  }
  SUBCASE("a number with a unit") {
    value = "5s";
    reason = "not a number of seconds";
  }
  SUBCASE("nan") {
    value = "nan";
    reason = "not a number of seconds";
  }
  env["SYMPHONY_TIMEOUT"] = value;
  CAPTURE(value);
  CHECK_THROWS_AS(read(env), symphony::config_error);
  CHECK(unmentioned(message_of([&] { read(env); }), {"SYMPHONY_TIMEOUT='" + value + "'", reason}) ==
        "");
}

TEST_CASE("config::validate checks a hand-built config and names its fields") {
  symphony::config c;
  c.rank = 1;
  c.size = 2;
  c.addresses = {"h:1", "h:2"};

  SUBCASE("a good config passes") {
    CHECK_NOTHROW(c.validate());
  }
  SUBCASE("wait_forever is a valid timeout") {
    c.timeout = symphony::wait_forever;
    CHECK_NOTHROW(c.validate());
  }

  std::vector<std::string> expected;
  SUBCASE("the default config has no address for its one rank") {
    c = symphony::config{};
    expected = {"config.addresses has 0 address(es)", "config.size=1"};
  }
  SUBCASE("size 0") {
    c.size = 0;
    c.rank = 0;
    expected = {"config.size=0", "at least one rank"};
  }
  SUBCASE("a negative rank") {
    c.rank = -1;
    expected = {"config.rank=-1", "negative"};
  }
  SUBCASE("rank equal to size") {
    c.rank = 2;
    expected = {"config.rank=2", "config.size=2"};
  }
  SUBCASE("an address count different from the size") {
    c.addresses.push_back("h:3");
    expected = {"config.addresses has 3 address(es)", "config.size=2"};
  }
  SUBCASE("a malformed address") {
    c.addresses[1] = "h";
    expected = {"config.addresses entry 1", "'h'", "missing :port"};
  }
  SUBCASE("two ranks at one endpoint") {
    c.addresses[1] = "tcp://h:1";
    expected = {"config.addresses gives ranks 0 and 1", "'tcp://h:1'"};
  }
  SUBCASE("a zero timeout") {
    c.timeout = std::chrono::milliseconds(0);
    expected = {"config.timeout", "positive", "wait_forever"};
  }
  SUBCASE("a negative timeout") {
    c.timeout = std::chrono::milliseconds(-5);
    expected = {"config.timeout", "positive"};
  }

  if (!expected.empty()) {
    CHECK_THROWS_AS(c.validate(), symphony::config_error);
    CHECK(unmentioned(message_of([&] { c.validate(); }), expected) == "");
  }
}

TEST_CASE("config_error is a symphony::error and a std::runtime_error, so one catch handles all") {
  CHECK_THROWS_AS(read({}), symphony::error);
  CHECK_THROWS_AS(read({}), std::runtime_error);
}

TEST_CASE("host names are case-insensitive: H:1 and h:1 are the same address") {
  auto env = good_job();
  env["SYMPHONY_ADDRESSES"] = "Node0:5000,node1:5001,NODE0:5000";
  const std::string what = message_of([&] { read(env); });
  CHECK(what.find("ranks 0 and 2") != std::string::npos);
  CHECK(what.find("tcp://node0:5000") != std::string::npos);
}
