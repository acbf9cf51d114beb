#!/bin/sh
# bench/compare.sh [RESULTS_DIR]: symphony against MPI on this machine, in one command.
#
# Runs symphony-bench under symphony-run over ipc and tcp, and mpi-bench (when it was built and an
# mpirun is on PATH) over shared memory and tcp, each at 2 and 4 ranks; then writes into
# RESULTS_DIR (default bench-results/):
#   all.csv        every row of every run (the columns of bench/README.md)
#   ratios.txt     symphony / MPI per op, ranks and size (ipc against shm, tcp against tcp)
#   <op>.png       time against size, log-log, one line per system, variant and rank count
#                  (needs gnuplot; skipped with a message without it)
# and the per-run CSVs and logs.
#
# Environment: BUILD_DIR (default: build), RANKS (default: "2 4"), BENCH_ARGS (extra options for
# both harnesses, e.g. "--max-bytes 65536 --reps 3" for a quick look), MPIRUN (default: mpirun).
set -eu

out=${1:-bench-results}
build=${BUILD_DIR:-build}
ranks=${RANKS:-"2 4"}
args=${BENCH_ARGS:-}
mpirun=${MPIRUN:-mpirun}

run=$build/tools/symphony-run
sbench=$build/bench/symphony-bench
mbench=$build/bench/mpi-bench
for f in "$run" "$sbench"; do
  [ -x "$f" ] || { echo "compare.sh: $f not found; build first (BUILD_DIR=$build)" >&2; exit 2; }
done
mkdir -p "$out"

# Each run writes its own CSV; a failed run is reported and the others still run.
runs=""
measure() {  # measure NAME COMMAND...
  name=$1
  shift
  echo "== $name: $*"
  # shellcheck disable=SC2086  # $args is a word list on purpose
  if "$@" --csv "$out/$name.csv" $args > "$out/$name.log" 2>&1; then
    runs="$runs $name"
  else
    echo "compare.sh: $name failed (exit $?); see $out/$name.log" >&2
  fi
}

for n in $ranks; do
  for transport in ipc tcp; do
    # zmq_pingpong is in the default ops and runs (at 2 ranks only) beside the collectives.
    measure "symphony-$transport-$n" "$run" --transport "$transport" -n "$n" "$sbench"
  done
done

if [ -x "$mbench" ] && command -v "$mpirun" > /dev/null 2>&1; then
  mpiflags=""
  # As root, OpenMPI refuses to start without --allow-run-as-root; --oversubscribe lets 4 ranks
  # share 2 cores (as symphony's 4 ranks do).
  if "$mpirun" --version 2>&1 | grep -q "Open MPI"; then
    mpiflags="--oversubscribe"
    [ "$(id -u)" -eq 0 ] && mpiflags="$mpiflags --allow-run-as-root"
    tcpflags="--mca btl tcp,self"
  else
    tcpflags=""  # MPICH picks its channel at build time: only its default (shm) is run
  fi
  for n in $ranks; do
    # shellcheck disable=SC2086  # the flag lists are word lists on purpose
    measure "mpi-shm-$n" "$mpirun" $mpiflags -n "$n" "$mbench" --variant shm
    if [ -n "$tcpflags" ]; then
      # shellcheck disable=SC2086
      measure "mpi-tcp-$n" "$mpirun" $mpiflags $tcpflags -n "$n" "$mbench" --variant tcp
    fi
  done
else
  echo "compare.sh: no mpi-bench in $build/bench or no $mpirun on PATH: symphony only"
fi

# --- all.csv: the runs' rows under one header ------------------------------------------------
all=$out/all.csv
echo "system,variant,op,ranks,bytes,iters,usec_median,usec_p10,usec_p90" > "$all"
for name in $runs; do
  tail -n +2 "$out/$name.csv" >> "$all"
done
echo "== $(($(wc -l < "$all") - 1)) rows in $all"

# --- ratios: symphony over MPI, matching transports (ipc with shm, tcp with tcp) --------------
awk -F, '
  NR == 1 { next }
  $1 == "symphony" { key = $3 "," $4 "," $5; sym[$2 "," key] = $7; keys[key] = 1; next }
  $1 != "zmq" { mpi_name = $1; mpi[$2 "," $3 "," $4 "," $5] = $7 }
  END {
    if (mpi_name == "") { print "(no MPI results: no ratios)"; exit }
    printf "%-10s %5s %10s %12s %12s %8s %12s %12s %8s\n", "op", "ranks", "bytes",
           "symphony/ipc", mpi_name "/shm", "ratio", "symphony/tcp", mpi_name "/tcp", "ratio"
    n = 0
    for (k in keys) order[++n] = k
    # insertion sort by op, ranks, bytes (awk has no portable sort)
    for (i = 2; i <= n; i++) {
      v = order[i]; split(v, a, ","); j = i - 1
      while (j > 0) {
        split(order[j], b, ",")
        if (b[1] < a[1] || (b[1] == a[1] && (b[2] + 0 < a[2] + 0 || (b[2] == a[2] && b[3] + 0 <= a[3] + 0)))) break
        order[j + 1] = order[j]; j--
      }
      order[j + 1] = v
    }
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, f, ",")
      si = sym["ipc," k]; ms = mpi["shm," k]; st = sym["tcp," k]; mt = mpi["tcp," k]
      printf "%-10s %5s %10s %12s %12s %8s %12s %12s %8s\n", f[1], f[2], f[3],
             si == "" ? "-" : si, ms == "" ? "-" : ms,
             (si != "" && ms > 0) ? sprintf("%.1f", si / ms) : "-",
             st == "" ? "-" : st, mt == "" ? "-" : mt,
             (st != "" && mt > 0) ? sprintf("%.1f", st / mt) : "-"
    }
  }' "$all" | tee "$out/ratios.txt"

# --- plots: one PNG per op ------------------------------------------------------------------------
if ! command -v gnuplot > /dev/null 2>&1; then
  echo "compare.sh: gnuplot not found (Debian: gnuplot-nox): no plots"
  exit 0
fi
data=$out/plot-data
rm -rf "$data"
mkdir -p "$data"
# One data file per op and line (system, variant, ranks): "bytes usec_median usec_p10 usec_p90".
# A barrier has no size, so its x axis is the number of ranks instead.
awk -F, -v dir="$data" '
  NR == 1 { next }
  {
    line = ($3 == "barrier") ? $1 "-" $2 : $1 "-" $2 "-n" $4
    file = dir "/" $3 "@" line ".dat"
    print (($3 == "barrier") ? $4 : $5), $7, $8, $9 >> file
  }' "$all"
for op in $(cut -d, -f3 "$all" | tail -n +2 | sort -u); do
  plot=""
  for f in "$data/$op@"*.dat; do
    title=${f##*@}
    title=${title%.dat}
    plot="$plot${plot:+, }'$f' using 1:2:3:4 with yerrorlines title '$title'"
  done
  xlabel="message size (bytes)"
  [ "$op" = barrier ] && xlabel="ranks"
  gnuplot <<GNUPLOT
set terminal png size 900,600
set output '$out/$op.png'
set title '$op: median time per call (bars: p10 to p90)'
set logscale xy
set xlabel '$xlabel'
set ylabel 'microseconds'
set key left top
set grid
plot $plot
GNUPLOT
  echo "== $out/$op.png"
done
