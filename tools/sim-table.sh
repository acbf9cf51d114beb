#!/bin/sh
# sim-table.sh: the tables of docs/simulator.md, from symphony-sim. For every row of dist-sys's
# published allreduce table: our simulation of its three algorithms against its figures, and
# symphony's own algorithms against the best of the three.
#
#   tools/sim-table.sh build/tools/symphony-sim
set -eu
sim=$1
run() { "$sim" -q --nodes "$1" --latency "$2" --rate "$3" --elements "$4" --algorithm "$5"; }
rows='2 0.1 1e6 10 0.100080 0.200160 0.800232
2 0.1 1e6 10000 0.180020 0.360030 1.020026
2 0.1 1e6 10000000 80.120000 160.230000 200.860011
16 0.001 1e6 10 0.002200 0.008880 0.067676
16 0.001 1e6 10000 1.201160 1.047350 0.419556
16 0.001 1e6 10000000 1200.161000 1040.107250 305.143356
32 0.1 1e6 10 0.102480 1.001120 9.901000
32 0.1 1e6 10000 2.580320 2.272630 19.551941
32 0.1 1e6 10000000 2480.420000 1361.042500 336.256147
32 0.1 1e9 10 0.100003 1.000001 9.900001
32 0.1 1e9 10000 0.102800 1.001270 19.100486
32 0.1 1e9 10000000 2.900000 2.402500 19.185915
32 0.0001 1e9 10 0.000103 0.001001 0.009901
32 0.0001 1e9 10000 0.002900 0.002403 0.019586
32 0.0001 1e9 10000000 2.800100 1.490913 0.358567'

echo "| nodes | latency | rate | elements | naive: dist-sys / ours (error) | tree: dist-sys / ours (error) | stream: dist-sys / ours (error) |"
echo "|--:|--:|--:|--:|--:|--:|--:|"
echo "$rows" | while read -r n l r k a b c; do
  x=$(run "$n" "$l" "$r" "$k" naive)
  y=$(run "$n" "$l" "$r" "$k" tree)
  z=$(run "$n" "$l" "$r" "$k" stream)
  awk -v n="$n" -v l="$l" -v r="$r" -v k="$k" -v a="$a" -v b="$b" -v c="$c" -v x="$x" -v y="$y" -v z="$z" 'BEGIN {
    printf "| %s | %s | %s | %s | %.6f / %.6f (%+.3f%%) | %.6f / %.6f (%+.3f%%) | %.6f / %.6f (%+.3f%%) |\n",
      n, l, r, k, a, x, 100 * (x - a) / a, b, y, 100 * (y - b) / b, c, z, 100 * (z - c) / c }'
done

echo
echo "| nodes | latency | rate | elements | best reference | recursive-doubling | rabenseifner | ring | auto | symphony's best vs best reference |"
echo "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
echo "$rows" | while read -r n l r k _ _ _; do
  best_ref=$(for a in naive tree stream; do echo "$(run "$n" "$l" "$r" "$k" $a) $a"; done | sort -g | head -n 1)
  ours=""
  for a in recursive-doubling rabenseifner ring auto; do ours="$ours $(run "$n" "$l" "$r" "$k" $a)"; done
  echo "$n $l $r $k $best_ref $ours" | awk '{
    best = $7; name = "recursive-doubling"
    if ($8 < best) { best = $8; name = "rabenseifner" }
    if ($9 < best) { best = $9; name = "ring" }
    printf "| %s | %s | %s | %s | %.6f (%s) | %.6f | %.6f | %.6f | %.6f | %.6f (%s): %.2fx %s |\n",
      $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, best, name, $5 / best,
      best < $5 * 0.9999 ? "faster" : (best > $5 * 1.0001 ? "slower" : "tie") }'
done
