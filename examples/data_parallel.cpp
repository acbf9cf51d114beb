// data_parallel: split a data set across processes, compute partial results, combine them.
//
// The pattern behind most parallel data processing: rank 0 holds the data, scatter() hands every
// rank one slice, each rank summarizes its slice, reduce() combines the summaries, and gather()
// collects one small report per rank.
//
//   symphony-run -n 4 ./data_parallel
//   ./launch_data_parallel ./data_parallel
//
// Here the data are 1,000,000 noisy temperature readings; the result is their mean, standard
// deviation, minimum and maximum, checked against a sequential computation on rank 0.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <symphony/collectives.hpp>
#include <vector>

namespace {

// Deterministic "sensor readings", so every run prints the same numbers.
std::vector<double> make_readings(std::size_t count) {
  std::vector<double> readings(count);
  for (std::size_t i = 0; i < count; ++i)
    readings[i] =
        20.0 + 5.0 * std::sin(static_cast<double>(i) * 0.001) + static_cast<double>(i % 7) * 0.1;
  return readings;
}

}  // namespace

int main() {
  symphony::communicator world;
  const int n = world.size();
  const std::size_t total = 1000000;

  // 1. Rank 0 cuts the data into one slice per rank (the last takes the remainder). The other
  //    ranks pass an empty vector: only the root's values are used.
  std::vector<std::vector<double>> slices;
  std::vector<double> all;
  if (world.rank() == 0) {
    all = make_readings(total);
    const std::size_t per_rank = total / static_cast<std::size_t>(n);
    for (int r = 0; r < n; ++r) {
      const auto begin =
          all.begin() + static_cast<std::ptrdiff_t>(per_rank * static_cast<std::size_t>(r));
      const auto end = r == n - 1 ? all.end() : begin + static_cast<std::ptrdiff_t>(per_rank);
      slices.emplace_back(begin, end);
    }
  }
  const std::vector<double> mine = world.scatter(slices, 0);

  // 2. Every rank summarizes its own slice: count, sum and sum of squares (combined by adding),
  //    and its extremes (combined by min and max).
  std::array<double, 3> sums{static_cast<double>(mine.size()), 0, 0};
  double low = mine.empty() ? INFINITY : mine.front();
  double high = mine.empty() ? -INFINITY : mine.front();
  for (const double x : mine) {
    sums[1] += x;
    sums[2] += x * x;
    low = std::min(low, x);
    high = std::max(high, x);
  }

  // 3. Combine: ops::sum adds arrays element by element.
  const auto totals = world.reduce(sums, symphony::ops::sum, 0);
  const double lowest = world.reduce(low, symphony::ops::min, 0);
  const double highest = world.reduce(high, symphony::ops::max, 0);

  // 4. One line of report per rank, collected at rank 0 in rank order.
  char line[96];
  std::snprintf(line, sizeof line, "rank %d summarized %zu readings", world.rank(), mine.size());
  const std::vector<std::string> reports = world.gather(std::string(line), 0);

  if (world.rank() == 0) {
    for (const auto& report : reports)
      std::printf("%s\n", report.c_str());
    const double mean = totals[1] / totals[0];
    const double stddev = std::sqrt(totals[2] / totals[0] - mean * mean);
    std::printf("readings %.0f, mean %.6f, stddev %.6f, min %.6f, max %.6f\n", totals[0], mean,
                stddev, lowest, highest);
    // The same, sequentially, to show the parallel answer is right.
    double sum = 0;
    for (const double x : all)
      sum += x;
    const bool agrees = std::abs(sum / static_cast<double>(total) - mean) < 1e-9 &&
                        lowest == *std::min_element(all.begin(), all.end()) &&
                        highest == *std::max_element(all.begin(), all.end());
    std::printf("sequential check: %s\n", agrees ? "agrees" : "DISAGREES");
    return agrees ? 0 : 1;
  }
}
