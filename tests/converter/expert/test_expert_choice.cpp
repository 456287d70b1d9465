// probex-train --expert auto's parts (expert/expert_choice.h): the choice among candidates (best val among
// those that fit and run on devices, ties to fewer bytes, the Dense expert never), the budget's error, the
// sizes (parameter counts against the models' own parameters), byte sizes on the command line, and an
// MVProbe checkpoint with masked views keeping its views through save and load.
#include <doctest/doctest.h>

#include "converter/expert/checkpoint.h"
#include "converter/expert/expert_choice.h"
#include "converter/expert/multilabel.h"
#include "converter/expert/mvprobe_expert.h"
#include "converter/expert/probex_expert.h"
#include "tests/test_util.h"

using namespace probex::convert;

namespace {

ExpertCandidate trained(const std::string& expert, size_t parameters, bool runnable, uint64_t budget, double val) {
  ExpertCandidate c = sized_candidate(expert, parameters, runnable, budget);
  c.trained = true;
  c.val_bit = val;
  return c;
}

size_t count(MultiLabelModel& m) {
  size_t n = 0;
  for (const Param* p : m.params()) n += p->value.size();
  return n;
}

}  // namespace

TEST_CASE("expert choice: best val among the candidates that fit and run; a tie goes to fewer bytes") {
  const uint64_t budget = 1000;
  ExpertChoice c;
  c.budget_bytes = budget;
  c.candidates = {trained("probex", 100, true, budget, 0.70), trained("mvprobe", 200, true, budget, 0.80),
                  trained("mvprobe2", 150, true, budget, 0.80), trained("dense", 240, false, budget, 0.95)};
  std::string error;
  REQUIRE(choose_expert(&c, "t", &error));
  CHECK(c.chosen == "mvprobe2");  // 0.80 as mvprobe, 600 bytes against 800; dense is better but not runnable
  CHECK(c.reason ==
        "auto: mvprobe2 (val bit 0.800) over mvprobe (0.800), probex (0.700); dense not runnable on devices");
  CHECK(candidate_status(c.candidates[0], c.chosen) == "not chosen (lower val bit accuracy)");
  CHECK(candidate_status(c.candidates[2], c.chosen) == "chosen");
  CHECK(candidate_status(c.candidates[3], c.chosen) == "not runnable on devices");

  // Over the budget: refused even when best on val, and said so with the sizes.
  c.candidates[2] = trained("mvprobe2", 300, true, budget, 0.99);
  c.candidates[3] = trained("dense", 5000, false, budget, 0.95);
  REQUIRE(choose_expert(&c, "t", &error));
  CHECK(c.chosen == "mvprobe");
  CHECK(c.reason == "auto: mvprobe (val bit 0.800) over probex (0.700); mvprobe2 refused: 1.2 KiB > 1000 bytes budget, "
                    "dense refused: 19.5 KiB > 1000 bytes budget");
  CHECK(candidate_status(c.candidates[2], c.chosen) == "refused by the budget");
  CHECK(candidate_status(c.candidates[3], c.chosen) == "refused by the budget");

  // The only candidate alone.
  ExpertChoice one;
  one.budget_bytes = budget;
  one.candidates = {trained("probex", 10, true, budget, 0.5)};
  REQUIRE(choose_expert(&one, "t", &error));
  CHECK(one.reason == "auto: probex (val bit 0.500)");
}

TEST_CASE("expert choice: no runnable expert fits -> an error naming the tree, the budget and every size") {
  const uint64_t budget = 1024;
  ExpertChoice c;
  c.budget_bytes = budget;
  c.candidates = {sized_candidate("probex", 300, true, budget), sized_candidate("mvprobe", 2000000, true, budget),
                  sized_candidate("dense", 100, false, budget)};  // dense fits, but devices cannot run it
  CHECK(c.candidates[2].fits);
  std::string error;
  CHECK_FALSE(some_expert_fits(c, "mlp-a", &error));
  CHECK(error ==
        "tree mlp-a: no expert the device runtime can run fits --max-expert-bytes 1 KiB (1024 bytes, float32): "
        "probex 1.2 KiB (1200 bytes), mvprobe 7.6 MiB (8000000 bytes), dense 400 bytes (400 bytes, not "
        "runnable on devices)");
  CHECK_FALSE(choose_expert(&c, "mlp-a", &error));
  CHECK(c.chosen.empty());
  c.candidates[0] = sized_candidate("probex", 256, true, budget);  // 1024 bytes: fits exactly
  CHECK(some_expert_fits(c, "mlp-a", &error));
}

TEST_CASE("expert sizes are the models' own parameter counts; mvprobe2 counts its live views only") {
  const ProbexShape ps{7, 5, 3, 2, 4, 6};
  ProbexExpert probex(ps);
  CHECK(probex_parameter_count(ps) == count(probex));
  CHECK(probex_parameter_count({768, 768, 128, 128, 128, 100}) * 4 == 9227152);  // 8.8 MiB, as the help says

  MvProbeShape ms{7, 5, 3, 2, 4, 6};
  MvProbeExpert all(ms);
  CHECK(mvprobe_live_parameter_count(ms) == mvprobe_parameter_count(ms));
  CHECK(mvprobe_live_parameter_count(ms) == count(all));
  ms.views = (1u << kViewXXtU) | (1u << kViewXtXU);
  MvProbeExpert masked(ms);
  // The live views' probes and projections, the encoder's columns reading them, and the rest whole.
  size_t live = 0;
  for (const Param* p : masked.params()) {
    const std::string& n = p->name;
    if (n == "probes_xu.weight" || n == "probes_xtu.weight" || n == "shared_probe_proj_row.weight" ||
        n == "shared_probe_proj_col.weight") {
      continue;
    }
    live += n == "concat_all4_encoder.weight" ? p->value.size() / 2 : p->value.size();
  }
  CHECK(mvprobe_live_parameter_count(ms) == live);
  CHECK(mvprobe_live_parameter_count(ms) < count(masked));
  CHECK(mvprobe_parameter_count({768, 768, 128, 128, 128, 100}) * 4 == 36752272);  // 35.0 MiB

  LinearChain dense({"dense", "classification_head"}, {7 * 5, 4, 6});
  CHECK(dense_parameter_count(7 * 5, 4, 6) == count(dense));
  CHECK(dense_parameter_count(768 * 768, 128, 100) * 4 == 302042000);  // 288 MiB: over the default budget
  CHECK(dense_parameter_count(768 * 768, 128, 100) * 4 > kDefaultExpertBudget);
}

TEST_CASE("--max-expert-bytes sizes: bytes, K, M, G (powers of 1024); anything else is refused") {
  uint64_t b = 0;
  CHECK((parse_byte_size("67108864", &b) && b == 67108864));
  CHECK((parse_byte_size("64M", &b) && b == 64u << 20));
  CHECK((parse_byte_size("64MiB", &b) && b == 64u << 20));
  CHECK((parse_byte_size("512k", &b) && b == 512u << 10));
  CHECK((parse_byte_size("2G", &b) && b == uint64_t{2} << 30));
  CHECK((parse_byte_size("100B", &b) && b == 100));
  for (const char* bad :
       {"", "M", "0", "0M", "1.5M", "64MB", "64 M", "-1", "64X", "8589934593G", "99999999999999999999"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_byte_size(bad, &b));
  }
  CHECK(format_bytes(1) == "1 byte");
  CHECK(format_bytes(1023) == "1023 bytes");
  CHECK(format_bytes(1024) == "1 KiB");
  CHECK(format_bytes(64u << 20) == "64 MiB");
  CHECK(format_bytes(36752272) == "35.0 MiB");
  CHECK(format_bytes(uint64_t{3} << 30) == "3 GiB");
}

TEST_CASE("MVProbe view lists: names in the concatenation order, parsed back; bad lists refused") {
  CHECK(mvprobe_view_list(kAllViews) == "xu,xxtu,xtu,xtxu");
  CHECK(mvprobe_view_list((1u << kViewXXtU) | (1u << kViewXtXU)) == "xxtu,xtxu");
  unsigned v = 0;
  CHECK((parse_mvprobe_views("xtxu,xxtu", &v) && v == ((1u << kViewXXtU) | (1u << kViewXtXU))));
  CHECK((parse_mvprobe_views("xu,xxtu,xtu,xtxu", &v) && v == kAllViews));
  for (const char* bad : {"", "xu,", "xu,xu", "xy", ",xu"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_mvprobe_views(bad, &v));
  }
}

TEST_CASE("an MVProbe checkpoint with masked views loads with the same views and logits (metadata 'views')") {
  MvProbeShape s{5, 4, 3, 2, 4, 3};
  s.views = (1u << kViewXXtU) | (1u << kViewXtXU);
  MvProbeExpert source(s);
  Rng rng(3);
  source.init(rng);
  std::vector<float> x(2 * s.d_h * s.d_w);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i * 37 % 11) - 5) / 4.0f;
  const float* y = source.forward(x.data(), 2);
  const std::vector<float> want(y, y + 2 * s.d_y);

  probex::test::TempDir dir;
  std::string error;
  const std::string path = dir.file("mv2.safetensors");
  REQUIRE(save_mvprobe_checkpoint(source, {{"views", mvprobe_view_list(s.views)}}, path, &error));
  LoadedMvProbeCheckpoint loaded;
  REQUIRE_MESSAGE(load_mvprobe_checkpoint(path, &loaded, &error), error);
  CHECK(loaded.expert->shape().views == s.views);
  const float* got = loaded.expert->forward(x.data(), 2);
  for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == want[i]);

  // Without the metadata the masked views' untrained tensors would enter the logits: the key matters.
  const std::string bare = dir.file("bare.safetensors");
  REQUIRE(save_mvprobe_checkpoint(source, {}, bare, &error));
  REQUIRE(load_mvprobe_checkpoint(bare, &loaded, &error));
  CHECK(loaded.expert->shape().views == kAllViews);
  got = loaded.expert->forward(x.data(), 2);
  bool differs = false;
  for (size_t i = 0; i < want.size(); ++i) differs = differs || got[i] != want[i];
  CHECK(differs);

  const std::string bad = dir.file("bad.safetensors");
  REQUIRE(save_mvprobe_checkpoint(source, {{"views", "xxtu,gram"}}, bad, &error));
  CHECK_FALSE(load_mvprobe_checkpoint(bad, &loaded, &error));
  CHECK(error == bad + ": metadata 'views' is 'xxtu,gram', not a list of xu, xxtu, xtu, xtxu");
}
