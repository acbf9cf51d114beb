// integrate: hierarchical numerical integration with broadcast and reduce on subgroup
// communicators.
//
// The integral of f(x) = x*x from 0 to 10 (exactly 1000/3), computed by 9 processes:
//
//   S0                                supermaster, standalone
//   +-- group0: G0, W01, W02          groupmaster G0 (the group's first member), 2 workers
//   +-- group1: G1, W11, W12, W13, W14   groupmaster G1, 4 workers
//
//   symphony-run --name S0 ./integrate : --group group0 --name G0 ./integrate
//                : --group group0 -n 2 --name W0 ./integrate : --group group1 --name G1 ./integrate
//                : --group group1 -n 4 --name W1 ./integrate           (one line)
//   ./launch_integrate ./integrate
//
// The protocol, for each of 10 supertasks [k, k+1]:
//   1. S0 splits the supertask into two halves and broadcasts the pair to G0 and G1 on the
//      "masters" communicator {S0, G0, G1}; G0 takes half 0, G1 half 1.
//   2. Each groupmaster splits its half into as many pieces as its group has workers and
//      broadcasts the pieces on its group's communicator; worker w takes piece w - 1.
//   3. Workers integrate their piece; each group reduces (sums) to its groupmaster.
//   4. The groupmasters reduce to S0, which adds the supertask's value to the total.
// After the 10 supertasks, S0 broadcasts a stop signal, which the groupmasters relay to their
// workers, and prints the total and its error against 1000/3.
//
// The same program runs in every process: its role follows from where the launcher put it.
// (Launched without groups, e.g. `symphony-run -n 4 ./integrate`, every process but the first is
// a groupmaster of a group of one and integrates its share itself: the protocol still holds.)
#include <array>
#include <cmath>
#include <cstdio>
#include <string>
#include <symphony/collectives.hpp>
#include <vector>

namespace {

// One piece of work: an interval, or the signal to stop. Trivially copyable, so it travels as
// raw bytes; a std::vector<task> travels as one contiguous block.
struct task {
  bool stop = false;
  double lo = 0;
  double hi = 0;
};

double f(double x) {
  return x * x;
}

// Simpson's rule on [lo, hi] with 1000 intervals (exact for polynomials up to degree 3).
double simpson(double lo, double hi) {
  const int n = 1000;
  const double h = (hi - lo) / n;
  double sum = f(lo) + f(hi);
  for (int i = 1; i < n; ++i)
    sum += f(lo + i * h) * (i % 2 ? 4 : 2);
  return sum * h / 3;
}

// Splits [lo, hi] into `count` equal pieces.
std::vector<task> split_interval(const task& whole, int count) {
  std::vector<task> pieces;
  const double width = (whole.hi - whole.lo) / count;
  for (int i = 0; i < count; ++i)
    pieces.push_back({false, whole.lo + i * width, whole.lo + (i + 1) * width});
  return pieces;
}

}  // namespace

int main() {
  symphony::communicator world;

  // My group (symphony-run --group, launcher add_group), or just me when I was started alone.
  auto group = symphony::group_communicator(world);

  // The masters: S0 and the first member of every group. split() is collective over `world`:
  // every process calls it; workers pass symphony::no_color and get no masters communicator.
  // Key = world rank, so S0 (declared first) is masters rank 0, then G0, then G1.
  const bool is_master = group.rank() == 0;
  auto masters = world.split(is_master ? 0 : symphony::no_color, world.rank());
  const bool is_supermaster = is_master && masters.rank() == 0;
  const int workers = group.size() - 1;  // the group's members other than its groupmaster

  if (is_supermaster) {
    const int halves = masters.size() - 1;  // one share per groupmaster: 2 in the tutorial
    double total = 0;
    for (int k = 0; k < 10; ++k) {
      std::vector<task> shares = split_interval({false, double(k), double(k + 1)}, halves);
      masters.broadcast(shares, 0);                                     // step 1
      const double value = masters.reduce(0.0, symphony::ops::sum, 0);  // step 4 (S0 adds 0)
      std::printf("supertask [%d, %d]: %.12f\n", k, k + 1, value);
      total += value;
    }
    const double exact = 1000.0 / 3.0;
    std::printf("integral of x^2 from 0 to 10 = %.12f, error %.3e against 1000/3\n", total,
                total - exact);
    std::vector<task> stop(static_cast<std::size_t>(halves), task{true, 0, 0});
    masters.broadcast(stop, 0);  // the termination signal, relayed by the groupmasters
    return 0;
  }

  if (is_master) {  // a groupmaster
    while (true) {
      std::vector<task> shares;
      masters.broadcast(shares, 0);  // step 1: S0's shares, one per groupmaster
      const task mine = shares.at(static_cast<std::size_t>(masters.rank() - 1));
      if (workers == 0) {  // a group of one integrates its share itself
        if (mine.stop) break;
        (void)masters.reduce(simpson(mine.lo, mine.hi), symphony::ops::sum, 0);
        continue;
      }
      // Step 2: relay (the stop signal too) to the workers, one piece each.
      std::vector<task> pieces = mine.stop
                                     ? std::vector<task>(static_cast<std::size_t>(workers), mine)
                                     : split_interval(mine, workers);
      group.broadcast(pieces, 0);
      if (mine.stop) break;
      const double group_sum = group.reduce(0.0, symphony::ops::sum, 0);  // step 3
      (void)masters.reduce(group_sum, symphony::ops::sum, 0);             // step 4
    }
    return 0;
  }

  // A worker: wait for a piece, integrate it, report; until the stop signal.
  while (true) {
    std::vector<task> pieces;
    group.broadcast(pieces, 0);
    const task mine = pieces.at(static_cast<std::size_t>(group.rank() - 1));
    if (mine.stop) break;
    (void)group.reduce(simpson(mine.lo, mine.hi), symphony::ops::sum, 0);
  }
  return 0;
}
