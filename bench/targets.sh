#!/bin/sh
# bench/targets.sh DIR: judges compare.sh's results (DIR/all.csv) against the performance targets
# of bench/README.md ("Targets") and prints one line per check: the figures, the ratio, and MET or
# MISSED. compare.sh runs it and writes DIR/targets.txt; run it alone on an older DIR as well.
#
#   short  every op at 8 bytes (barrier: 0), over ipc and tcp: its median within 1.3x of raw
#          ZeroMQ's one-way time (zmq_pingpong, 8 bytes, same transport) times the op's number of
#          sequential rounds at that rank count (the header comments of include/symphony/
#          algorithms/ give them); over tcp also faster than Gloo's fastest variant.
#   long   broadcast, reduce, allreduce at 1 MiB and 16 MiB: symphony tcp at most 1.0x Open MPI
#          tcp at 4 ranks and 1.25x at 2 ranks (symphony ipc, the transport symphony-run picks on
#          one machine, is shown beside it), and faster than Gloo.
#   any    every op, rank count and size: symphony tcp at most 2x Open MPI tcp.
# A check whose figures are missing (a harness not built, an op not run) is not printed.
set -eu
dir=${1:?usage: bench/targets.sh RESULTS_DIR}
[ -r "$dir/all.csv" ] || {
  echo "targets.sh: no $dir/all.csv (run bench/compare.sh first)" >&2
  exit 2
}
awk -F, '
  function log2ceil(n,   r, v) { r = 0; v = 1; while (v < n) { v *= 2; r++ } return r }
  function floorpow2(n,   v) { v = 1; while (v * 2 <= n) v *= 2; return v }
  # Sequential rounds of the short-message algorithm of `op` on n ranks.
  function rounds(op, n,   q) {
    if (op == "allreduce" || op == "reduce_scatter") {
      q = floorpow2(n)
      return log2ceil(q) + (q == n ? 0 : 2)  # recursive doubling / halving, +2 to fold the rest
    }
    if (op == "alltoall") return 1  # one round of concurrent messages
    if (op == "pingpong") return 1
    return log2ceil(n)  # binomial trees, Bruck, dissemination, prefix doubling
  }
  function judge(ok) { return ok ? "MET" : "MISSED" }
  NR == 1 { next }
  { key = $3 "," $4 "," $5 }
  $1 == "symphony" { sym[$2 "," key] = $7; ops[$3] = 1; next }
  $1 == "zmq" && $3 == "zmq_pingpong" && $5 == 8 { zmq[$2] = $7; next }
  $1 == "gloo" { if (!(key in gloo) || $7 + 0 < gloo[key] + 0) gloo[key] = $7; next }
  $1 == "openmpi" { ompi[$2 "," key] = $7; next }
  END {
    print "# short: symphony at 8 B against raw ZeroMQ one way x rounds (target 1.3), and Gloo"
    printf "%-14s %5s %4s %6s %9s %9s %7s %-7s %9s %-7s\n", "op", "ranks", "via", "rounds",
           "symphony", "zmq x r", "ratio", "", "gloo", ""
    for (k in sym) {
      split(k, f, ",")
      v = f[1]; op = f[2]; n = f[3]; b = f[4]
      if (!((op == "barrier" && b == 0) || b == 8) || !(v in zmq) || op == "pingpong") continue
      r = rounds(op, n); floor_us = zmq[v] * r
      g = gloo[op "," n "," b]
      gtext = "-"; gjudge = ""
      if (v == "tcp" && g != "") { gtext = g; gjudge = judge(sym[k] + 0 < g + 0) }
      line[++count] = sprintf("%-14s %5s %4s %6d %9.1f %9.1f %7.2f %-7s %9s %-7s", op, n, v, r,
                              sym[k], floor_us, sym[k] / floor_us, judge(sym[k] / floor_us <= 1.3),
                              gtext, gjudge)
    }
    sorted_print()
    print ""
    print "# long: symphony against Open MPI tcp (target 1.0 at 4 ranks, 1.25 at 2), and Gloo"
    printf "%-10s %5s %9s %11s %11s %11s %7s %7s %-7s %11s %-7s\n", "op", "ranks", "bytes",
           "sym tcp", "sym ipc", "ompi tcp", "tcp/", "ipc/", "", "gloo", ""
    count = 0
    for (k in ompi) {
      split(k, f, ",")
      v = f[1]; op = f[2]; n = f[3]; b = f[4]
      if (v != "tcp" || (op != "broadcast" && op != "reduce" && op != "allreduce")) continue
      if (b != 1048576 && b != 16777216) continue
      st = sym["tcp," op "," n "," b]; si = sym["ipc," op "," n "," b]
      if (st == "") continue
      limit = n >= 4 ? 1.0 : 1.25
      g = gloo[op "," n "," b]
      line[++count] = sprintf("%-10s %5s %9s %11.1f %11s %11.1f %7.2f %7s %-7s %11s %-7s", op, n,
                              b, st, si == "" ? "-" : sprintf("%.1f", si), ompi[k], st / ompi[k],
                              si == "" ? "-" : sprintf("%.2f", si / ompi[k]),
                              judge(st / ompi[k] <= limit), g == "" ? "-" : g,
                              g == "" ? "" : judge(st + 0 < g + 0))
    }
    sorted_print()
    print ""
    print "# any: symphony tcp against Open MPI tcp, every op and size (target 2.0): the misses"
    worst = 0; checked = 0; missed = 0
    count = 0
    for (k in ompi) {
      split(k, f, ",")
      if (f[1] != "tcp" || f[2] == "pingpong") continue
      st = sym[k]
      if (st == "") continue
      checked++
      ratio = st / ompi[k]
      if (ratio > worst) { worst = ratio; worst_key = f[2] " " f[3] " ranks " f[4] " B" }
      if (ratio > 2.0) {
        missed++
        line[++count] = sprintf("%-14s %5s %9s %11.1f %11.1f %7.2f MISSED", f[2], f[3], f[4], st,
                                ompi[k], ratio)
      }
    }
    sorted_print()
    printf "%d of %d checks within 2x; the worst: %s at %.2fx\n", checked - missed, checked,
           worst_key, worst
  }
  # Prints line[1..count] sorted (awk has no portable sort; the lists are short).
  function sorted_print(   i, j, v) {
    for (i = 2; i <= count; i++) {
      v = line[i]; j = i - 1
      while (j > 0 && line[j] > v) { line[j + 1] = line[j]; j-- }
      line[j + 1] = v
    }
    for (i = 1; i <= count; i++) print line[i]
    count = 0
  }' "$dir/all.csv"
