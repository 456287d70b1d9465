// probex-convert's quantization budget loop (bundle/budget_check.h) on random experts: the real runtime
// against the float experts, and the int8 step 1 fallback decided per tree; the flip budget's bound
// (bundle/flip_bound.h).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "converter/bundle/budget_check.h"
#include "converter/bundle/flip_bound.h"
#include "tests/roundtrip/bundle_fixture.h"

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

// Expected values computed independently of the C++ (which sums binomial terms in doubles via lgamma):
// exact rational binomial sums in Python, 1 - sum_{i<k} C(n, i) p^i (1 - p)^(n - i) with
// fractions.Fraction, the bound by bisection on them; and, where it exists, the closed form (k = 1:
// 1 - 0.95^(1/n); k = n: 0.05^(1/n)).
TEST_CASE("flip budget: one-sided 95% Clopper-Pearson lower bound of the flip rate") {
  using convert::flip_rate_lower_bound;
  CHECK(flip_rate_lower_bound(0, 500) == 0.0);
  CHECK(flip_rate_lower_bound(0, 0) == 0.0);
  CHECK(flip_rate_lower_bound(2, 500) == doctest::Approx(0.00071118).epsilon(1e-5));
  CHECK(flip_rate_lower_bound(3, 500) == doctest::Approx(0.00163732).epsilon(1e-5));  // issue 29's seed 1
  CHECK(flip_rate_lower_bound(6, 500) == doctest::Approx(0.00523856).epsilon(1e-5));
  CHECK(flip_rate_lower_bound(12, 500) == doctest::Approx(0.01390539).epsilon(1e-5));
  CHECK(flip_rate_lower_bound(5, 24) == doctest::Approx(0.08588541).epsilon(1e-5));
  CHECK(flip_rate_lower_bound(1, 100) == doctest::Approx(0.0005128014162623096).epsilon(1e-6));
  CHECK(flip_rate_lower_bound(40, 40) == doctest::Approx(0.9278424754944854).epsilon(1e-6));
  // P(X >= 6 | 500, 0.005) = 0.0416028204, P(X >= 5 | ...) = 0.1083190819 (exact sums as above).
  CHECK(convert::binomial_upper_tail(6, 500, 0.005) == doctest::Approx(0.0416028204).epsilon(1e-7));
  CHECK(convert::binomial_upper_tail(5, 500, 0.005) == doctest::Approx(0.1083190819).epsilon(1e-7));
  CHECK(convert::binomial_upper_tail(0, 500, 0.005) == 1.0);
  CHECK(convert::binomial_upper_tail(501, 500, 0.5) == 0.0);
  // A large count stays finite: (1 - p)^n alone would underflow.
  const double big = flip_rate_lower_bound(5000, 100000);
  CHECK(big > 0.048);
  CHECK(big < 0.05);
}

TEST_CASE("flip budget: the largest flip count within the budget, consistent with the bound") {
  using convert::max_flips_within;
  // Exact sums as above: the largest k with P(X >= k | n, rate) >= 0.05.
  CHECK(max_flips_within(500, 0.005) == 5);  // 3 of 500 (issue 29's refusal) is within
  CHECK(max_flips_within(500, 0.01) == 9);
  CHECK(max_flips_within(1000, 0.005) == 9);
  CHECK(max_flips_within(5000, 0.005) == 33);
  CHECK(max_flips_within(50, 0.005) == 1);
  CHECK(max_flips_within(24, 0.25) == 10);
  CHECK(max_flips_within(500, 0.0) == 0);  // no flip allowed at all
  CHECK(max_flips_within(500, 1.0) == 500);
  CHECK(max_flips_within(0, 0.005) == 0);
  // The count verdict is the bound's: within exactly when the lower bound is not above the budget.
  for (const size_t n : {24u, 50u, 500u, 1000u})
    for (const double rate : {0.001, 0.005, 0.05, 0.25}) {
      const size_t k = max_flips_within(n, rate);
      CAPTURE(n);
      CAPTURE(rate);
      CHECK(convert::flip_rate_lower_bound(k, n) <= rate);
      if (k < n) CHECK(convert::flip_rate_lower_bound(k + 1, n) > rate);
    }
}

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
  REQUIRE_MESSAGE(
      convert::check_quant_budget(&c.trees, c.reference, budget, "tests", SketchSpec{}, &bytes, &check, &error), error);
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
    REQUIRE_MESSAGE(
        convert::check_quant_budget(&c.trees, c.reference, none, "tests", SketchSpec{}, &bytes, &check, &error), error);
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
    REQUIRE_MESSAGE(
        convert::check_quant_budget(&c.trees, c.reference, none, "tests", SketchSpec{}, &bytes, &check, &error), error);
    CHECK_FALSE(check.trees[0].fell_back);
    CHECK_FALSE(check.trees[0].within);
    CHECK(check.trees[0].comparison.max_probability_error > 0.0);
    CHECK_FALSE(check.within());
  }
}

TEST_CASE("quantization budget: the finer storage types, in the order tried") {
  const auto finer = [](const std::string& name) {
    convert::QuantSpec spec, next;
    std::string error;
    REQUIRE(convert::parse_quant_spec(name, &spec, &error));
    return convert::finer_quant_spec(spec, &next) ? convert::quant_spec_name(next) : std::string("none");
  };
  CHECK(finer("int8") == "int8-b32");
  CHECK(finer("int8-b64") == "int8-b32");
  CHECK(finer("int8-b32") == "f16");
  CHECK(finer("int8-b8") == "f16");
  CHECK(finer("f16") == "f32");
  CHECK(finer("f32") == "none");
}

namespace {

// A budget int8 fails on these random experts and a finer type passes: probabilities within 1e-5 (measured
// here: int8 moves them by ~1e-3, int8-b32 by ~2e-5, f16 by ~3e-6; float32 in another order by ~1e-7).
convert::QuantBudget tight_budget() {
  convert::QuantBudget budget;
  budget.max_flip_rate = 0.25;  // as above: 24 decisions on random experts
  budget.max_probability_error = 1e-5;
  return budget;
}

// Case's trees made anew with another storage type, as probex-convert makes them.
convert::MakeTree remake_case_tree() {
  return [](size_t i, const convert::QuantSpec& spec, convert::BundleTree* out, std::string*) {
    *out = bundle_tree(kShape, 31 + i, convert::quant_spec_name(spec), i == 0 ? "tree-a" : "tree-b");
    return true;
  };
}

}  // namespace

TEST_CASE(
    "quantization budget: a tree over budget is told the finer type that passes, and falls back to it if allowed") {
  Case c;
  make_case("int8", &c);
  const convert::QuantBudget budget = tight_budget();
  convert::QuantSpec int8;
  std::string error;
  REQUIRE(convert::parse_quant_spec("int8", &int8, &error));
  std::vector<uint8_t> bytes;
  convert::BudgetCheck check;
  REQUIRE_MESSAGE(
      convert::check_quant_budget(&c.trees, c.reference, budget, "tests", SketchSpec{}, &bytes, &check, &error), error);
  REQUIRE_FALSE(check.within());
  const std::vector<uint8_t> int8_bytes = bytes;
  std::vector<convert::FinerTypes> finer;
  // What was tried for each tree over budget: the finer types in order, each over budget but the last.
  const auto check_tried = [&] {
    for (const convert::FinerTypes& f : finer) {
      CAPTURE(f.tree);
      REQUIRE(f.passing() != nullptr);
      CHECK(convert::quant_spec_name(f.tried.front().spec) == "int8-b32");
      for (size_t k = 0; k + 1 < f.tried.size(); ++k) CHECK_FALSE(f.tried[k].within());
      CHECK(f.passing()->classifier.comparison.layers == 6);
      MESSAGE(c.trees[f.tree].name, ": int8-b32 max prob error ",
              f.tried.front().classifier.comparison.max_probability_error, "; ",
              convert::quant_spec_name(f.passing()->spec), " passes after ", f.tried.size(),
              " type(s), max prob error ", f.passing()->classifier.comparison.max_probability_error);
    }
  };
  SUBCASE("without the fallback: the type that passes is named, nothing changes") {
    REQUIRE_MESSAGE(convert::find_finer_types(&c.trees, c.reference, budget, "tests", SketchSpec{}, int8,
                                              remake_case_tree(), false, &bytes, &check, &finer, &error),
                    error);
    CHECK(finer.size() == 2);  // both trees are over this budget
    check_tried();
    for (const convert::FinerTypes& f : finer) CHECK_FALSE(f.applied);
    CHECK_FALSE(check.within());
    for (const convert::BundleTree& t : c.trees) CHECK(t.probes.type == StorageType::kI8);
    CHECK(bytes == int8_bytes);
  }
  SUBCASE("with the fallback: each tree is written with its finer type") {
    REQUIRE_MESSAGE(convert::find_finer_types(&c.trees, c.reference, budget, "tests", SketchSpec{}, int8,
                                              remake_case_tree(), true, &bytes, &check, &finer, &error),
                    error);
    check_tried();
    for (const convert::FinerTypes& f : finer) {
      CHECK(f.applied);
      const convert::QuantSpec& spec = f.passing()->spec;
      CHECK(c.trees[f.tree].probes.type == spec.type);
      CHECK(c.trees[f.tree].probes.block_size == spec.block_size);
      CHECK(check.trees[f.tree].within);
    }
    CHECK(check.within());
    // The bytes are the bundle of the trees as they are now, and the runtime checks them as within.
    std::vector<uint8_t> rebuilt;
    REQUIRE(convert::build_bundle(c.trees, "tests", &rebuilt, &error, SketchSpec{}));
    CHECK(bytes == rebuilt);
    convert::BudgetCheck again;
    REQUIRE(convert::check_quant_budget(&c.trees, c.reference, budget, "tests", SketchSpec{}, &bytes, &again, &error));
    CHECK(again.within());
  }
}
