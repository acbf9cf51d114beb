// symphony::bootstrap::plan_join: how a rank will find the others, decided from the environment
// alone. Most environments are the real launcher captures in tests/bootstrap/data.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>
#include <symphony/bootstrap/join.hpp>
#include <vector>

#include "bootstrap_data.hpp"

namespace {

using namespace bootstrap_test;
using symphony::bootstrap::exchange_method;
using symphony::bootstrap::join_plan;

join_plan plan(const environment& env) {
  return symphony::bootstrap::plan_join(lookup_in(env));
}

/// The config_error plan_join() throws on `env`, or "" when it throws none.
std::string plan_error(const environment& env) {
  try {
    plan(env);
  } catch (const symphony::config_error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const environment explicit_rank{{"SYMPHONY_RANK", "1"}, {"SYMPHONY_NRANKS", "4"}};

}  // namespace

TEST_CASE("SYMPHONY_ADDRESSES: nothing to exchange, the list is the job") {
  const auto p = plan({{"SYMPHONY_RANK", "1"},
                       {"SYMPHONY_NRANKS", "2"},
                       {"SYMPHONY_ADDRESSES", "127.0.0.1:5001,127.0.0.1:5002"},
                       {"SYMPHONY_TIMEOUT", "7"}});
  CHECK(p.method == exchange_method::addresses);
  REQUIRE(p.explicit_config);
  CHECK(p.explicit_config->addresses[1] == "127.0.0.1:5002");
  CHECK(p.identity.rank == 1);
  CHECK(p.timeout == std::chrono::seconds(7));
  CHECK(p.listen.empty());
}

TEST_CASE("PYZMQ_COLLECTIVES_ADDRESSES counts as an explicit list too") {
  const auto p = plan({{"PYZMQ_COLLECTIVES_RANK", "0"},
                       {"PYZMQ_COLLECTIVES_NRANKS", "1"},
                       {"PYZMQ_COLLECTIVES_ADDRESSES", "127.0.0.1:5001"}});
  CHECK(p.method == exchange_method::addresses);
  CHECK(p.identity.source == "pyzmq_collectives");
}

TEST_CASE("SYMPHONY_ROOT: a rendezvous there, listening on a free port and an ipc socket") {
  auto env = explicit_rank;
  env["SYMPHONY_ROOT"] = "node01:29500";
  const auto p = plan(env);
  CHECK(p.method == exchange_method::root);
  CHECK(p.root == "tcp://node01:29500");
  CHECK(p.identity.rank == 1);
  CHECK(p.identity.size == 4);
  REQUIRE(p.listen.size() == 2);
  CHECK(p.listen[0] == "tcp://*:0");
  CHECK(p.listen[1].rfind("ipc://@symphony-", 0) == 0);
  CHECK(!p.locality.empty());
}

TEST_CASE("SYMPHONY_ROOT wins over every launcher's own way") {
  // Copied out of the vector first: a range-for over an element of a temporary would dangle.
  auto env = read_tasks("slurm-srun-n4.added.txt")[2];
  env["SYMPHONY_ROOT"] = "10.1.2.3:4000";
  const auto p = plan(env);
  CHECK(p.method == exchange_method::root);
  CHECK(p.identity.source == "slurm");
  CHECK(p.identity.rank == 2);
}

TEST_CASE("a malformed SYMPHONY_ROOT is named with its value") {
  auto env = explicit_rank;
  env["SYMPHONY_ROOT"] = "node01";
  const auto message = plan_error(env);
  CHECK(contains(message, "SYMPHONY_ROOT='node01'"));
  CHECK(contains(message, "missing :port"));
}

TEST_CASE("rank and size but no way to find the others: an error that says what to set") {
  const auto message = plan_error(explicit_rank);
  CHECK(contains(message, "rank 1 of 4"));
  CHECK(contains(message, "SYMPHONY_ROOT=host:port"));
  CHECK(contains(message, "neither SYMPHONY_ADDRESSES nor SYMPHONY_ROOT"));
}

TEST_CASE("srun with reserved ports: rendezvous at rank 0's node on the first reserved port") {
  const auto tasks = read_tasks("slurm-srun-n4.added.txt");
  for (std::size_t r = 0; r < tasks.size(); ++r) {
    CAPTURE(r);
    const auto p = plan(tasks[r]);
    CHECK(p.method == exchange_method::slurm);
    CHECK(p.root == "vm:12065");  // SLURM_STEP_RESV_PORTS=12065-12069, SLURM_STEP_NODELIST=vm
    CHECK(p.job_token == "slurm:61.0");
    CHECK(p.identity.rank == static_cast<int>(r));
  }
}

TEST_CASE("srun across nodes (block layout): rank 0's node is the step's first node") {
  const auto tasks = read_tasks("slurm-emul-srun-N3-n5.added.txt");
  const auto p = plan(tasks[4]);
  CHECK(p.method == exchange_method::slurm);
  CHECK(p.root.rfind("node01:", 0) == 0);
}

TEST_CASE("srun without reserved ports: one node falls back to loopback, several nodes ask") {
  auto one_node = read_tasks("slurm-srun-n4.added.txt")[1];
  one_node.erase("SLURM_STEP_RESV_PORTS");
  const auto p = plan(one_node);
  CHECK(p.method == exchange_method::one_node);
  CHECK(p.root.rfind("127.0.0.1:", 0) == 0);
  CHECK(p.listen[0] == "tcp://127.0.0.1:0");

  auto many_nodes = read_tasks("slurm-emul-srun-N3-n5.added.txt")[3];
  many_nodes.erase("SLURM_STEP_RESV_PORTS");
  const auto message = plan_error(many_nodes);
  CHECK(contains(message, "rank 3 of 5 (detected from slurm)"));
  CHECK(contains(message, "SLURM_STEP_RESV_PORTS"));
  CHECK(contains(message, "--mpi=pmi2"));
}

TEST_CASE("srun with a cyclic layout does not tell rank 0's node: ask for SYMPHONY_ROOT") {
  auto env = read_tasks("slurm-emul-srun-N3-n5.added.txt")[0];
  env["SLURM_DISTRIBUTION"] = "cyclic";
  const auto message = plan_error(env);
  CHECK(contains(message, "does not tell rank 0's node"));
  CHECK(contains(message, "SYMPHONY_ROOT"));
}

TEST_CASE("mpirun on one node: loopback rendezvous at a port derived from the job id") {
  const auto tasks = read_tasks("ompi-mpirun-np4.added.txt");
  std::string root;
  for (std::size_t r = 0; r < tasks.size(); ++r) {
    CAPTURE(r);
    const auto p = plan(tasks[r]);
    CHECK(p.method == exchange_method::one_node);
    CHECK(p.job_token == "openmpi:1170472961");
    if (r == 0) root = p.root;
    CHECK(p.root == root);  // every rank derives the same port
  }
  const int port = std::stoi(root.substr(root.rfind(':') + 1));
  CHECK(port >= 10000);
  CHECK(port < 30000);  // below Linux's ephemeral range
}

TEST_CASE("mpirun across nodes without SYMPHONY_ROOT: an error, not a guess") {
  auto env = read_tasks("ompi-mpirun-np4.added.txt")[0];
  env["OMPI_COMM_WORLD_LOCAL_SIZE"] = "2";
  const auto message = plan_error(env);
  CHECK(contains(message, "detected from openmpi"));
  CHECK(contains(message, "SYMPHONY_ROOT"));
}

TEST_CASE("a one-node launcher without a job id cannot derive a port") {
  auto env = read_tasks("ompi-mpirun-np4.added.txt")[0];
  env.erase("OMPI_MCA_ess_base_jobid");
  env.erase("PMIX_NAMESPACE");
  const auto message = plan_error(env);
  CHECK(contains(message, "no job id"));
}

TEST_CASE("hydra and srun --mpi=pmi2: the launcher's PMI store, with no setting at all") {
  CHECK(plan(read_tasks("hydra-mpiexec-n4.added.txt")[3]).method == exchange_method::pmi);
  CHECK(plan(read_tasks("slurm-srun-mpi-pmi2-n4.added.txt")[1]).method == exchange_method::pmi);
}

TEST_CASE("hydra -pmi-port: no PMI_RANK, so rank and size come over the wire later") {
  const auto p = plan(read_tasks("hydra-mpiexec-pmiport-n4.added.txt")[2]);
  CHECK(p.method == exchange_method::pmi);
  CHECK(p.identity.rank == -1);
  CHECK(p.identity.size == -1);
}

TEST_CASE("a job of one rank needs nobody") {
  const auto p = plan({{"SYMPHONY_RANK", "0"}, {"SYMPHONY_NRANKS", "1"}});
  CHECK(p.method == exchange_method::one_node);
}

TEST_CASE("SYMPHONY_IFACE picks where to listen: an interface's IPv4 address, or an IP literal") {
  auto env = explicit_rank;
  env["SYMPHONY_ROOT"] = "10.0.0.1:29500";
  env["SYMPHONY_IFACE"] = "lo";
  CHECK(plan(env).listen[0] == "tcp://127.0.0.1:0");  // not ::1, though lo has it too
  env["SYMPHONY_IFACE"] = "fd00::5";
  CHECK(plan(env).listen[0] == "tcp://[fd00::5]:0");
  env["SYMPHONY_IFACE"] = "10.9.8.7";
  CHECK(plan(env).listen[0] == "tcp://10.9.8.7:0");
  env["SYMPHONY_IFACE"] = "no-such-nic0";
  const auto message = plan_error(env);
  CHECK(contains(message, "SYMPHONY_IFACE='no-such-nic0'"));
  CHECK(contains(message, "interfaces here: "));
  CHECK(contains(message, "lo"));
}

TEST_CASE("SYMPHONY_IPC=0 keeps every peer on tcp; other values are refused") {
  auto env = explicit_rank;
  env["SYMPHONY_ROOT"] = "10.0.0.1:29500";
  env["SYMPHONY_IPC"] = "0";
  const auto p = plan(env);
  CHECK_FALSE(p.use_ipc);
  CHECK(p.listen == std::vector<std::string>{"tcp://*:0"});
  env["SYMPHONY_IPC"] = "yes";
  CHECK(contains(plan_error(env), "SYMPHONY_IPC='yes'"));
}

TEST_CASE("a bad SYMPHONY_TIMEOUT is named before anything else") {
  auto env = explicit_rank;
  env["SYMPHONY_TIMEOUT"] = "soon";
  CHECK(contains(plan_error(env), "SYMPHONY_TIMEOUT='soon'"));
}

TEST_CASE("no launcher at all: detect_job's list of every source tried") {
  const auto message = plan_error({});
  CHECK(contains(message, "Sources tried"));
  CHECK(contains(message, "slurm"));
}
