// symphony/sim/naive_allreduce.hpp: dist-sys's naive allreduce (a reference for the simulator).
//
// Every node sends its whole vector to every other node at once (n - 1 messages of 8K bytes),
// receives the n - 1 others and sums all n: n * K * reduce_cost.
#pragma once

#include <vector>

#include "reference_host.hpp"

namespace symphony::sim::reference {

/// Every node calls it with its vector; every node gets the sum of all nodes' vectors.
inline vec naive_allreduce(host& h, const vec& data) {
  const int n = h.nodes();
  for (int to = 0; to < n; ++to)
    if (to != h.index()) h.send(to, 0, data, 8.0 * static_cast<double>(data.count));
  std::vector<vec> gathered(static_cast<std::size_t>(n));
  for (int i = 0; i + 1 < n; ++i) {
    packet p = h.receive();
    gathered[static_cast<std::size_t>(p.from)] = std::move(p.data);
  }
  gathered[static_cast<std::size_t>(h.index())] = data;
  std::vector<const vec*> all;
  for (const auto& v : gathered)
    all.push_back(&v);
  return h.reduce(all);
}

}  // namespace symphony::sim::reference
