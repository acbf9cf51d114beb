#!/usr/bin/env bash
# tests/multihost/netns.sh: spmd_check across "hosts" that are network namespaces on this machine.
#
#   netns.sh MODE LAYOUT SPMD_CHECK
#
# LAYOUT is the number of ranks in each namespace, e.g. 2,2 (two hosts with two ranks each) or
# 2,2,1. Ranks are placed in blocks: with 2,2,1 ranks 0-1 run in the first namespace, 2-3 in the
# second, 4 in the third. MODE:
#   explicit     SYMPHONY_RANK, SYMPHONY_NRANKS and SYMPHONY_ADDRESSES with each namespace's tcp
#                address: the universal escape hatch, no rendezvous.
#   root         SYMPHONY_RANK, SYMPHONY_NRANKS and SYMPHONY_ROOT=198.18.0.1:<port> only: the
#                ranks find each other through the rendezvous at rank 0. Ranks that share a
#                namespace should talk over ipc, the others over tcp (checked on the sockets the
#                ranks hold while they run).
#   unreachable  explicit addresses plus one more rank, the last, whose address no namespace
#                holds and which never starts: with SYMPHONY_TIMEOUT=3 every started rank must
#                fail within the timeout plus a margin, with an error that names a rank, not hang.
#   missing      as root, plus one more rank that never starts: rank 0 must report the rank that
#                did not register, and everyone must fail within the timeout plus a margin.
#
# Topology: one namespace holds a bridge; every "host" namespace has an eth0 whose veth peer is
# a port of that bridge, with address 198.18.0.<i+1>/24 (198.18.0.0/15 is reserved for network
# benchmarks, RFC 2544, so it can clash with nothing real). The namespaces are private to this
# run: their names carry this script's pid, any port is free in them, and they are deleted on
# every exit (trap), failed or not; namespaces left by a run that was killed outright (its pid is
# gone) are deleted at the start of the next. Needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN)
# and iproute2; skips with the reason otherwise.
# shellcheck source=tests/multihost/common.sh
source "$(dirname "$0")/common.sh"

[ $# -eq 3 ] || mh_fail "usage: netns.sh explicit|root|unreachable|missing LAYOUT SPMD_CHECK"
mode=$1
layout=$2
spmd_check=$3
case $mode in explicit | root | unreachable | missing) ;; *) mh_fail "unknown mode '$mode'" ;; esac
[ -x "$spmd_check" ] || mh_fail "spmd_check '$spmd_check' is not an executable"
[[ $layout =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || mh_fail "LAYOUT '$layout' is not a list like 2,2,1"

mh_require_tool ip timeout
[ "$(id -u)" = 0 ] || mh_skip "network namespaces need root (running as uid $(id -u))"

prefix="symmh-$$"
bridge_ns="$prefix-br"
IFS=, read -r -a per_ns <<< "$layout"
hosts=${#per_ns[@]}
[ "$hosts" -le 200 ] || mh_fail "LAYOUT '$layout' has more than 200 namespaces"

# Namespaces of runs that were killed before their trap ran: their pid no longer exists.
for ns in $(ip netns list 2> /dev/null | awk '{ print $1 }'); do
  if [[ $ns =~ ^symmh-([0-9]+)- ]] && ! kill -0 "${BASH_REMATCH[1]}" 2> /dev/null; then
    ip netns delete "$ns" 2> /dev/null && echo "deleted stale namespace $ns"
  fi
done

created=()
delete_namespaces() {
  local ns
  for ns in "${created[@]}"; do ip netns delete "$ns" 2> /dev/null; done
  created=()
}
mh_cleanup_hooks+=(delete_namespaces)

# ip_or_skip WHAT COMMAND...: run an ip command; when it is refused, skip the case with the
# command's own message (no privilege, no veth or bridge support in this kernel or sandbox).
ip_or_skip() {
  local what=$1 out
  shift
  out=$("$@" 2>&1) || mh_skip "cannot $what here ('$*' said: ${out:-nothing}); this case needs network namespaces"
}

setup_start=$(mh_now)
ip_or_skip "create a network namespace" ip netns add "$bridge_ns"
created+=("$bridge_ns")
ip_or_skip "create a bridge" ip -n "$bridge_ns" link add br0 type bridge
ip -n "$bridge_ns" link set br0 up || mh_fail "cannot bring up br0 in $bridge_ns"
for ((h = 0; h < hosts; ++h)); do
  ns="$prefix-h$h"
  ip_or_skip "create a network namespace" ip netns add "$ns"
  created+=("$ns")
  ip_or_skip "create a veth pair" ip link add name eth0 netns "$ns" type veth peer name "p$h" netns "$bridge_ns"
  if ! { ip -n "$bridge_ns" link set "p$h" master br0 && ip -n "$bridge_ns" link set "p$h" up &&
    ip -n "$ns" addr add "198.18.0.$((h + 1))/24" dev eth0 && ip -n "$ns" link set eth0 up &&
    ip -n "$ns" link set lo up; }; then
    mh_fail "cannot configure namespace $ns"
  fi
done
echo "$hosts namespaces ($prefix-h0..h$((hosts - 1)), 198.18.0.1..$hosts) on bridge $bridge_ns," \
  "set up in $(mh_seconds "$setup_start") s"

mh_tmpdir

# Rank r's namespace index, in blocks of the layout.
rank_host=()
for ((h = 0; h < hosts; ++h)); do
  for ((i = 0; i < per_ns[h]; ++i)); do rank_host+=("$h"); done
done
started=${#rank_host[@]}  # ranks this script starts
nranks=$started
case $mode in unreachable | missing) nranks=$((started + 1)) ;; esac
absent=$((nranks - 1))    # the rank that never starts, in unreachable and missing modes

addresses=""
for ((r = 0; r < nranks; ++r)); do
  if ((r < started)); then host="198.18.0.$((rank_host[r] + 1))"; else host="198.18.0.250"; fi
  addresses+="${addresses:+,}$host:$((41000 + r))"
done
root="198.18.0.1:29500"  # rank 0 runs in the first namespace; every port is free there

# The wait limit: generous where the job must succeed, short where it must fail.
case $mode in
  explicit | root) wait_timeout=20 ;;
  unreachable | missing) wait_timeout=3 ;;
esac

echo "mode $mode: $nranks ranks, layout $layout$( ((nranks > started)) && echo ", rank $absent never starts")," \
  "SYMPHONY_TIMEOUT=$wait_timeout"
[ "$mode" = explicit ] || [ "$mode" = unreachable ] && echo "SYMPHONY_ADDRESSES=$addresses"
[ "$mode" = root ] || [ "$mode" = missing ] && echo "SYMPHONY_ROOT=$root"

# In root mode the ranks run long enough for the sockets they hold to be listed (see below).
rounds=1
[ "$mode" = root ] && rounds=${SYMPHONY_TEST_ROUNDS:-60}

# root mode: while the ranks run, a sampler in each namespace copies that namespace's socket
# tables every 20 ms (/proc/net/{tcp,tcp6,unix} describe the reading process's namespace; ss
# would need the inet_diag module, which some kernels lack). Checked after the run: a peer in the
# same namespace must be reached over ipc (an abstract unix socket), one in another namespace
# over tcp. The samplers stop when the ranks are done (stop file), at most 70 s.
sampler_pids=()
stop_sampling() {
  touch "$mh_dir/stop-sampling"
  local pid
  for pid in "${sampler_pids[@]}"; do wait "$pid" 2> /dev/null; done
  sampler_pids=()
}
if [ "$mode" = root ]; then
  for ((h = 0; h < hosts; ++h)); do
    : > "$mh_dir/tcp.h$h"
    : > "$mh_dir/unix.h$h"
    # shellcheck disable=SC2016 # the sampler's own bash expands $1 and $2
    timeout -k 2 70 ip netns exec "$prefix-h$h" bash -c '
      while [ ! -e "$1/stop-sampling" ]; do
        cat /proc/net/tcp /proc/net/tcp6 >> "$1/tcp.h$2" 2> /dev/null
        grep -F "@symphony-" /proc/net/unix >> "$1/unix.h$2"
        sleep 0.02
      done' sampler "$mh_dir" "$h" &
    sampler_pids+=($!)
  done
  mh_cleanup_hooks=(stop_sampling "${mh_cleanup_hooks[@]}")
fi

run_start=$(mh_now)
for ((r = 0; r < started; ++r)); do
  ns="$prefix-h${rank_host[r]}"
  vars=(SYMPHONY_RANK="$r" SYMPHONY_NRANKS="$nranks" SYMPHONY_TIMEOUT="$wait_timeout")
  case $mode in
    explicit | unreachable) vars+=(SYMPHONY_ADDRESSES="$addresses") ;;
    root | missing) vars+=(SYMPHONY_ROOT="$root") ;;
  esac
  env "${vars[@]}" timeout -k 2 60 ip netns exec "$ns" "$spmd_check" --rounds "$rounds" \
    > "$mh_dir/rank$r.out" 2>&1 &
  mh_pids+=($!)
done

mh_wait_all 70
stop_sampling
elapsed=$(mh_seconds "$run_start")
outputs=()
for ((r = 0; r < started; ++r)); do outputs+=("$mh_dir/rank$r.out"); done
echo "ranks finished in $elapsed s; exit statuses: ${mh_status[*]}"
mh_show "${outputs[@]}"

if [ "$mode" = root ] || [ "$mode" = missing ]; then
  mh_wiring_missing "${outputs[@]}" &&
    mh_skip "the communicator cannot join through SYMPHONY_ROOT yet (spmd_check said:" \
      "'$mh_wiring_missing_pattern'); this case runs once the lead's wiring lands"
fi

case $mode in
  explicit | root)
    for ((r = 0; r < started; ++r)); do
      [ "${mh_status[r]}" = 0 ] || mh_fail "rank $r (in $prefix-h${rank_host[r]}) exited with status ${mh_status[r]}"
    done
    mh_expect_all_passed "$nranks" "${outputs[@]}"
    ;;
  unreachable | missing)
    limit=$((wait_timeout + 6))  # the timeout, the rendezvous grace (at most 3 s), start-up
    for ((r = 0; r < started; ++r)); do
      case ${mh_status[r]} in
        0) mh_fail "rank $r exited 0 although rank $absent never started" ;;
        124 | 137) mh_fail "rank $r hung: still running after 60 s with SYMPHONY_TIMEOUT=$wait_timeout" ;;
      esac
    done
    awk -v e="$elapsed" -v l="$limit" 'BEGIN { exit !(e <= l) }' ||
      mh_fail "the ranks took $elapsed s to fail, more than SYMPHONY_TIMEOUT=$wait_timeout s + 6 s"
    # Every started rank explains itself, and someone names the absent rank.
    for ((r = 0; r < started; ++r)); do
      grep -q -E 'timed out|did not register|no answer|timeout' "${outputs[r]}" ||
        mh_fail "rank $r failed without saying it timed out (see its output above)"
    done
    if [ "$mode" = missing ]; then
      grep -q -E "ranks? ([0-9, -]*[^0-9])?$absent( |,).*did not register" "${outputs[@]}" ||
        mh_fail "no rank said that rank $absent did not register"
    else
      grep -q -E "rank $absent([^0-9]|$)" "${outputs[@]}" ||
        mh_fail "no error names rank $absent, the unreachable one"
    fi
    echo "as expected, the ranks failed in $elapsed s (SYMPHONY_TIMEOUT=$wait_timeout) naming rank $absent"
    ;;
esac

if [ "$mode" = root ]; then
  # /proc/net/tcp rows: "sl local rem st ...", addresses as little-endian hex IPv4 (tcp6: an
  # IPv4-mapped address ends in it) and a hex port; st 01 is established. Data connections are
  # the established ones whose both ends are in 198.18.0.0/24 and neither end is the rendezvous
  # root's port (29500 = 733C). /proc/net/unix rows end with the path; st 03 is connected, and
  # symphony's abstract ipc sockets are named @symphony-...
  for ((h = 0; h < hosts; ++h)); do
    awk '$4 == "01" {
           split($2, l, ":"); split($3, r, ":")
           l[1] = substr(l[1], length(l[1]) - 7); r[1] = substr(r[1], length(r[1]) - 7)
           if (substr(l[1], 5) == "12C6" && substr(r[1], 5) == "12C6" && l[2] != "733C" && r[2] != "733C")
             print l[1] ":" l[2], r[1] ":" r[2]
         }' "$mh_dir/tcp.h$h" | sort -u > "$mh_dir/data-tcp.h$h"
    awk '$6 == "03" && $NF ~ /^@symphony-/' "$mh_dir/unix.h$h" | sort -u > "$mh_dir/ipc.h$h"
    own=$(printf '%02X0012C6' $((h + 1)))  # 198.18.0.<h+1>, as /proc/net/tcp writes it
    echo "namespace h$h (198.18.0.$((h + 1)), ranks: ${per_ns[h]}): $(wc -l < "$mh_dir/data-tcp.h$h")" \
      "tcp data connections seen, $(wc -l < "$mh_dir/ipc.h$h") connected ipc sockets"
    if grep -q "^$own:.* $own:" "$mh_dir/data-tcp.h$h"; then
      mh_fail "ranks in namespace h$h talk to each other over tcp, not ipc: $(grep "^$own:.* $own:" "$mh_dir/data-tcp.h$h" | head -1)"
    fi
    if ((hosts > 1)) && ! grep -q "^$own:" "$mh_dir/data-tcp.h$h"; then
      mh_fail "no tcp connection from namespace h$h to another namespace was seen while the ranks ran"
    fi
    if ((per_ns[h] > 1)) && [ ! -s "$mh_dir/ipc.h$h" ]; then
      mh_fail "the ${per_ns[h]} ranks in namespace h$h were never seen connected over ipc"
    fi
  done
  echo "transports: ipc within a namespace, tcp between namespaces"
fi
echo "PASS: $mode, $nranks ranks over $hosts namespaces ($layout) in $elapsed s"
