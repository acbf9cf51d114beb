#!/bin/sh
# sim-plot.sh: docs/sim-allreduce.png, predicted allreduce time against ranks for every
# algorithm, from symphony-sim, at a datacenter-like setting (10 us latency, 10 GB/s NICs,
# dist-sys's 1 ns per element reduction cost). Needs gnuplot (Debian: gnuplot-nox).
#
#   tools/sim-plot.sh build/tools/symphony-sim [docs/sim-allreduce.png]
#
# MODEL (default fair-share-after-latency) picks the network model (symphony-sim --model).
# Every algorithm goes to 4096 ranks. The ring-shaped ones (ring, stream) wake every rank p times
# and naive sends p^2 messages, so those take most of the run (see docs/simulator.md for its wall
# time).
set -eu
sim=$1
out=${2:-docs/sim-allreduce.png}
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
latency=10e-6
rate=10e9
model=${MODEL:-fair-share-after-latency}

for elements in 1000 1000000; do
  for algorithm in naive tree stream recursive-doubling rabenseifner ring auto; do
    file=$data/$algorithm-$elements.dat
    : >"$file"
    for nodes in 2 3 4 6 8 12 16 24 32 48 64 96 128 192 256 384 512 768 1000 1024 2048 4096; do
      t=$("$sim" -q --nodes "$nodes" --latency $latency --rate $rate --elements "$elements" \
        --algorithm "$algorithm" --model "$model")
      echo "$nodes $t" >>"$file"
      echo "$elements $algorithm $nodes $t" >&2
    done
  done
done

gnuplot <<GNUPLOT
set terminal pngcairo size 1400,560 font "sans,10"
set output "$out"
set multiplot layout 1,2 title "symphony-sim: allreduce of doubles, 10 us latency, 10 GB/s NICs, model $model"
set logscale xy
set xlabel "ranks"
set ylabel "virtual seconds"
set key top left
set grid
do for [elements in "1000 1000000"] {
  set title sprintf("%s doubles per rank (%s)", elements, elements eq "1000" ? "8 KB" : "8 MB")
  plot for [a in "naive tree stream recursive-doubling rabenseifner ring auto"] \
    sprintf("$data/%s-%s.dat", a, elements) using 1:2 with linespoints title a
}
unset multiplot
GNUPLOT
echo "wrote $out"
