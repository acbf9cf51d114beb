#!/usr/bin/env bash
# run-slurm-tests.sh: symphony under a real Slurm, on this machine (CTest: slurm_srun_sbatch).
#
#   run-slurm-tests.sh --spmd-check PATH --probe PATH --integrate PATH|none --sbatch-script PATH
#                      --source-dir DIR --work-dir DIR
#
# Brings up a one-node Slurm on localhost with slurm-up.sh unless a local one answers, then runs:
#   probe          srun -n 4 slurm_probe: every task is detected as "slurm", rank r of 4, and, when
#                  the cluster has MpiParams=ports, plans a rendezvous at rank 0's node on the
#                  step's first reserved port (the env and the plan are reported)
#   srun-n4/n9     srun -n 4 / -n 9 spmd_check: every collective, "all N ranks passed"
#   integrate      srun -n 9 --multi-prog: the integrate example with its 9 roles (S0, groupmasters,
#                  workers); the roles come from the multi-prog table, see examples/slurm/
#   roles          the same multi-prog table with slurm_probe: each rank gets its group variables
#   sbatch         sbatch examples/slurm/integrate.sbatch (the tutorial script itself, srun inside),
#                  waits for the job to complete, then checks its output file: the integral, and
#                  the script's roles table equal to the one checked in step roles
#   no-resv-ports  srun --resv-ports=0 with SYMPHONY_ROOT=127.0.0.1:<free port>: the step has no
#                  reserved ports and the plan is the SYMPHONY_ROOT rendezvous (checked with the
#                  probe); spmd_check passes
#   one-node       srun --resv-ports=0 and no SYMPHONY_ROOT: the plan is a rendezvous on
#                  127.0.0.1 (all tasks on one node); spmd_check passes
#   pmi2           srun --mpi=pmi2 -n 4: the plan is Slurm's PMI-2 key-value store, spmd_check
#                  passes; skipped with a message while include/symphony/bootstrap/pmi.hpp does
#                  not exist
# Every srun runs under timeout(1), with --kill-on-bad-exit=1 so that one failed task ends the
# step at once; the batch job is waited for 120 s at most, and cancelled if it is still there.
# Each step's output is in WORK_DIR/<step>.log; times are printed.
# Afterwards slurm-down.sh --release stops the daemons slurm-up.sh started for this run (not those
# that were up before, nor while another run still uses them), also on failure or interruption.
#
# Exit status: 0 all passed, 1 something failed, 77 cannot run here (CTest SKIP_RETURN_CODE),
# with the reason printed: not root and no local cluster, Slurm or munge not installed, a cluster
# that is not on this host.
set -uo pipefail

usage() {
  echo "usage: $0 --spmd-check PATH --probe PATH --integrate PATH|none --sbatch-script PATH" \
       "--source-dir DIR --work-dir DIR" >&2
  exit 2
}
spmd_check="" probe="" integrate="" sbatch_script="" source_dir="" work=""
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case $1 in
    --spmd-check) spmd_check=$2 ;;
    --probe) probe=$2 ;;
    --integrate) integrate=$2 ;;
    --sbatch-script) sbatch_script=$2 ;;
    --source-dir) source_dir=$2 ;;
    --work-dir) work=$2 ;;
    *) usage ;;
  esac
  shift 2
done
if ! [ -x "$spmd_check" ] || ! [ -x "$probe" ] || ! [ -f "$sbatch_script" ] || ! [ -d "$source_dir" ] \
   || [ -z "$work" ]; then
  usage
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Absolute paths: the steps run in the work directory.
spmd_check=$(readlink -f "$spmd_check") probe=$(readlink -f "$probe")
sbatch_script=$(readlink -f "$sbatch_script") source_dir=$(readlink -f "$source_dir")
if [ "$integrate" = none ]; then integrate=""; else integrate=$(readlink -f "$integrate"); fi

skip() { echo "SKIPPED: $*"; exit 77; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
BUDGET=300   # seconds for the whole run, bring-up included; see bounded()
run_start=$(now_ms)

# Variables of an enclosing job or launcher would make srun join that job, or the ranks believe in
# another launcher: start from a clean slate.
for v in $(compgen -e); do
  case $v in SLURM_*|SRUN_*|SBATCH_*|SALLOC_*|SYMPHONY_*|PMI_*|PMIX_*|OMPI_*|PYZMQ_COLLECTIVES_*) unset "$v" ;; esac
done
PATH=$PATH:/usr/sbin:/sbin

# ------------------------------------------------------------------ can it run here?
for b in srun sbatch scontrol sinfo squeue scancel timeout; do
  command -v "$b" >/dev/null 2>&1 || skip "no '$b' on this machine (Debian: apt-get install slurm-wlm munge)"
done
host=$(uname -n); host=${host%%.*}
cluster_up() { timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; }
if cluster_up; then
  # Only a cluster whose controller is this machine: test jobs do not go to a real cluster.
  ctld=$(timeout 5 scontrol show config 2>/dev/null | sed -n 's/^SlurmctldHost\[0\] *= *//p')
  case $ctld in
    "$host"|"$host("*|localhost*|127.*|*"(127."*) ;;
    *) skip "a Slurm cluster that is not on this machine answers (SlurmctldHost $ctld); not sending test jobs to it" ;;
  esac
fi
held=0
if [ "$(id -u)" = 0 ]; then
  for b in slurmctld slurmd munged; do
    command -v "$b" >/dev/null 2>&1 || skip "no '$b' to start a local cluster (Debian: apt-get install slurm-wlm munge)"
  done
elif ! cluster_up; then
  skip "not root, and no local Slurm cluster answers: starting one (slurm-up.sh) needs root"
fi

# ------------------------------------------------------------------ up, and down on any exit
batch_job=""
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  if [ -n "$batch_job" ]; then scancel "$batch_job" 2>/dev/null; fi
  if [ "$held" = 1 ]; then bash "$here/slurm-down.sh" --release "$$"; fi
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 1' INT TERM HUP

rm -rf "$work"; mkdir -p "$work" || { echo "cannot create $work"; exit 1; }
work=$(readlink -f "$work"); cd "$work" || exit 1
if [ "$(id -u)" = 0 ]; then
  t=$(now_ms)
  held=1   # from here on, release even if the start fails half-way
  TMPDIR_SLURM_UP_LOG=$(mktemp)
  if ! SLURM_LOCAL_TIMEOUT=30 bash "$here/slurm-up.sh" --hold $$ 2>&1 | tee "$TMPDIR_SLURM_UP_LOG"; then
    # slurmd needs the kernel's cgroup hierarchy; a chroot or a bare container may not offer a
    # usable one. That is the machine's limit, not symphony's: say so and skip.
    if grep -qE 'cgroup|^[0-9]+:[a-z_,]*:/' "$TMPDIR_SLURM_UP_LOG"; then
      echo "SKIPPED: slurmd cannot start here: no usable cgroup hierarchy (a chroot or container?)"
      exit 77
    fi
    echo "FAILED: slurm-up.sh could not bring Slurm up"
    exit 1
  fi
  echo "slurm up: $(($(now_ms) - t)) ms"
fi
echo "Slurm $(sinfo -V | cut -d' ' -f2), node $(sinfo -h -o '%n %T %c CPUs' | head -1)"
mpi_params=$(scontrol show config | sed -n 's/^MpiParams *= *//p')
echo "MpiParams = ${mpi_params:-(none)}"
# The step's node list names this host, and the ranks reach rank 0's node by that name.
if ! getent hosts "$host" >/dev/null; then
  echo "warning: this host's name '$host' does not resolve (getent hosts); ranks that look up" \
       "rank 0's node by name will fail: add '$host' to /etc/hosts"
fi

# ------------------------------------------------------------------ steps
# The whole run stays within BUDGET seconds (CTest's TIMEOUT is 400, which leaves time for the
# trap's slurm-down.sh): a step gets at most what is left, so that the script always ends by
# itself and its trap stops the daemons. (CTest kills a test that overruns with SIGKILL, which no
# trap survives.)
bounded() {  # bounded SECONDS: SECONDS, or what is left of the budget if less; fails if none is
  local left=$((BUDGET - ($(now_ms) - run_start) / 1000))
  [ $left -ge 5 ] || return 1
  echo $(($1 < left ? $1 : left))
}
export SYMPHONY_TIMEOUT=30   # a stuck collective fails with symphony's message before timeout(1)
failures=0
summary=()
# SRUN: the options of every step: end the step when a task fails; more tasks than CPUs are
# fine (a foreign test cluster may have fewer than 9); a scheduler-side limit too.
SRUN=(srun --kill-on-bad-exit=1 --overcommit --time=2 --job-name=symphony-test)

# step NAME LIMIT REGEX COMMAND...: runs COMMAND under timeout LIMIT seconds, its output (stdout
# and stderr) in NAME.log; passes when it exits 0 and its output has a line matching REGEX.
step() {
  local name=$1 limit=$2 regex=$3 t rc ms
  shift 3
  echo "--- $name: $*"
  limit=$(bounded "$limit") || { fail "$name" "not run: the run's ${BUDGET}s budget is spent"; return 1; }
  t=$(now_ms)
  timeout -k 5 "$limit" "$@" >"$name.log" 2>&1
  rc=$?
  ms=$(($(now_ms) - t))
  if [ $rc = 0 ] && grep -Eq -- "$regex" "$name.log"; then
    echo "[PASS] $name ($ms ms)"
    summary+=("PASS $name ${ms}ms")
    return 0
  fi
  local why="exit status $rc"
  [ $rc = 124 ] && why="timed out after $limit s"
  [ $rc = 0 ] && why="no line matches /$regex/"
  fail "$name" "$why ($ms ms); its output:"
  sed 's/^/    /' "$name.log" | tail -40
  return 1
}
fail() {  # fail NAME WHY...
  local name=$1; shift
  echo "[FAIL] $name: $*"
  summary+=("FAIL $name")
  failures=$((failures + 1))
}
# count_lines NAME REGEX WANT WHAT: the step's log has exactly WANT lines matching REGEX.
count_lines() {
  local got
  got=$(grep -Ec -- "$2" "$1.log")
  [ "$got" = "$3" ] && return 0
  fail "$1" "$got line(s) $4, expected $3; its output:"; sed 's/^/    /' "$1.log" | tail -40
  return 1
}
# free_port: a TCP port in 20000-30999 that nobody listens on (IPv4 or IPv6), from /proc/net.
free_port() {
  local listening=" " local_address state p
  while read -r _ local_address _ state _; do
    [ "$state" = 0A ] && listening+="$((16#${local_address##*:})) "
  done < <(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 11000))
    [[ $listening == *" $p "* ]] || { echo "$p"; return; }
  done
  echo "free_port: found no free port in 50 tries" >&2
  echo 29517
}

# The probe: what every task sees, and what symphony's detection makes of it.
if step probe 60 'slurm_probe: rank=0 ' "${SRUN[@]}" -n 4 "$probe"; then
  count_lines probe '^slurm_probe: rank=[0-3] size=4 source=slurm ' 4 "with 'rank=<0..3> size=4 source=slurm'"
  if [[ $mpi_params == *ports=* ]]; then
    # Reserved ports: a rendezvous at rank 0's node on the first of them (GNU grep: \1).
    count_lines probe "reserved_ports=([0-9]+)[-,0-9]* method=slurm root=$host:\\1 " 4 \
      "with method=slurm and root=$host:<first reserved port> (MpiParams has ports=)"
  fi
  echo "    what rank 0 saw: $(grep '^slurm_probe: rank=0 ' probe.log)"
fi

step srun-n4 60 '^spmd_check: all 4 ranks passed' "${SRUN[@]}" -n 4 "$spmd_check" \
  && count_lines srun-n4 '^spmd_check: rank [0-3] of 4 ok' 4 "'rank R of 4 ok'"
step srun-n9 60 '^spmd_check: all 9 ranks passed' "${SRUN[@]}" -n 9 "$spmd_check" \
  && count_lines srun-n9 '^spmd_check: rank [0-8] of 9 ok' 9 "'rank R of 9 ok'"

# The integral to 1e-9, as examples/CMakeLists.txt checks it.
integral_ok='= 333\.33333333[0-9]*, error (-?[0-9]\.[0-9]+e-(1[0-9]|[2-9][0-9])|-?0\.000e[+-]00) against'
if [ -z "$integrate" ]; then
  echo "[SKIP] integrate and sbatch: the examples are not built (SYMPHONY_BUILD_EXAMPLES=OFF)"
  summary+=("SKIP integrate, sbatch (examples not built)")
else
  # The 9 roles of examples/integrate.cpp, as symphony-run's --group would declare them: rank 0
  # alone (the supermaster), ranks 1-3 group0, ranks 4-8 group1; %o is the offset in the range,
  # i.e. the rank within the group. The same table as examples/slurm/integrate.sbatch.
  roles() {  # roles PROGRAM: the srun --multi-prog table
    local g="SYMPHONY_GROUP" p=$1
    echo "0    env SYMPHONY_NAME=S0 $p"
    echo "1-3  env ${g}=group0 ${g}_INDEX=0 ${g}_FIRST_RANK=1 ${g}_SIZE=3 ${g}_RANK=%o $p"
    echo "4-8  env ${g}=group1 ${g}_INDEX=1 ${g}_FIRST_RANK=4 ${g}_SIZE=5 ${g}_RANK=%o $p"
  }
  # First the table itself: the probe in each role prints the group variables it got.
  roles "$probe" >roles.multi-prog
  if step roles 60 'slurm_probe: rank=0 ' "${SRUN[@]}" -n 9 --multi-prog roles.multi-prog; then
    for r in 0 1 2 3 4 5 6 7 8; do   # the variables each rank must have, with its group rank
      if [ $r = 0 ]; then want='SYMPHONY_NAME=S0$'
      elif [ $r -le 3 ]; then want="SYMPHONY_GROUP=group0 SYMPHONY_GROUP_FIRST_RANK=1 SYMPHONY_GROUP_SIZE=3 SYMPHONY_GROUP_RANK=$((r - 1))\$"
      else want="SYMPHONY_GROUP=group1 SYMPHONY_GROUP_FIRST_RANK=4 SYMPHONY_GROUP_SIZE=5 SYMPHONY_GROUP_RANK=$((r - 4))\$"
      fi
      count_lines roles "^slurm_probe: rank=$r size=9 .*$want" 1 "for rank $r with /$want/" || break
    done
  fi
  roles "$integrate" >integrate.multi-prog
  step integrate 60 "$integral_ok" "${SRUN[@]}" -n 9 --multi-prog integrate.multi-prog \
    && count_lines integrate '^supertask \[' 10 "'supertask [k, k+1]: ...'"

  # The tutorial script itself, so that it cannot rot. Options on the command line override the
  # script's #SBATCH lines. Rather than `sbatch --wait`, whose polling adds up to 8 s here, the
  # job's state is polled every 0.2 s, for 120 s at most (and within the budget).
  t=$(now_ms)
  echo "--- sbatch: sbatch $sbatch_script $integrate"
  batch_limit=$(bounded 120) || batch_limit=5
  batch_job=$(timeout 30 sbatch --parsable --overcommit --output="$work/sbatch-job.out" \
                "$sbatch_script" "$integrate" 2>sbatch.log)
  rc=$?
  batch_job=${batch_job%%;*}
  state=""
  if [ $rc = 0 ] && [ -n "$batch_job" ]; then
    deadline=$(($(now_ms) + batch_limit * 1000))
    while [ "$(now_ms)" -lt $deadline ]; do
      state=$(timeout 10 scontrol show job "$batch_job" -o 2>>sbatch.log \
              | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
      case $state in PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED|RESIZING) ;; *) break ;; esac
      sleep 0.2
    done
  fi
  ms=$(($(now_ms) - t))
  if [ $rc != 0 ] || [ -z "$batch_job" ]; then
    fail sbatch "sbatch did not submit the job (exit status $rc): $(cat sbatch.log)"
  elif [ "$state" != COMPLETED ]; then
    fail sbatch "job $batch_job ended in state '${state:-unknown}' after $ms ms" \
      "($(scontrol show job "$batch_job" -o 2>/dev/null | grep -o 'ExitCode=[^ ]*')); its output:"
    [ -f sbatch-job.out ] && sed 's/^/    /' sbatch-job.out | tail -40
  elif ! grep -Eq -- "$integral_ok" sbatch-job.out 2>/dev/null; then
    fail sbatch "the job's output has no integral line ($ms ms):"; sed 's/^/    /' sbatch-job.out | tail -40
  elif ! diff <(sed -n 's/^    \([0-9]\)/\1/p' sbatch-job.out | tr -s ' ') <(tr -s ' ' <integrate.multi-prog) \
         >sbatch-roles.diff; then
    fail sbatch "the script's roles differ from the table checked in step 'roles' (< script, > test):"
    sed 's/^/    /' sbatch-roles.diff
  else
    echo "[PASS] sbatch, job $batch_job ($ms ms, submit to end)"
    summary+=("PASS sbatch ${ms}ms")
    batch_job=""
  fi
fi

# No reserved ports: the root's address comes from SYMPHONY_ROOT instead.
port=$(free_port)
if step no-resv-ports-probe 60 'slurm_probe: rank=0 ' \
     env SYMPHONY_ROOT="127.0.0.1:$port" "${SRUN[@]}" --resv-ports=0 -n 4 "$probe"; then
  count_lines no-resv-ports-probe \
    "^slurm_probe: .*source=slurm .*reserved_ports= method=root root=tcp://127.0.0.1:$port .*SYMPHONY_ROOT=" 4 \
    "with source=slurm, no reserved ports, method=root at SYMPHONY_ROOT"
fi
step no-resv-ports 60 '^spmd_check: all 4 ranks passed' \
  env SYMPHONY_ROOT="127.0.0.1:$port" "${SRUN[@]}" --resv-ports=0 -n 4 "$spmd_check"
# Neither reserved ports nor SYMPHONY_ROOT: a one-node step meets on 127.0.0.1 by itself.
if step one-node-probe 60 'slurm_probe: rank=0 ' "${SRUN[@]}" --resv-ports=0 -n 4 "$probe"; then
  count_lines one-node-probe '^slurm_probe: .*reserved_ports= method=one-node root=127\.0\.0\.1:[0-9]+ ' 4 \
    "with method=one-node on 127.0.0.1"
fi
step one-node 60 '^spmd_check: all 4 ranks passed' "${SRUN[@]}" --resv-ports=0 -n 4 "$spmd_check"

# srun's PMI-2 server: the ranks exchange through Slurm's key-value store.
if [ ! -f "$source_dir/include/symphony/bootstrap/pmi.hpp" ]; then
  echo "[SKIP] pmi2: include/symphony/bootstrap/pmi.hpp does not exist yet (no PMI client to test)"
  summary+=("SKIP pmi2 (no PMI client yet)")
elif ! srun --mpi=list 2>&1 | grep -qw pmi2; then
  echo "[SKIP] pmi2: this Slurm has no pmi2 plugin (srun --mpi=list)"
  summary+=("SKIP pmi2 (no pmi2 plugin)")
else
  if step pmi2-probe 60 'slurm_probe: rank=0 ' "${SRUN[@]}" --mpi=pmi2 -n 4 "$probe"; then
    count_lines pmi2-probe '^slurm_probe: rank=[0-3] size=4 source=pmi .* method=pmi ' 4 \
      "with source=pmi and method=pmi"
  fi
  step pmi2 60 '^spmd_check: all 4 ranks passed' "${SRUN[@]}" --mpi=pmi2 -n 4 "$spmd_check" \
    && count_lines pmi2 '^spmd_check: rank [0-3] of 4 ok' 4 "'rank R of 4 ok'"
fi

echo "=== summary (logs in $work)"
printf '  %s\n' "${summary[@]}"
if [ $failures -gt 0 ]; then echo "$failures step(s) failed"; exit 1; fi
echo "all steps passed"
exit 0
