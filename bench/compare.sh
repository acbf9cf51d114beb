#!/bin/sh
# bench/compare.sh [RESULTS_DIR]: symphony against MPI and Gloo on this machine, in one command.
#
# Runs, each at 2 and 4 ranks and each when it was built:
#   symphony-bench under symphony-run, over ipc and over tcp;
#   every MPI harness built (mpi-bench, and mpi-bench-mpich or mpi-bench-openmpi: the other MPI),
#     each under its own MPI's launcher (mpirun.openmpi, mpiexec.mpich), over shared memory and
#     over tcp (Open MPI: --mca btl tcp,self; MPICH, Debian's ch4:ucx build: MPIR_CVAR_NOLOCAL=1,
#     so that no rank counts as local, and UCX_TLS=tcp,self, so that UCX uses no shared memory);
#   gloo-bench under symphony-run (which only starts the processes and hands them their rank),
#     over Gloo's tcp transport: once for every op, and once per allreduce class (ring,
#     ring_chunked, halving_doubling, bcube), each with a fresh file-store directory;
# then writes into RESULTS_DIR (default bench-results/):
#   all.csv        every row of every run (the columns of bench/README.md)
#   ratios.txt     per op, ranks and size: the medians of each system, and the ratios symphony /
#                  Open MPI and symphony / MPICH (ipc against shm, tcp against tcp) and symphony /
#                  Gloo (tcp against Gloo's best variant for that op and size, which is named)
#   targets.txt    bench/README.md's targets, each MET or MISSED (bench/targets.sh)
#   <op>.png       time against size, log-log, one line per system, variant and rank count
#                  (needs gnuplot; skipped with a message without it)
# and the per-run CSVs and logs. A run that fails is reported and the others still run.
#
# Environment: BUILD_DIR (default: build), RANKS (default: "2 4"), BENCH_ARGS (extra options for
# every harness, e.g. "--max-bytes 65536 --reps 3" for a quick look), MPIRUN (the launcher for
# mpi-bench; default: the launcher of the MPI it links, mpirun.openmpi or mpiexec.mpich, else
# mpirun; the other MPI's harness always gets its own MPI's launcher), GLOO_ALGORITHMS
# (default: "ring ring_chunked halving_doubling bcube"; empty: gloo::allreduce only).
set -eu

out=${1:-bench-results}
build=${BUILD_DIR:-build}
ranks=${RANKS:-"2 4"}
args=${BENCH_ARGS:-}
algorithms=${GLOO_ALGORITHMS-"ring ring_chunked halving_doubling bcube"}

run=$build/tools/symphony-run
sbench=$build/bench/symphony-bench
gbench=$build/bench/gloo-bench
[ -x "$run" ] || { echo "compare.sh: $run not found; build first (BUILD_DIR=$build)" >&2; exit 2; }
mkdir -p "$out"

runs=""
measure() {  # measure NAME COMMAND...: one run, its CSV in $out/NAME.csv and its output in NAME.log
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

# --- symphony ---------------------------------------------------------------------------------
if [ -x "$sbench" ]; then
  for n in $ranks; do
    for transport in ipc tcp; do
      # zmq_pingpong is in the default ops and runs (at 2 ranks only) beside the collectives.
      measure "symphony-$transport-$n" "$run" --transport "$transport" -n "$n" "$sbench"
    done
  done
else
  echo "compare.sh: no $sbench: no symphony rows" >&2
fi

# --- MPI --------------------------------------------------------------------------------------
# Every MPI harness built, each under the launcher of the MPI it links: with Open MPI and MPICH
# both installed, `mpirun` on PATH is whichever the alternatives chose. Debian names each one's
# own launcher. One harness per MPI (the first found wins).
mpi_seen=""
for mbench in "$build/bench/mpi-bench" "$build/bench/mpi-bench-openmpi" \
  "$build/bench/mpi-bench-mpich"; do
  [ -x "$mbench" ] || continue
  case $(ldd "$mbench" 2> /dev/null) in
  *libmpich*) flavor=mpich launcher=mpiexec.mpich ;;
  *libmpi.so*) flavor=openmpi launcher=mpirun.openmpi ;;
  *) flavor=mpi launcher=mpirun ;;
  esac
  case " $mpi_seen " in *" $flavor "*) continue ;; esac
  mpi_seen="$mpi_seen $flavor"
  [ "$mbench" = "$build/bench/mpi-bench" ] && [ -n "${MPIRUN:-}" ] && launcher=$MPIRUN
  if ! command -v "$launcher" > /dev/null 2>&1; then
    echo "compare.sh: no $launcher for $mbench: no $flavor rows"
    continue
  fi
  mpiflags=""
  tcpflags=""
  if "$launcher" --version 2>&1 | grep -Eq "Open MPI|OpenRTE"; then
    # As root, Open MPI refuses to start without --allow-run-as-root; --oversubscribe lets 4
    # ranks share 2 cores (as symphony's 4 ranks do). Its mpiexec calls itself OpenRTE.
    mpiflags="--oversubscribe"
    [ "$(id -u)" -eq 0 ] && mpiflags="$mpiflags --allow-run-as-root"
    tcpflags="--mca btl tcp,self"
  elif "$launcher" --version 2>&1 | grep -q "HYDRA"; then
    # MPICH (ch4:ucx on Debian 12): no rank counts as local, so ch4's shared memory is not used,
    # and UCX's transports are only tcp and self (strace shows the ranks' traffic on TCP
    # sockets then; bench/README.md).
    tcpflags="-genv MPIR_CVAR_NOLOCAL 1 -genv UCX_TLS tcp,self"
  fi
  for n in $ranks; do
    # shellcheck disable=SC2086  # the flag lists are word lists on purpose
    measure "$flavor-shm-$n" "$launcher" $mpiflags -n "$n" "$mbench" --variant shm
    if [ -n "$tcpflags" ]; then
      # shellcheck disable=SC2086
      measure "$flavor-tcp-$n" "$launcher" $mpiflags $tcpflags -n "$n" "$mbench" --variant tcp
    fi
  done
done
[ -n "$mpi_seen" ] || echo "compare.sh: no mpi-bench was built: no MPI rows"

# --- Gloo -------------------------------------------------------------------------------------
if [ -x "$gbench" ]; then
  # Gloo's file store refuses keys an earlier run left, so every run gets a fresh directory.
  stores=$(mktemp -d "${TMPDIR:-/tmp}/compare-gloo.XXXXXX")
  trap 'rm -rf "$stores"' EXIT
  for n in $ranks; do
    measure "gloo-tcp-$n" "$run" -n "$n" "$gbench" --store "$stores/tcp-$n"
    for algorithm in $algorithms; do
      # Measures allreduce only (if BENCH_ARGS' --ops leaves it out, the CSV has no rows).
      measure "gloo-tcp-$algorithm-$n" "$run" -n "$n" "$gbench" --allreduce "$algorithm" \
        --store "$stores/$algorithm-$n"
    done
  done
else
  echo "compare.sh: no $gbench (Gloo not found at build time; Debian: libgloo-dev): no Gloo rows"
fi

# --- all.csv: the runs' rows under one header ------------------------------------------------
all=$out/all.csv
echo "system,variant,op,ranks,bytes,iters,usec_median,usec_p10,usec_p90" > "$all"
for name in $runs; do
  tail -n +2 "$out/$name.csv" >> "$all"
done
echo "== $(($(wc -l < "$all") - 1)) rows in $all"

# --- ratios: symphony over each MPI (ipc with shm, tcp with tcp) and over Gloo's best ------------
awk -F, '
  function show(v) { return v == "" ? "-" : v }
  function ratio(a, b) { return (a != "" && b != "" && b > 0) ? sprintf("%.2f", a / b) : "-" }
  NR == 1 { next }
  { key = $3 "," $4 "," $5; keys[key] = 1 }
  $1 == "symphony" { sym[$2 "," key] = $7; next }
  $1 == "zmq" { next }
  $1 == "gloo" {
    # Gloo runs several algorithms for one op (variants tcp, tcp-ring, ...): keep the fastest.
    if (!(key in gloo) || $7 + 0 < gloo[key] + 0) { gloo[key] = $7; galg[key] = $2 }
    next
  }
  $1 == "mpich" { mpich[$2 "," key] = $7; next }
  { ompi[$2 "," key] = $7 }  # openmpi (or an MPI that named itself "mpi")
  END {
    format = "%-14s %5s %9s %10s %10s %10s %10s %10s %10s %10s %-20s %8s %8s %8s %8s %9s\n"
    printf format, "op", "ranks", "bytes", "sym/ipc", "sym/tcp", "ompi/shm", "ompi/tcp",
           "mpich/shm", "mpich/tcp", "gloo(best)", "gloo variant", "ipc/ompi", "tcp/ompi",
           "ipc/mpch", "tcp/mpch", "tcp/gloo"
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
      si = sym["ipc," k]; st = sym["tcp," k]; os = ompi["shm," k]; ot = ompi["tcp," k]
      cs = mpich["shm," k]; ct = mpich["tcp," k]; g = gloo[k]
      printf format, f[1], f[2], f[3], show(si), show(st), show(os), show(ot), show(cs), show(ct),
             show(g), show(galg[k]), ratio(si, os), ratio(st, ot), ratio(si, cs), ratio(st, ct),
             ratio(st, g)
    }
  }' "$all" | tee "$out/ratios.txt"

# --- targets: bench/README.md's targets judged from all.csv ------------------------------------
"$(dirname "$0")/targets.sh" "$out" > "$out/targets.txt" && echo "== $out/targets.txt"

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
  xlabel="bytes (per rank or block: bench/README.md)"
  [ "$op" = barrier ] && xlabel="ranks"
  gnuplot <<GNUPLOT
set terminal png size 1100,650
set output '$out/$op.png'
set title '$op: median time per call (bars: p10 to p90)'
set logscale xy
set xlabel '$xlabel'
set ylabel 'microseconds'
set key outside right top noenhanced
set grid
plot $plot
GNUPLOT
  echo "== $out/$op.png"
done
