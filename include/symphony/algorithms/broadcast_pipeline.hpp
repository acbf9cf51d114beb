// symphony/algorithms/broadcast_pipeline.hpp: broadcast of a long payload down a pipelined chain.
//
// The ranks form a chain in relative-rank order (relative = (rank - root) mod p): root -> 1 ->
// 2 -> ... -> p - 1. The payload is cut into chunks of C bytes (pipeline_chunk_bytes); the root
// sends them one after the other, and every other rank passes each chunk on to its successor as
// soon as it has it (forwarding the received buffer: no copy where the transport can share it),
// then copies it into place. While rank 1 forwards chunk k, the root already sends chunk k + 1:
// after the first p - 1 rounds fill the chain, one chunk leaves the chain's end per round.
// Cost for p ranks, m bytes and n = ceil(m / C) chunks: p - 2 + n rounds of one C-byte message
// each, so about (p - 2 + n)(alpha + C beta) = (p - 2)(alpha + C beta) + n alpha + m beta; every
// non-root receives m bytes once and every rank but the last sends m once: no rank sends more
// than m (scatter + allgather sends up to about 2m per rank, the binomial tree m log2 p at its
// root). Best for long payloads, where m beta dominates; the start-up of p - 2 chunk times makes
// it lose to scatter + allgather when p is large against n. Every rank must know m beforehand.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "schedule.hpp"

namespace symphony::algorithms {

/// The chunk size for an m-byte pipelined broadcast: m / 8 within [64 KiB, 1 MiB] (at least eight
/// chunks in flight for a few MiB; no more than one MiB, so that the start-up of the chain stays
/// short; no less than 64 KiB, so that the per-message cost stays small against the bytes), and
/// never so small that the chunks outnumber the steps a message can name. Every rank computes
/// the same from m.
inline std::size_t pipeline_chunk_bytes(std::size_t m) {
  constexpr std::size_t smallest = std::size_t{64} << 10;
  constexpr std::size_t largest = std::size_t{1} << 20;
  const std::size_t by_rounds = m / (static_cast<std::size_t>(max_round) + 1) + 1;
  return std::max(std::clamp<std::size_t>(m / 8, smallest, largest), by_rounds);
}

/// At the root `data` holds the `size`-byte payload; elsewhere the payload is written to `out`,
/// which has room for `size` bytes. `size` must be the same on every rank.
template <class Context>
void broadcast_pipeline(Context& ctx, int root, const std::byte* data, std::size_t size,
                        std::byte* out) {
  constexpr auto id = algorithm_id::pipeline;
  const int p = ctx.size();
  if (p == 1) return;
  const int me = ctx.rank();
  const int v = (me - root + p) % p;
  const int prev = (me - 1 + p) % p;               // unused at the root
  const int next = v + 1 < p ? (me + 1) % p : -1;  // -1: the end of the chain
  const std::size_t chunk = pipeline_chunk_bytes(size);
  const std::size_t chunks = size == 0 ? 1 : (size - 1) / chunk + 1;
  for (std::size_t k = 0; k < chunks; ++k) {
    const auto step = make_step(id, 0, static_cast<std::uint32_t>(k));
    const std::size_t first = k * chunk;
    const std::size_t count = std::min(chunk, size - first);
    if (v == 0) {
      ctx.send(next, step, data + first, count);
      continue;
    }
    const auto m = ctx.receive(prev, step);
    if (m.size() != count)
      ctx.fail(prev, "sent " + std::to_string(m.size()) + " bytes as chunk " + std::to_string(k) +
                         " of a " + std::to_string(size) + "-byte broadcast where " +
                         std::to_string(count) + " were due");
    if (next >= 0) ctx.forward(next, step, m);  // first: the successor starts sooner
    if (count != 0) std::memcpy(out + first, m.data(), count);
  }
}

}  // namespace symphony::algorithms
