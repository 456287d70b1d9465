// Multi-view (MVProbe) experts in bundles: the runtime's views stage (backends/kernels/multiview.h) on both
// backends against the double-precision reference of the authors' forward pass, for every subset of views
// and awkward row blocks; stored (f16, int8) weights against the converter's device model; checkpoints'
// views; and the bundle checks that refuse a malformed multi-view expert.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "converter/bundle/zero_shot_bundle.h"
#include "converter/expert/checkpoint.h"
#include "converter/expert/zero_shot.h"
#include "tests/converter/expert/mvprobe_reference.h"
#include "tests/roundtrip/bundle_fixture.h"

using namespace probex;
using namespace probex::test;
using convert::BundleTree;
using convert::MvProbeShape;

namespace {

convert::LoadedMvProbeCheckpoint random_mv_checkpoint(const MvProbeShape& shape, uint64_t seed) {
  convert::LoadedMvProbeCheckpoint ck;
  ck.expert = std::make_unique<convert::MvProbeExpert>(shape);
  convert::Rng rng(seed);
  ck.expert->init(rng);
  ck.metadata = {{"tree", "tree-mv"}, {"layer", "block.weight"}, {"reader_reason", "auto: the test's choice"}};
  for (size_t i = 0; i < shape.d_y; ++i) ck.labels.push_back("class " + std::to_string(i));
  return ck;
}

BundleTree mv_tree(const convert::LoadedMvProbeCheckpoint& ck, const std::string& quant, bool self_tests = true) {
  convert::QuantSpec spec;
  std::string error;
  REQUIRE(convert::parse_quant_spec(quant, &spec, &error));
  BundleTree t;
  REQUIRE_MESSAGE(convert::make_bundle_tree(ck, "test", spec, &t, &error), error);
  if (self_tests) convert::add_self_tests(&t, 2, 0.5f, 17, 1e-3f);
  return t;
}

double relative_difference(const float* a, const std::vector<double>& b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  return diff / (1.0 + scale);
}

}  // namespace

TEST_CASE("multi-view experts: both backends equal the double-precision reference, every view subset and row block") {
  // d_H != d_W, neither a multiple of 4 (the GEMM's row tile) nor of the row blocks.
  for (unsigned views : {0xFu, 0x1u, 0x2u, 0x4u, 0x8u, 0xAu, 0x5u}) {
    MvProbeShape shape{13, 9, 5, 3, 6, 4, views};
    const auto ck = random_mv_checkpoint(shape, 40 + views);
    BundleTree tree = mv_tree(ck, "f32");
    auto loaded = load_bundle(bundle_bytes({&tree}));
    REQUIRE(loaded->bundle.trees()[0].views.size() == static_cast<size_t>(__builtin_popcount(views)));
    const std::vector<float> x = convert::mv_random_layers(1, shape, 7 + views);
    std::vector<double> embedding;
    const std::vector<double> logits = convert::mv_reference_logits(*ck.expert, x.data(), &embedding);
    for (probex_backend backend : {PROBEX_BACKEND_REFERENCE, PROBEX_BACKEND_XNNPACK}) {
      for (uint32_t block : {1u, 4u, 256u}) {
        CAPTURE(views);
        CAPTURE(backend);
        CAPTURE(block);
        std::unique_ptr<Auditor> auditor;
        std::string message;
        REQUIRE_MESSAGE(Auditor::create(loaded->bundle, auditor_options(backend, 1, block, 0), nullptr, &auditor,
                                        &message) == PROBEX_OK,
                        message);
        probex_audit_result r;
        probex_audit_result_init(&r, sizeof r);
        REQUIRE_MESSAGE(auditor->audit_matrix(0, x.data(), 13, 9, &r, &message) == PROBEX_OK, message);
        // Float32 sums in another order than the double reference; the standardisation divides by a std
        // of order 1 here, so errors stay at float rounding.
        CHECK(relative_difference(r.logits, logits) <= 1e-5);
        CHECK(relative_difference(r.embedding, embedding) <= 1e-5);
        double worst = 1.0;
        REQUIRE(auditor->self_test(&worst, &message) == PROBEX_OK);
        CHECK(worst <= 1e-5);
      }
    }
  }
}

TEST_CASE("multi-view experts: stored f16 and int8 weights audit as the converter's device model") {
  MvProbeShape shape{24, 16, 8, 4, 12, 5, 0xAu};  // the second-order views only
  const auto ck = random_mv_checkpoint(shape, 5);
  for (const std::string quant : {"f16", "int8"}) {
    CAPTURE(quant);
    BundleTree tree = mv_tree(ck, quant);
    auto loaded = load_bundle(bundle_bytes({&tree}));
    const TreeView& t = loaded->bundle.trees()[0];
    CHECK(std::string(t.reader_reason) == "auto: the test's choice");
    CHECK(t.probe_output_ratio == 0.0f);
    CHECK(t.views[0].probes.type == (quant == "int8" ? StorageType::kI8 : StorageType::kF16));
    {  // what the C API says of the tree
      const std::vector<uint8_t> bytes = bundle_bytes({&tree});
      AlignedBytes copy(bytes);
      probex_bundle* b = nullptr;
      probex_error e;
      REQUIRE(probex_bundle_open_buffer(copy.data(), copy.size(), nullptr, &b, &e) == PROBEX_OK);
      probex_tree_info info;
      REQUIRE(probex_tree_info_init(&info, sizeof info) == PROBEX_OK);
      REQUIRE(probex_bundle_tree_info(b, 0, &info, &e) == PROBEX_OK);
      CHECK(std::string(info.reader) == "mvprobe");
      CHECK(info.view_count == 2);
      CHECK(std::string(info.weight_type) == quant);
      probex_bundle_free(b);
    }
    const std::vector<float> x = convert::mv_random_layers(1, shape, 3);
    const float* want = tree.device_model->forward(x.data(), 1);
    const std::vector<double> want_logits(want, want + shape.d_y);
    for (probex_backend backend : {PROBEX_BACKEND_REFERENCE, PROBEX_BACKEND_XNNPACK}) {
      std::unique_ptr<Auditor> auditor;
      std::string message;
      REQUIRE(Auditor::create(loaded->bundle, auditor_options(backend, 1, 7, 0), nullptr, &auditor, &message) ==
              PROBEX_OK);
      probex_audit_result r;
      probex_audit_result_init(&r, sizeof r);
      REQUIRE(auditor->audit_matrix(0, x.data(), 24, 16, &r, &message) == PROBEX_OK);
      CHECK(relative_difference(r.logits, want_logits) <= 1e-5);
      // ... and the quantized weights really differ from the float ones.
      const std::vector<double> float_logits = convert::mv_reference_logits(*ck.expert, x.data());
      CHECK(relative_difference(r.logits, float_logits) > 1e-6);
    }
  }
}

TEST_CASE("multi-view checkpoints keep the views they compute") {
  MvProbeShape shape{6, 5, 2, 2, 3, 2, 0xAu};
  const auto ck = random_mv_checkpoint(shape, 9);
  const std::string path = "multiview_views.safetensors";
  std::string error;
  auto md = ck.metadata;
  md["views"] = "xxtu,xtxu";
  REQUIRE(convert::save_mvprobe_checkpoint(*ck.expert, md, path, &error));
  convert::LoadedMvProbeCheckpoint back;
  REQUIRE_MESSAGE(convert::load_mvprobe_checkpoint(path, &back, &error), error);
  CHECK(back.expert->shape().views == 0xAu);
  md["views"] = "xxtu,gram";
  REQUIRE(convert::save_mvprobe_checkpoint(*ck.expert, md, path, &error));
  CHECK_FALSE(convert::load_mvprobe_checkpoint(path, &back, &error));
  CHECK(error.find("metadata 'views' is 'xxtu,gram', not a list of xu, xxtu, xtu, xtxu") != std::string::npos);
  std::remove(path.c_str());
}

TEST_CASE("malformed multi-view experts are refused with the problem named") {
  MvProbeShape shape{6, 5, 2, 2, 3, 2, 0xFu};
  const auto ck = random_mv_checkpoint(shape, 3);
  const BundleTree good = mv_tree(ck, "f32");
  std::string message;
  REQUIRE(verify_bytes(bundle_bytes({&good}), &message) == PROBEX_OK);
  const auto refused = [&](BundleTree& t, const char* needle) {
    CAPTURE(needle);
    CHECK(verify_bytes(bundle_bytes({&t}), &message) == PROBEX_BUNDLE_CONTENT);
    CHECK_MESSAGE(message.find(needle) != std::string::npos, message);
  };
  {
    BundleTree t = mv_tree(ck, "f32");
    std::swap(t.views[0], t.views[1]);
    refused(t, "views out of order or repeated");
  }
  {
    BundleTree t = mv_tree(ck, "f32");
    t.views[1] = t.views[0];
    refused(t, "views out of order or repeated");
  }
  {
    BundleTree t = mv_tree(ck, "f32");
    t.views[3].probes = t.views[2].probes;  // xtxu's probes are [r, d_W], xtu's [r, d_H]
    refused(t, "view xtxu probes is [2, 6]");
  }
  {
    BundleTree t = mv_tree(ck, "f32");
    t.views.pop_back();  // the encoder still reads four views
    refused(t, "encoder is [3, 16]");
  }
  {
    // A layer too large to hold whole: 2^14 x 2^13 values.
    MvProbeShape big{1u << 14, 1u << 13, 1, 1, 1, 1, 0x1u};
    BundleTree t = mv_tree(random_mv_checkpoint(big, 1), "f16", false);
    refused(t, "reads the layer whole");
  }
  {
    // Within the layer bound, but the responses would not be: 2^20 rows x r 64 (a hostile r with a thin layer).
    MvProbeShape thin{1u << 20, 1, 64, 1, 1, 1, 0x1u};
    BundleTree t = mv_tree(random_mv_checkpoint(thin, 1), "int8", false);
    refused(t, "floats of buffers");
  }
}

TEST_CASE("multi-view zero-shot experts: checkpoint, bundle and both backends give the reference's cosines") {
  // A zero-shot expert (no head) on the classifier's layer, second-order views only, beside a 4-view classifier.
  const MvProbeShape shape{13, 9, 5, 3, 6, 0, 0xAu};
  convert::MvProbeExpert expert(shape);
  convert::TextProjection projection(6, shape.r_t);
  convert::Rng rng(21);
  expert.init(rng);
  projection.init(rng);
  const std::string path = "multiview_zero_shot.safetensors";
  std::string error;
  const std::map<std::string, std::string> md = {{"tree", "tree-mv"},
                                                 {"layer", "block.weight"},
                                                 {"labels", "['class 0', 'class 1', 'class 2']"},
                                                 {"holdout_labels", "['boot']"},
                                                 {"views", "xxtu,xtxu"}};
  REQUIRE(convert::save_mvprobe_checkpoint(expert, md, path, &error, projection.params()));
  convert::LoadedMvProbeCheckpoint zs;
  REQUIRE_MESSAGE(convert::load_mvprobe_checkpoint(path, &zs, &error), error);
  std::remove(path.c_str());
  CHECK(convert::is_zero_shot_checkpoint(zs));
  CHECK(zs.expert->shape().views == 0xAu);
  CHECK(zs.text_dimension == 6);
  CHECK(zs.text_weight == projection.params()[0]->value);
  CHECK(zs.labels == std::vector<std::string>{"class 0", "class 1", "class 2"});

  const auto classifier = random_mv_checkpoint(MvProbeShape{13, 9, 5, 3, 6, 4, 0xFu}, 22);
  const std::vector<float> x = convert::mv_random_layers(1, shape, 8);
  std::vector<double> embedding;
  convert::mv_reference_logits(*zs.expert, x.data(), &embedding);
  for (const std::string quant : {"f32", "int8"}) {
    CAPTURE(quant);
    convert::QuantSpec spec;
    REQUIRE(convert::parse_quant_spec(quant, &spec, &error));
    BundleTree tree = mv_tree(classifier, quant, false);
    REQUIRE_MESSAGE(convert::attach_zero_shot(zs, path, spec, small_text_table(), {"sandal"}, &tree, &error), error);
    convert::add_self_tests(&tree, 2, 0.5f, 17, 1e-3f);
    const std::vector<uint8_t> bytes = bundle_bytes({&tree});
    auto loaded = load_bundle(bytes);
    const TreeView& t = loaded->bundle.trees()[0];
    REQUIRE(t.has_zero_shot);
    REQUIRE(t.zero_shot.expert.views.size() == 2);
    CHECK(t.zero_shot.expert.probe_output_ratio == 0.0f);
    // The reference: the float expert's embedding in double (f32), or the converter's device model on the
    // stored weights (int8), each against the stored prototypes.
    const convert::BundleZeroShot& z = *tree.zero_shot;
    const float* device = z.device_model->forward(x.data(), 1);
    const std::vector<double> want_embedding = quant == "f32" ? embedding
                                                              : std::vector<double>(device, device + shape.r_t);
    const std::vector<float> prototypes = z.prototypes.dequantized();
    for (probex_backend backend : {PROBEX_BACKEND_REFERENCE, PROBEX_BACKEND_XNNPACK}) {
      CAPTURE(backend);
      auto auditor = auditor_for(loaded->bundle, backend, 4);
      probex_audit_result r{};
      std::string message;
      REQUIRE_MESSAGE(auditor->audit_matrix(0, x.data(), 13, 9, &r, &message) == PROBEX_OK, message);
      REQUIRE(r.zero_shot_count == 5);  // class 0..2, boot, sandal
      for (size_t c = 0; c < 5; ++c) {
        const float* proto = prototypes.data() + c * shape.r_t;
        double dot = 0, norm = 0;
        for (size_t j = 0; j < shape.r_t; ++j) {
          dot += want_embedding[j] * static_cast<double>(proto[j]);
          norm += want_embedding[j] * want_embedding[j];
        }
        CHECK(static_cast<double>(r.zero_shot_scores[c]) ==
              doctest::Approx(dot / std::sqrt(norm)).epsilon(1e-5).scale(1e-5));
      }
      double worst = 1;
      CHECK_MESSAGE(auditor->self_test(&worst, &message) == PROBEX_OK, message);
    }
    // Read back (probex-convert --add-labels), the bundle writes the same bytes.
    std::vector<BundleTree> back;
    SketchSpec router;
    REQUIRE_MESSAGE(convert::unpack_bundle(bytes, &back, &router, &error), error);
    CHECK(bundle_bytes({&back[0]}) == bytes);
  }
  // A zero-shot checkpoint is not a tree's classifier.
  BundleTree tree;
  convert::QuantSpec f32;
  REQUIRE(convert::parse_quant_spec("f32", &f32, &error));
  CHECK_FALSE(convert::make_bundle_tree(zs, "zs.safetensors", f32, &tree, &error));
  CHECK(error.find("zs.safetensors: a zero-shot expert (no classification head)") != std::string::npos);
}
