#!/bin/sh
# symphony-sim: the last line is the virtual time; bad arguments name the flag and fail.
# usage: cli_test.sh path/to/symphony-sim
set -u
sim=$1
failed=0
fail() { echo "FAIL: $*"; failed=1; }

# dist-sys's first row: naive allreduce on 2 nodes, 0.1 s latency, 1e6 B/s, 10 elements: 0.100080
out=$("$sim" --nodes 2 --latency 0.1 --rate 1e6 --elements 10 --algorithm naive) || fail "naive run exited $?"
last=$(printf '%s\n' "$out" | tail -n 1)
awk -v t="$last" 'BEGIN { exit !(t > 0.1000 && t < 0.1002) }' || fail "naive: last line '$last', want 0.100080"

# symphony's own algorithm and another op: a positive number on the last line, results checked
out=$("$sim" --nodes 100 --latency 10e-6 --rate 10e9 --elements 1000 --algorithm auto --op broadcast) ||
  fail "broadcast run exited $?"
printf '%s\n' "$out" | grep -q "results checked" || fail "broadcast: results not checked: $out"
last=$(printf '%s\n' "$out" | tail -n 1)
awk -v t="$last" 'BEGIN { exit !(t > 0 && t < 1) }' || fail "broadcast: last line '$last'"

# -q prints only the time
out=$("$sim" -q --nodes 4 --latency 1e-6 --rate 1e9 --elements 10 --algorithm ring)
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "-q printed more than one line: $out"

# bad arguments: exit status != 0 and a message naming the flag
expect_error() {
  flag=$1
  shift
  if err=$("$sim" "$@" 2>&1); then
    fail "accepted $*"
  else
    printf '%s\n' "$err" | grep -q -- "$flag" || fail "'$*' did not name $flag: $err"
  fi
}
expect_error --nodes --nodes 0 --latency 0.1 --rate 1e6 --elements 10
expect_error --rate --nodes 2 --latency 0.1 --rate 0 --elements 10
expect_error --latency --nodes 2 --latency -1 --rate 1e6 --elements 10
expect_error --latency --nodes 2 --latency abc --rate 1e6 --elements 10
expect_error --algorithm --nodes 2 --latency 0.1 --rate 1e6 --elements 10 --algorithm bogus
expect_error --op --nodes 2 --latency 0.1 --rate 1e6 --elements 10 --op allsort
expect_error --elements --nodes 2 --latency 0.1 --rate 1e6

[ $failed -eq 0 ] && echo "symphony-sim CLI: all checks passed"
exit $failed
