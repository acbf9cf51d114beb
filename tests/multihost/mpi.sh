#!/usr/bin/env bash
# tests/multihost/mpi.sh: spmd_check started by a real MPI launcher, on this machine.
#
#   mpi.sh openmpi|hydra NP root|noroot SPMD_CHECK
#
#   openmpi  Open MPI's mpirun (mpirun.openmpi, Debian package openmpi-bin). Ranks see
#            OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK.
#   hydra    MPICH's mpiexec.hydra (Debian package mpich), called by that name because mpich may
#            take over the mpirun/mpiexec alternatives. Ranks see PMI_RANK, PMI_SIZE, PMI_FD.
#   root     SYMPHONY_ROOT=127.0.0.1:<free port>: the ranks meet at rank 0 through the rendezvous.
#   noroot   nothing but the launcher's variables: Open MPI's ranks, all on this node, meet at a
#            rendezvous on loopback (port from the job id); hydra's exchange their endpoints
#            through hydra's PMI key-value store.
# All ranks run on this machine, so they must reach each other over ipc: with strace installed,
# the case checks every connect() the ranks make (tcp only to the rendezvous root).
#
# spmd_check is not an MPI program: the launcher only starts it and hands it variables. A missing
# launcher skips the case (exit 77) with the Debian package to install.
# shellcheck source=./common.sh source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

[ $# -eq 4 ] || mh_fail "usage: mpi.sh openmpi|hydra NP root|noroot SPMD_CHECK"
launcher=$1
np=$2
how=$3
spmd_check=$4
[[ $np =~ ^[1-9][0-9]*$ ]] || mh_fail "NP '$np' is not a positive number"
case $how in root | noroot) ;; *) mh_fail "expected root or noroot, got '$how'" ;; esac
[ -x "$spmd_check" ] || mh_fail "spmd_check '$spmd_check' is not an executable"
mh_require_tool timeout

wait_timeout=30  # SYMPHONY_TIMEOUT: generous, 9 ranks share 2 cores with other tests
vars=(SYMPHONY_TIMEOUT="$wait_timeout")
if [ "$how" = root ]; then
  port=$(mh_free_port 20000 59999)
  vars+=(SYMPHONY_ROOT="127.0.0.1:$port")
fi

mh_tmpdir
# All ranks run on this machine, so every pair must talk over ipc: strace records each rank's
# connect() calls (-ff: one file per process and thread), and the only tcp connections allowed
# are to the rendezvous root. Without strace that part is not checked, and the case says so.
traced=0
if command -v strace > /dev/null 2>&1; then
  traced=1
  vars+=(ASAN_OPTIONS="$(mh_traced_asan_options)")
else
  echo "note: strace is not installed, so the transport between ranks is not checked"
fi

case $launcher in
  openmpi)
    # Debian installs it as mpirun.openmpi; plain mpirun is an alternative that mpich may own.
    if command -v mpirun.openmpi > /dev/null 2>&1; then
      mpirun=mpirun.openmpi
    elif command -v mpirun > /dev/null 2>&1 && mpirun --version 2>&1 | grep -q 'Open MPI'; then
      mpirun=mpirun
    else
      mh_skip "Open MPI's mpirun is not installed (Debian package openmpi-bin)"
    fi
    command=("$mpirun" --oversubscribe)  # more ranks than the 2 cores
    # Open MPI refuses to run as root without being told twice.
    [ "$(id -u)" = 0 ] && command+=(--allow-run-as-root)
    # Locally the ranks inherit the environment; -x forwards it to other nodes too, as in a job.
    for v in "${vars[@]}"; do command+=(-x "${v%%=*}"); done
    command+=(-np "$np")
    ;;
  hydra)
    command -v mpiexec.hydra > /dev/null 2>&1 || mh_skip "mpiexec.hydra is not installed (Debian package mpich)"
    command=(mpiexec.hydra -n "$np")  # hydra forwards the whole environment by default
    ;;
  *) mh_fail "unknown launcher '$launcher' (openmpi or hydra)" ;;
esac
((traced)) && command+=(strace -ff -qq -e trace=connect -o "$mh_dir/connect")
command+=("$spmd_check")

out="$mh_dir/launcher.out"
echo "running: ${vars[*]} ${command[*]}"
start=$(mh_now)
env "${vars[@]}" timeout -k 5 100 "${command[@]}" > "$out" 2>&1
status=$?
elapsed=$(mh_seconds "$start")
echo "$launcher -np $np ($how) exited with status $status in $elapsed s; it printed:"
mh_show "$out"

case $status in 124 | 137) mh_fail "$launcher hung: killed after 100 s" ;; esac
[ "$status" = 0 ] || mh_fail "$launcher exited with status $status"
mh_expect_all_passed "$np" "$out"
if ((traced)); then
  # "unix" per successful connect to one of symphony's abstract ipc sockets, "tcp ADDRESS PORT"
  # per tcp connect (IPv4, or IPv4-mapped IPv6 as ZeroMQ writes it).
  cat "$mh_dir"/connect.* 2> /dev/null | sed -n -E \
    -e 's/.*connect\([0-9]+, \{sa_family=AF_UNIX, sun_path=@"symphony-[^"]*"\}, [0-9]+\) = 0.*/unix/p' \
    -e 's/.*connect\([0-9]+, \{sa_family=AF_INET, sin_port=htons\(([0-9]+)\), sin_addr=inet_addr\("([0-9.]+)"\).*/tcp \2 \1/p' \
    -e 's/.*connect\([0-9]+, \{sa_family=AF_INET6, sin6_port=htons\(([0-9]+)\),.*inet_pton\(AF_INET6, "(::ffff:)?([0-9a-fA-F.:]+)".*/tcp \3 \1/p' \
    > "$mh_dir/connects"
  tcp_targets=$(awk '$1 == "tcp" { print $2 ":" $3 }' "$mh_dir/connects" | sort -u)
  echo "connects: $(grep -c '^unix' "$mh_dir/connects") over ipc; tcp ones go to: ${tcp_targets:-nothing}" | tr '\n' ' '
  echo  # the line above ends where tr turned its newline into a blank
  ((np == 1)) || grep -q '^unix' "$mh_dir/connects" || mh_fail "the ranks never connected to each other over ipc"
  [ "$(grep -c . <<< "$tcp_targets")" -le 1 ] ||
    mh_fail "ranks on one machine connected over tcp to more than the rendezvous root: ${tcp_targets//$'\n'/ }"
  if [ "$how" = root ] && [ -n "$tcp_targets" ] && [ "${tcp_targets##*:}" != "$port" ]; then
    mh_fail "a tcp connection went to $tcp_targets, not to the rendezvous root port $port"
  fi
fi
echo "PASS: $launcher -np $np ($how) in $elapsed s"
