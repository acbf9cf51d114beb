// symphony/sim/tree_allreduce.hpp: dist-sys's tree allreduce (a reference for the simulator).
//
// The nodes form a binary heap rooted at node 0 (node i's children are 2i + 1 and 2i + 2). Each
// node waits for its children's partial sums, adds its own vector ((1 + children) * K *
// reduce_cost), sends the result to its parent, waits for the total from the parent and passes it
// on to its children: 2 * depth sequential messages of 8K bytes.
#pragma once

#include <vector>

#include "reference_host.hpp"

namespace symphony::sim::reference {

/// Every node calls it with its vector; every node gets the sum of all nodes' vectors.
inline vec tree_allreduce(host& h, const vec& data) {
  const int me = h.index();
  std::vector<int> children;
  for (int c = 2 * me + 1; c <= 2 * me + 2; ++c)
    if (c < h.nodes()) children.push_back(c);
  const double bytes = 8.0 * static_cast<double>(data.count);

  std::vector<vec> partial{data};
  partial.reserve(1 + children.size());
  for (std::size_t i = 0; i < children.size(); ++i)
    partial.push_back(h.receive().data);
  std::vector<const vec*> all;
  for (const auto& v : partial)
    all.push_back(&v);
  vec total = h.reduce(all);
  if (me != 0) {
    h.send((me - 1) / 2, 0, total, bytes);
    total = h.receive().data;
  }
  for (const int c : children)
    h.send(c, 0, total, bytes);
  return total;
}

}  // namespace symphony::sim::reference
