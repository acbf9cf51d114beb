// bench/foreign_ops.hpp: lets one --ops list serve every harness. compare.sh passes the same
// BENCH_ARGS to symphony-bench, mpi-bench and gloo-bench, but not every system has every
// operation (Gloo has no scan, only symphony-bench has zmq_pingpong). A harness names the
// operations it knows of but cannot measure; they are skipped with a note instead of being
// refused as unknown, while a name no harness knows stays an error.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace bench {

/// An operation another harness measures and this one cannot, and why.
struct foreign_op {
  std::string name;
  std::string why;
};

/// Removes the names in `foreign` from `o.ops`, printing "# NAME skipped: WHY" for each when
/// `print` (rank 0). Returns false when `o.ops` named operations and all of them were foreign:
/// nothing is left to run (an empty `o.ops` would otherwise mean every operation). `o.ops` empty
/// on entry (every operation of the harness) is left alone and returns true.
inline bool drop_foreign_ops(options& o, const std::vector<foreign_op>& foreign, bool print) {
  if (o.ops.empty()) return true;
  std::string kept;
  for (const auto& name : split_list(o.ops)) {
    const foreign_op* match = nullptr;
    for (const auto& f : foreign)
      if (f.name == name) match = &f;
    if (match == nullptr) {
      kept += (kept.empty() ? "" : ",") + name;
    } else if (print) {
      std::printf("# %s skipped: %s\n", name.c_str(), match->why.c_str());
    }
  }
  o.ops = kept;
  return !kept.empty();
}

}  // namespace bench
