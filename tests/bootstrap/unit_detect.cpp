// symphony::bootstrap::detect_job: which launcher started this process, and what it says.
//
// Most environments here are real: per-task captures from Slurm 22.05, Open MPI 4.1.4 and MPICH
// hydra 4.0.2 (tests/bootstrap/data, see bootstrap_data.hpp), each task's environment fed to
// detect_job() through a lookup. Nested launchers are rebuilt from the captured outer environment
// plus the captured per-rank values. Flux and Torque were not available to capture; their cases
// are built from their documentation and sources, cited where they appear.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <symphony/bootstrap/detect.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "bootstrap_data.hpp"

namespace {

using namespace bootstrap_test;
using symphony::bootstrap::job_identity;
using strings = std::vector<std::string>;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool any_contains(const strings& texts, const std::string& part) {
  for (const auto& t : texts)
    if (contains(t, part)) return true;
  return false;
}

// The sources examined before `matched`, each of which must have said "not set".
void check_tried_before(const job_identity& id, const strings& names) {
  REQUIRE(id.tried.size() == names.size());
  for (std::size_t i = 0; i < names.size(); ++i)
    CHECK(id.tried[i] == names[i] + ": not set");
}

const strings before_slurm = {"symphony", "pyzmq_collectives", "openmpi", "pmi", "flux"};
const strings before_pmi = {"symphony", "pyzmq_collectives", "openmpi"};

}  // namespace

TEST_CASE("the detection order") {
  strings names;
  for (const auto& source : symphony::bootstrap::detection_sources())
    names.push_back(source.name);
  CHECK(names ==
        strings{"symphony", "pyzmq_collectives", "openmpi", "pmi", "flux", "slurm", "pbs"});
}

TEST_CASE("srun -n 4: every task is a Slurm rank on vm, with the step's reserved ports") {
  const auto tasks = read_tasks("slurm-srun-n4.added.txt");
  REQUIRE(tasks.size() == 4);
  for (int r = 0; r < 4; ++r) {
    CAPTURE(r);
    const auto id = detect(tasks[static_cast<std::size_t>(r)]);
    CHECK(id.source == "slurm");
    CHECK(id.rank == r);
    CHECK(id.size == 4);
    CHECK(id.local_rank == r);
    CHECK(id.hosts == strings(4, "vm"));
    CHECK(id.reserved_ports == "12065-12069");
    check_tried_before(id, before_slurm);
  }
}

TEST_CASE("srun -N 3 -n 5 on the emulated nodes: hosts follow SLURM_STEP_TASKS_PER_NODE=3,1(x2)") {
  const auto tasks = read_tasks("slurm-emul-srun-N3-n5.added.txt");
  REQUIRE(tasks.size() == 5);
  const strings hosts = {"node01", "node01", "node01", "node02", "node03"};
  const int local[] = {0, 1, 2, 0, 0};
  for (int r = 0; r < 5; ++r) {
    CAPTURE(r);
    const auto id = detect(tasks[static_cast<std::size_t>(r)]);
    CHECK(id.source == "slurm");
    CHECK(id.rank == r);
    CHECK(id.size == 5);
    CHECK(id.local_rank == local[r]);
    CHECK(id.hosts == hosts);
    CHECK(id.reserved_ports == "12041-12044");
    CHECK(id.notes.empty());
  }
}

TEST_CASE("srun --mpi=pmix: PMIX_RANK alone is no source, the step's variables are read") {
  const auto tasks = read_tasks("slurm-srun-mpi-pmix-n4.added.txt");
  REQUIRE(tasks.size() == 4);
  for (int r = 0; r < 4; ++r) {
    CAPTURE(r);
    const auto& env = tasks[static_cast<std::size_t>(r)];
    REQUIRE(env.count("PMIX_RANK") == 1);
    const auto id = detect(env);
    CHECK(id.source == "slurm");
    CHECK(id.rank == r);
    CHECK(id.size == 4);
    CHECK(id.local_rank == r);
    CHECK(id.hosts == strings(4, "vm"));
  }
}

TEST_CASE("srun --mpi=pmi2: PMI wins, local rank, hosts and ports come from the same step") {
  const auto tasks = read_tasks("slurm-srun-mpi-pmi2-n4.added.txt");
  REQUIRE(tasks.size() == 4);
  for (int r = 0; r < 4; ++r) {
    CAPTURE(r);
    const auto& env = tasks[static_cast<std::size_t>(r)];
    const auto id = detect(env);
    CHECK(id.source == "pmi");
    CHECK(id.rank == r);
    CHECK(id.size == 4);
    CHECK(id.local_rank == r);
    CHECK(id.hosts == strings(4, "vm"));
    CHECK(id.reserved_ports == env.at("SLURM_STEP_RESV_PORTS"));
    CHECK(any_contains(id.notes, "PMI_JOBID='" + env.at("PMI_JOBID") + "'"));
    check_tried_before(id, before_pmi);

    // A PMI_JOBID of another step proves nothing: then the local rank stays unknown.
    const auto other = detect(overlay(env, {{"PMI_JOBID", "999.0"}}));
    CHECK(other.local_rank == -1);
    CHECK(other.hosts.empty());
  }
}

TEST_CASE("mpirun -np 4 (Open MPI)") {
  const auto tasks = read_tasks("ompi-mpirun-np4.added.txt");
  REQUIRE(tasks.size() == 4);
  for (int r = 0; r < 4; ++r) {
    CAPTURE(r);
    const auto id = detect(tasks[static_cast<std::size_t>(r)]);
    CHECK(id.source == "openmpi");
    CHECK(id.rank == r);
    CHECK(id.size == 4);  // not OMPI_UNIVERSE_SIZE, which is 2 here
    CHECK(id.local_rank == r);
    CHECK(id.hosts.empty());
    CHECK(id.reserved_ports.empty());
    check_tried_before(id, {"symphony", "pyzmq_collectives"});
  }
}

TEST_CASE("mpiexec.hydra -n 4: PMI_RANK/PMI_SIZE, local rank from MPI_LOCALRANKID") {
  const auto tasks = read_tasks("hydra-mpiexec-n4.added.txt");
  REQUIRE(tasks.size() == 4);
  for (int r = 0; r < 4; ++r) {
    CAPTURE(r);
    const auto id = detect(tasks[static_cast<std::size_t>(r)]);
    CHECK(id.source == "pmi");
    CHECK(id.rank == r);
    CHECK(id.size == 4);
    CHECK(id.local_rank == r);
    CHECK(id.hosts.empty());
    check_tried_before(id, before_pmi);
  }
}

TEST_CASE("mpiexec.hydra -hosts vm,localhost: ranks alternate hosts, two per host") {
  const auto tasks = read_tasks("hydra-mpiexec-hosts-n4.added.txt");
  REQUIRE(tasks.size() == 4);
  const int local[] = {0, 0, 1, 1};
  for (int r = 0; r < 4; ++r) {
    CAPTURE(r);
    const auto id = detect(tasks[static_cast<std::size_t>(r)]);
    CHECK(id.source == "pmi");
    CHECK(id.rank == r);
    CHECK(id.local_rank == local[r]);
  }
}

TEST_CASE("mpiexec.hydra -pmi-port: rank only over the wire, so an error naming PMI_PORT") {
  const auto tasks = read_tasks("hydra-mpiexec-pmiport-n4.added.txt");
  REQUIRE(tasks.size() == 4);
  for (const auto& env : tasks) {
    const std::string message = detect_error(env);
    CHECK(contains(message, "PMI_PORT='" + env.at("PMI_PORT") + "'"));
    CHECK(contains(message, "-pmi-port"));
  }
  // Even inside a batch script, whose stale SLURM_* would otherwise be taken.
  const auto batch = assignments(read_lines("slurm-sbatch-n4-batchscript.added.txt"));
  CHECK(contains(detect_error(overlay(batch, tasks[1])), "-pmi-port"));
}

TEST_CASE("a batch script is not a task, and the error lists every source") {
  const auto batch = assignments(read_lines("slurm-sbatch-n4-batchscript.added.txt"));
  REQUIRE(batch.at("SLURM_PROCID") == "0");
  REQUIRE(batch.at("SLURM_NTASKS") == "4");
  const std::string message = detect_error(batch);
  CAPTURE(message);
  CHECK(contains(message, "SLURM_PROCID='0' is set but SLURM_STEP_ID is not"));
  CHECK(contains(message, "sbatch batch script"));
  CHECK(contains(message, "start the program with srun"));
  // Every source is listed in order, with the variables it reads.
  std::size_t at = 0;
  for (const char* part :
       {"1. symphony", "SYMPHONY_RANK, SYMPHONY_NRANKS", "2. pyzmq_collectives",
        "PYZMQ_COLLECTIVES_RANK", "3. openmpi", "OMPI_COMM_WORLD_RANK", "4. pmi", "PMI_RANK",
        "5. flux", "FLUX_TASK_RANK", "6. slurm", "SLURM_STEP_NODELIST", "7. pbs", "PBS_VNODENUM"}) {
    CAPTURE(part);
    const auto found = message.find(part, at);
    CHECK(found != std::string::npos);
    if (found != std::string::npos) at = found;
  }
}

TEST_CASE("an salloc shell is not a task") {
  const auto shell = assignments(read_lines("slurm-salloc-n4-shell.added.txt"));
  REQUIRE(shell.count("SLURM_NTASKS") == 1);
  const std::string message = detect_error(shell);
  CHECK(contains(message, "SLURM_JOB_ID='24' is set but SLURM_PROCID is not"));
  CHECK(contains(message, "salloc shell"));
}

TEST_CASE("an empty environment: every source says 'not set'") {
  const std::string message = detect_error({});
  for (const char* source :
       {"symphony", "pyzmq_collectives", "openmpi", "pmi", "flux", "slurm", "pbs"}) {
    CAPTURE(source);
    CHECK(contains(message, std::string(source) + " ("));
  }
  CHECK(contains(message, "SYMPHONY_RANK and SYMPHONY_NRANKS"));
}

TEST_CASE("launchers inside sbatch: the innermost launcher wins over the batch script's SLURM_*") {
  // mpi-launchers-inside-sbatch.txt records, per rank, the variables that matter; the rest of
  // each rank's environment is the batch script's (captured) plus what the launcher adds
  // (captured on its own). OMPI_RANK in the summary is OMPI_COMM_WORLD_RANK.
  const auto batch = assignments(read_lines("slurm-sbatch-n4-batchscript.added.txt"));
  const auto summary = read_lines("mpi-launchers-inside-sbatch.txt");
  REQUIRE(summary.size() == 9);

  SUBCASE("mpirun -np 4: stale SLURM_PROCID=0, SLURM_NTASKS=4, no step") {
    const auto ompi = read_tasks("ompi-mpirun-np4.added.txt");
    for (int r = 0; r < 4; ++r) {
      CAPTURE(r);
      auto seen = tokens(summary[static_cast<std::size_t>(r)]);
      REQUIRE(seen.at("OMPI_RANK") == std::to_string(r));
      seen.erase("OMPI_RANK");
      const auto env = overlay(overlay(batch, ompi[static_cast<std::size_t>(r)]), seen);
      REQUIRE(env.at("SLURM_PROCID") == "0");
      const auto id = detect(env);
      CHECK(id.source == "openmpi");
      CHECK(id.rank == r);
      CHECK(id.size == 4);
      CHECK(id.local_rank == r);
      CHECK(id.hosts.empty());
    }
  }
  SUBCASE("mpiexec.hydra -n 4: stale SLURM_PROCID=0 in hydra's one-task proxy step") {
    const auto hydra = read_tasks("hydra-mpiexec-n4.added.txt");
    REQUIRE(summary[4] == "---hydra---");
    for (int r = 0; r < 4; ++r) {
      CAPTURE(r);
      const auto seen = tokens(summary[static_cast<std::size_t>(5 + r)]);
      REQUIRE(seen.at("PMI_RANK") == std::to_string(r));
      const auto env = overlay(overlay(batch, hydra[static_cast<std::size_t>(r)]), seen);
      const auto id = detect(env);
      CHECK(id.source == "pmi");
      CHECK(id.rank == r);
      CHECK(id.size == 4);
      CHECK(id.local_rank == r);
      CHECK(id.hosts.empty());

      // The trap this order avoids: without the PMI variables the stale step looks like a whole
      // job of one rank, and four such "jobs" would each run alone.
      auto slurm_only = env;
      for (const char* var : {"PMI_RANK", "PMI_SIZE", "PMI_FD", "MPI_LOCALRANKID"})
        slurm_only.erase(var);
      const auto stale = detect(slurm_only);
      CHECK(stale.source == "slurm");
      CHECK(stale.size == 1);
    }
  }
}

TEST_CASE("launchers across two emulated nodes under sbatch: rank 5 of 6") {
  const std::string file = "mpi-launchers-across-emulated-nodes.txt";
  SUBCASE("hydra: PMI_RANK=5 despite SLURM_PROCID=1 of the proxy step") {
    const auto env = assignments(section(file, "== hydra env of rank 5"));
    REQUIRE(env.at("SLURM_PROCID") == "1");
    const auto id = detect(env);
    CHECK(id.source == "pmi");
    CHECK(id.rank == 5);
    CHECK(id.size == 6);
    CHECK(id.local_rank == 1);
  }
  SUBCASE("Open MPI: OMPI_COMM_WORLD_RANK=5 despite the daemons' step on node[01-02]") {
    const auto env = assignments(section(file, "== ompi env of rank 5"));
    REQUIRE(env.at("SLURM_STEP_NODELIST") == "node[01-02]");
    const auto id = detect(env);
    CHECK(id.source == "openmpi");
    CHECK(id.rank == 5);
    CHECK(id.size == 6);
    CHECK(id.local_rank == 1);
    CHECK(id.hosts.empty());  // the step's nodes describe mpirun's daemons, not these ranks
  }
}

TEST_CASE("an srun step inside a bigger allocation uses SLURM_STEP_*, not the job's node list") {
  // slurm-emul-substep.txt: sbatch -N 3 -n 6 running srun -N 2 -n 3; "<task>: NAME=value ..."
  // with the SLURM_ prefix dropped. SLURM_STEP_ID was not recorded; the step is 0 (its first).
  const auto lines = read_lines("slurm-emul-substep.txt");
  REQUIRE(lines.size() == 3);
  for (int r = 0; r < 3; ++r) {
    CAPTURE(r);
    environment env;
    for (const auto& [var, value] : tokens(lines[static_cast<std::size_t>(r)]))
      env["SLURM_" + var] = value;
    env["SLURM_STEP_TASKS_PER_NODE"] = env.at("SLURM_STEP_TPN");
    env["SLURM_TASKS_PER_NODE"] = env.at("SLURM_TPN");
    env["SLURM_PROCID"] = std::to_string(r);
    env["SLURM_STEP_ID"] = "0";
    REQUIRE(env.at("SLURM_JOB_NODELIST") == "node[01-03]");
    const auto id = detect(env);
    CHECK(id.source == "slurm");
    CHECK(id.rank == r);
    CHECK(id.size == 3);
    CHECK(id.hosts == strings{"node01", "node01", "node02"});
  }
}

TEST_CASE("non-block Slurm layouts leave hosts unknown (layouts from NOTES.md §2.2)") {
  // A srun -n 4 task from the capture, moved onto the emulated nodes.
  const auto base = read_tasks("slurm-srun-n4.added.txt")[0];
  SUBCASE("-N 4 -n 7 -m cyclic: rank 4 runs on node01") {
    const auto env = overlay(base, {{"SLURM_PROCID", "4"},
                                    {"SLURM_LOCALID", "1"},
                                    {"SLURM_NODEID", "0"},
                                    {"SLURM_STEP_NUM_TASKS", "7"},
                                    {"SLURM_STEP_NUM_NODES", "4"},
                                    {"SLURM_STEP_NODELIST", "node[01-04]"},
                                    {"SLURM_STEP_TASKS_PER_NODE", "4,1(x3)"},
                                    {"SLURM_GTIDS", "0,4,5,6"},
                                    {"SLURM_DISTRIBUTION", "cyclic"}});
    const auto id = detect(env);
    CHECK(id.source == "slurm");
    CHECK(id.rank == 4);
    CHECK(id.local_rank == 1);
    CHECK(id.hosts.empty());
    CHECK(any_contains(id.notes, "SLURM_DISTRIBUTION='cyclic'"));
  }
  SUBCASE("-m arbitrary from a host file node03,node01,node01,node02: rank 0 on node03") {
    // Even without SLURM_DISTRIBUTION, each rank's own placement contradicts a block layout.
    const char* node_id[] = {"2", "0", "0", "1"};
    const char* local_id[] = {"0", "0", "1", "0"};
    const char* gtids[] = {"0", "1,2", "1,2", "3"};
    for (int r = 0; r < 4; ++r) {
      CAPTURE(r);
      const auto env = overlay(base, {{"SLURM_PROCID", std::to_string(r)},
                                      {"SLURM_NODEID", node_id[r]},
                                      {"SLURM_LOCALID", local_id[r]},
                                      {"SLURM_GTIDS", gtids[r]},
                                      {"SLURM_STEP_NUM_NODES", "3"},
                                      {"SLURM_STEP_NODELIST", "node[01-03]"},
                                      {"SLURM_STEP_TASKS_PER_NODE", "2,1(x2)"}});
      const auto id = detect(env);
      CHECK(id.rank == r);
      CHECK(id.hosts.empty());
      CHECK(any_contains(id.notes, "the layout is not block"));
    }
  }
  SUBCASE("block:cyclic is block over nodes") {
    const auto id = detect(overlay(base, {{"SLURM_DISTRIBUTION", "block:cyclic"}}));
    CHECK(id.hosts == strings(4, "vm"));
  }
}

TEST_CASE("special Slurm steps are not tasks") {
  auto env = read_tasks("slurm-srun-n4.added.txt")[0];
  env["SLURM_STEP_ID"] = "4294967291";  // SLURM_BATCH_SCRIPT
  env["SLURM_STEPID"] = "4294967291";
  CHECK(contains(detect_error(env), "special steps"));
}

TEST_CASE("a matching but inconsistent source is an error naming the variable and value") {
  const auto srun = read_tasks("slurm-srun-n4.added.txt")[3];
  const auto emul = read_tasks("slurm-emul-srun-N3-n5.added.txt")[0];
  const auto ompi = read_tasks("ompi-mpirun-np4.added.txt")[0];
  const auto hydra = read_tasks("hydra-mpiexec-n4.added.txt")[0];
  const auto says = [](const environment& env, const std::string& what) {
    const std::string message = detect_error(env);
    CAPTURE(message);
    CHECK(contains(message, what));
  };
  says(overlay(srun, {{"SLURM_PROCID", "4"}}),
       "SLURM_PROCID=4 is not below SLURM_STEP_NUM_TASKS=4");
  says(overlay(ompi, {{"OMPI_COMM_WORLD_RANK", "abc"}}),
       "OMPI_COMM_WORLD_RANK='abc' is not a whole number");
  says(overlay(ompi, {{"OMPI_COMM_WORLD_SIZE", "-4"}}), "OMPI_COMM_WORLD_SIZE='-4' is negative");
  says(overlay(ompi, {{"OMPI_COMM_WORLD_SIZE", "0"}}), "a job needs at least one rank");
  says(overlay(ompi, {{"OMPI_COMM_WORLD_LOCAL_RANK", "9"}}),
       "OMPI_COMM_WORLD_LOCAL_RANK=9 is not below OMPI_COMM_WORLD_SIZE=4");
  says(overlay(hydra, {{"PMI_SIZE", "unset"}}), "PMI_RANK='0' is set but PMI_SIZE is not");
  says(overlay(emul, {{"SLURM_STEP_NODELIST", "node[01-03"}}),
       "SLURM_STEP_NODELIST='node[01-03' has an unclosed '['");
  says(overlay(emul, {{"SLURM_STEP_TASKS_PER_NODE", "3,1,2"}}),
       "SLURM_STEP_TASKS_PER_NODE='3,1,2' adds up to 6 task(s) but SLURM_STEP_NUM_TASKS=5");
  says(overlay(emul, {{"SLURM_STEP_TASKS_PER_NODE", "3,2"}}),
       "SLURM_STEP_NODELIST='node[01-03]' names 3 node(s) but SLURM_STEP_TASKS_PER_NODE='3,2' "
       "gives task counts for 2 node(s)");
  says(overlay(emul, {{"SLURM_STEP_NUM_NODES", "2"}}),
       "names 3 node(s) but SLURM_STEP_NUM_NODES='2'");
  says(overlay(emul, {{"SLURM_STEP_RESV_PORTS", "12041-"}}), "SLURM_STEP_RESV_PORTS='12041-'");
  says({{"SYMPHONY_RANK", "1"}}, "SYMPHONY_RANK='1' is set but SYMPHONY_NRANKS is not");
}

TEST_CASE("explicit variables override every launcher") {
  const auto srun = read_tasks("slurm-srun-n4.added.txt")[2];
  const auto id = detect(overlay(srun, {{"SYMPHONY_RANK", "1"}, {"SYMPHONY_NRANKS", "2"}}));
  CHECK(id.source == "symphony");
  CHECK(id.rank == 1);
  CHECK(id.size == 2);
  CHECK(id.local_rank == -1);
  CHECK(id.hosts.empty());
  CHECK(id.tried.empty());

  const auto py =
      detect(overlay(srun, {{"PYZMQ_COLLECTIVES_RANK", "0"}, {"PYZMQ_COLLECTIVES_NRANKS", "3"}}));
  CHECK(py.source == "pyzmq_collectives");
  CHECK(py.size == 3);
}

TEST_CASE("Flux (from flux-core doc/man7/flux-environment.rst; not captured here)") {
  // A task of `flux run -N2 -n8`: the job shell sets FLUX_* and, via its PMI server, PMI_*.
  const environment task = {{"FLUX_JOB_ID", "f2Ht9rLxy"},
                            {"FLUX_JOB_SIZE", "8"},
                            {"FLUX_JOB_NNODES", "2"},
                            {"FLUX_TASK_RANK", "5"},
                            {"FLUX_TASK_LOCAL_ID", "1"},
                            {"PMI_RANK", "5"},
                            {"PMI_SIZE", "8"},
                            {"PMI_FD", "7"}};
  SUBCASE("with Flux's PMI server: PMI wins, local rank from FLUX_TASK_LOCAL_ID") {
    const auto id = detect(task);
    CHECK(id.source == "pmi");
    CHECK(id.rank == 5);
    CHECK(id.size == 8);
    CHECK(id.local_rank == 1);
    CHECK(any_contains(id.notes, "Flux"));
  }
  SUBCASE("with -o pmi=none") {
    const auto id =
        detect(overlay(task, {{"PMI_RANK", "unset"}, {"PMI_SIZE", "unset"}, {"PMI_FD", "unset"}}));
    CHECK(id.source == "flux");
    CHECK(id.rank == 5);
    CHECK(id.size == 8);
    CHECK(id.local_rank == 1);
    check_tried_before(id, {"symphony", "pyzmq_collectives", "openmpi", "pmi"});
  }
  SUBCASE("mpiexec.hydra -n 4 run by one Flux task: hydra's PMI wins over stale FLUX_*") {
    const auto rank2 = read_tasks("hydra-mpiexec-n4.added.txt")[2];
    const auto id = detect(overlay(
        overlay(task,
                {{"FLUX_TASK_RANK", "0"}, {"FLUX_JOB_SIZE", "1"}, {"FLUX_TASK_LOCAL_ID", "0"}}),
        rank2));
    CHECK(id.source == "pmi");
    CHECK(id.rank == 2);
    CHECK(id.size == 4);
    CHECK(id.local_rank == 2);
  }
}

TEST_CASE("Torque pbsdsh (from the Torque sources and pbsdsh(1); not captured here)") {
  const std::string nodefile = "/var/spool/torque/aux/42.server";
  fake_files files;
  files.files[nodefile] = "n1\nn1\nn1\nn1\nn2\nn2\nn2\nn2\n";  // nodes=2:ppn=4, one line per vnode
  const environment job = {{"PBS_JOBID", "42.server"},
                           {"PBS_NODEFILE", nodefile},
                           {"PBS_NODENUM", "1"},
                           {"PBS_TASKNUM", "3"},
                           {"PBS_ENVIRONMENT", "PBS_BATCH"}};
  const auto detect_with_files = [&](const environment& env) {
    return symphony::bootstrap::detect_job(lookup_in(env), files.reader());
  };

  SUBCASE("a pbsdsh task: rank PBS_VNODENUM, size and hosts from the node file") {
    const auto id = detect_with_files(overlay(job, {{"PBS_VNODENUM", "5"}}));
    CHECK(files.asked == strings{nodefile});
    CHECK(id.source == "pbs");
    CHECK(id.rank == 5);
    CHECK(id.size == 8);
    CHECK(id.local_rank == 1);
    CHECK(id.hosts == strings{"n1", "n1", "n1", "n1", "n2", "n2", "n2", "n2"});
  }
  SUBCASE("the job script (PBS_VNODENUM=0 with PBS_NP) is not a task") {
    const auto env = overlay(job, {{"PBS_VNODENUM", "0"}, {"PBS_NP", "8"}});
    const std::string message = detect_error(env);
    CHECK(contains(message, "Torque job script"));
    CHECK(contains(message, "PBS_NP='8'"));
  }
  SUBCASE("an unreadable node file, or one that disagrees with PBS_NP, is an error") {
    const auto gone = overlay(job, {{"PBS_VNODENUM", "5"}, {"PBS_NODEFILE", "/nonexistent"}});
    CHECK(contains(detect_error(gone), "PBS_NODEFILE='/nonexistent' cannot be read"));
    const auto np = overlay(job, {{"PBS_VNODENUM", "5"}, {"PBS_NP", "6"}});
    bool threw = false;
    try {
      detect_with_files(np);
    } catch (const symphony::config_error& e) {
      threw = contains(e.what(), "has 8 line(s) but PBS_NP='6'");
    }
    CHECK(threw);
  }
  SUBCASE("OpenPBS sets no PBS_VNODENUM: no rank, and the error says what to do") {
    const auto env = overlay(job, {{"PBS_TASKNUM", "00000002"}});
    CHECK(contains(detect_error(env), "PBS Pro and OpenPBS give tasks no rank"));
  }
}

TEST_CASE("the real environment and file system") {
  // detect_job() reads getenv: explicit variables win whatever launcher runs this test.
  REQUIRE(::setenv("SYMPHONY_RANK", "2", 1) == 0);
  REQUIRE(::setenv("SYMPHONY_NRANKS", "3", 1) == 0);
  const auto id = symphony::bootstrap::detect_job();
  ::unsetenv("SYMPHONY_RANK");
  ::unsetenv("SYMPHONY_NRANKS");
  CHECK(id.source == "symphony");
  CHECK(id.rank == 2);
  CHECK(id.size == 3);

  const auto tsv = symphony::bootstrap::read_text_file(data_path("hostlist-vectors.tsv"));
  REQUIRE(tsv.has_value());
  CHECK(tsv->rfind("# generated by gen-hostlist-vectors.sh", 0) == 0);
  CHECK_FALSE(symphony::bootstrap::read_text_file(data_path("no-such-file")).has_value());
}

TEST_CASE("the captures set every variable detection relies on in every task") {
  // *.vars.txt counts the tasks that had each variable: a variable set for only some tasks (like
  // TMPDIR, rank 0 only under srun) must not be one that detection needs.
  const auto every_task = [](const std::string& file, int tasks, const strings& vars) {
    const auto counts = read_task_counts(file);
    for (const auto& var : vars) {
      CAPTURE(file);
      CAPTURE(var);
      CHECK(counts.count(var) == 1);
      if (counts.count(var) == 1) CHECK(counts.at(var) == tasks);
    }
  };
  const strings slurm = {"SLURM_PROCID",         "SLURM_STEP_ID",
                         "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID",
                         "SLURM_STEP_NODELIST",  "SLURM_STEP_TASKS_PER_NODE",
                         "SLURM_STEP_NUM_NODES", "SLURM_STEP_RESV_PORTS"};
  every_task("slurm-srun-n4.vars.txt", 4, slurm);
  every_task("slurm-emul-srun-N3-n5.vars.txt", 5, slurm);
  every_task("slurm-srun-mpi-pmix-n4.vars.txt", 4, slurm);
  every_task("slurm-srun-mpi-pmi2-n4.vars.txt", 4, {"PMI_RANK", "PMI_SIZE", "PMI_JOBID"});
  every_task("ompi-mpirun-np4.vars.txt", 4,
             {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"});
  every_task("hydra-mpiexec-n4.vars.txt", 4, {"PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"});
  every_task("hydra-mpiexec-hosts-n4.vars.txt", 4, {"PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"});
  every_task("hydra-mpiexec-pmiport-n4.vars.txt", 4, {"PMI_PORT", "PMI_ID"});
  CHECK(read_task_counts("hydra-mpiexec-pmiport-n4.vars.txt").count("PMI_RANK") == 0);
}
