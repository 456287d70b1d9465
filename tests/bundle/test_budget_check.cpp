// probex-convert's quantization budget loop (bundle/budget_check.h) on random experts: the real runtime
// against the float experts, and the int8 step 1 fallback decided per tree.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "bundle/budget_check.h"
#include "bundle_fixture.h"

using namespace probex;
using namespace probex::test;
using convert::ProbexShape;

namespace {

const ProbexShape kShape{24, 16, 8, 6, 5, 4};

struct Case {
  std::vector<convert::LoadedCheckpoint> floats;
  std::vector<convert::BundleTree> trees;
  std::vector<convert::LoadedSplit> held_out;
  convert::BudgetReference reference;
};

// Trees "tree-a" and "tree-b" quantized as `quant` from the float experts they are checked against, each
// with 6 held-out layers of the self-tests' amplitude (the one its int8 step 1 is calibrated on).
void make_case(const std::string& quant, Case* c) {
  for (uint64_t i = 0; i < 2; ++i) {
    const std::string name = i == 0 ? "tree-a" : "tree-b";
    c->floats.push_back(random_checkpoint(kShape, 31 + i, name));
    c->trees.push_back(bundle_tree(kShape, 31 + i, quant, name));
    convert::LoadedSplit split;
    split.data.count = 6;
    split.data.features = kShape.d_h * kShape.d_w;
    split.data.x = random_layer(split.data.count * split.data.features, 700 + i, 0.1);
    c->held_out.push_back(split);
  }
  for (convert::LoadedCheckpoint& f : c->floats) c->reference.floats.push_back(f.expert.get());
  c->reference.held_out = &c->held_out;
  c->reference.zero_shot = {convert::ZeroShotFloat(), convert::ZeroShotFloat()};  // no zero-shot experts
}

}  // namespace

TEST_CASE("quantization budget: an int8 step 1 over budget falls back to float step 1, the bundle rebuilt") {
  Case c;
  make_case("int8", &c);
  REQUIRE(c.trees[0].probe_output_ratio > 0.0f);
  REQUIRE(c.trees[1].probe_output_ratio > 0.0f);
  // tree-a's int8 step 1 clips: its output scale is 1/1000 of what its layers need.
  c.trees[0].probe_output_ratio *= 1e-3f;
  const float b_ratio = c.trees[1].probe_output_ratio;
  convert::QuantBudget budget;  // the CLI's defaults, but for flips: 24 decisions on random experts
  budget.max_flip_rate = 0.25;
  std::vector<uint8_t> bytes;
  convert::BudgetCheck check;
  std::string error;
  REQUIRE_MESSAGE(convert::check_quant_budget(&c.trees, c.reference, budget, "tests", SketchSpec{}, &bytes, &check, &error),
                  error);
  REQUIRE(check.trees.size() == 2);
  MESSAGE("tree-a int8 step 1: flips ", check.trees[0].int8_step1.label_flip_rate, ", prob ",
          check.trees[0].int8_step1.max_probability_error, ", cosine ", check.trees[0].int8_step1.min_embedding_cosine,
          "; float step 1: flips ", check.trees[0].comparison.label_flip_rate, ", prob ",
          check.trees[0].comparison.max_probability_error, ", cosine ", check.trees[0].comparison.min_embedding_cosine);
  CHECK(check.trees[0].fell_back);
  CHECK_FALSE(convert::within_budget(check.trees[0].int8_step1, budget));
  CHECK(check.trees[0].within);
  CHECK(c.trees[0].probe_output_ratio == 0.0f);
  CHECK(check.trees[0].comparison.layers == 6);
  CHECK_FALSE(check.trees[1].fell_back);  // within with int8 step 1: kept
  CHECK(check.trees[1].within);
  CHECK(c.trees[1].probe_output_ratio == b_ratio);
  CHECK_FALSE(check.zero_shot[0].checked);
  CHECK(check.within());
  // The bytes are the bundle of the trees as they are now (tree-a with float step 1).
  std::vector<uint8_t> rebuilt;
  REQUIRE(convert::build_bundle(c.trees, "tests", &rebuilt, &error, SketchSpec{}));
  CHECK(bytes == rebuilt);
}

TEST_CASE("quantization budget: over it even after the fallback, or with nothing to fall back to") {
  convert::QuantBudget none;  // no difference allowed: int8 weights always differ from the float expert
  none.max_flip_rate = 0.0;
  none.max_probability_error = 0.0;
  none.min_embedding_cosine = 1.0;
  std::string error;
  SUBCASE("int8: the fallback is tried, and the tree stays over budget") {
    Case c;
    make_case("int8", &c);
    std::vector<uint8_t> bytes;
    convert::BudgetCheck check;
    REQUIRE_MESSAGE(convert::check_quant_budget(&c.trees, c.reference, none, "tests", SketchSpec{}, &bytes, &check, &error),
                    error);
    for (const convert::TreeBudgetCheck& t : check.trees) {
      CHECK(t.fell_back);
      CHECK_FALSE(t.within);
    }
    CHECK_FALSE(check.within());
  }
  SUBCASE("int8 in blocks: float step 1 already, no fallback") {
    Case c;
    make_case("int8-b8", &c);
    REQUIRE(c.trees[0].probe_output_ratio == 0.0f);
    std::vector<uint8_t> bytes;
    convert::BudgetCheck check;
    REQUIRE_MESSAGE(convert::check_quant_budget(&c.trees, c.reference, none, "tests", SketchSpec{}, &bytes, &check, &error),
                    error);
    CHECK_FALSE(check.trees[0].fell_back);
    CHECK_FALSE(check.trees[0].within);
    CHECK(check.trees[0].comparison.max_probability_error > 0.0);
    CHECK_FALSE(check.within());
  }
}
