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
#                namespace must talk over ipc, the others over tcp (checked on the connect() calls
#                strace records; without strace that part is not checked, and the case says so).
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
# shellcheck source=./common.sh source-path=SCRIPTDIR
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

rounds=2

# root mode: strace records every connect() each rank makes (its ZeroMQ I/O thread included).
# Checked after the run: a rank reaches a peer in its own namespace over ipc (an abstract unix
# socket, which is private to its network namespace) and peers in other namespaces over tcp.
# Without strace the transports are not checked, and the case says so.
tracer=()
if [ "$mode" = root ]; then
  if command -v strace > /dev/null 2>&1; then
    tracer=(strace -f -qq -e trace=connect -o)
  else
    echo "note: strace is not installed, so which transport each pair of ranks used is not checked"
  fi
fi

run_start=$(mh_now)
for ((r = 0; r < started; ++r)); do
  ns="$prefix-h${rank_host[r]}"
  vars=(SYMPHONY_RANK="$r" SYMPHONY_NRANKS="$nranks" SYMPHONY_TIMEOUT="$wait_timeout")
  ((${#tracer[@]})) && vars+=(ASAN_OPTIONS="$(mh_traced_asan_options)")
  case $mode in
    explicit | unreachable) vars+=(SYMPHONY_ADDRESSES="$addresses") ;;
    root | missing) vars+=(SYMPHONY_ROOT="$root") ;;
  esac
  trace=()
  ((${#tracer[@]})) && trace=("${tracer[@]}" "$mh_dir/connect.r$r")
  env "${vars[@]}" timeout -k 2 60 ip netns exec "$ns" ${trace[@]+"${trace[@]}"} "$spmd_check" --rounds "$rounds" \
    > "$mh_dir/rank$r.out" 2>&1 &
  mh_pids+=($!)
done

mh_wait_all 70
elapsed=$(mh_seconds "$run_start")
outputs=()
for ((r = 0; r < started; ++r)); do outputs+=("$mh_dir/rank$r.out"); done
echo "ranks finished in $elapsed s; exit statuses: ${mh_status[*]}"
mh_show "${outputs[@]}"

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

if ((${#tracer[@]})); then
  # One line per connect() the ranks of a namespace made: "unix" for a successful connect to one
  # of symphony's abstract ipc sockets (@symphony-...), "tcp ADDRESS PORT" for tcp (IPv4, or
  # IPv4-mapped IPv6 as ZeroMQ writes it).
  for ((h = 0; h < hosts; ++h)); do
    connects="$mh_dir/connects.h$h"
    : > "$connects"
    for ((r = 0; r < started; ++r)); do
      ((rank_host[r] == h)) || continue
      sed -n -E \
        -e 's/.*connect\([0-9]+, \{sa_family=AF_UNIX, sun_path=@"symphony-[^"]*"\}, [0-9]+\) = 0.*/unix/p' \
        -e 's/.*connect\([0-9]+, \{sa_family=AF_INET, sin_port=htons\(([0-9]+)\), sin_addr=inet_addr\("([0-9.]+)"\).*/tcp \2 \1/p' \
        -e 's/.*connect\([0-9]+, \{sa_family=AF_INET6, sin6_port=htons\(([0-9]+)\),.*inet_pton\(AF_INET6, "(::ffff:)?([0-9a-fA-F.:]+)".*/tcp \3 \1/p' \
        "$mh_dir/connect.r$r" >> "$connects"
    done
    own="198.18.0.$((h + 1))"
    echo "namespace h$h ($own, ranks: ${per_ns[h]}): $(grep -c '^unix' "$connects") ipc connects," \
      "$(grep -c "^tcp 198\.18\.0\.[0-9]* " "$connects" | tr -d ' ') tcp connects to namespaces" \
      "($(grep "^tcp " "$connects" | sort | uniq -c | awk '{ printf "%s%s:%s x%s", sep, $3, $4, $1; sep = ", " }'))"
    # tcp to this namespace's own address (other than to the rendezvous root) or to loopback:
    # a peer that ipc should have reached.
    inside=$(awk -v own="$own" '$1 == "tcp" && (($2 == own && $3 != 29500) || $2 ~ /^127\./ || $2 == "::1")' "$connects")
    [ -z "$inside" ] || mh_fail "ranks in namespace h$h reach each other over tcp, not ipc: $(head -1 <<< "$inside")"
    if ((hosts > 1)) && ! awk -v own="$own" '$1 == "tcp" && $2 ~ /^198\.18\.0\./ && $2 != own { f = 1 } END { exit !f }' "$connects"; then
      mh_fail "the ranks in namespace h$h made no tcp connection to another namespace"
    fi
    if ((per_ns[h] > 1)) && ! grep -q '^unix' "$connects"; then
      mh_fail "the ${per_ns[h]} ranks in namespace h$h never connected to each other over ipc"
    fi
  done
  echo "transports: ipc within a namespace, tcp between namespaces"
fi
echo "PASS: $mode, $nranks ranks over $hosts namespaces ($layout) in $elapsed s"
