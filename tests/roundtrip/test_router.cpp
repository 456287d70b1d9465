// The router: the sketch keeps distances (so the device can compare a layer with a root in 4 KB), the
// runtime's streamed sketch equals the converter's, models route to the nearest root or are refused as
// "unknown tree" with a reason, and bundles whose router and trees disagree fail verification.
#include <doctest/doctest.h>

#include <cmath>

#include "converter/io/safetensors_writer.h"
#include "runtime/executor/auditor.h"
#include "runtime/math/layer_sketch.h"
#include "tests/roundtrip/bundle_fixture.h"
#include "tests/test_util.h"

using namespace probex;
using namespace probex::test;
using convert::BundleTree;
using convert::ProbexShape;

namespace {

const SketchSpec kSpec{77, 32, 16};

// A matrix moved from `base` by `amount` of its norm in a random direction.
std::vector<float> moved(const std::vector<float>& base, double amount, uint64_t seed) {
  std::vector<float> noise = random_matrix(base.size(), seed), out(base.size());
  for (size_t i = 0; i < base.size(); ++i) out[i] = base[i] + static_cast<float>(amount) * noise[i];
  return out;
}

double direction_distance(const std::vector<float>& a, const std::vector<float>& b) {
  return sketch_distance(a.data(), b.data(), a.size());
}

std::string write_model(const TempDir& dir, const std::string& name, const std::string& tensor,
                        const std::vector<uint64_t>& shape, const std::vector<float>& values) {
  convert::SafetensorsWriter w;
  std::string why;
  REQUIRE(w.add_f32(tensor, Dtype::kF32, shape, values.data(), &why));
  const std::string path = dir.file(name);
  REQUIRE(w.write_file(path, &why));
  return path;
}

}  // namespace

TEST_CASE("the sketch keeps the direction distance between layers") {
  const uint32_t d_h = 96, d_w = 80;
  const SketchSpec spec{5, 64, 16};
  const std::vector<float> root = random_matrix(d_h * d_w, 1);
  const std::vector<float> s_root = sketch_layer(spec, root.data(), d_h, d_w);
  CHECK(s_root.size() == 64 * 16);
  for (double amount : {0.05, 0.3, 1.0}) {
    const std::vector<float> child = moved(root, amount, 2);
    const double exact = direction_distance(child, root);
    const std::vector<float> s_child = sketch_layer(spec, child.data(), d_h, d_w);
    const double sketched = sketch_distance(s_child.data(), s_root.data(), s_root.size());
    CAPTURE(amount);
    CHECK(sketched == doctest::Approx(exact).epsilon(0.15));  // 1024 sketch dimensions: a few % typical
  }
  const std::vector<float> other = random_matrix(d_h * d_w, 3);
  const std::vector<float> s_other = sketch_layer(spec, other.data(), d_h, d_w);
  CHECK(sketch_distance(s_other.data(), s_root.data(), s_root.size()) == doctest::Approx(std::sqrt(2.0)).epsilon(0.1));
  // Scale-free: weight decay shrinking a model does not move it away from its root.
  std::vector<float> shrunk = s_root;
  for (float& v : shrunk) v *= 0.3f;
  CHECK(sketch_distance(shrunk.data(), s_root.data(), s_root.size()) < 1e-6);
}

TEST_CASE("models route to their root's tree, or are refused as unknown tree with the reason") {
  const ProbexShape shape{24, 20, 4, 3, 5, 3};
  const std::vector<float> root_a = random_matrix(24 * 20, 11), root_b = random_matrix(24 * 20, 12);
  BundleTree a = bundle_tree(shape, 13, "f32", "tree-a"), b = bundle_tree(shape, 14, "f32", "tree-b");
  a.root_sketch = sketch_layer(kSpec, root_a.data(), 24, 20);
  b.root_sketch = sketch_layer(kSpec, root_b.data(), 24, 20);
  a.accept_distance = b.accept_distance = 0.8f;
  TempDir dir;
  std::vector<uint8_t> bytes;
  std::string error;
  REQUIRE(convert::build_bundle({&a, &b}, "t", &bytes, &error, PROBEX_BUNDLE_FORMAT_VERSION, kSpec));
  REQUIRE(write_bytes(dir.file("b.probex"), bytes));
  probex_bundle* bundle = nullptr;
  probex_error e{};
  REQUIRE(probex_bundle_open(dir.file("b.probex").c_str(), nullptr, &bundle, &e) == PROBEX_OK);
  bool has_router = false;
  CHECK(probex_bundle_has_router(bundle, &has_router, nullptr) == PROBEX_OK);
  CHECK(has_router);

  const std::string child_b = write_model(dir, "child-b.safetensors", "block.weight", {24, 20}, moved(root_b, 0.3, 15));
  const std::string foreign = write_model(dir, "foreign.safetensors", "block.weight", {24, 20}, random_matrix(480, 16));
  const std::string other_arch = write_model(dir, "other.safetensors", "block.weight", {20, 24}, root_a);
  const std::string no_layer = write_model(dir, "nolayer.safetensors", "fc.weight", {24, 20}, root_a);
  std::vector<float> nan_values = moved(root_a, 0.1, 17);
  nan_values[100] = std::nanf("");
  const std::string with_nan = write_model(dir, "nan.safetensors", "block.weight", {24, 20}, nan_values);

  for (probex_backend backend : {PROBEX_BACKEND_REFERENCE, PROBEX_BACKEND_XNNPACK}) {
    CAPTURE(backend);
    probex_auditor_options options;
    probex_auditor_options_init(&options, sizeof options);
    options.backend = backend;
    options.rows_per_block = 7;  // the streamed sketch must equal the whole-layer one
    probex_auditor* auditor = nullptr;
    REQUIRE(probex_auditor_create(bundle, &options, nullptr, &auditor, &e) == PROBEX_OK);
    probex_audit_result r;
    probex_audit_result_init(&r, sizeof r);

    REQUIRE(probex_audit_file(auditor, PROBEX_ROUTE, child_b.c_str(), &r, &e) == PROBEX_OK);
    CHECK(r.tree == 1);
    CHECK(r.routed);
    CHECK(r.label_count == 3);
    REQUIRE(r.root_distance_count == 2);
    const std::vector<float> child_sketch = sketch_layer(kSpec, moved(root_b, 0.3, 15).data(), 24, 20);
    CHECK(
        static_cast<double>(r.root_distances[1]) ==
        doctest::Approx(sketch_distance(child_sketch.data(), b.root_sketch.data(), child_sketch.size())).epsilon(1e-4));
    CHECK(r.root_distances[0] > 1.0f);
    CHECK(r.route_margin > 2.0f);
    CHECK(std::string(r.unknown_reason).empty());

    REQUIRE(probex_route_file(auditor, foreign.c_str(), &r, &e) == PROBEX_OK);
    CHECK(r.tree == PROBEX_NO_TREE);
    CHECK(std::string(r.unknown_reason).find("beyond its acceptance distance 0.800") != std::string::npos);

    REQUIRE(probex_audit_file(auditor, PROBEX_ROUTE, other_arch.c_str(), &r, &e) == PROBEX_OK);
    CHECK(r.tree == PROBEX_NO_TREE);
    CHECK(r.label_count == 0);
    CHECK(std::string(r.unknown_reason)
              .find("no expert covers this model's architecture (layer 'block.weight' is [20, 24]") !=
          std::string::npos);
    REQUIRE(probex_route_file(auditor, no_layer.c_str(), &r, &e) == PROBEX_OK);
    CHECK(r.tree == PROBEX_NO_TREE);
    CHECK(std::string(r.unknown_reason).find("no tensor named 'block.weight'") != std::string::npos);

    CHECK(probex_audit_file(auditor, PROBEX_ROUTE, with_nan.c_str(), &r, &e) == PROBEX_LAYER_NONFINITE);
    CHECK(std::string(e.message).find("nan.safetensors") != std::string::npos);

    // Naming the tree skips the router.
    REQUIRE(probex_audit_file(auditor, 0, child_b.c_str(), &r, &e) == PROBEX_OK);
    CHECK(r.tree == 0);
    CHECK_FALSE(r.routed);
    probex_auditor_free(auditor);
  }
  probex_bundle_free(bundle);
}

TEST_CASE("a bundle whose router and trees disagree fails verification with its own status") {
  const ProbexShape shape{8, 6, 2, 2, 3, 2};
  std::string message;
  SUBCASE("a sketch of the wrong size") {
    BundleTree t = bundle_tree(shape, 20);
    t.root_sketch.assign(kSpec.rows * kSpec.cols - 1, 0.5f);
    t.accept_distance = 1.0f;
    std::vector<uint8_t> bytes;
    REQUIRE(convert::build_bundle({&t}, "t", &bytes, &message, PROBEX_BUNDLE_FORMAT_VERSION, kSpec));
    CHECK(verify_bytes(bytes, &message) == PROBEX_BUNDLE_ROUTER);
    CHECK(message.find("root sketch of 511 values, the router needs 512") != std::string::npos);
  }
  SUBCASE("one tree without a sketch") {
    BundleTree t = bundle_tree(shape, 21, "f32", "tree-a"), u = bundle_tree(shape, 22, "f32", "tree-b");
    t.root_sketch.assign(kSpec.rows * kSpec.cols, 0.5f);
    t.accept_distance = 1.0f;
    std::vector<uint8_t> bytes;
    REQUIRE(convert::build_bundle({&t, &u}, "t", &bytes, &message, PROBEX_BUNDLE_FORMAT_VERSION, kSpec));
    CHECK(verify_bytes(bytes, &message) == PROBEX_BUNDLE_ROUTER);
    CHECK(message.find("tree 'tree-b' has a root sketch of 0 values") != std::string::npos);
  }
  SUBCASE("a sketch but no router") {
    BundleTree t = bundle_tree(shape, 23);
    t.root_sketch.assign(16, 0.5f);
    t.accept_distance = 1.0f;
    std::vector<uint8_t> bytes;
    REQUIRE(convert::build_bundle({&t}, "t", &bytes, &message));
    CHECK(verify_bytes(bytes, &message) == PROBEX_BUNDLE_ROUTER);
    CHECK(message.find("has a root sketch but the bundle has no router") != std::string::npos);
  }
  SUBCASE("no acceptance distance") {
    BundleTree t = bundle_tree(shape, 24);
    t.root_sketch.assign(kSpec.rows * kSpec.cols, 0.5f);
    std::vector<uint8_t> bytes;
    REQUIRE(convert::build_bundle({&t}, "t", &bytes, &message, PROBEX_BUNDLE_FORMAT_VERSION, kSpec));
    CHECK(verify_bytes(bytes, &message) == PROBEX_BUNDLE_ROUTER);
    CHECK(message.find("no positive acceptance distance") != std::string::npos);
  }
  SUBCASE("a bundle without a router cannot route several trees") {
    BundleTree t = bundle_tree(shape, 25, "f32", "tree-a"), u = bundle_tree(shape, 26, "f32", "tree-b");
    std::vector<uint8_t> bytes;
    REQUIRE(convert::build_bundle({&t, &u}, "t", &bytes, &message));
    AlignedBytes buffer(bytes);
    Bundle bundle;
    REQUIRE(Bundle::open_buffer(buffer.data(), buffer.size(), "t", &bundle, &message) == PROBEX_OK);
    CHECK_FALSE(bundle.has_router());
    std::unique_ptr<Auditor> auditor;
    const probex_auditor_options options = auditor_options(PROBEX_BACKEND_REFERENCE, 1, 0, 0);
    REQUIRE(Auditor::create(bundle, options, nullptr, &auditor, &message) == PROBEX_OK);
    probex_audit_result r;
    probex_audit_result_init(&r, sizeof r);
    CHECK(auditor->audit_file(PROBEX_ROUTE, "m.safetensors", &r, &message) == PROBEX_INVALID_ARGUMENT);
    CHECK(message.find("no router: name the tree") != std::string::npos);
  }
}

TEST_CASE("a LoRA model is read afresh for each file, even when the previous one had the same shape") {
  // Regression: the down matrix was cached across files of equal size, so a second LoRA model was audited
  // with the first one's down matrix.
  const ProbexShape shape{6, 5, 2, 2, 3, 2};
  const convert::BundleTree tree = lora_bundle_tree(shape, 30);
  auto bytes = bundle_bytes({&tree});
  TempDir dir;
  REQUIRE(write_bytes(dir.file("b.probex"), bytes));
  const auto lora = [&](const std::string& name, uint64_t seed) {
    convert::SafetensorsWriter w;
    std::string why;
    const std::vector<float> up = random_matrix(6 * 2, seed), down = random_matrix(2 * 5, seed + 1);
    REQUIRE(w.add_f32("block.weight.lora_up.weight", Dtype::kF32, {6, 2}, up.data(), &why));
    REQUIRE(w.add_f32("block.weight.lora_down.weight", Dtype::kF32, {2, 5}, down.data(), &why));
    REQUIRE(w.write_file(dir.file(name), &why));
    std::vector<float> x(30, 0.0f);  // X = up * down
    for (size_t h = 0; h < 6; ++h)
      for (size_t c = 0; c < 5; ++c)
        for (size_t k = 0; k < 2; ++k) x[h * 5 + c] += up[h * 2 + k] * down[k * 5 + c];
    return x;
  };
  const std::vector<float> x1 = lora("one.safetensors", 40), x2 = lora("two.safetensors", 50);
  probex_bundle* bundle = nullptr;
  probex_auditor* auditor = nullptr;
  probex_error e{};
  REQUIRE(probex_bundle_open(dir.file("b.probex").c_str(), nullptr, &bundle, &e) == PROBEX_OK);
  REQUIRE(probex_auditor_create(bundle, nullptr, nullptr, &auditor, &e) == PROBEX_OK);
  for (const auto& [file, x] :
       {std::pair{std::string("one.safetensors"), x1}, std::pair{std::string("two.safetensors"), x2}}) {
    probex_audit_result from_file, from_matrix;
    probex_audit_result_init(&from_file, sizeof from_file);
    probex_audit_result_init(&from_matrix, sizeof from_matrix);
    REQUIRE(probex_audit_file(auditor, 0, dir.file(file).c_str(), &from_file, &e) == PROBEX_OK);
    const std::vector<float> logits(from_file.logits, from_file.logits + 2);
    REQUIRE(probex_audit_matrix(auditor, 0, x.data(), 6, 5, &from_matrix, &e) == PROBEX_OK);
    for (size_t k = 0; k < 2; ++k) CHECK(logits[k] == doctest::Approx(from_matrix.logits[k]).epsilon(1e-5));
  }
  probex_auditor_free(auditor);
  probex_bundle_free(bundle);
}
