#!/bin/sh
# bench/smoke_test.sh mpi|mpich|gloo LAUNCHER BENCH DIR: a smoke test of mpi-bench, of the harness
# that links MPICH, or of gloo-bench (CTest bench_mpi_smoke, bench_mpich_smoke, bench_gloo_smoke). Runs every operation of the harness on 2 ranks with tiny
# sizes and checks the CSV it writes: the exact header, one row per operation and size, each row
# well formed, every operation present. No timing is checked: the machine may be busy. Each
# harness checks its own results once per size, so a wrong result fails the run.
#
#   mpi   LAUNCHER is the mpiexec CMake's FindMPI found (the one matching the MPI mpi-bench was
#         built against)
#   mpich as mpi, for the harness built against MPICH (mpi-bench-mpich), whose rows must say mpich
#   gloo  LAUNCHER is symphony-run; also runs each of Gloo's allreduce classes (--allreduce ALG),
#         and checks that a store directory left by an earlier run is refused with its name
#
# An empty BENCH means the harness was not built: exit 77 (CTest: skipped) with the Debian package
# that would build it; so does a missing mpiexec. Work files go to DIR, which is emptied first.
set -u

[ $# -eq 4 ] || { echo "usage: smoke_test.sh mpi|mpich|gloo LAUNCHER BENCH DIR" >&2; exit 2; }
mode=$1
launcher=$2
bench=$3
dir=$4

skip() {
  echo "SKIPPED: $*"
  exit 77
}
fail() {
  echo "FAILED: $*" >&2
  exit 1
}

header="system,variant,op,ranks,bytes,iters,usec_median,usec_p10,usec_p90"
sizes="--min-bytes 8 --max-bytes 128 --reps 2 --iters 3 --warmup 1"  # 8, 32 and 128 bytes
number='[0-9]+(\.[0-9]+)?'

# check CSV ROWS SYSTEM VARIANT OPS: CSV has the header, ROWS rows, each "SYSTEM,VARIANT,op,2,..."
# with 3 iterations, and its ops are exactly the comma-separated OPS.
check() {
  csv=$1
  rows=$2
  system=$3
  variant=$4
  ops=$5
  [ -f "$csv" ] || fail "no $csv was written"
  first=$(head -n 1 "$csv")
  [ "$first" = "$header" ] || fail "$csv: header is '$first', expected '$header'"
  count=$(($(wc -l < "$csv") - 1))
  [ "$count" -eq "$rows" ] || fail "$csv has $count rows, expected $rows:
$(cat "$csv")"
  bad=$(tail -n +2 "$csv" |
    grep -Ev "^$system,$variant,[a-z_]+,2,[0-9]+,3,$number,$number,$number\$" | head -n 1)
  [ -z "$bad" ] || fail "$csv: malformed row '$bad'"
  seen=$(tail -n +2 "$csv" | cut -d, -f3 | sort -u | tr '\n' ' ')
  wanted=$(echo "$ops" | tr ',' '\n' | sort -u | tr '\n' ' ')
  [ "$seen" = "$wanted" ] || fail "$csv: ops are '$seen', expected '$wanted'"
  echo "ok: $csv, $count rows of $system/$variant"
}

rm -rf "$dir"
mkdir -p "$dir" || fail "cannot create $dir"

case $mode in
mpi | mpich)
  if [ -z "$bench" ] || [ ! -x "$bench" ]; then
    [ "$mode" = mpich ] &&
      skip "no harness was built against MPICH: CMake found no pkg-config mpich (Debian: libmpich-dev mpich)"
    skip "mpi-bench was not built: CMake found no MPI (Debian: libopenmpi-dev openmpi-bin)"
  fi
  # With Open MPI and MPICH both installed, mpiexec is whichever the alternatives chose, maybe not
  # the MPI mpi-bench links (each rank would then be a job of 1): prefer the matching launcher.
  case $(ldd "$bench" 2> /dev/null) in
  *libmpich*) own=mpiexec.mpich ;;
  *libmpi.so*) own=mpirun.openmpi ;;
  *) own="" ;;
  esac
  if [ -n "$own" ] && command -v "$own" > /dev/null 2>&1; then launcher=$own; fi
  if [ -z "$launcher" ] || ! command -v "$launcher" > /dev/null 2>&1; then
    skip "no mpiexec found (Debian: openmpi-bin, or mpich for MPICH)"
  fi
  flags=""
  # Open MPI refuses to run as root without --allow-run-as-root, and 2 ranks may exceed the
  # slots it counts on a busy or 1-core machine.
  if "$launcher" --version 2>&1 | grep -Eq "Open MPI|OpenRTE|open-mpi"; then
    flags="--oversubscribe"
    [ "$(id -u)" -eq 0 ] && flags="$flags --allow-run-as-root"
  fi
  # In a sanitizer build, LeakSanitizer reports Open MPI's own allocations left at exit (tens of
  # thousands of bytes, all inside libmpi and its plugins) and fails the run; they are not ours.
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
  export ASAN_OPTIONS
  ops=broadcast,reduce,gather,scatter,allreduce,allgather,alltoall,reduce_scatter,scan,exscan,barrier
  # shellcheck disable=SC2086  # $flags and $sizes are word lists on purpose
  timeout 60 "$launcher" $flags -n 2 "$bench" --ops "$ops" $sizes --csv "$dir/mpi.csv" \
    > "$dir/mpi.log" 2>&1 || fail "mpi-bench exited with $?:
$(cat "$dir/mpi.log")"
  # 10 ops at 8, 32 and 128 bytes, and one barrier row.
  systems="(openmpi|mpich|mpi)"
  [ "$mode" = mpich ] && systems=mpich
  check "$dir/mpi.csv" 31 "$systems" shm "$ops"
  ;;
gloo)
  if [ -z "$bench" ] || [ ! -x "$bench" ]; then
    skip "gloo-bench was not built: CMake found no Gloo (Debian: libgloo-dev)"
  fi
  [ -x "$launcher" ] || fail "symphony-run '$launcher' is not an executable"
  # gloo NAME STORE ARGS...: gloo-bench on 2 ranks, rendezvous in DIR/STORE, CSV in DIR/NAME.csv.
  gloo() {
    name=$1
    store=$2
    shift 2
    # shellcheck disable=SC2086  # $sizes is a word list on purpose
    timeout 60 "$launcher" --timeout 50 -n 2 "$bench" --store "$dir/$store" --timeout 20 $sizes \
      --csv "$dir/$name.csv" "$@" > "$dir/$name.log" 2>&1
  }
  ops=broadcast,reduce,allreduce,gather,scatter,allgather,alltoall,reduce_scatter,barrier
  gloo all store-all --ops "$ops" || fail "gloo-bench exited with $?:
$(cat "$dir/all.log")"
  check "$dir/all.csv" 25 gloo tcp "$ops"  # 8 ops at 3 sizes, one barrier row
  for algorithm in ring ring_chunked halving_doubling bcube; do
    gloo "$algorithm" "store-$algorithm" --allreduce "$algorithm" ||
      fail "gloo-bench --allreduce $algorithm exited with $?:
$(cat "$dir/$algorithm.log")"
    check "$dir/$algorithm.csv" 3 gloo "tcp-$algorithm" allreduce
  done
  # Gloo's FileStore refuses keys left by an earlier run: the error must say which directory.
  if gloo reused store-all --ops barrier; then
    fail "gloo-bench accepted a --store directory an earlier run had used"
  fi
  grep -q -- "--store $dir/store-all" "$dir/reused.log" ||
    fail "a reused --store gave no error naming it:
$(cat "$dir/reused.log")"
  echo "ok: a reused --store directory is refused, by name"
  ;;
*)
  fail "unknown mode '$mode': expected mpi or gloo"
  ;;
esac
