// Zero-shot experts in bundles: the runtime's cosines against the float expert, self-tests, adding labels
// to a written bundle, the converter's refusals and the verifier's checks of the ZeroShot table.
#include <doctest/doctest.h>

#include <cmath>

#include "probex/probex.h"
#include "runtime/math/cosine.h"
#include "tests/roundtrip/bundle_fixture.h"

using namespace probex;
using namespace probex::test;
using convert::BundleTree;
using convert::ProbexShape;

namespace {

std::string content_error(const BundleTree& tree) {
  std::string message;
  CHECK(verify_bytes(bundle_bytes({&tree}), &message) == PROBEX_BUNDLE_CONTENT);
  return message;
}

const ProbexShape kShape{23, 17, 6, 5, 7, 4};
constexpr uint32_t kRows = 23, kCols = 17;

}  // namespace

TEST_CASE("zero-shot: both backends give the float expert's cosines with every prototype, for any row block") {
  BundleTree tree = zero_shot_tree(kShape, 31);
  const convert::BundleZeroShot& z = *tree.zero_shot;
  REQUIRE(z.labels == std::vector<std::string>{"class 0", "class 1", "class 2", "boot", "sandal"});
  CHECK(z.trained == std::vector<uint8_t>{1, 1, 1, 0, 0});
  auto loaded = load_bundle(bundle_bytes({&tree}));
  const std::vector<float> x = random_layer(kShape.d_h * kShape.d_w, 5);
  z.device_model->forward(x.data(), 1);
  const std::vector<float> prototypes = z.prototypes.dequantized();
  for (probex_backend backend : {PROBEX_BACKEND_REFERENCE, PROBEX_BACKEND_XNNPACK}) {
    for (uint32_t block : {1u, 7u, 256u}) {
      CAPTURE(backend);
      CAPTURE(block);
      auto auditor = auditor_for(loaded->bundle, backend, block);
      probex_audit_result r{};
      std::string message;
      REQUIRE(auditor->audit_matrix(0, x.data(), kRows, kCols, &r, &message) == PROBEX_OK);
      REQUIRE(r.zero_shot_count == 5);
      for (size_t c = 0; c < 5; ++c) {
        const double want = probex::cosine(z.device_model->embeddings(), prototypes.data() + c * kShape.r_t,
                                           kShape.r_t);
        CHECK(static_cast<double>(r.zero_shot_scores[c]) == doctest::Approx(want).epsilon(1e-5).scale(1e-5));
      }
      CHECK(r.label_count == kShape.d_y);  // the classifier still runs
    }
  }
  // Through the C API: labels, trained flags and the tree's count.
  probex_bundle* handle = nullptr;
  probex_error error{};
  REQUIRE(probex_bundle_open_buffer(loaded->buffer->data(), loaded->buffer->size(), nullptr, &handle, &error) ==
          PROBEX_OK);
  probex_tree_info info;
  probex_tree_info_init(&info, sizeof info);
  REQUIRE(probex_bundle_tree_info(handle, 0, &info, nullptr) == PROBEX_OK);
  CHECK(info.zero_shot_label_count == 5);
  CHECK(std::string(info.text_source) == "small-table.safetensors");
  const char* name = nullptr;
  bool trained = true;
  REQUIRE(probex_bundle_zero_shot_label(handle, 0, 3, &name, &trained, nullptr) == PROBEX_OK);
  CHECK(std::string(name) == "boot");
  CHECK_FALSE(trained);
  CHECK(probex_bundle_zero_shot_label(handle, 0, 5, &name, &trained, nullptr) == PROBEX_INVALID_ARGUMENT);
  CHECK(probex_bundle_zero_shot_label(handle, 1, 0, &name, &trained, nullptr) == PROBEX_INVALID_ARGUMENT);
  probex_bundle_free(handle);
}

TEST_CASE("zero-shot self-tests pass in f32 and int8 and catch a wrong expected score") {
  for (const char* quant : {"f32", "f16", "int8"}) {
    CAPTURE(quant);
    BundleTree tree = zero_shot_tree(kShape, 32, quant);
    REQUIRE(tree.self_tests.front().zero_shot_scores.size() == 5);
    auto loaded = load_bundle(bundle_bytes({&tree}));
    auto auditor = auditor_for(loaded->bundle, PROBEX_BACKEND_XNNPACK, 5);
    double worst = 1;
    std::string message;
    CHECK_MESSAGE(auditor->self_test(&worst, &message) == PROBEX_OK, message);
    CHECK(worst < 1e-2);
    tree.self_tests[1].zero_shot_scores[4] += 0.3f;
    auto broken = load_bundle(bundle_bytes({&tree}));
    auto broken_auditor = auditor_for(broken->bundle, PROBEX_BACKEND_XNNPACK, 256);
    CHECK(broken_auditor->self_test(nullptr, &message) == PROBEX_SELF_TEST_FAILED);
  }
}

TEST_CASE("a bundle read back writes the same bytes; added labels keep every old score") {
  BundleTree tree = zero_shot_tree(kShape, 33, "int8");
  BundleTree other = bundle_tree({9, 17, 3, 4, 5, 2}, 34, "f16", "tree-b");
  const std::vector<uint8_t> bytes = bundle_bytes({&tree, &other});
  std::vector<BundleTree> back;
  SketchSpec router;
  std::string error;
  REQUIRE_MESSAGE(convert::unpack_bundle(bytes, &back, &router, &error), error);
  REQUIRE(back.size() == 2);
  CHECK(bundle_bytes({&back[0], &back[1]}) == bytes);

  REQUIRE_MESSAGE(convert::add_zero_shot_labels(back[0].zero_shot.get(), small_text_table(), {"purse", "bag"}, &error),
                  error);
  CHECK(back[0].zero_shot->trained == std::vector<uint8_t>{1, 1, 1, 0, 0, 0, 0});
  CHECK_FALSE(convert::add_zero_shot_labels(back[0].zero_shot.get(), small_text_table(), {"boot"}, &error));
  CHECK(error == "label 'boot' is given twice (or is already among the zero-shot labels)");
  CHECK_FALSE(convert::add_zero_shot_labels(back[0].zero_shot.get(), small_text_table(), {"shoe"}, &error));
  CHECK(error.find("label 'shoe': no word of it is in the text table") != std::string::npos);
  convert::EmbeddingTable wide = small_text_table();
  wide.dimension = 3;  // same words, another dimension
  wide.vectors.resize(wide.names.size() * 3);
  CHECK_FALSE(convert::add_zero_shot_labels(back[0].zero_shot.get(), wide, {"class 3"}, &error));
  CHECK(error.find("has dimension 3, the text projection takes 6") != std::string::npos);

  auto before = load_bundle(bytes);
  auto after = load_bundle(bundle_bytes({&back[0], &back[1]}));
  const std::vector<float> x = random_layer(kShape.d_h * kShape.d_w, 6);
  probex_audit_result r0{}, r1{};
  std::string message;
  auto a0 = auditor_for(before->bundle, PROBEX_BACKEND_XNNPACK, 256);
  auto a1 = auditor_for(after->bundle, PROBEX_BACKEND_XNNPACK, 256);
  REQUIRE(a0->audit_matrix(0, x.data(), kRows, kCols, &r0, &message) == PROBEX_OK);
  REQUIRE(a1->audit_matrix(0, x.data(), kRows, kCols, &r1, &message) == PROBEX_OK);
  REQUIRE(r1.zero_shot_count == 7);
  for (size_t c = 0; c < 5; ++c) CHECK(r1.zero_shot_scores[c] == r0.zero_shot_scores[c]);
  CHECK(a1->self_test(nullptr, &message) == PROBEX_OK);
  CHECK(after->bundle.trees()[1].has_zero_shot == false);
}

TEST_CASE("attaching a zero-shot expert: another layer, another text dimension or a repeated label is refused") {
  convert::QuantSpec spec;
  std::string error;
  BundleTree tree;
  REQUIRE(convert::make_bundle_tree(random_checkpoint(kShape, 40), "test", spec, &tree, &error));
  const convert::EmbeddingTable table = small_text_table();
  ProbexShape narrow = kShape;
  narrow.d_w = 16;
  CHECK_FALSE(convert::attach_zero_shot(random_zero_shot_checkpoint(narrow, 3, 41), "zs.safetensors", spec, table, {},
                                        &tree, &error));
  CHECK(error.find("zs.safetensors: the zero-shot expert probes 'block.weight' [23, 16], tree 'tree-a' probes "
                   "'block.weight' [23, 17]; they must be the same layer") != std::string::npos);
  convert::LoadedCheckpoint ck = random_zero_shot_checkpoint(kShape, 3, 42);
  ck.text_dimension = 5;
  CHECK_FALSE(convert::attach_zero_shot(ck, "zs.safetensors", spec, table, {}, &tree, &error));
  CHECK(error ==
        "zs.safetensors: the text projection takes 5-d text embeddings, the table small-table.safetensors has 6");
  CHECK_FALSE(convert::attach_zero_shot(random_zero_shot_checkpoint(kShape, 3, 43), "zs", spec, table, {"boot"}, &tree,
                                        &error));
  CHECK(error == "label 'boot' is given twice (or is already among the zero-shot labels)");
}

TEST_CASE("the verifier refuses a malformed zero-shot part, naming the tree and the problem") {
  const BundleTree good = zero_shot_tree(kShape, 50);
  std::string message;
  REQUIRE(verify_bytes(bundle_bytes({&good}), &message) == PROBEX_OK);
  {
    BundleTree t = zero_shot_tree(kShape, 50);
    t.zero_shot->labels[4] = "boot";
    CHECK(content_error(t).find("tree 'tree-a' zero-shot has label 'boot' twice") != std::string::npos);
  }
  {
    BundleTree t = zero_shot_tree(kShape, 50);
    t.zero_shot->labels[2] = "";
    CHECK(content_error(t).find("zero-shot has an empty label") != std::string::npos);
  }
  {
    BundleTree t = zero_shot_tree(kShape, 50);
    t.zero_shot->trained.pop_back();
    CHECK(content_error(t).find("'trained' must have one entry per label (5)") != std::string::npos);
  }
  {
    BundleTree t = zero_shot_tree(kShape, 50);
    std::vector<float> p = t.zero_shot->prototypes.dequantized();
    for (size_t j = 0; j < kShape.r_t; ++j) p[2 * kShape.r_t + j] *= 1.1f;
    t.zero_shot->prototypes = convert::quantize_matrix("prototypes", p.data(), 5, 7, convert::QuantSpec{});
    CHECK(content_error(t).find("prototype of 'class 2' is not a unit vector") != std::string::npos);
  }
  {
    BundleTree t = zero_shot_tree(kShape, 50);
    t.zero_shot->labels.pop_back();
    t.zero_shot->trained.pop_back();
    CHECK(content_error(t).find("zero-shot prototypes is [5, 7], the expert's dimensions need [4, 7]") !=
          std::string::npos);
  }
  {
    BundleTree t = zero_shot_tree(kShape, 50);
    const std::vector<float> w = t.zero_shot->text_projection.dequantized();
    t.zero_shot->text_projection = convert::quantize_matrix("regression_head.weight", w.data(), 7, 6,
                                                            convert::QuantSpec{StorageType::kF16, 0});
    CHECK(content_error(t).find("the text projection must be f32") != std::string::npos);
  }
  {
    BundleTree t = zero_shot_tree(kShape, 50);
    t.self_tests[0].zero_shot_scores.push_back(0.5f);
    CHECK(content_error(t).find("more zero-shot scores than zero-shot labels") != std::string::npos);
  }
  {
    BundleTree t = zero_shot_tree(kShape, 50);
    t.zero_shot->encoder_bias = convert::quantize_matrix("per_probe_encoders.bias",
                                                         t.zero_shot->encoder_bias.dequantized().data(), 1, 6,
                                                         convert::QuantSpec{});
    CHECK(content_error(t).find("zero-shot encoder bias is [1, 6]") != std::string::npos);
  }
}
