// The rendezvous pieces that need no network: the wire format (and its decoder's robustness
// against truncated, oversized and random input), the texts of its messages, and
// default_job_token() fed with environments captured from real launchers (tests/bootstrap/data).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <symphony/bootstrap/rendezvous.hpp>
#include <vector>

#include "bootstrap_data.hpp"

namespace {

namespace detail = symphony::detail;
using status = detail::rendezvous_decoded::status;
using symphony::bootstrap::default_job_token;
using namespace bootstrap_test;

detail::rendezvous_registration sample_registration() {
  return {3, 8, 0x0123456789abcdefULL, "slurm:61.0", "tcp://10.0.0.5:41234", "node07", ""};
}

std::string token_of(const environment& env) {
  return default_job_token(lookup_in(env));
}

}  // namespace

TEST_CASE("every message kind survives encoding and decoding") {
  SUBCASE("registration") {
    const auto decoded = detail::decode_rendezvous(detail::encode(sample_registration()));
    REQUIRE(decoded.state == status::ok);
    const auto& m = std::get<detail::rendezvous_registration>(decoded.body);
    CHECK(m.rank == 3);
    CHECK(m.size == 8);
    CHECK(m.nonce == 0x0123456789abcdefULL);
    CHECK(m.token == "slurm:61.0");
    CHECK(m.endpoint == "tcp://10.0.0.5:41234");
    CHECK(m.host == "node07");
  }
  SUBCASE("ack") {
    const auto decoded = detail::decode_rendezvous(detail::encode(detail::rendezvous_ack{2, 9, 5}));
    REQUIRE(decoded.state == status::ok);
    const auto& m = std::get<detail::rendezvous_ack>(decoded.body);
    CHECK((m.rank == 2 && m.size == 9 && m.registered == 5));
  }
  SUBCASE("table, including an empty endpoint list") {
    const std::vector<std::string> endpoints = {"tcp://a:1", "ipc:///tmp/x", "tcp://[::1]:5"};
    auto decoded = detail::decode_rendezvous(detail::encode(detail::rendezvous_table{endpoints, {}}));
    REQUIRE(decoded.state == status::ok);
    CHECK(std::get<detail::rendezvous_table>(decoded.body).endpoints == endpoints);
    decoded = detail::decode_rendezvous(detail::encode(detail::rendezvous_table{}));
    REQUIRE(decoded.state == status::ok);
    CHECK(std::get<detail::rendezvous_table>(decoded.body).endpoints.empty());
  }
  SUBCASE("a registration's locality, and a table's localities beside its endpoints") {
    auto registration = sample_registration();
    registration.locality = "boot-id/4026531840";
    const auto decoded = detail::decode_rendezvous(detail::encode(registration));
    REQUIRE(decoded.state == status::ok);
    CHECK(std::get<detail::rendezvous_registration>(decoded.body).locality == "boot-id/4026531840");

    const detail::rendezvous_table table{{"tcp://a:1", "tcp://b:2"}, {"here", "there"}};
    const auto table_decoded = detail::decode_rendezvous(detail::encode(table));
    REQUIRE(table_decoded.state == status::ok);
    const auto& got = std::get<detail::rendezvous_table>(table_decoded.body);
    CHECK(got.endpoints == table.endpoints);
    CHECK(got.localities == table.localities);
  }
  SUBCASE("reject") {
    const auto decoded = detail::decode_rendezvous(detail::encode(
        detail::rendezvous_reject{detail::reject_reason::missing_ranks, "ranks 3, 5-7 of 8"}));
    REQUIRE(decoded.state == status::ok);
    const auto& m = std::get<detail::rendezvous_reject>(decoded.body);
    CHECK(m.reason == detail::reject_reason::missing_ranks);
    CHECK(m.message == "ranks 3, 5-7 of 8");
  }
}

TEST_CASE("the header is the magic, a little-endian version and the kind") {
  const auto bytes = detail::encode(detail::rendezvous_ack{1, 2, 3});
  CHECK(bytes.substr(0, 7) == std::string("SYRV\x01\x00\x02", 7));
  CHECK(bytes.size() == 7 + 12);
  CHECK(bytes.substr(7, 4) == std::string("\x01\x00\x00\x00", 4));
}

TEST_CASE("foreign, other-version and malformed input is classified, never trusted") {
  const std::string valid = detail::encode(sample_registration());
  CHECK(detail::decode_rendezvous("").state == status::not_ours);
  CHECK(detail::decode_rendezvous("GET / HTTP/1.1").state == status::not_ours);
  CHECK(detail::decode_rendezvous("SYR").state == status::not_ours);

  const auto v7 = detail::decode_rendezvous(std::string("SYRV\x07\x00\x01", 7));
  CHECK(v7.state == status::other_version);
  CHECK(v7.version == 7);

  SUBCASE("every truncation of a valid message") {
    for (std::size_t n = 4; n < valid.size(); ++n) {
      CAPTURE(n);
      const auto d = detail::decode_rendezvous(valid.substr(0, n));
      CHECK(d.state == status::malformed);
      CHECK(d.body.index() == 0);
      CHECK_FALSE(d.problem.empty());
    }
  }
  SUBCASE("bytes left over") {
    const auto d = detail::decode_rendezvous(valid + "x");
    CHECK(d.state == status::malformed);
    CHECK(d.problem == "1 unexpected bytes at the end");
  }
  SUBCASE("a string longer than allowed, or than the message") {
    std::string long_token = valid;
    long_token[7 + 16] = '\xff';  // the token's length, low byte
    long_token[7 + 17] = '\xff';
    auto d = detail::decode_rendezvous(long_token);
    CHECK(d.state == status::malformed);
    CHECK(d.problem == "job token is 65535 bytes long (at most 1024)");
    std::string cut_token = valid;
    cut_token[7 + 16] = 100;  // within the limit, beyond the message
    d = detail::decode_rendezvous(cut_token);
    CHECK(d.problem == "job token is cut short");
  }
  SUBCASE("a table count that the bytes cannot hold allocates nothing") {
    detail::rendezvous_writer w(detail::rendezvous_kind::table);
    w.u32(0xffffffffu);
    const auto d = detail::decode_rendezvous(w.take());
    CHECK(d.state == status::malformed);
    CHECK(d.problem == "endpoint count 4294967295 exceeds what the message holds");
  }
  SUBCASE("unknown kinds and reasons") {
    CHECK(detail::decode_rendezvous(std::string("SYRV\x01\x00\x00", 7)).problem ==
          "unknown message kind 0");
    detail::rendezvous_writer w(detail::rendezvous_kind::reject);
    w.u8(9);
    w.text("x");
    CHECK(detail::decode_rendezvous(w.take()).problem == "unknown rejection reason 9");
  }
  SUBCASE("random bytes and random corruptions never throw") {
    std::mt19937 random(2024);
    const std::vector<std::string> seeds = {
        valid, detail::encode(detail::rendezvous_table{{"tcp://a:1", "tcp://b:2"}, {}}),
        detail::encode(detail::rendezvous_reject{detail::reject_reason::aborted, "why"})};
    int ok = 0;
    for (int i = 0; i < 20000; ++i) {
      std::string bytes = seeds[static_cast<std::size_t>(i) % seeds.size()];
      const int flips = 1 + static_cast<int>(random() % 4);
      for (int f = 0; f < flips; ++f)
        bytes[random() % bytes.size()] = static_cast<char>(random());
      if (i % 5 == 0) bytes.resize(random() % (bytes.size() + 1));
      if (i % 7 == 0) {
        bytes.clear();
        for (std::size_t k = random() % 64; k > 0; --k)
          bytes.push_back(static_cast<char>(random()));
      }
      const auto d = detail::decode_rendezvous(bytes);
      CHECK((d.state == status::ok) == (d.body.index() != 0));
      ok += d.state == status::ok;
    }
    MESSAGE(ok << " of 20000 corrupted messages still decoded (their fields changed)");
  }
}

TEST_CASE("rank lists are compact") {
  CHECK(detail::rank_ranges({3}) == "3");
  CHECK(detail::rank_ranges({3, 5, 6, 7}) == "3, 5-7");
  CHECK(detail::rank_ranges({0, 1, 2, 3}) == "0-3");
  CHECK(detail::ranks_of({3, 5, 6, 7}, 8) == "ranks 3, 5-7 of 8");
  CHECK(detail::ranks_of({1}, 2) == "rank 1 of 2");
  std::vector<int> odd;
  for (int r = 1; r < 100; r += 2)
    odd.push_back(r);
  CHECK(detail::rank_ranges(odd, 3) == "1, 3, 5 and 47 more");
}

TEST_CASE("durations in messages") {
  using std::chrono::milliseconds;
  CHECK(detail::seconds_text(milliseconds(5000)) == "5 s");
  CHECK(detail::seconds_text(milliseconds(250)) == "0.25 s");
  CHECK(detail::seconds_text(milliseconds(1500)) == "1.5 s");
  CHECK(detail::seconds_text(symphony::wait_forever) == "forever");
}

TEST_CASE("the grace period of ranks other than 0") {
  using std::chrono::milliseconds;
  CHECK(detail::rendezvous_grace(milliseconds(1000)) == milliseconds(500));
  CHECK(detail::rendezvous_grace(milliseconds(5000)) == milliseconds(1000));
  CHECK(detail::rendezvous_grace(milliseconds(300000)) == milliseconds(3000));
}

TEST_CASE("default_job_token: explicit, then the innermost launcher, then the allocation") {
  CHECK(token_of({}) == symphony::bootstrap::fallback_job_token);
  CHECK(token_of({{"SYMPHONY_JOB_TOKEN", "mine"}, {"SLURM_JOB_ID", "1"}}) == "mine");
  CHECK(token_of({{"SYMPHONY_JOB_TOKEN", ""}}) == symphony::bootstrap::fallback_job_token);

  SUBCASE("srun -n 4: job and step, the same on every task") {
    for (const auto& task : read_tasks("slurm-srun-n4.added.txt"))
      CHECK(token_of(task) == "slurm:61.0");
  }
  SUBCASE("srun --mpi=pmi2: PMI_JOBID") {
    for (const auto& task : read_tasks("slurm-srun-mpi-pmi2-n4.added.txt"))
      CHECK(token_of(task) == "pmi:25.0");
  }
  SUBCASE("srun --mpi=pmix: the Slurm step") {
    for (const auto& task : read_tasks("slurm-srun-mpi-pmix-n4.added.txt"))
      CHECK(token_of(task) == "slurm:26.0");
  }
  SUBCASE("mpirun: the PMIx namespace, which Open MPI 4 also calls the ess job id") {
    for (const auto& task : read_tasks("ompi-mpirun-np4.added.txt")) {
      CHECK(task.at("OMPI_MCA_ess_base_jobid") == task.at("PMIX_NAMESPACE"));
      CHECK(token_of(task) == "openmpi:1170472961");
    }
  }
  SUBCASE("mpiexec.hydra alone names no job: the fallback, which cannot tell jobs apart") {
    for (const auto& task : read_tasks("hydra-mpiexec-n4.added.txt"))
      CHECK(token_of(task) == symphony::bootstrap::fallback_job_token);
  }
  SUBCASE("an sbatch batch script (no step): the allocation") {
    CHECK(token_of(assignments(read_lines("slurm-sbatch-n4-batchscript.added.txt"))) == "slurm:23");
  }
  SUBCASE("launchers across two emulated nodes: one token despite different stale steps") {
    // Rebuilt: the batch script's environment (which hydra forwards and mpirun's srun-started
    // daemons inherit) plus the variables captured for rank 5, against rank 0 beside mpiexec in
    // hydra's proxy step 0. Slurm's step ids differ between the two, the tokens must not.
    const auto batch = assignments(read_lines("slurm-sbatch-n4-batchscript.added.txt"));
    const std::string file = "mpi-launchers-across-emulated-nodes.txt";
    const auto hydra5 = overlay(batch, assignments(section(file, "== hydra env of rank 5")));
    const auto hydra0 = overlay(batch, {{"PMI_RANK", "0"},
                                        {"PMI_SIZE", "6"},
                                        {"PMI_FD", "5"},
                                        {"SLURM_STEP_ID", "0"},
                                        {"SLURM_PROCID", "0"}});
    REQUIRE(hydra5.at("SLURM_STEP_ID") != hydra0.at("SLURM_STEP_ID"));
    CHECK(token_of(hydra5) == "slurm:23");
    CHECK(token_of(hydra0) == "slurm:23");
    const auto ompi5 = overlay(batch, assignments(section(file, "== ompi env of rank 5")));
    CHECK(token_of(ompi5) == "openmpi:1251934209");
  }
  SUBCASE("Flux, PBS and LSF (from their documentation)") {
    CHECK(token_of({{"FLUX_TASK_RANK", "1"}, {"FLUX_JOB_ID", "f2wnQX1"}, {"PMI_RANK", "1"}}) ==
          "flux:f2wnQX1");
    CHECK(token_of({{"PBS_JOBID", "1234.server"}, {"PBS_VNODENUM", "2"}}) == "pbs:1234.server");
    CHECK(token_of({{"LSB_JOBID", "77"}}) == "lsf:77");
    CHECK(token_of({{"LSB_JOBID", "77"}, {"LSB_JOBINDEX", "3"}}) == "lsf:77[3]");
    CHECK(token_of({{"LSB_JOBID", "77"}, {"LSB_JOBINDEX", "0"}}) == "lsf:77");
  }
}
