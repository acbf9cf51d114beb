// symphony/sim/stream_allreduce.hpp: dist-sys's stream allreduce (a reference for the simulator).
//
// A ring through node 0 (node i sends packets to i + 1 and acknowledgements to i - 1). The vector
// is cut into chunks of max(1, K / n) elements. Reduce lap: node 0 sends its chunks one at a time,
// each node adds its own piece (2 * chunk * reduce_cost) and passes the sum on, and the sums come
// back to node 0. Broadcast lap: node 0 streams the reduced chunks round the ring to node n - 1.
// Every link is stop-and-wait: a node sends its next packet only after the one-byte
// acknowledgement of the previous one. A packet of c elements is 8c + 1 bytes (its type byte).
#pragma once

#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

#include "reference_host.hpp"

namespace symphony::sim::reference {

namespace stream_detail {

enum stream_packet : int { reduce_packet = 0, reduce_ack = 1, bcast_packet = 2, bcast_ack = 3 };

// Packets go round the ring; acknowledgements go back to the previous node.
inline void send_stream(host& h, int kind, const vec& data) {
  const int n = h.nodes();
  const int me = h.index();
  const bool ack = kind == reduce_ack || kind == bcast_ack;
  const int to = ack ? (me + n - 1) % n : (me + 1) % n;
  h.send(to, kind, data, 8.0 * static_cast<double>(data.count) + 1.0);
}

inline std::vector<vec> chunkify(int nodes, const vec& data) {
  std::size_t chunk = data.count / static_cast<std::size_t>(nodes);
  if (chunk < 1) chunk = 1;
  std::vector<vec> chunks;
  for (std::size_t i = 0; i < data.count; i += chunk)
    chunks.push_back(data.slice(i, std::min(chunk, data.count - i)));
  return chunks;
}

inline void append(vec& to, const vec& piece) {
  to.count += piece.count;
  to.values.insert(to.values.end(), piece.values.begin(), piece.values.end());
}

[[noreturn]] inline void unexpected(const host& h, const packet& p, const char* phase) {
  throw std::logic_error("stream allreduce: node " + std::to_string(h.index()) +
                         " got packet type " + std::to_string(p.kind) + " from node " +
                         std::to_string(p.from) + " " + phase);
}

inline vec stream_root(host& h, const vec& data) {
  const std::vector<vec> out = chunkify(h.nodes(), data);
  std::size_t next = 0;
  vec reduced;
  send_stream(h, reduce_packet, out[next++]);
  bool waiting_reduce_ack = true;
  while (reduced.count < data.count) {
    const packet p = h.receive();
    if (p.kind == reduce_packet) {
      append(reduced, p.data);
      send_stream(h, reduce_ack, vec{});
    } else if (p.kind == reduce_ack && waiting_reduce_ack) {
      if (next < out.size())
        send_stream(h, reduce_packet, out[next++]);
      else
        waiting_reduce_ack = false;
    } else {
      unexpected(h, p, "during the reduce lap");
    }
  }
  for (const vec& chunk : chunkify(h.nodes(), reduced)) {
    send_stream(h, bcast_packet, chunk);
    for (;;) {
      const packet p = h.receive();
      if (p.kind == reduce_ack && waiting_reduce_ack)
        waiting_reduce_ack = false;
      else if (p.kind == bcast_ack)
        break;
      else
        unexpected(h, p, "during the broadcast lap");
    }
  }
  return reduced;
}

inline vec stream_other(host& h, const vec& data) {
  const bool last = h.index() + 1 == h.nodes();
  vec reduced;
  bool reduce_blocked = false;
  std::deque<vec> reduce_out;
  std::size_t used = 0;  // elements of `data` already added in
  while (reduced.count == 0) {
    packet p = h.receive();
    if (p.kind == reduce_packet) {
      send_stream(h, reduce_ack, vec{});
      const vec mine = data.slice(used, p.data.count);
      used += p.data.count;
      reduce_out.push_back(h.reduce({&p.data, &mine}));
    } else if (p.kind == reduce_ack && reduce_blocked) {
      reduce_blocked = false;
    } else if (p.kind == bcast_packet && reduce_out.empty()) {
      append(reduced, p.data);
      send_stream(h, bcast_ack, vec{});
      if (!last) send_stream(h, bcast_packet, p.data);
    } else {
      unexpected(h, p, "during the reduce lap");
    }
    if (!reduce_blocked && !reduce_out.empty()) {
      send_stream(h, reduce_packet, reduce_out.front());
      reduce_out.pop_front();
      reduce_blocked = true;
    }
  }
  bool bcast_blocked = true;  // the first broadcast packet went on above
  std::deque<vec> bcast_out;
  while (reduced.count < data.count || !bcast_out.empty()) {
    packet p = h.receive();
    if (p.kind == reduce_ack && reduce_blocked) {
      reduce_blocked = false;
    } else if (p.kind == bcast_packet) {
      append(reduced, p.data);
      send_stream(h, bcast_ack, vec{});
      if (!last) bcast_out.push_back(std::move(p.data));
    } else if (p.kind == bcast_ack && bcast_blocked) {
      bcast_blocked = false;
    } else {
      unexpected(h, p, "during the broadcast lap");
    }
    if (!bcast_blocked && !bcast_out.empty()) {
      send_stream(h, bcast_packet, bcast_out.front());
      bcast_out.pop_front();
      bcast_blocked = true;
    }
  }
  if (reduce_blocked)
    throw std::logic_error("stream allreduce: node " + std::to_string(h.index()) +
                           " ended without the acknowledgement of its last reduce packet");
  return reduced;
}

}  // namespace stream_detail

/// Every node calls it with its vector; every node gets the sum of all nodes' vectors.
inline vec stream_allreduce(host& h, const vec& data) {
  if (data.count == 0 || h.nodes() == 1) return data;
  return h.index() == 0 ? stream_detail::stream_root(h, data)
                        : stream_detail::stream_other(h, data);
}

}  // namespace symphony::sim::reference
