// The bundle on both sides: what probex-convert writes, the runtime reads back exactly; and what a
// hostile or damaged file does to the loader (a specific error, never a crash or an out-of-bounds read;
// this suite runs under ASan/UBSan in CI).
#include <doctest/doctest.h>

#include <cmath>

#include "converter/bundle/flip_bound.h"
#include "runtime/executor/auditor.h"
#include "tests/roundtrip/bundle_fixture.h"
#include "tests/test_util.h"

using namespace probex;
using namespace probex::test;
using convert::BundleTree;
using convert::ProbexShape;

namespace {

const ProbexShape kShape{12, 20, 6, 5, 7, 4};  // d_h, d_w, r_u, r_v, r_t, d_y: small and all different

}  // namespace

TEST_CASE("a bundle reads back with the shapes, labels, metrics and weights that were written") {
  for (const char* quant : {"f32", "f16", "int8", "int8-b8"}) {
    CAPTURE(quant);
    BundleTree a = bundle_tree(kShape, 1, quant, "tree-a");
    BundleTree b = bundle_tree({9, 3, 2, 4, 5, 4}, 2, quant, "tree-b");  // same labels: one shared label space
    const auto bytes = bundle_bytes({&a, &b});
    AlignedBytes buffer(bytes);
    Bundle bundle;
    std::string message;
    REQUIRE(Bundle::open_buffer(buffer.data(), buffer.size(), "t", &bundle, &message) == PROBEX_OK);
    CHECK(bundle.format_version() == PROBEX_BUNDLE_FORMAT_VERSION);
    CHECK(std::string(bundle.producer()) == "probex tests");
    REQUIRE(bundle.trees().size() == 2);
    const TreeView& t = bundle.trees()[0];
    CHECK(std::string(t.name) == "tree-a");
    CHECK(std::string(t.layer_name) == "block.weight");
    CHECK(t.rule == LayerRule::kMatrix);
    CHECK((t.d_h == 12 && t.d_w == 20 && t.r_u == 6 && t.r_v == 5 && t.r_t == 7 && t.d_y == 4));
    REQUIRE(t.labels.size() == 4);
    CHECK(std::string(t.labels[3]) == "class 3");
    REQUIRE(t.metrics.size() == 1);
    CHECK(std::string(t.metrics[0].first) == "test_bit_accuracy");
    CHECK(t.metrics[0].second == 0.75);
    CHECK(t.self_tests.size() == 2);
    // Every stored matrix dequantizes to exactly what the converter's device model computes with.
    const std::vector<float> expected = a.encoder.dequantized();
    std::vector<float> row(t.encoder.cols);
    for (size_t r = 0; r < t.encoder.rows; ++r) {
      t.encoder.row(r, row.data());
      for (size_t c = 0; c < row.size(); ++c) REQUIRE(row[c] == expected[r * row.size() + c]);
    }
    // Large data sits on 32-byte boundaries of the file.
    CHECK((t.encoder.data - buffer.data()) % 32 == 0);
    CHECK(std::string(bundle.trees()[1].name) == "tree-b");
  }
}

TEST_CASE("quantization error stays within half a quantization step, per row or per block") {
  convert::Rng rng(5);
  const uint32_t rows = 9, cols = 70;
  std::vector<float> w(rows * cols);
  for (float& v : w) v = static_cast<float>(rng.uniform(-1.0, 1.0));
  w[3] = 40.0f;  // an outlier in row 0, block 0
  for (const char* quant : {"f16", "int8", "int8-b16"}) {
    CAPTURE(quant);
    convert::QuantSpec spec;
    std::string error;
    REQUIRE(convert::parse_quant_spec(quant, &spec, &error));
    const convert::QuantizedMatrix q = convert::quantize_matrix("w", w.data(), rows, cols, spec);
    const std::vector<float> d = q.dequantized();
    for (size_t r = 0; r < rows; ++r) {
      for (size_t c = 0; c < cols; ++c) {
        const float v = w[r * cols + c], got = d[r * cols + c];
        if (q.type == StorageType::kF16) {
          REQUIRE(std::fabs(got - v) <= 1e-3f * std::fabs(v) + 1e-7f);
        } else {
          const size_t per_row = blocks_per_row(cols, q.block_size);
          const size_t block = q.block_size ? c / q.block_size : 0;
          REQUIRE(std::fabs(got - v) <= 0.5f * q.scales[r * per_row + block] * 1.0001f);
        }
      }
    }
    if (std::string(quant) == "int8-b16") {
      CHECK(q.scales.size() == rows * 5);
      // The outlier costs precision only in its own block: row 0's second block keeps a small scale.
      CHECK(q.scales[1] < 0.01f);
    }
  }
  convert::QuantSpec spec;
  std::string error;
  CHECK_FALSE(convert::parse_quant_spec("int8-b7", &spec, &error));
  CHECK(error.find("multiple of 4") != std::string::npos);
  CHECK_FALSE(convert::parse_quant_spec("int4", &spec, &error));
}

TEST_CASE("a bundle file opens, and a missing file is an I/O error naming it") {
  TempDir dir;
  BundleTree a = bundle_tree(kShape, 3);
  REQUIRE(write_bytes(dir.file("a.probex"), bundle_bytes({&a})));
  Bundle bundle;
  std::string message;
  CHECK(Bundle::open(dir.file("a.probex"), &bundle, &message) == PROBEX_OK);
  CHECK(bundle.trees().size() == 1);
  CHECK(Bundle::open(dir.file("none.probex"), &bundle, &message) == PROBEX_IO_ERROR);
  CHECK(message.find("none.probex") != std::string::npos);
}

TEST_CASE("malformed bundles: each problem has its own status and message") {
  BundleTree a = bundle_tree(kShape, 4);
  const std::vector<uint8_t> good = bundle_bytes({&a});
  std::string message;
  REQUIRE(verify_bytes(good, &message) == PROBEX_OK);

  SUBCASE("empty and tiny files") {
    CHECK(verify_bytes({}, &message) == PROBEX_BUNDLE_IDENTIFIER);
    CHECK(message.find("too small") != std::string::npos);
    CHECK(verify_bytes({1, 2, 3}, &message) == PROBEX_BUNDLE_IDENTIFIER);
  }
  SUBCASE("wrong file identifier") {
    auto bad = good;
    bad[4] = 'X';
    CHECK(verify_bytes(bad, &message) == PROBEX_BUNDLE_IDENTIFIER);
    CHECK(message.find("PRBX") != std::string::npos);
  }
  SUBCASE("a safetensors file is not a bundle") {
    CHECK(verify_bytes(safetensors_bytes("{}", 0), &message) == PROBEX_BUNDLE_IDENTIFIER);
  }
  SUBCASE("another format version") {
    CHECK(verify_bytes(bundle_bytes({&a}, 2), &message) == PROBEX_BUNDLE_VERSION);
    CHECK(message.find("format version 2, this runtime reads 1") != std::string::npos);
  }
  SUBCASE("every truncation is rejected") {
    for (size_t n = 0; n < good.size(); n += 1 + n / 64) {
      const std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
      const probex_status s = verify_bytes(cut, &message);
      CAPTURE(n);
      REQUIRE(s != PROBEX_OK);
    }
  }
  SUBCASE("a root offset pointing outside the buffer") {
    auto bad = good;
    bad[0] = bad[1] = bad[2] = 0xff;
    CHECK(verify_bytes(bad, &message) == PROBEX_BUNDLE_STRUCTURE);
    CHECK(message.find("verification failed") != std::string::npos);
  }
  SUBCASE("a buffer that is not 8-byte aligned") {
    AlignedBytes buffer(std::vector<uint8_t>(good.size() + 1));
    std::memcpy(buffer.data() + 1, good.data(), good.size());
    Bundle bundle;
    CHECK(Bundle::open_buffer(buffer.data() + 1, good.size(), "t", &bundle, &message) == PROBEX_BUNDLE_MISALIGNED);
  }
}

TEST_CASE("inconsistent content: shapes, counts, scales, labels, names, values") {
  std::string message;
  const auto expect_content = [&](BundleTree& t, const char* fragment) {
    const probex_status s = verify_bytes(bundle_bytes({&t}), &message);
    CHECK(s == PROBEX_BUNDLE_CONTENT);
    CHECK_MESSAGE(message.find(fragment) != std::string::npos, message);
  };
  SUBCASE("a tensor whose shape disagrees with the expert's dimensions") {
    BundleTree t = bundle_tree(kShape, 5);
    t.probes.rows = 5;
    t.probes.data.resize(5 * 20 * 4);
    expect_content(t, "probes is [5, 20], the expert's dimensions need [6, 20]");
  }
  SUBCASE("data bytes that do not match the shape") {
    BundleTree t = bundle_tree(kShape, 5);
    t.head.data.pop_back();
    expect_content(t, "head holds 111 data bytes, its shape needs 112");
  }
  SUBCASE("an int8 tensor with the wrong number of scales") {
    BundleTree t = bundle_tree(kShape, 5, "int8-b8");
    t.encoder.scales.pop_back();
    expect_content(t, "encoder has 27 scales, int8 with block size 8 needs 28");
  }
  SUBCASE("a negative scale") {
    BundleTree t = bundle_tree(kShape, 5, "int8");
    REQUIRE(!t.encoder.scales.empty());
    t.encoder.scales[0] = -1.0f;
    expect_content(t, "negative or non-finite scale");
  }
  SUBCASE("NaN weights") {
    BundleTree t = bundle_tree(kShape, 5);
    const float nan = std::nanf("");
    std::memcpy(t.projection.data.data() + 4 * 7, &nan, 4);
    expect_content(t, "projection holds NaN or Inf (row 0)");
  }
  SUBCASE("self-test outputs of the wrong size") {
    BundleTree t = bundle_tree(kShape, 5);
    t.self_tests[0].logits.push_back(0.0f);
    expect_content(t, "self-test whose outputs do not match");
  }
  SUBCASE("two trees with one name") {
    BundleTree t = bundle_tree(kShape, 5, "f32", "same");
    BundleTree u = bundle_tree(kShape, 6, "f32", "same");
    std::vector<uint8_t> bytes;
    CHECK_FALSE(convert::build_bundle({&t, &u}, "p", &bytes, &message));  // the writer refuses too
    CHECK(message.find("'same'") != std::string::npos);
  }
}

TEST_CASE("bit flips anywhere in a real bundle give an error or a usable bundle, never a crash") {
  BundleTree a = bundle_tree({5, 6, 3, 2, 4, 3}, 7, "int8-b4");
  BundleTree z = zero_shot_tree({5, 6, 3, 2, 4, 3}, 8, "int8");  // with a zero-shot part
  size_t rejected = 0, accepted = 0;
  for (const std::vector<uint8_t>& good : {bundle_bytes({&a}), bundle_bytes({&z})}) {
    for (size_t i = 0; i < good.size(); ++i) {
      for (int bit : {0, 7}) {
        auto bad = good;
        bad[i] = static_cast<uint8_t>(bad[i] ^ (1u << bit));
        AlignedBytes buffer(bad);
        Bundle bundle;
        std::string message;
        const probex_status s = Bundle::open_buffer(buffer.data(), buffer.size(), "t", &bundle, &message);
        if (s != PROBEX_OK) {
          REQUIRE(!message.empty());
          ++rejected;
          continue;
        }
        ++accepted;  // a flip in weight bytes, padding or a metric: still a consistent bundle
        std::unique_ptr<Auditor> auditor;
        const probex_auditor_options options = auditor_options(PROBEX_BACKEND_REFERENCE, 1, 2, 0);
        REQUIRE(Auditor::create(bundle, options, nullptr, &auditor, &message) == PROBEX_OK);
        const probex_status st = auditor->self_test(nullptr, &message);
        REQUIRE((st == PROBEX_OK || st == PROBEX_SELF_TEST_FAILED));
      }
    }
  }
  MESSAGE("bit flips: ", rejected, " rejected, ", accepted, " accepted as consistent");
  CHECK(rejected > 0);
  CHECK(accepted > 0);
}

TEST_CASE("probex-convert's policy: the quantization budget and the self-test tolerances") {
  const convert::QuantBudget budget;  // the CLI's defaults
  convert::QuantComparison c;
  c.decisions = 500;
  c.flips = 5;  // the most 500 decisions may show at a rate of 0.005 (bundle/flip_bound.h)
  c.label_flip_rate = 0.01;
  c.max_probability_error = 0.05;
  c.min_embedding_cosine = 0.99;
  CHECK(convert::within_budget(c, budget));  // the limits themselves are within
  for (int over = 0; over < 3; ++over) {
    convert::QuantComparison bad = c;
    if (over == 0) ++bad.flips;
    if (over == 1) bad.max_probability_error += 0.001;
    if (over == 2) bad.min_embedding_cosine -= 0.001;
    CAPTURE(over);
    CHECK_FALSE(convert::within_budget(bad, budget));
  }
  // Zero-shot: the models lost, a count against the budget at its sample size (0.01: none of 4, 2 of 40,
  // 5 of 200; P(X >= k) at n = 200, p = 0.01 by exact sums: k = 5 0.0517, k = 6 0.0160).
  CHECK(convert::max_flips_within(4, 0.01) == 0);
  CHECK(convert::max_flips_within(40, 0.01) == 2);
  CHECK(convert::max_flips_within(200, 0.01) == 5);
  convert::ZeroShotAgreement seen, unseen;
  seen.layers = unseen.layers = 200;
  seen.float_top1 = 0.80;
  seen.runtime_top1 = 0.775;  // 5 of 200 lost
  unseen.float_top1 = 0.5;
  unseen.runtime_top1 = 0.6;  // the runtime may be better
  CHECK(convert::zero_shot_models_lost(seen) == 5);
  CHECK(convert::zero_shot_models_lost(unseen) == 0);
  CHECK(convert::within_zero_shot_budget(seen, unseen, budget));
  unseen.runtime_top1 = 0.47;  // 6 of 200
  CHECK_FALSE(convert::within_zero_shot_budget(seen, unseen, budget));
  convert::ZeroShotAgreement few;
  few.layers = 4;
  few.float_top1 = 0.5;
  few.runtime_top1 = 0.25;  // one of 4: at 95%, more than a 1% drop
  CHECK_FALSE(convert::within_zero_shot_budget(few, few, budget));

  CHECK(convert::int8_self_test_tolerance(1e-6) == doctest::Approx(1e-3));  // never below 1e-3
  CHECK(convert::int8_self_test_tolerance(0.01) == doctest::Approx(0.04));  // 4x this machine's difference
  std::vector<BundleTree> trees(2);
  for (BundleTree& t : trees) t.self_tests.resize(2);
  trees[1].probe_output_ratio = 0.5f;  // int8 step 1
  CHECK(convert::set_self_test_tolerances(&trees, 0.01) == doctest::Approx(0.04));
  CHECK(trees[0].self_tests[1].tolerance == doctest::Approx(1e-3));
  CHECK(trees[1].self_tests[0].tolerance == doctest::Approx(0.04));
  CHECK(trees[1].self_tests[1].tolerance == doctest::Approx(0.04));
  CHECK_FALSE(convert::uses_int8_step1(trees[0]));
  trees[0].zero_shot = std::make_unique<convert::BundleZeroShot>();
  trees[0].zero_shot->probe_output_ratio = 0.25f;  // the zero-shot expert's step 1 counts too
  CHECK(convert::uses_int8_step1(trees[0]));
}
