// slurm_probe: prints, for one task of an srun step, what symphony makes of the environment and
// the raw launcher variables it read, on one line, so that run-slurm-tests.sh can both check
// what `symphony::communicator world;` would do and report the environment it saw:
//   rank, size, source, local_rank, hosts, reserved_ports   bootstrap::detect_job()
//   method, root                                            bootstrap::plan_join(): how the ranks
//                                                           would exchange addresses, and where
//
//   srun -n 4 slurm_probe
//   slurm_probe: rank=2 size=4 source=slurm local_rank=2 hosts=vm,vm,vm,vm
//     reserved_ports=12001-12005 method=slurm root=tcp://vm:12001 | SLURM_STEP_ID=0 ...
//
// Exits 0 when the plan was made, 1 with symphony's message (which names the culprit variable)
// when it was not. It opens no socket and waits for nothing.
#include <symphony/bootstrap/join.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// The variables worth seeing in a report: Slurm's step description, the PMI variables of
// `srun --mpi=pmi2`, and symphony's own (overrides, and the group a multi-prog table sets).
constexpr const char* reported[] = {
    "SLURM_STEP_ID",
    "SLURM_PROCID",
    "SLURM_LOCALID",
    "SLURM_NODEID",
    "SLURM_STEP_NUM_TASKS",
    "SLURM_STEP_NUM_NODES",
    "SLURM_STEP_NODELIST",
    "SLURM_STEP_TASKS_PER_NODE",
    "SLURM_STEP_RESV_PORTS",
    "SLURM_DISTRIBUTION",
    "SLURM_JOB_ID",
    "PMI_RANK",
    "PMI_SIZE",
    "PMI_FD",
    "PMI_JOBID",
    "SYMPHONY_ROOT",
    "SYMPHONY_RANK",
    "SYMPHONY_NRANKS",
    "SYMPHONY_NAME",
    "SYMPHONY_GROUP",
    "SYMPHONY_GROUP_FIRST_RANK",
    "SYMPHONY_GROUP_SIZE",
    "SYMPHONY_GROUP_RANK",
};

// `items` joined by commas.
std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ",") + item;
  return out;
}

}  // namespace

int main() {
  std::ostringstream raw;
  for (const char* name : reported)
    if (const char* value = std::getenv(name)) raw << ' ' << name << '=' << value;
  try {
    const symphony::bootstrap::join_plan plan = symphony::bootstrap::plan_join();
    const symphony::bootstrap::job_identity& id = plan.identity;
    std::cout << "slurm_probe: rank=" << id.rank << " size=" << id.size << " source=" << id.source
              << " local_rank=" << id.local_rank << " hosts=" << joined(id.hosts)
              << " reserved_ports=" << id.reserved_ports
              << " method=" << symphony::bootstrap::name_of(plan.method) << " root=" << plan.root
              << " |" << raw.str() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cout << "slurm_probe: no plan: " << e.what() << " |" << raw.str() << std::endl;
    return 1;
  }
}
