# shellcheck shell=bash
# tests/multihost/common.sh: helpers shared by the multi-host, MPI-launcher and PBS test scripts.
# Sourced, not run. Every script prints what it did and how long it took, and exits
#   0   the case passed
#   1   the case failed (the reason is printed, with the ranks' output)
#   77  the case cannot run here (a tool or a privilege is missing); CTest
#       reports it as skipped (SKIP_RETURN_CODE 77), never as passed.

set -u

mh_name=${0##*/}
mh_keep=${SYMPHONY_TEST_KEEP:-0}  # 1: keep the scratch directory, for debugging

# Hermetic: a test run from inside a job (ctest under srun, mpirun or a PBS job) must not hand
# the outer launcher's variables to the ranks it starts; detection would read them first.
for mh_var in $(compgen -e); do
  case $mh_var in
    SYMPHONY_* | PYZMQ_COLLECTIVES_* | OMPI_* | PMI_* | PMIX_* | SLURM_* | PBS_* | FLUX_* | LSB_* | \
      MPI_LOCALRANKID | MPI_LOCALNRANKS | HYDI_* | HYDRA_*) unset "$mh_var" ;;
  esac
done
unset mh_var

# mh_skip REASON...: print why the case cannot run here and exit 77.
mh_skip() {
  echo "SKIP ($mh_name): $*"
  exit 77
}

# mh_fail REASON...: print why the case failed and exit 1.
mh_fail() {
  echo "FAIL ($mh_name): $*"
  exit 1
}

# mh_now: seconds since the epoch with nanoseconds, for timings.
mh_now() { date +%s.%N; }

# mh_seconds START [END]: the seconds from START to END (default now), with 2 decimals.
mh_seconds() { awk -v a="$1" -v b="${2:-$(mh_now)}" 'BEGIN { printf "%.2f", b - a }'; }

# mh_require_tool NAME...: skip unless every NAME is on PATH.
mh_require_tool() {
  local tool
  for tool in "$@"; do
    command -v "$tool" > /dev/null 2>&1 || mh_skip "'$tool' is not installed (needed by this case)"
  done
}

# mh_show FILE...: print each file under a header, for the log of a failed (or passed) case.
mh_show() {
  local f
  for f in "$@"; do
    [ -e "$f" ] || continue
    echo "----- ${f##*/}"
    cat "$f"
  done
}

# mh_expect_all_passed N FILE...: the FILEs (the output of every rank, or of the launcher) hold
# "spmd_check: rank R of N ok" for every R < N, and "spmd_check: all N ranks passed"; fails the
# case otherwise, naming what is missing. Lines are not anchored: a launcher may prefix them or
# interleave another rank's unbuffered stderr before them.
mh_expect_all_passed() {
  local n=$1 r missing=""
  shift
  for ((r = 0; r < n; ++r)); do
    grep -q -F "spmd_check: rank $r of $n ok" "$@" || missing+=" $r"
  done
  [ -z "$missing" ] || mh_fail "no 'spmd_check: rank R of $n ok' line from rank(s)$missing"
  grep -q -F "spmd_check: all $n ranks passed" "$@" ||
    mh_fail "rank 0 did not print 'spmd_check: all $n ranks passed'"
}

# mh_free_port [LOW HIGH]: a TCP port in LOW-HIGH (default 20000-59999) that nothing on this
# machine listens on or uses, when `ss` can tell; otherwise a random one (the rendezvous then
# fails loudly if it is taken).
mh_free_port() {
  local low=${1:-20000} high=${2:-59999} port used="" tries
  if command -v ss > /dev/null 2>&1; then
    used=$(ss -Htan 2> /dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
  fi
  for ((tries = 0; tries < 100; ++tries)); do
    port=$((low + (RANDOM * 32768 + RANDOM) % (high - low + 1)))
    if ! grep -q -x -F "$port" <<< "$used"; then
      echo "$port"
      return 0
    fi
  done
  echo "$port"
}

# mh_traced_asan_options: the ASAN_OPTIONS value for a process that runs under strace. LeakSanitizer
# stops the world with ptrace, which an already traced process refuses, and then fails the
# process ("LeakSanitizer does not work under ptrace"); so leak checking is off in traced runs
# only (the untraced cases still check for leaks in a sanitizer build).
mh_traced_asan_options() { echo "${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"; }

# mh_tmpdir: make this run's scratch directory, removed on exit by mh_cleanup. Sets mh_dir.
mh_tmpdir() {
  mh_dir=$(mktemp -d "${TMPDIR:-/tmp}/symphony-${mh_name%.sh}.XXXXXX") || mh_fail "mktemp failed"
}

# Background processes this run started (their pids), and cleanup hooks, run on any exit.
mh_pids=()
mh_cleanup_hooks=()

mh_cleanup() {
  local status=$? pid hook
  trap - EXIT INT TERM HUP
  for pid in "${mh_pids[@]}"; do
    kill -TERM "$pid" 2> /dev/null
  done
  for pid in "${mh_pids[@]}"; do
    # Bounded: the processes run under `timeout -k`, which kills them outright soon after.
    wait "$pid" 2> /dev/null
  done
  for hook in "${mh_cleanup_hooks[@]}"; do
    eval "$hook"
  done
  if [ -n "${mh_dir:-}" ] && [ "$mh_keep" != 1 ]; then rm -rf "$mh_dir"; fi
  exit "$status"
}
trap mh_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# shellcheck disable=SC2034 # mh_status is read by the scripts that source this file
# mh_wait_all SECONDS: wait for every pid in mh_pids, at most SECONDS in all (each process also
# runs under its own `timeout`). Sets mh_status[i] to each one's exit status (124 on timeout),
# in the order of mh_pids, and empties mh_pids.
mh_wait_all() {
  local limit=$1 deadline pid i
  deadline=$(($(date +%s) + limit))
  mh_status=()
  for i in "${!mh_pids[@]}"; do
    pid=${mh_pids[$i]}
    while kill -0 "$pid" 2> /dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.05; done
    if kill -0 "$pid" 2> /dev/null; then
      kill -KILL "$pid" 2> /dev/null
      wait "$pid" 2> /dev/null
      mh_status[i]=124
    else
      wait "$pid"
      mh_status[i]=$?
    fi
  done
  mh_pids=()
}
