// tests/fuzz/pmi_fuzz.hpp: the input layout of the PMI fuzz target (fuzz_pmi.cpp), shared with
// fuzz_seeds.cpp, which writes valid conversations as seeds.
//
// An input is one control byte, then the script: every byte the fake server sends.
#pragma once

#include <cstdint>
#include <string>

namespace symphony_fuzz {

/// What the fuzzed client allgathers: a space and a '%' make the client encode it.
inline const std::string pmi_own_value = "tcp://127.0.0.1:5000|ipc://@fuzz x%";

/// The control byte: bit 0 PMI_PORT mode (else PMI_FD), bits 1-2 PMI_SIZE - 1 (PMI_FD mode),
/// bits 3-4 PMI_RANK modulo the size (PMI_FD mode), bit 5 two allgathers instead of one.
inline std::uint8_t pmi_control(bool port_mode, int size, int rank, bool twice) {
  return static_cast<std::uint8_t>((port_mode ? 1 : 0) | ((size - 1) & 3) << 1 |
                                   (rank & 3) << 3 | (twice ? 32 : 0));
}

}  // namespace symphony_fuzz
