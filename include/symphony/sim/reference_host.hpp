// symphony/sim/reference_host.hpp: what the dist-sys reference algorithms see of the network.
//
// unixpickle/dist-sys (Go) published simulated allreduce times for three algorithms (naive, tree,
// stream). Its programs are ported here against the simulator's transport, message for message:
// a vector of K doubles is a message of 8K bytes (plus the one-byte packet type of the stream
// algorithm, whose acknowledgements are one byte), and summing V vectors of K elements costs
// V * K * network::reduce_cost seconds. A host either carries real values (to check the sums) or
// only their counts, so that a model of 10^7-element vectors on 32 nodes needs no memory.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "../sim.hpp"

namespace symphony::sim::reference {

/// A vector of `count` doubles; `values` holds them, or is empty when only sizes are simulated.
struct vec {
  std::size_t count = 0;
  std::vector<double> values;

  /// Elements [first, first + n).
  vec slice(std::size_t first, std::size_t n) const {
    vec part{n, {}};
    if (!values.empty())
      part.values.assign(values.begin() + static_cast<std::ptrdiff_t>(first),
                         values.begin() + static_cast<std::ptrdiff_t>(first + n));
    return part;
  }
};

/// A received message: its sender, its packet type and its vector.
struct packet {
  int from = -1;
  int kind = 0;
  vec data;
};

/// One node of a reference algorithm: its index, the node count, send and receive.
class host {
 public:
  explicit host(sim_transport& transport) : transport_(transport) {}

  int index() const { return transport_.rank(); }
  int nodes() const { return transport_.size(); }

  /// Sends `data` with packet type `kind` as a message of `wire_bytes` bytes.
  void send(int to, int kind, const vec& data, double wire_bytes) {
    detail::header h;
    h.kind = detail::operation::point_to_point;
    h.source = static_cast<std::uint32_t>(index());
    h.tag = kind;
    h.sequence = data.count;  // the element count travels even when the values do not
    const auto* bytes = reinterpret_cast<const std::byte*>(data.values.data());
    transport_.send_sized(to, h, bytes, data.values.size() * sizeof(double), wire_bytes);
  }

  /// The next message for this node, from any sender.
  packet receive() {
    auto m = transport_.receive(detail::deadline::max());
    packet p;
    p.from = static_cast<int>(m->header().source);
    p.kind = m->header().tag;
    p.data.count = static_cast<std::size_t>(m->header().sequence);
    p.data.values.resize(m->size() / sizeof(double));
    if (m->size() != 0) std::memcpy(p.data.values.data(), m->data(), m->size());
    return p;
  }

  /// The element-wise sum of `vectors` (all of one count), charged as dist-sys charges it:
  /// reduce_cost per element per vector.
  vec reduce(const std::vector<const vec*>& vectors) {
    const std::size_t count = vectors.front()->count;
    vec sum{count, {}};
    bool real = true;
    for (const vec* v : vectors) {
      if (v->count != count)
        throw std::logic_error("reference reduce: vectors of " + std::to_string(count) + " and " +
                               std::to_string(v->count) + " elements");
      real = real && v->values.size() == count;
    }
    if (real && count != 0) {
      sum.values.assign(count, 0.0);
      for (const vec* v : vectors)
        for (std::size_t i = 0; i < count; ++i)
          sum.values[i] += v->values[i];
    }
    compute(transport_.network().reduce_cost * static_cast<double>(vectors.size() * count));
    return sum;
  }

 private:
  sim_transport& transport_;
};

}  // namespace symphony::sim::reference
