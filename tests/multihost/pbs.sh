#!/usr/bin/env bash
# tests/multihost/pbs.sh: spmd_check in a synthetic Torque job. There is no PBS on Debian, so this
# script plays Torque's MoM: it writes a node file (one line per vnode, every line this host's
# name), builds the job's environment as Torque would, and starts what the MoM would start.
#
#   pbs.sh tasks N SPMD_CHECK
#       N processes started here the way pbsdsh's tasks are: the job's environment without
#       PBS_NP, plus PBS_VNODENUM=0..N-1, plus SYMPHONY_ROOT=<first line of the node file>:<port>.
#       spmd_check must pass on all N ranks.
#   pbs.sh batch-script N SPMD_CHECK
#       spmd_check run by the job script itself: PBS_VNODENUM=0 *with* PBS_NP=N. That is not a
#       task (detect.hpp): it must not be taken for rank 0 of N and wait for N-1 ranks that never
#       come. It must fail at once saying it is the job script, or run as a job of one.
#   pbs.sh job-script pbsdsh|openmpi|hydra N SPMD_CHECK JOB_SCRIPT
#       JOB_SCRIPT (examples/pbs/symphony-job.pbs) run as the MoM runs a job script, with
#       APP=SPMD_CHECK as `qsub -v` would pass it; pbsdsh is the stand-in in fake-pbs/ (one task
#       per node-file line), openmpi and hydra run the script's mpiexec branch with mpirun.openmpi
#       or mpiexec.hydra. All N ranks must pass. The pbsdsh variant then runs the job again with
#       APP=false and checks that the script reports the failed tasks.
#
# Facts used (include/symphony/bootstrap/detect.hpp, Torque's sources): the MoM sets PBS_VNODENUM
# in every task and in the job shell, PBS_NP only in the job shell; the node file has one line per
# vnode; pbsdsh tasks get the job's environment, not the job script's exports.
# shellcheck source=./common.sh source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

[ $# -ge 3 ] || mh_fail "usage: pbs.sh tasks|batch-script N SPMD_CHECK, or pbs.sh job-script LAUNCH N SPMD_CHECK JOB_SCRIPT"
case=$1
shift
launch=""
if [ "$case" = job-script ]; then
  [ $# -eq 4 ] || mh_fail "usage: pbs.sh job-script pbsdsh|openmpi|hydra N SPMD_CHECK JOB_SCRIPT"
  launch=$1
  shift
  job_script=$3
  [ -r "$job_script" ] || mh_fail "job script '$job_script' cannot be read"
else
  [ $# -eq 2 ] || mh_fail "usage: pbs.sh tasks|batch-script N SPMD_CHECK"
fi
n=$1
spmd_check=$2
case $case in tasks | batch-script | job-script) ;; *) mh_fail "unknown case '$case'" ;; esac
[[ $n =~ ^[1-9][0-9]*$ ]] || mh_fail "N '$n' is not a positive number"
[ -x "$spmd_check" ] || mh_fail "spmd_check '$spmd_check' is not an executable"
mh_require_tool timeout
here=$(cd "$(dirname "$0")" && pwd)

mh_tmpdir

# This host as PBS names it: the short name. It must resolve, since rank 0 binds SYMPHONY_ROOT
# at it; where it does not (some containers), localhost stands in.
host=$(hostname -s 2> /dev/null || hostname)
if ! getent hosts "$host" > /dev/null 2>&1; then
  echo "note: this host's name '$host' does not resolve; the node file names localhost instead"
  host=localhost
fi

# The job number decides the root port in the example job script (20000 + number % 20000), so
# pick a free port first and number the job after it.
port=$(mh_free_port 20000 39999)
jobid="$((port - 20000)).fakeserver"
nodefile="$mh_dir/aux/$jobid"
workdir="$mh_dir/work"  # where qsub was run: PBS_O_WORKDIR
home="$mh_dir/home"     # where the MoM starts the job
mkdir -p "$mh_dir/aux" "$workdir" "$home" "$mh_dir/tmp"
for ((i = 0; i < n; ++i)); do echo "$host"; done > "$nodefile"

# The environment Torque's MoM gives the job shell (the documented PBS_* set; see NOTES §6.2).
job_env=(
  HOME="$home" PATH="$here/fake-pbs:$PATH" SHELL=/bin/bash LOGNAME="$(id -un)" USER="$(id -un)"
  LANG=C TMPDIR="$mh_dir/tmp" HOSTNAME="$host"
  PBS_ENVIRONMENT=PBS_BATCH PBS_JOBID="$jobid" PBS_JOBNAME=symphony PBS_QUEUE=batch
  PBS_SERVER=fakeserver PBS_JOBCOOKIE=0123456789ABCDEF PBS_MOMPORT=15003
  PBS_O_WORKDIR="$workdir" PBS_O_HOST="$host" PBS_O_PATH="$PATH" PBS_O_SHELL=/bin/bash
  PBS_NODEFILE="$nodefile" PBS_NP="$n" PBS_NUM_NODES=1 PBS_NUM_PPN="$n" PBS_NNODES=1
  PBS_VNODENUM=0 PBS_NODENUM=0 PBS_TASKNUM=1
)
root="$host:$port"
echo "synthetic Torque job $jobid: $n vnodes on '$host' (node file $nodefile)"

case $case in
  tasks)
    # pbsdsh's tasks, started by hand: the job's environment less PBS_NP, and PBS_VNODENUM.
    task_env=()
    for v in "${job_env[@]}"; do
      case $v in PBS_NP=* | PBS_VNODENUM=* | PBS_TASKNUM=*) ;; *) task_env+=("$v") ;; esac
    done
    echo "SYMPHONY_ROOT=$root; tasks get PBS_VNODENUM=0..$((n - 1)), PBS_NODEFILE, no PBS_NP"
    start=$(mh_now)
    for ((r = 0; r < n; ++r)); do
      env -i "${task_env[@]}" PBS_VNODENUM="$r" PBS_TASKNUM="$((r + 1))" SYMPHONY_ROOT="$root" \
        SYMPHONY_TIMEOUT=30 timeout -k 2 60 "$spmd_check" > "$mh_dir/task$r.out" 2>&1 &
      mh_pids+=($!)
    done
    mh_wait_all 70
    elapsed=$(mh_seconds "$start")
    outputs=()
    for ((r = 0; r < n; ++r)); do outputs+=("$mh_dir/task$r.out"); done
    echo "tasks finished in $elapsed s; exit statuses: ${mh_status[*]}"
    mh_show "${outputs[@]}"
    for ((r = 0; r < n; ++r)); do
      [ "${mh_status[r]}" = 0 ] || mh_fail "task with PBS_VNODENUM=$r exited with status ${mh_status[r]}"
    done
    mh_expect_all_passed "$n" "${outputs[@]}"
    echo "PASS: $n synthetic pbsdsh tasks in $elapsed s"
    ;;

  batch-script)
    out="$mh_dir/batch.out"
    echo "running spmd_check in the job shell: PBS_VNODENUM=0, PBS_NP=$n, SYMPHONY_ROOT=$root, SYMPHONY_TIMEOUT=3"
    start=$(mh_now)
    env -i "${job_env[@]}" SYMPHONY_ROOT="$root" SYMPHONY_TIMEOUT=3 timeout -k 2 30 "$spmd_check" \
      > "$out" 2>&1
    status=$?
    elapsed=$(mh_seconds "$start")
    echo "spmd_check exited with status $status in $elapsed s; it printed:"
    mh_show "$out"
    case $status in 124 | 137) mh_fail "spmd_check hung in the job shell" ;; esac
    if grep -q -E "of $n( |$)|did not register|timed out" "$out"; then
      mh_fail "the job shell was taken for rank 0 of $n: it waited for ranks that never start"
    fi
    if [ "$status" = 0 ]; then
      mh_expect_all_passed 1 "$out"
      echo "PASS: the job shell ran as a job of one rank, in $elapsed s"
    else
      grep -q -i 'job script' "$out" ||
        mh_fail "spmd_check failed, but its error does not say that this is the job script"
      echo "PASS: the job shell is refused as a task, at once ($elapsed s), with the reason"
    fi
    ;;

  job-script)
    vars=(APP="$spmd_check" FAKE_PBSDSH_TIMEOUT=60 SYMPHONY_TIMEOUT=30)  # as qsub -v passes them
    case $launch in
      pbsdsh) vars+=(LAUNCH=pbsdsh) ;;
      openmpi)
        if command -v mpirun.openmpi > /dev/null 2>&1; then mpiexec=mpirun.openmpi; else
          mh_skip "Open MPI's mpirun is not installed (Debian package openmpi-bin)"
        fi
        # Open MPI refuses to run as root unless told twice; a real job does not run as root.
        vars+=(LAUNCH=mpiexec MPIEXEC="$mpiexec" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
        ;;
      hydra)
        command -v mpiexec.hydra > /dev/null 2>&1 || mh_skip "mpiexec.hydra is not installed (Debian package mpich)"
        vars+=(LAUNCH=mpiexec MPIEXEC=mpiexec.hydra)
        ;;
      *) mh_fail "unknown launch '$launch' (pbsdsh, openmpi or hydra)" ;;
    esac
    printf '%s\0' "${job_env[@]}" "${vars[@]}" > "$nodefile.env"  # the job's environment, for pbsdsh
    out="$mh_dir/symphony-job.o${jobid%%.*}"
    echo "running $job_script as job $jobid with ${vars[*]}"
    start=$(mh_now)
    (cd "$home" && env -i "${job_env[@]}" "${vars[@]}" timeout -k 5 90 bash "$job_script") > "$out" 2>&1
    status=$?
    elapsed=$(mh_seconds "$start")
    echo "the job script exited with status $status in $elapsed s; its output file:"
    mh_show "$out"
    case $status in 124 | 137) mh_fail "the job script hung: killed after 90 s" ;; esac
    [ "$status" = 0 ] || mh_fail "the job script exited with status $status"
    grep -q -F "symphony-job: $n ranks of $spmd_check via ${vars[-1]#*=}" "$out" ||
      grep -q -F "symphony-job: $n ranks of $spmd_check via " "$out" ||
      mh_fail "the job script did not announce $n ranks of $spmd_check"
    grep -q -F "SYMPHONY_ROOT=$root" "$out" || mh_fail "the job script did not put the root at $root"
    mh_expect_all_passed "$n" "$out"
    [ -z "$(ls -A "$workdir")" ] || mh_fail "the job script left files in PBS_O_WORKDIR: $(ls -A "$workdir")"
    echo "PASS: $job_script with $launch, $n ranks, in $elapsed s"

    if [ "$launch" = pbsdsh ]; then
      # The same job with a program that fails: pbsdsh itself exits 0, the script must not.
      false_path=$(type -P false) || mh_fail "no false program on PATH"
      printf '%s\0' "${job_env[@]}" APP="$false_path" LAUNCH=pbsdsh > "$nodefile.env"
      out="$mh_dir/failing.out"
      (cd "$home" && env -i "${job_env[@]}" APP="$false_path" LAUNCH=pbsdsh timeout -k 5 30 \
        bash "$job_script") > "$out" 2>&1
      status=$?
      echo "with APP=$false_path the job script exited with status $status; its output file:"
      mh_show "$out"
      [ "$status" != 0 ] || mh_fail "the job script exited 0 although every task failed"
      grep -q "tasks failed.*vnode 0: 1;.*vnode $((n - 1)): 1;" "$out" ||
        mh_fail "the job script did not name the failed vnodes 0..$((n - 1))"
      echo "PASS: failed tasks make the job script fail, naming them"
    fi
    ;;
esac
