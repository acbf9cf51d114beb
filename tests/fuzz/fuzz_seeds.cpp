// fuzz_seeds: writes the fuzz targets' seed inputs, made with symphony's own encoders, so that
// fuzzing starts from valid messages (and from a few typical wrong ones) rather than from nothing.
//
//   fuzz_seeds DIR          writes DIR/<target>/seed-<name> for every seed
//   fuzz_seeds --check DIR  exits 1, listing them, when a seed file in DIR is missing, differs or
//                           is no longer made (stale seeds after a wire format change)
//
// Only files named seed-* belong to this program; other corpus files (inputs libFuzzer found,
// regression-* inputs of fixed bugs) are left alone.
#include <symphony/bootstrap/pmi.hpp>
#include <symphony/bootstrap/rendezvous.hpp>
#include <symphony/detail/segments.hpp>
#include <symphony/detail/serialization.hpp>
#include <symphony/detail/wire.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "payload_types.hpp"
#include "pmi_fuzz.hpp"

namespace {

namespace fs = std::filesystem;
namespace d = symphony::detail;

// target -> seed name -> bytes
using seed_set = std::map<std::string, std::map<std::string, std::string>>;

std::string bytes_of(const void* data, std::size_t size) {
  return std::string(static_cast<const char*>(data), size);
}

std::string little_endian64(std::uint64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// wire_header: 8 bytes of arrived payload size, then the header frame.
void wire_header_seeds(std::map<std::string, std::string>& out) {
  d::header h;
  h.source = 3;
  h.tag = 5;
  h.communicator = 0x1234;
  h.sequence = 7;
  h.step = 2;
  // The first six kinds only: later ones are appended to the format as collectives are added,
  // and these six cover the decoder; the seeds must not go stale with every new collective.
  for (std::uint8_t kind = 1; kind <= 6; ++kind) {
    h.kind = static_cast<d::operation>(kind);
    h.payload_size = 16u * kind;
    const auto e = d::encode(h);
    std::string name = d::operation_name(h.kind);  // "send/recv": no '/' in a file name
    for (char& c : name)
      if (c == '/') c = '-';
    out["seed-" + name] =
        little_endian64(h.payload_size) + bytes_of(e.data(), e.size());
  }
  h.kind = d::operation::gather;
  h.payload_size = std::uint64_t{1} << 62;  // a huge declared size, 8 bytes arrived
  auto e = d::encode(h);
  out["seed-huge-declared-size"] = little_endian64(8) + bytes_of(e.data(), e.size());
  h.payload_size = 8;
  e = d::encode(h);
  e[3] = std::byte{2};
  out["seed-version-2"] = little_endian64(8) + bytes_of(e.data(), e.size());
  e = d::encode(h);
  out["seed-truncated"] = little_endian64(8) + bytes_of(e.data(), e.size() - 1);
}

// payload: the type index, then the encoding of that type's sample value.
void payload_seeds(std::map<std::string, std::string>& out) {
  const auto samples = symphony_fuzz::payload_samples();
  std::apply(
      [&](const auto&... value) {
        std::size_t index = 0;
        (
            [&] {
              const auto encoded = d::encode_value(value);
              out["seed-type-" + std::to_string(index)] =
                  std::string(1, static_cast<char>(index)) +
                  bytes_of(encoded.data(), encoded.size());
              ++index;
            }(),
            ...);
      },
      samples);
}

// segments: the expected count, then a block.
void segment_seeds(std::map<std::string, std::string>& out) {
  const std::vector<std::string> values = {"a", "", "xyz", std::string(20, 'q')};
  for (std::size_t n : {0, 1, 4}) {
    std::vector<std::byte> block;
    for (std::size_t i = 0; i < n; ++i)
      d::append_segment(block, reinterpret_cast<const std::byte*>(values[i].data()),
                        values[i].size());
    out["seed-" + std::to_string(n) + "-segments"] =
        std::string(1, static_cast<char>(n)) + bytes_of(block.data(), block.size());
  }
}

// rendezvous: one frame of each kind, and one of another version.
void rendezvous_seeds(std::map<std::string, std::string>& out) {
  out["seed-registration"] = d::encode(d::rendezvous_registration{
      2, 4, 0x0123456789abcdefULL, "slurm:42.0", "tcp://10.0.0.5:41234", "node7", "host:abcd"});
  out["seed-ack"] = d::encode(d::rendezvous_ack{2, 4, 3});
  out["seed-table"] = d::encode(d::rendezvous_table{
      {"tcp://10.0.0.5:41234", "ipc:///tmp/job/rank1"}, {"host:abcd", ""}});
  out["seed-reject"] =
      d::encode(d::rendezvous_reject{d::reject_reason::missing_ranks, "ranks 3 of 4 missing"});
  d::rendezvous_writer other(d::rendezvous_kind::ack, 2);
  other.u32(1);
  other.u32(2);
  other.u32(2);
  out["seed-version-2"] = other.take();
}

// pmi: the control byte, then what a well-behaved server answers to one client's allgather(s).
class pmi_script {
 public:
  explicit pmi_script(std::string kvsname, std::size_t vallen_max)
      : kvsname_(std::move(kvsname)) {
    limits_.vallen_max = vallen_max;
    limits_.keylen_max = 64;
    limits_.kvsname_max = 256;
  }
  void line(const std::string& text) { text_ += text + "\n"; }
  void handshake(int size, int rank) {
    line("cmd=initack rc=0");
    line("cmd=set size=" + std::to_string(size));
    line("cmd=set rank=" + std::to_string(rank));
    line("cmd=set debug=0");
  }
  void init() {
    line("cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0");
    line("cmd=maxes kvsname_max=" + std::to_string(limits_.kvsname_max) +
         " keylen_max=" + std::to_string(limits_.keylen_max) +
         " vallen_max=" + std::to_string(limits_.vallen_max) + " rc=0");
    line("cmd=my_kvsname kvsname=" + kvsname_ + " rc=0");
  }
  // The answers to one allgather of `size` ranks by `rank`, every other rank holding `other`.
  void allgather(unsigned call, int size, int rank, const std::string& other) {
    const auto own = d::pmi_allgather_pieces(d::pmi_encode(symphony_fuzz::pmi_own_value), call,
                                             rank, kvsname_, limits_);
    for (std::size_t i = 0; i < own.size(); ++i)
      line("cmd=put_result rc=0");
    line("cmd=barrier_out rc=0");
    for (int r = 0; r < size; ++r) {
      if (r == rank) continue;
      for (const auto& piece :
           d::pmi_allgather_pieces(d::pmi_encode(other), call, r, kvsname_, limits_))
        line("cmd=get_result rc=0 value=" + piece.second);
    }
  }
  std::string input(std::uint8_t control) const { return std::string(1, static_cast<char>(control)) + text_; }

 private:
  std::string kvsname_;
  symphony::bootstrap::pmi_limits limits_;
  std::string text_;
};

void pmi_seeds(std::map<std::string, std::string>& out) {
  using symphony_fuzz::pmi_control;
  {
    pmi_script s("kvs_4242_0", 1024);
    s.init();
    s.allgather(0, 2, 0, "tcp://10.0.0.6:5001|ipc://@peer");
    out["seed-fd-2-ranks"] = s.input(pmi_control(false, 2, 0, false));
  }
  {
    pmi_script s("kvs_4242_0", 1024);
    s.handshake(2, 1);
    s.init();
    s.allgather(0, 2, 1, "tcp://10.0.0.6:5001");
    out["seed-port-2-ranks"] = s.input(pmi_control(true, 2, 1, false));
  }
  {
    pmi_script s("27.0", 24);  // small vallen_max: values split over several keys
    s.init();
    s.allgather(0, 4, 3, "a value long enough for several pieces: 0123456789");
    s.allgather(1, 4, 3, "second");
    out["seed-fd-4-ranks-pieces-twice"] = s.input(pmi_control(false, 4, 3, true));
  }
  {
    pmi_script s("kvs_1_0", 1024);
    s.init();
    s.line("cmd=put_result rc=0");
    s.line("cmd=barrier_out rc=0");
    s.line("cmd=get_result rc=-1 msg=key_symphony-c0-r1-0_not_found");
    out["seed-refused-get"] = s.input(pmi_control(false, 2, 0, false));
  }
  {
    pmi_script s("kvs_1_0", 1024);
    s.line("cmd=response_to_init pmi_version=2 rc=0");
    out["seed-version-2"] = s.input(pmi_control(false, 1, 0, false));
  }
}

seed_set all_seeds() {
  seed_set seeds;
  wire_header_seeds(seeds["wire_header"]);
  payload_seeds(seeds["payload"]);
  segment_seeds(seeds["segments"]);
  rendezvous_seeds(seeds["rendezvous"]);
  pmi_seeds(seeds["pmi"]);
  return seeds;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

int write_seeds(const fs::path& dir) {
  for (const auto& [target, seeds] : all_seeds()) {
    fs::create_directories(dir / target);
    for (const auto& [name, bytes] : seeds) {
      std::ofstream out(dir / target / name, std::ios::binary | std::ios::trunc);
      out << bytes;
      if (!out) {
        std::fprintf(stderr, "fuzz_seeds: cannot write %s\n", (dir / target / name).c_str());
        return 1;
      }
    }
  }
  return 0;
}

int check_seeds(const fs::path& dir) {
  std::vector<std::string> wrong;
  for (const auto& [target, seeds] : all_seeds()) {
    std::set<std::string> present;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dir / target, error)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("seed-", 0) == 0) present.insert(name);
    }
    for (const auto& [name, bytes] : seeds) {
      if (!present.count(name))
        wrong.push_back(target + "/" + name + " is missing");
      else if (read_file(dir / target / name) != bytes)
        wrong.push_back(target + "/" + name + " differs from what symphony encodes now");
      present.erase(name);
    }
    for (const auto& name : present)
      wrong.push_back(target + "/" + name + " is no longer made");
  }
  for (const auto& w : wrong)
    std::fprintf(stderr, "fuzz_seeds: %s\n", w.c_str());
  if (!wrong.empty()) {
    std::fprintf(stderr,
                 "fuzz_seeds: the seeds in %s are stale; refresh them with\n"
                 "  rm %s/*/seed-* && <build>/tests/fuzz/fuzz_seeds %s\n",
                 dir.c_str(), dir.c_str(), dir.c_str());
    return 1;
  }
  std::printf("fuzz_seeds: the seeds in %s are current\n", dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]).rfind("-", 0) != 0) return write_seeds(argv[1]);
  if (argc == 3 && std::string(argv[1]) == "--check") return check_seeds(argv[2]);
  std::fprintf(stderr, "usage: fuzz_seeds DIR | fuzz_seeds --check DIR\n");
  return 2;
}
