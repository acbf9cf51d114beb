// symphony::bootstrap host lists: Slurm's compressed node lists, task counts and port ranges.
//
// The reference is Slurm itself: every row of data/hostlist-vectors.tsv was produced by
// `scontrol show hostnames` (Slurm 22.05.8). The further forms below are the ones
// /work/shared/scheduler/NOTES.md §8 reports as checked against scontrol. Every rejection must be
// a config_error naming the variable and its value.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <symphony/bootstrap/hostlist.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "bootstrap_data.hpp"

namespace {

using symphony::config_error;
using symphony::bootstrap::expand_hostlist;
using symphony::bootstrap::expand_ports;
using symphony::bootstrap::expand_tasks_per_node;
using symphony::bootstrap::hosts_by_rank;
using strings = std::vector<std::string>;

constexpr std::string_view nodelist = "SLURM_STEP_NODELIST";
constexpr std::string_view counts_var = "SLURM_STEP_TASKS_PER_NODE";

strings words(const std::string& text) {
  strings out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::vector<int> numbers(const std::string& text) {
  std::vector<int> out;
  for (const auto& w : words(text))
    out.push_back(std::stoi(w));
  return out;
}

// The message of the config_error `f` throws, or "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

std::string hostlist_error(const std::string& list) {
  return error_of([&] { expand_hostlist(list, nodelist); });
}

}  // namespace

TEST_CASE("every row of the Slurm 22.05 vectors expands as scontrol did") {
  int host_rows = 0, count_rows = 0, error_rows = 0;
  for (const auto& line : bootstrap_test::read_lines("hostlist-vectors.tsv")) {
    if (line.empty() || line[0] == '#') continue;
    const auto tab1 = line.find('\t');
    const auto tab2 = line.find('\t', tab1 + 1);
    REQUIRE(tab2 != std::string::npos);
    const std::string kind = line.substr(0, tab1);
    const std::string input = line.substr(tab1 + 1, tab2 - tab1 - 1);
    const std::string expected = line.substr(tab2 + 1);
    CAPTURE(input);
    if (kind == "hosts") {
      ++host_rows;
      if (expected == "ERROR") {
        ++error_rows;
        const std::string message = hostlist_error(input);
        CHECK(message.find("SLURM_STEP_NODELIST='" + input + "'") != std::string::npos);
      } else {
        CHECK(expand_hostlist(input, nodelist) == words(expected));
      }
    } else {
      REQUIRE(kind == "counts");
      ++count_rows;
      CHECK(expand_tasks_per_node(input, counts_var) == numbers(expected));
    }
  }
  // The file holds 24 host lists (5 of them errors) and 4 count lists; reading fewer means the
  // test stopped checking something.
  CHECK(host_rows == 24);
  CHECK(error_rows == 5);
  CHECK(count_rows == 4);
}

TEST_CASE("forms NOTES.md reports as checked against scontrol") {
  SUBCASE("the width of a range is the width of its low end") {
    CHECK(expand_hostlist("node[8-011]", nodelist) ==
          strings{"node8", "node9", "node10", "node11"});
    CHECK(expand_hostlist("n[01,1,001]", nodelist) == strings{"n01", "n1", "n001"});
    CHECK(expand_hostlist("node[9-11]", nodelist) == strings{"node9", "node10", "node11"});
    CHECK(expand_hostlist("n[99999999-100000001]", nodelist) ==
          strings{"n99999999", "n100000000", "n100000001"});
  }
  SUBCASE("single values, bare ranges, punctuated prefixes and dotted names") {
    CHECK(expand_hostlist("node[5]", nodelist) == strings{"node5"});
    CHECK(expand_hostlist("[1-3]", nodelist) == strings{"1", "2", "3"});
    CHECK(expand_hostlist("gpu-a100-[01-02]", nodelist) == strings{"gpu-a100-01", "gpu-a100-02"});
    CHECK(expand_hostlist("n_1[2-3]", nodelist) == strings{"n_12", "n_13"});
    CHECK(expand_hostlist("node1.cluster.local", nodelist) == strings{"node1.cluster.local"});
  }
  SUBCASE("order and duplicates are kept, empty items skipped") {
    CHECK(expand_hostlist("node1,node1", nodelist) == strings{"node1", "node1"});
    CHECK(expand_hostlist("node[1-2],", nodelist) == strings{"node1", "node2"});
    CHECK(expand_hostlist("a,\tb  c", nodelist) == strings{"a", "b", "c"});
  }
  SUBCASE("several bracket groups: a product in Slurm's order") {
    CHECK(expand_hostlist("node[1-2][3-4]", nodelist) ==
          strings{"node13", "node14", "node23", "node24"});
    // With three groups Slurm varies the last group fastest, then the first, then the middle.
    CHECK(expand_hostlist("a[1-2]b[3-4]c[5-6]", nodelist) ==
          strings{"a1b3c5", "a1b3c6", "a2b3c5", "a2b3c6", "a1b4c5", "a1b4c6", "a2b4c5", "a2b4c6"});
  }
  SUBCASE("forms Slurm 22.05 rejects") {
    for (const char* bad : {"node[1-2].cluster.local", "x[0-1]y[0-1]z", "node[3-1]", "node[]",
                            "bgl[123x456]", "node[1-2"}) {
      CAPTURE(bad);
      CHECK(hostlist_error(bad).find(std::string("'") + bad + "'") != std::string::npos);
    }
  }
}

TEST_CASE("malformed host lists say what is wrong, with the variable and the value") {
  const auto says = [](const std::string& list, const std::string& what) {
    const std::string message = hostlist_error(list);
    CAPTURE(list);
    CAPTURE(message);
    CHECK(message.find("SLURM_STEP_NODELIST='" + list + "'") == 0);
    CHECK(message.find(what) != std::string::npos);
  };
  says("node[01-03", "unclosed '[' at character 5");
  says("node[3-1]", "reversed range '3-1'");
  says("node[1,,2]", "empty entry");
  says("node[]", "empty bracket group");
  says("node[a-c]", "neither a number nor a LO-HI range");
  says("node[-2]", "neither a number nor a LO-HI range");
  says("node1]", "']' without a '[' at character 6");
  says("node[1[2]]", "do not nest");
  says("node[1, 2]", "whitespace inside the bracket group");
  says("n[1-3]-ib", "'-ib' after the ']'");
  says("", "names no host");
  says(" , ,", "names no host");
  says("n[0-65536]", "more than 65536 hosts");
  says("a[0-1023]b[0-2047]", "expands to more than 1048576 hosts");
  // The largest single range Slurm allows is fine.
  CHECK(expand_hostlist("n[0-65535]", nodelist).size() == 65536);
}

TEST_CASE("task counts per node") {
  CHECK(expand_tasks_per_node("2(x3),1", counts_var) == std::vector<int>{2, 2, 2, 1});
  CHECK(expand_tasks_per_node("4,2,1(x2)", counts_var) == std::vector<int>{4, 2, 1, 1});
  CHECK(expand_tasks_per_node("2(x2)", counts_var) == std::vector<int>{2, 2});
  CHECK(expand_tasks_per_node("3,1(x2)", counts_var) == std::vector<int>{3, 1, 1});
  for (const char* bad : {"", "2(x0)", "2(x", "x3", "2,,1", "2(3)", "-1", "2(x3)1", "4,"}) {
    const std::string message = error_of([&] { expand_tasks_per_node(bad, counts_var); });
    CAPTURE(bad);
    CHECK(message.find(std::string("SLURM_STEP_TASKS_PER_NODE='") + bad + "'") == 0);
  }
}

TEST_CASE("reserved port lists") {
  const auto ports = expand_ports("12001-12005", "SLURM_STEP_RESV_PORTS");
  CHECK(ports == std::vector<int>{12001, 12002, 12003, 12004, 12005});
  CHECK(expand_ports("12000,12998-12999", "SLURM_STEP_RESV_PORTS") ==
        std::vector<int>{12000, 12998, 12999});
  for (const char* bad : {"", "0-5", "70000", "12001-", "a", "12005-12001"}) {
    const std::string message = error_of([&] { expand_ports(bad, "SLURM_STEP_RESV_PORTS"); });
    CAPTURE(bad);
    CHECK(message.find(std::string("SLURM_STEP_RESV_PORTS='") + bad + "'") == 0);
  }
}

TEST_CASE("hosts by rank: nodes take consecutive ranks in order") {
  // srun -N 3 -n 5 on the emulated cluster: SLURM_STEP_TASKS_PER_NODE=3,1(x2).
  CHECK(hosts_by_rank(expand_hostlist("node[01-03]", nodelist),
                      expand_tasks_per_node("3,1(x2)", counts_var)) ==
        strings{"node01", "node01", "node01", "node02", "node03"});
  // srun -N 4 -n 8: 4,2,1(x2).
  CHECK(hosts_by_rank(expand_hostlist("node[01-04]", nodelist),
                      expand_tasks_per_node("4,2,1(x2)", counts_var)) ==
        strings{"node01", "node01", "node01", "node01", "node02", "node02", "node03", "node04"});
  CHECK(hosts_by_rank({"a", "b"}, {0, 2}) == strings{"b", "b"});

  const std::string mismatch = error_of([] {
    hosts_by_rank({"a", "b", "c"}, {2, 1}, "NODES='a,b,c'", "COUNTS='2,1'");
  });
  CHECK(mismatch.find("NODES='a,b,c' names 3 node(s)") != std::string::npos);
  CHECK(mismatch.find("COUNTS='2,1' gives task counts for 2 node(s)") != std::string::npos);
  CHECK(error_of([] { hosts_by_rank({"a"}, {-1}); }).find("negative") != std::string::npos);
}
