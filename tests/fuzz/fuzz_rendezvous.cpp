// Fuzz target: rendezvous messages (symphony/bootstrap/rendezvous.hpp, detail::decode_rendezvous).
//
// Input: one frame, as a rank or the root would receive it. decode_rendezvous must never throw or
// crash, must allocate at most a bound proportional to the frame (a declared endpoint count or
// string length is not believed before the bytes are there), and its verdict must be consistent:
//  - not_ours: the frame does not start with "SYRV";
//  - other_version: it does, and carries a version other than this build's;
//  - malformed: a problem is stated and no body is returned;
//  - ok: a body within the protocol's limits that encodes back to exactly the frame (so no
//    trailing byte, no out-of-range field was accepted).
#include <symphony/bootstrap/rendezvous.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "fuzz_support.hpp"

namespace {

using symphony_fuzz::check;
namespace d = symphony::detail;

void check_limits(const d::rendezvous_registration& m) {
  check(m.token.size() <= d::rendezvous_max_token && m.endpoint.size() <= d::rendezvous_max_endpoint &&
            m.host.size() <= d::rendezvous_max_host && m.locality.size() <= d::rendezvous_max_host,
        "accepted a registration with a field over its limit");
}
void check_limits(const d::rendezvous_ack&) {}
void check_limits(const d::rendezvous_table& m) {
  check(m.endpoints.size() == m.localities.size(), "a table with unpaired localities");
  for (std::size_t i = 0; i < m.endpoints.size(); ++i)
    check(m.endpoints[i].size() <= d::rendezvous_max_endpoint &&
              m.localities[i].size() <= d::rendezvous_max_host,
          "accepted a table entry over its limit");
}
void check_limits(const d::rendezvous_reject& m) {
  const auto reason = static_cast<unsigned>(m.reason);
  check(reason >= 1 && reason <= 5, "accepted rejection reason " + std::to_string(reason));
  check(m.message.size() <= d::rendezvous_max_text, "accepted a rejection text over its limit");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  symphony_fuzz::reset_allocations();
  const d::rendezvous_decoded decoded = d::decode_rendezvous(frame);
  // A table of n entries holds 2n strings (32 bytes each) and needs at least 8 frame bytes per
  // entry; each string's characters come from the frame too.
  symphony_fuzz::check_total_allocation("detail::decode_rendezvous", size, {16, 4096});

  using status = d::rendezvous_decoded::status;
  const bool magic = frame.substr(0, d::rendezvous_magic.size()) == d::rendezvous_magic;
  switch (decoded.state) {
    case status::not_ours:
      check(!magic, "a frame with the magic was called not ours");
      break;
    case status::other_version:
      check(magic && decoded.version != d::rendezvous_version,
            "other_version for version " + std::to_string(decoded.version));
      break;
    case status::malformed:
      check(magic, "a frame without the magic was called malformed rather than not ours");
      check(!decoded.problem.empty(), "malformed without a stated problem");
      check(decoded.body.index() == 0, "malformed but a body was returned");
      break;
    case status::ok: {
      check(magic && decoded.version == d::rendezvous_version, "ok without magic and version");
      check(decoded.body.index() != 0, "ok without a body");
      const std::string again =
          std::visit([](const auto& body) -> std::string {
            if constexpr (std::is_same_v<std::decay_t<decltype(body)>, std::monostate>) {
              return {};
            } else {
              check_limits(body);
              return d::encode(body);
            }
          }, decoded.body);
      check(again == frame, "an accepted frame of " + std::to_string(size) +
                                " bytes encodes back to " + std::to_string(again.size()) +
                                " different bytes");
      break;
    }
  }
  return 0;
}
