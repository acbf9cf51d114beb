// symphony/bootstrap/detect.hpp: who am I in this job? This process's rank, the job size, its
// local rank and, where the launcher tells, every rank's host, read from the launcher's variables.
//
// Detection only parses: it opens no socket and waits for nothing. detect_job() examines the
// sources below in this order, and the first one whose variables are set wins. A source that is
// set but inconsistent (a rank that is not a number, a rank not below the size, a malformed Slurm
// list) is an error naming the variable and its value, never a reason to try the next source.
// When no source is set, the error lists every source and the variables it looks for.
//
//   1. symphony           explicit, e.g. from symphony-run:  SYMPHONY_RANK, SYMPHONY_NRANKS
//   2. pyzmq_collectives  jobs written for pyzmq-collectives: PYZMQ_COLLECTIVES_RANK,
//                         PYZMQ_COLLECTIVES_NRANKS
//   3. openmpi            Open MPI mpirun/mpiexec: OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE,
//                         OMPI_COMM_WORLD_LOCAL_RANK
//   4. pmi                MPICH hydra mpiexec, srun --mpi=pmi2, Flux's PMI server: PMI_RANK,
//                         PMI_SIZE, and MPI_LOCALRANKID (hydra sets it; srun and Flux do not)
//   5. flux               flux run / flux submit: FLUX_TASK_RANK, FLUX_JOB_SIZE, FLUX_TASK_LOCAL_ID
//   6. slurm              an srun task: SLURM_PROCID with SLURM_STEP_ID (or SLURM_STEPID); size
//                         SLURM_STEP_NUM_TASKS (or SLURM_NTASKS); SLURM_LOCALID; hosts from
//                         SLURM_STEP_NODELIST and SLURM_STEP_TASKS_PER_NODE, checked against
//                         SLURM_STEP_NUM_NODES, SLURM_DISTRIBUTION, SLURM_NODEID and SLURM_GTIDS;
//                         ports from SLURM_STEP_RESV_PORTS
//   7. pbs                a Torque pbsdsh task: PBS_VNODENUM, the file named by
//                         PBS_NODEFILE, PBS_NP
//
// What each source yields besides rank and size:
//   local_rank      openmpi, pmi (hydra; under srun --mpi=pmi2 and Flux taken from the
//                   launcher that serves the PMI), flux, slurm, pbs; not symphony/pyzmq
//   hosts           slurm (block layouts only) and pbs; no other launcher puts the other ranks'
//                   hosts in the environment (they are in its key-value store)
//   reserved_ports  slurm, when MpiParams=ports=... makes srun reserve ports for the step
//
// Why this order: the innermost launcher first. A launcher started inside another one's job
// inherits the outer variables, and for its ranks they are stale (observed with Slurm 22.05,
// Open MPI 4.1.4 and MPICH hydra 4.0.2; the captures are in tests/bootstrap/data):
//   * Explicit variables are the user's word and override any scheduler; symphony-run may well
//     run inside an allocation.
//   * MPI launchers come before the schedulers. Under `sbatch -n 4`, `mpirun -np 4` gives every
//     rank SLURM_PROCID=0 and SLURM_NTASKS=4, and `mpiexec.hydra -n 4` gives every rank
//     SLURM_PROCID=0, SLURM_STEP_ID=0 and SLURM_STEP_NUM_TASKS=1 (hydra's proxy step): read first,
//     Slurm would make four "rank 0 of 1" jobs (mpi-launchers-inside-sbatch.txt). Across two
//     nodes, mpirun's rank 5 of 6 sees SLURM_PROCID=1 of SLURM_STEP_NUM_TASKS=2, the step of its
//     daemons (mpi-launchers-across-emulated-nodes.txt).
//   * openmpi before pmi: Open MPI's ranks carry no PMI_RANK and hydra's no OMPI_*, so the order
//     only decides mpirun started under hydra (Open MPI wins, correctly). The reverse nesting,
//     hydra under mpirun, would be misread and is not supported.
//   * pmi before flux: Flux's job shell sets PMI_RANK/PMI_SIZE beside FLUX_TASK_RANK with the same
//     values (flux-core doc/man7/flux-environment.rst), while an mpiexec run inside a Flux job
//     leaves its ranks a stale FLUX_TASK_RANK. When FLUX_TASK_RANK/FLUX_JOB_SIZE equal PMI's and
//     hydra's MPI_LOCALRANKID is absent, the local rank is taken from FLUX_TASK_LOCAL_ID.
//   * PMI before slurm for the same reason; and `srun --mpi=pmi2` sets both with equal values
//     (slurm-srun-mpi-pmi2-n4). When PMI_JOBID is this step's "<job>.<step>", the PMI server is
//     Slurm's and the local rank, hosts and reserved ports come from the step's SLURM_* variables.
//   * flux before slurm and pbs: Flux's initial program unsets SLURM_* and PMI_* for what it
//     starts, but not PBS_* (flux-environment(7)).
//   * slurm counts only inside an srun step. The batch script has SLURM_PROCID=0, SLURM_NTASKS=4
//     and no SLURM_STEP_* variables at all (slurm-sbatch-n4-batchscript), and an salloc shell has
//     no SLURM_PROCID (slurm-salloc-n4-shell). Neither is a task: read as "rank 0 of 4" it would
//     wait forever for three ranks that never start. Slurm's special steps (step ids above
//     0xfffffff0 in slurm.h: batch, extern, interactive) are not tasks either.
//   * PMIX_RANK alone is not a source: PMIx puts no job size in the environment, and under
//     mpirun and srun --mpi=pmix the OMPI_* or SLURM_* variables are there anyway.
//   * MPICH hydra's -pmi-port mode sets PMI_PORT and PMI_ID but no PMI_RANK: rank and size are
//     then only available over the PMI wire protocol. That is an error rather than a fall-through,
//     because the next source could be an enclosing sbatch's stale SLURM_* variables.
//
// Slurm hosts: SLURM_STEP_NODELIST lists the step's nodes and SLURM_STEP_TASKS_PER_NODE how many
// tasks each runs, but not which ranks (SLURM_NODELIST and SLURM_JOB_NODELIST describe the whole
// allocation, not the step, and are never used). Hosts are derived only for the block layout, when
// SLURM_DISTRIBUTION is unset or starts with "block" and this task's own SLURM_NODEID,
// SLURM_LOCALID and SLURM_GTIDS agree with it; with -m cyclic, plane or arbitrary (rank 0 may run
// on node03) `hosts` stays empty and `notes` says why.
//
// PBS: only Torque gives a task a rank. Its MoM appends PBS_VNODENUM=<vnode> to the environment
// of every task spawned through TM (pbsdsh), and writes PBS_NODEFILE with one line per vnode in
// vnode order, so rank = PBS_VNODENUM, size = the file's line count and host of rank i = line i
// (adaptivecomputing/torque src/resmom/mom_comm.c, start_exec.c: write_nodes_to_file). The job
// shell itself also gets PBS_VNODENUM=0, plus PBS_NP, which TM tasks do not get
// (start_exec.c: TMomFinalizeChild vs InitUserEnv): PBS_VNODENUM=0 with PBS_NP is the batch
// script, not a task. PBS_TASKNUM is a TM task id, not a rank (OpenPBS even prints it in hex), and
// OpenPBS / PBS Pro set no PBS_VNODENUM at all: there, use an MPI launcher. Limits: Torque writes
// the node file only on the first node, so pbsdsh tasks elsewhere cannot learn the size, and
// `pbsdsh -u`, `-c` or `-n` start fewer tasks than there are vnodes. These facts come from the
// Torque sources and man pages; no PBS system was run to observe them.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "../error.hpp"
#include "hostlist.hpp"

namespace symphony::bootstrap {

/// Reads one environment variable: its value, or nullopt when it is unset.
using environment_lookup = std::function<std::optional<std::string>(const std::string& name)>;

/// Reads a whole file (PBS_NODEFILE): its contents, or nullopt when it cannot be read.
using file_reader = std::function<std::optional<std::string>(const std::string& path)>;

/// What detect_job() learned about this process and its job.
struct job_identity {
  std::string source;              ///< which source matched: "symphony", "openmpi", "slurm", ...
  int rank = 0;                    ///< this process, 0 <= rank < size
  int size = 1;                    ///< number of ranks in the job
  int local_rank = -1;             ///< index among the ranks on this node; -1 if unknown
  std::vector<std::string> hosts;  ///< host of each rank, in rank order; empty if unknown
  std::string reserved_ports;  ///< ports the scheduler reserved, e.g. "12001-12005"; empty if none
  std::vector<std::string> tried;  ///< earlier sources that did not match: "name: why not"
  std::vector<std::string> notes;  ///< facts worth a log line: why hosts are unknown, where the
                                   ///< local rank came from
};

/// One row of the detection order, for documentation and error messages.
struct detection_source {
  std::string name;       ///< the job_identity::source it yields
  std::string launcher;   ///< who sets its variables
  std::string variables;  ///< the variables it reads
};

}  // namespace symphony::bootstrap

namespace symphony::detail {

/// The environment (and file system) a detection reads.
struct probe_context {
  const bootstrap::environment_lookup& lookup;
  const bootstrap::file_reader& read_file;

  std::optional<std::string> get(const std::string& name) const { return lookup(name); }
  /// The value, or nullopt when unset *or empty*: for optional lists, where an empty value
  /// carries nothing.
  std::optional<std::string> get_nonempty(const std::string& name) const {
    auto value = lookup(name);
    if (value && value->empty()) return std::nullopt;
    return value;
  }
};

/// What one source made of the environment: a match, or why it does not apply.
struct probe_outcome {
  bool matched = false;
  std::string why_not;
  bootstrap::job_identity identity;
};

inline probe_outcome probe_skip(std::string why_not) {
  probe_outcome outcome;
  outcome.why_not = std::move(why_not);
  return outcome;
}

inline probe_outcome probe_match(bootstrap::job_identity identity) {
  probe_outcome outcome;
  outcome.matched = true;
  outcome.identity = std::move(identity);
  return outcome;
}

/// NAME='value', the way every message shows a variable.
inline std::string variable_shown(const std::string& name, const std::string& value) {
  return name + "='" + value + "'";
}

/// A whole number without sign or blanks, or nullopt. For comparisons that must not throw.
inline std::optional<std::uint64_t> whole_number(const std::optional<std::string>& text) {
  std::uint64_t value = 0;
  if (!text || !parse_decimal(*text, value)) return std::nullopt;
  return value;
}

/// Parses variable `name` as a whole number that fits an int, or throws config_error naming it.
inline int parse_whole(const std::string& name, const std::string& value) {
  std::string digits = value;
  while (!digits.empty() && (digits.back() == ' ' || digits.back() == '\n'))
    digits.pop_back();  // a trailing newline from $(cat file) is harmless
  if (!digits.empty() && digits.front() == '-' && whole_number(digits.substr(1)))
    throw config_error(variable_shown(name, value) + " is negative");
  const auto number = whole_number(digits);
  if (!number) throw config_error(variable_shown(name, value) + " is not a whole number");
  if (*number > 1000000000) throw config_error(variable_shown(name, value) + " is too large");
  return static_cast<int>(*number);
}

/// Throws config_error unless 1 <= size and rank < size.
inline void check_rank(const std::string& rank_name, int rank, const std::string& size_name,
                       int size) {
  if (size < 1)
    throw config_error(size_name + "=" + std::to_string(size) + ": a job needs at least one rank");
  if (rank >= size)
    throw config_error(rank_name + "=" + std::to_string(rank) + " is not below " + size_name + "=" +
                       std::to_string(size) + " (ranks count from 0)");
}

/// Rank, size and optional local rank from three variables. nullopt when neither rank nor size
/// is set; config_error when only one of them is, or when the values are inconsistent.
inline std::optional<bootstrap::job_identity> read_rank_and_size(const probe_context& env,
                                                                 const char* source,
                                                                 const std::string& rank_name,
                                                                 const std::string& size_name,
                                                                 const std::string& local_name) {
  const auto rank = env.get(rank_name);
  const auto size = env.get(size_name);
  if (!rank && !size) return std::nullopt;
  if (!rank || !size)
    throw config_error(
        (rank ? variable_shown(rank_name, *rank) : variable_shown(size_name, *size)) +
        " is set but " + (rank ? size_name : rank_name) +
        " is not: the launcher sets both, so this environment is incomplete");
  bootstrap::job_identity id;
  id.source = source;
  id.size = parse_whole(size_name, *size);
  id.rank = parse_whole(rank_name, *rank);
  check_rank(rank_name, id.rank, size_name, id.size);
  if (!local_name.empty())
    if (const auto local = env.get(local_name)) {
      id.local_rank = parse_whole(local_name, *local);
      check_rank(local_name, id.local_rank, size_name, id.size);
    }
  return id;
}

inline probe_outcome probe_explicit(const probe_context& env, const std::string& prefix,
                                    const char* source) {
  const std::string rank_name = prefix + "RANK";
  const std::string size_name = prefix + "NRANKS";
  const auto rank = env.get(rank_name);
  const auto size = env.get(size_name);
  if (!rank && !size) return probe_skip("not set");
  if (!rank || !size)
    throw config_error(
        (rank ? variable_shown(rank_name, *rank) : variable_shown(size_name, *size)) +
        " is set but " + (rank ? size_name : rank_name) +
        " is not: set both, or neither to let the launcher's variables decide");
  return probe_match(*read_rank_and_size(env, source, rank_name, size_name, ""));
}

inline probe_outcome probe_symphony(const probe_context& env) {
  return probe_explicit(env, "SYMPHONY_", "symphony");
}

inline probe_outcome probe_pyzmq(const probe_context& env) {
  return probe_explicit(env, "PYZMQ_COLLECTIVES_", "pyzmq_collectives");
}

inline probe_outcome probe_openmpi(const probe_context& env) {
  // Open MPI 4.1 sets these for every rank; OMPI_UNIVERSE_SIZE is the slot count, not the job
  // size (capture ompi-mpirun-np4: 2 for -np 4 on two cores), so it is never read.
  auto id = read_rank_and_size(env, "openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                               "OMPI_COMM_WORLD_LOCAL_RANK");
  if (!id) return probe_skip("not set");
  return probe_match(std::move(*id));
}

inline std::optional<std::string> slurm_step_id(const probe_context& env) {
  if (auto step = env.get("SLURM_STEP_ID")) return step;
  return env.get("SLURM_STEPID");  // the older spelling; srun sets both
}

inline std::optional<std::string> slurm_job_id(const probe_context& env) {
  if (auto job = env.get("SLURM_JOB_ID")) return job;
  return env.get("SLURM_JOBID");
}

/// The variable that holds an srun step's size: SLURM_STEP_NUM_TASKS, or SLURM_NTASKS (which
/// srun overrides with the step's value, observed in capture slurm-emul-substep).
inline std::string slurm_size_variable(const probe_context& env) {
  return env.get("SLURM_STEP_NUM_TASKS") ? "SLURM_STEP_NUM_TASKS" : "SLURM_NTASKS";
}

/// Fills in what an srun step tells beyond rank and size: local rank, reserved ports, and the
/// host of every rank when the layout is known to be block.
inline void add_slurm_step_details(const probe_context& env, bootstrap::job_identity& id,
                                   const std::string& size_name) {
  if (const auto local = env.get("SLURM_LOCALID")) {
    id.local_rank = parse_whole("SLURM_LOCALID", *local);
    check_rank("SLURM_LOCALID", id.local_rank, size_name, id.size);
  }
  if (const auto ports = env.get_nonempty("SLURM_STEP_RESV_PORTS")) {
    bootstrap::expand_ports(*ports, "SLURM_STEP_RESV_PORTS");  // only to reject a malformed one
    id.reserved_ports = *ports;
  }

  const auto nodelist = env.get_nonempty("SLURM_STEP_NODELIST");
  const auto tasks = env.get_nonempty("SLURM_STEP_TASKS_PER_NODE");
  if (!nodelist || !tasks) {
    id.notes.push_back(std::string("hosts unknown: ") +
                       (nodelist ? "SLURM_STEP_TASKS_PER_NODE" : "SLURM_STEP_NODELIST") +
                       " is not set");
    return;
  }
  const std::string nodes_shown = variable_shown("SLURM_STEP_NODELIST", *nodelist);
  const std::string tasks_shown = variable_shown("SLURM_STEP_TASKS_PER_NODE", *tasks);
  const auto nodes = bootstrap::expand_hostlist(*nodelist, "SLURM_STEP_NODELIST");
  const auto counts = bootstrap::expand_tasks_per_node(*tasks, "SLURM_STEP_TASKS_PER_NODE");
  if (const auto num_nodes = env.get("SLURM_STEP_NUM_NODES"))
    if (parse_whole("SLURM_STEP_NUM_NODES", *num_nodes) != static_cast<int>(nodes.size()))
      throw config_error(nodes_shown + " names " + std::to_string(nodes.size()) + " node(s) but " +
                         variable_shown("SLURM_STEP_NUM_NODES", *num_nodes));
  auto by_rank = bootstrap::hosts_by_rank(nodes, counts, nodes_shown, tasks_shown);
  if (by_rank.size() != static_cast<std::size_t>(id.size))
    throw config_error(tasks_shown + " adds up to " + std::to_string(by_rank.size()) +
                       " task(s) but " + size_name + "=" + std::to_string(id.size));

  // Which rank runs where follows from the counts only for the block layout (srun's default).
  // SLURM_DISTRIBUTION is "cyclic", "plane", "arbitrary", "block:cyclic", ... when -m was given;
  // the part before ':' is the distribution over nodes.
  if (const auto distribution = env.get_nonempty("SLURM_DISTRIBUTION")) {
    const std::string over_nodes = distribution->substr(0, distribution->find_first_of(":,"));
    if (over_nodes != "block" && over_nodes != "*") {
      id.notes.push_back("hosts unknown: " + variable_shown("SLURM_DISTRIBUTION", *distribution) +
                         " is not a block layout, so which node runs which rank is not in the "
                         "environment");
      return;
    }
  }
  // Check the block layout against what this task knows about itself, so that an undeclared
  // layout (a site default, an arbitrary SLURM_HOSTFILE) does not yield wrong hosts.
  std::size_t node = 0;
  int first = 0;  // first rank on `node`
  while (first + counts[node] <= id.rank)
    first += counts[node++];
  const auto contradiction = [&](const std::string& what) {
    id.notes.push_back("hosts unknown: " + what + ", but a block layout would put rank " +
                       std::to_string(id.rank) + " on node " + std::to_string(node) + " (" +
                       nodes[node] + ") as local rank " + std::to_string(id.rank - first) +
                       ": the layout is not block");
  };
  if (const auto node_id = env.get("SLURM_NODEID"))
    if (whole_number(*node_id) != node)
      return contradiction(variable_shown("SLURM_NODEID", *node_id));
  if (id.local_rank >= 0 && id.local_rank != id.rank - first)
    return contradiction("SLURM_LOCALID=" + std::to_string(id.local_rank));
  if (const auto gtids = env.get_nonempty("SLURM_GTIDS")) {
    std::string expected;
    for (int r = first; r < first + counts[node]; ++r)
      expected += (r == first ? "" : ",") + std::to_string(r);
    if (*gtids != expected) return contradiction(variable_shown("SLURM_GTIDS", *gtids));
  }
  id.hosts = std::move(by_rank);
}

inline probe_outcome probe_slurm(const probe_context& env) {
  const auto procid = env.get("SLURM_PROCID");
  const auto step = slurm_step_id(env);
  if (!procid) {
    if (step)
      return probe_skip(variable_shown("SLURM_STEP_ID", *step) +
                        " is set but SLURM_PROCID is not, which no srun task lacks");
    if (const auto job = slurm_job_id(env))
      return probe_skip(variable_shown("SLURM_JOB_ID", *job) +
                        " is set but SLURM_PROCID is not: this is an salloc shell or a program "
                        "it started without srun, not an srun task (start the program with srun)");
    return probe_skip("not set");
  }
  if (!step)
    return probe_skip(variable_shown("SLURM_PROCID", *procid) +
                      " is set but SLURM_STEP_ID is not: this is an sbatch batch script or a "
                      "program it started without srun, not an srun task (start the program with "
                      "srun)");
  const auto step_number = whole_number(*step);
  if (!step_number)
    throw config_error(variable_shown("SLURM_STEP_ID", *step) + " is not a whole number");
  if (*step_number > 0xfffffff0u)  // SLURM_MAX_NORMAL_STEP_ID in slurm.h
    return probe_skip(variable_shown("SLURM_STEP_ID", *step) +
                      " is one of Slurm's special steps (batch, extern or interactive), not an "
                      "srun step (start the program with srun)");
  const std::string size_name = slurm_size_variable(env);
  const auto size = env.get(size_name);
  if (!size)
    throw config_error(variable_shown("SLURM_PROCID", *procid) +
                       " is set but neither SLURM_STEP_NUM_TASKS nor SLURM_NTASKS is");
  bootstrap::job_identity id;
  id.source = "slurm";
  id.size = parse_whole(size_name, *size);
  id.rank = parse_whole("SLURM_PROCID", *procid);
  check_rank("SLURM_PROCID", id.rank, size_name, id.size);
  add_slurm_step_details(env, id, size_name);
  return probe_match(std::move(id));
}

/// A PMI job without hydra's MPI_LOCALRANKID: when the PMI server belongs to a launcher whose own
/// variables describe the same task, take the local rank (and for Slurm, hosts and ports) there.
inline void add_pmi_server_details(const probe_context& env, bootstrap::job_identity& id) {
  const auto rank = static_cast<std::uint64_t>(id.rank);
  const auto size = static_cast<std::uint64_t>(id.size);
  // Slurm's pmi2 plugin sets PMI_JOBID to "<job>.<step>" (capture slurm-srun-mpi-pmi2-n4:
  // PMI_JOBID=25.0 with SLURM_JOB_ID=25, SLURM_STEP_ID=0); hydra sets no PMI_JOBID.
  const auto pmi_job = env.get("PMI_JOBID");
  const auto job = slurm_job_id(env);
  const auto step = slurm_step_id(env);
  if (pmi_job && job && step && *pmi_job == *job + "." + *step &&
      whole_number(env.get("SLURM_PROCID")) == rank &&
      whole_number(env.get(slurm_size_variable(env))) == size) {
    add_slurm_step_details(env, id, slurm_size_variable(env));
    id.notes.push_back("the PMI server is Slurm's (" + variable_shown("PMI_JOBID", *pmi_job) +
                       " is this srun step): local rank, hosts and reserved ports come from the "
                       "step's SLURM_* variables");
    return;
  }
  // Flux's job shell serves PMI-1 and sets FLUX_TASK_* beside PMI_* (flux-environment(7)).
  if (whole_number(env.get("FLUX_TASK_RANK")) == rank &&
      whole_number(env.get("FLUX_JOB_SIZE")) == size)
    if (const auto local = env.get("FLUX_TASK_LOCAL_ID")) {
      id.local_rank = parse_whole("FLUX_TASK_LOCAL_ID", *local);
      check_rank("FLUX_TASK_LOCAL_ID", id.local_rank, "FLUX_JOB_SIZE", id.size);
      id.notes.push_back(
          "the PMI server is Flux's (FLUX_TASK_RANK and FLUX_JOB_SIZE equal PMI's): "
          "local rank from FLUX_TASK_LOCAL_ID");
    }
}

inline probe_outcome probe_pmi(const probe_context& env) {
  auto id = read_rank_and_size(env, "pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID");
  if (!id) {
    // hydra -pmi-port: PMI_PORT=host:port and PMI_ID, rank and size only over the wire
    // (capture hydra-mpiexec-pmiport-n4).
    const auto port = env.get("PMI_PORT");
    const auto pmi_id = env.get("PMI_ID");
    if (port || pmi_id)
      throw config_error(
          (port ? variable_shown("PMI_PORT", *port) : variable_shown("PMI_ID", *pmi_id)) +
          " is set but PMI_RANK and PMI_SIZE are not: this is MPICH hydra's -pmi-port mode, "
          "where rank and size are only available over the PMI wire protocol, which symphony does "
          "not speak; run mpiexec without -pmi-port, or set SYMPHONY_RANK and SYMPHONY_NRANKS");
    return probe_skip("not set");
  }
  if (id->local_rank < 0) add_pmi_server_details(env, *id);
  return probe_match(std::move(*id));
}

inline probe_outcome probe_flux(const probe_context& env) {
  auto id =
      read_rank_and_size(env, "flux", "FLUX_TASK_RANK", "FLUX_JOB_SIZE", "FLUX_TASK_LOCAL_ID");
  if (!id) return probe_skip("not set");
  return probe_match(std::move(*id));
}

inline probe_outcome probe_pbs(const probe_context& env) {
  const auto vnode = env.get("PBS_VNODENUM");
  if (!vnode) {
    if (const auto job = env.get("PBS_JOBID"))
      return probe_skip(variable_shown("PBS_JOBID", *job) +
                        " is set but PBS_VNODENUM is not: PBS Pro and OpenPBS give tasks no rank, "
                        "and neither does a Torque job without pbsdsh (start the program with an "
                        "MPI launcher, or with Torque's pbsdsh)");
    return probe_skip("not set");
  }
  const int rank = parse_whole("PBS_VNODENUM", *vnode);
  const auto np = env.get("PBS_NP");
  if (np && rank == 0)
    return probe_skip(variable_shown("PBS_VNODENUM", *vnode) + " with " +
                      variable_shown("PBS_NP", *np) +
                      " is the Torque job script itself (only the job shell gets PBS_NP), not a "
                      "pbsdsh task (start the program with pbsdsh or an MPI launcher)");
  const auto nodefile = env.get_nonempty("PBS_NODEFILE");
  if (!nodefile)
    throw config_error(variable_shown("PBS_VNODENUM", *vnode) +
                       " is set (a Torque pbsdsh task) but PBS_NODEFILE is not, so the job size is "
                       "unknown (Torque writes the node file on the job's first node only)");
  const auto contents = env.read_file(*nodefile);
  if (!contents)
    throw config_error(variable_shown("PBS_NODEFILE", *nodefile) +
                       " cannot be read, so the job size is unknown");
  bootstrap::job_identity id;
  id.source = "pbs";
  std::size_t start = 0;
  while (start < contents->size()) {  // one host per line; blank lines and blanks are skipped
    std::size_t end = contents->find('\n', start);
    if (end == std::string::npos) end = contents->size();
    std::string line = contents->substr(start, end - start);
    const auto first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos)
      id.hosts.push_back(line.substr(first, line.find_last_not_of(" \t\r") - first + 1));
    start = end + 1;
  }
  if (id.hosts.empty())
    throw config_error(variable_shown("PBS_NODEFILE", *nodefile) + " names no host");
  const std::string size_name = "the line count of PBS_NODEFILE";
  id.size = static_cast<int>(id.hosts.size());
  if (np && parse_whole("PBS_NP", *np) != id.size)
    throw config_error(variable_shown("PBS_NODEFILE", *nodefile) + " has " +
                       std::to_string(id.size) + " line(s) but " + variable_shown("PBS_NP", *np));
  id.rank = rank;
  check_rank("PBS_VNODENUM", id.rank, size_name + " (" + *nodefile + ")", id.size);
  id.local_rank = 0;
  for (int r = 0; r < id.rank; ++r)
    if (id.hosts[static_cast<std::size_t>(r)] == id.hosts[static_cast<std::size_t>(id.rank)])
      ++id.local_rank;
  return probe_match(std::move(id));
}

/// The detection order: one row per source, with the probe that reads it.
struct detection_step {
  const char* name;
  const char* launcher;
  const char* variables;
  probe_outcome (*probe)(const probe_context&);
};

inline constexpr detection_step detection_steps[] = {
    {"symphony", "explicit, e.g. symphony-run", "SYMPHONY_RANK, SYMPHONY_NRANKS", probe_symphony},
    {"pyzmq_collectives", "explicit, pyzmq-collectives jobs",
     "PYZMQ_COLLECTIVES_RANK, PYZMQ_COLLECTIVES_NRANKS", probe_pyzmq},
    {"openmpi", "Open MPI mpirun/mpiexec",
     "OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK", probe_openmpi},
    {"pmi", "MPICH hydra mpiexec, srun --mpi=pmi2, Flux's PMI",
     "PMI_RANK, PMI_SIZE, MPI_LOCALRANKID", probe_pmi},
    {"flux", "flux run/submit", "FLUX_TASK_RANK, FLUX_JOB_SIZE, FLUX_TASK_LOCAL_ID", probe_flux},
    {"slurm", "an srun task",
     "SLURM_PROCID with SLURM_STEP_ID, SLURM_STEP_NUM_TASKS or SLURM_NTASKS, SLURM_LOCALID, "
     "SLURM_STEP_NODELIST, SLURM_STEP_TASKS_PER_NODE, SLURM_STEP_RESV_PORTS",
     probe_slurm},
    {"pbs", "a Torque pbsdsh task", "PBS_VNODENUM, PBS_NODEFILE, PBS_NP", probe_pbs},
};

}  // namespace symphony::detail

namespace symphony::bootstrap {

/// The sources detect_job() examines, in its order (see the top of this header).
inline std::vector<detection_source> detection_sources() {
  std::vector<detection_source> sources;
  for (const auto& step : detail::detection_steps)
    sources.push_back({step.name, step.launcher, step.variables});
  return sources;
}

/// The contents of the file at `path`, or nullopt when it cannot be opened or read. The file
/// reader detect_job() uses unless given another.
inline std::optional<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string contents{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return std::nullopt;
  return contents;
}

/// Finds this process's rank, the job size, its local rank and, where the launcher tells, every
/// rank's host, from the variables `lookup` returns, trying the sources at the top of this header
/// in order; the first source whose variables are set wins. `read_file` reads PBS_NODEFILE.
///
/// Throws config_error naming the variable and its value when the matching source is
/// inconsistent (not a number, rank not below size, a malformed Slurm list, an unreadable node
/// file), and, when no source matches, a config_error that lists every source tried, the
/// variables each one looks for and why it did not apply (e.g. "an sbatch batch script ... not an
/// srun task"). Never blocks and never touches the network.
inline job_identity detect_job(const environment_lookup& lookup, const file_reader& read_file) {
  const detail::probe_context env{lookup, read_file};
  std::vector<std::string> tried;
  std::string message =
      "cannot tell this process's rank and the job size: no launcher variables found. Sources "
      "tried, in order:";
  int number = 0;
  for (const auto& step : detail::detection_steps) {
    auto outcome = step.probe(env);
    if (outcome.matched) {
      outcome.identity.tried = std::move(tried);
      return std::move(outcome.identity);
    }
    tried.push_back(std::string(step.name) + ": " + outcome.why_not);
    message += "\n  " + std::to_string(++number) + ". " + step.name + " (" + step.launcher +
               "; reads " + step.variables + "): " + outcome.why_not;
  }
  message +=
      "\nStart the program with a launcher (symphony-run, srun, mpirun, mpiexec, flux run, "
      "pbsdsh), or set SYMPHONY_RANK and SYMPHONY_NRANKS.";
  throw config_error(message);
}

/// The same, reading files from the file system.
inline job_identity detect_job(const environment_lookup& lookup) {
  return detect_job(lookup, read_text_file);
}

/// The same, reading this process's environment and file system.
inline job_identity detect_job() {
  return detect_job([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

}  // namespace symphony::bootstrap
