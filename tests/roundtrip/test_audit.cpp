// The runtime's audit against the trainer's float forward pass (converter/expert/probex_expert), for
// both backends, streamed in row blocks of every awkward size, from memory and from model files; and
// every kind of bad model file.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "converter/io/safetensors_writer.h"
#include "probex/probex.h"
#include "runtime/executor/auditor.h"
#include "runtime/math/float_formats.h"
#include "tests/roundtrip/bundle_fixture.h"
#include "tests/test_util.h"

using namespace probex;
using namespace probex::test;
using convert::BundleTree;
using convert::ProbexShape;

namespace {

std::unique_ptr<LoadedBundle> load(const std::vector<const BundleTree*>& trees) {
  return load_bundle(bundle_bytes(trees));
}

// max |a - b| / (1 + max |b|), the self-test's measure.
double relative_difference(const float* a, const float* b, size_t n) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return diff / (1.0 + scale);
}

}  // namespace

TEST_CASE("both backends equal the trainer's forward pass, for every row-block size") {
  // Non-square, tiny, and d_H not a multiple of the block sizes.
  for (const ProbexShape& shape :
       {ProbexShape{37, 23, 8, 5, 6, 3}, ProbexShape{1, 1, 1, 1, 1, 1}, ProbexShape{64, 100, 16, 16, 12, 10}}) {
    for (const std::string quant : {"f32", "int8"}) {
      BundleTree tree = bundle_tree(shape, 11, quant);
      auto loaded = load({&tree});
      const std::vector<float> x = random_layer(shape.d_h * shape.d_w, 3);
      const float* want_logits = tree.device_model->forward(x.data(), 1);
      const std::vector<float> logits(want_logits, want_logits + shape.d_y);
      const std::vector<float> embedding(tree.device_model->embeddings(), tree.device_model->embeddings() + shape.r_t);
      for (probex_backend backend : {PROBEX_BACKEND_REFERENCE, PROBEX_BACKEND_XNNPACK}) {
        for (uint32_t float_only : {1u, 0u}) {
          // int8 bundles run step 1 in int8 on XNNPACK unless float_only: X is quantized row by row, so the
          // outputs move by that quantization (measured ~3e-4 here); everything else is float arithmetic in
          // another order (OpenBLAS vs plain loops vs XNNPACK kernels).
          const bool int8_path = quant == "int8" && backend == PROBEX_BACKEND_XNNPACK && !float_only;
          const double tolerance = int8_path ? 2e-3 : 1e-5;
          for (uint32_t block : {1u, 7u, 16u, 256u}) {
            CAPTURE(shape.d_h);
            CAPTURE(quant);
            CAPTURE(backend);
            CAPTURE(float_only);
            CAPTURE(block);
            std::unique_ptr<Auditor> auditor;
            std::string message;
            const probex_auditor_options options = auditor_options(backend, 1, block, float_only);
            REQUIRE_MESSAGE(Auditor::create(loaded->bundle, options, nullptr, &auditor, &message) == PROBEX_OK,
                            message);
            probex_audit_result r;
            probex_audit_result_init(&r, sizeof r);
            REQUIRE(auditor->audit_matrix(0, x.data(), static_cast<uint32_t>(shape.d_h),
                                          static_cast<uint32_t>(shape.d_w), &r, &message) == PROBEX_OK);
            REQUIRE(r.label_count == shape.d_y);
            REQUIRE(r.embedding_size == shape.r_t);
            const double d_logits = relative_difference(r.logits, logits.data(), shape.d_y);
            CHECK(d_logits <= tolerance);
            CHECK(relative_difference(r.embedding, embedding.data(), shape.r_t) <= tolerance);
            if (int8_path && shape.d_w > 1) CHECK(d_logits > 0.0);  // the int8 path really ran
            for (size_t k = 0; k < shape.d_y; ++k) {
              const double p = 1.0 / (1.0 + std::exp(-static_cast<double>(logits[k])));
              CHECK(static_cast<double>(r.probabilities[k]) == doctest::Approx(p).epsilon(tolerance));
              if (std::fabs(p - 0.5) > 1e-2) CHECK(r.predicted[k] == (p >= 0.5));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("self-tests pass on both backends, and a wrong expected output is caught") {
  BundleTree tree = bundle_tree({33, 17, 6, 4, 5, 3}, 12, "int8-b8");
  BundleTree other = bundle_tree({8, 9, 2, 3, 4, 3}, 13, "f16", "tree-b");
  auto loaded = load({&tree, &other});
  for (probex_backend backend : {PROBEX_BACKEND_REFERENCE, PROBEX_BACKEND_XNNPACK}) {
    auto auditor = auditor_for(loaded->bundle, backend, 5);
    double worst = 1;
    std::string message;
    CHECK_MESSAGE(auditor->self_test(&worst, &message) == PROBEX_OK, message);
    CHECK(worst < 1e-5);
  }
  tree.self_tests[1].logits[2] += 0.5f;
  auto broken = load({&tree});
  auto auditor = auditor_for(broken->bundle, PROBEX_BACKEND_XNNPACK, 256);
  std::string message;
  CHECK(auditor->self_test(nullptr, &message) == PROBEX_SELF_TEST_FAILED);
  CHECK(message.find("tree 'tree-a' self-test 1") != std::string::npos);
}

TEST_CASE("auditing a model file equals auditing the matrix, in F32, F16 and BF16, through the C API") {
  const ProbexShape shape{20, 12, 4, 3, 5, 4};
  BundleTree tree = bundle_tree(shape, 14);
  TempDir dir;
  REQUIRE(write_bytes(dir.file("b.probex"), bundle_bytes({&tree})));
  probex_bundle* bundle = nullptr;
  probex_error error{};
  REQUIRE(probex_bundle_open(dir.file("b.probex").c_str(), nullptr, &bundle, &error) == PROBEX_OK);
  probex_auditor* auditor = nullptr;
  probex_auditor_options options;
  probex_auditor_options_init(&options, sizeof options);
  options.rows_per_block = 6;
  REQUIRE(probex_auditor_create(bundle, &options, nullptr, &auditor, &error) == PROBEX_OK);

  const std::vector<float> x = random_layer(shape.d_h * shape.d_w, 15);
  for (Dtype dtype : {Dtype::kF32, Dtype::kF16, Dtype::kBF16}) {
    CAPTURE(dtype_name(dtype));
    convert::SafetensorsWriter w;
    std::string why;
    REQUIRE(w.add_f32("block.weight", dtype, {shape.d_h, shape.d_w}, x.data(), &why));
    REQUIRE(w.add_f32("other.weight", Dtype::kF32, {2}, x.data(), &why));
    const std::string path = dir.file(std::string("m-") + dtype_name(dtype) + ".safetensors");
    REQUIRE(w.write_file(path, &why));
    // What the file holds, rounded as stored.
    std::vector<float> stored(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      stored[i] = dtype == Dtype::kF16    ? f16_to_f32(f32_to_f16(x[i]))
                  : dtype == Dtype::kBF16 ? bf16_to_f32(f32_to_bf16(x[i]))
                                          : x[i];
    probex_audit_result from_matrix, from_file;
    probex_audit_result_init(&from_matrix, sizeof from_matrix);
    probex_audit_result_init(&from_file, sizeof from_file);
    REQUIRE(probex_audit_matrix(auditor, 0, stored.data(), 20, 12, &from_matrix, &error) == PROBEX_OK);
    const std::vector<float> want(from_matrix.logits, from_matrix.logits + shape.d_y);
    REQUIRE(probex_audit_file(auditor, 0, path.c_str(), &from_file, &error) == PROBEX_OK);
    for (size_t k = 0; k < shape.d_y; ++k) CHECK(from_file.logits[k] == want[k]);  // same blocks, same arithmetic
  }
  probex_auditor_free(auditor);
  probex_bundle_free(bundle);
}

TEST_CASE("bad model files: each is a specific status naming the file, and the auditor stays usable") {
  const ProbexShape shape{6, 5, 2, 2, 3, 2};
  BundleTree tree = bundle_tree(shape, 16);
  TempDir dir;
  REQUIRE(write_bytes(dir.file("b.probex"), bundle_bytes({&tree})));
  probex_bundle* bundle = nullptr;
  probex_error error{};
  REQUIRE(probex_bundle_open(dir.file("b.probex").c_str(), nullptr, &bundle, &error) == PROBEX_OK);
  probex_auditor* auditor = nullptr;
  REQUIRE(probex_auditor_create(bundle, nullptr, nullptr, &auditor, &error) == PROBEX_OK);

  int files = 0;
  const auto model = [&](const std::string& name, const std::vector<uint64_t>& shape_of, Dtype dtype, float fill) {
    convert::SafetensorsWriter w;
    std::string why;
    size_t n = 1;
    for (uint64_t d : shape_of) n *= d;
    std::vector<float> values(n, 0.01f);
    if (n) values[n / 2] = fill;
    if (dtype == Dtype::kI32) {
      REQUIRE(w.add_raw(name, dtype, shape_of, std::vector<uint8_t>(n * 4), &why));
    } else {
      REQUIRE(w.add_f32(name, dtype, shape_of, values.data(), &why));
    }
    const std::string path = dir.file(name + "-" + std::to_string(++files) + ".safetensors");
    REQUIRE(w.write_file(path, &why));
    return path;
  };
  struct Case {
    std::string path;
    probex_status status;
    std::string fragment;
  };
  const std::string garbage = dir.file("garbage.safetensors");
  REQUIRE(write_bytes(garbage, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const std::string truncated = dir.file("truncated.safetensors");  // a safetensors header cut short
  REQUIRE(write_bytes(truncated, {100, 0, 0, 0, 0, 0, 0, 0, '{', '"'}));
  const std::vector<Case> cases = {
      {dir.file("missing.safetensors"), PROBEX_IO_ERROR, "missing.safetensors"},
      {garbage, PROBEX_NOT_A_MODEL, "not a model file probex reads: " + garbage},
      {truncated, PROBEX_MODEL_INVALID, "truncated.safetensors: header length 100"},
      {model("other.weight", {6, 5}, Dtype::kF32, 0.0f), PROBEX_LAYER_NOT_FOUND, "block.weight"},
      {model("block.weight", {5, 6}, Dtype::kF32, 0.0f), PROBEX_LAYER_SHAPE, "expects [6, 5]"},
      {model("block.weight", {6, 5, 3, 3}, Dtype::kF32, 0.0f), PROBEX_LAYER_SHAPE, "conv_reshape"},
      {model("block.weight", {6, 5}, Dtype::kI32, 0.0f), PROBEX_LAYER_DTYPE, "block.weight"},
      {model("block.weight", {6, 5}, Dtype::kF32, std::nanf("")), PROBEX_LAYER_NONFINITE, "NaN or Inf (row 3)"},
      {model("block.weight", {6, 5}, Dtype::kBF16, INFINITY), PROBEX_LAYER_NONFINITE, ".safetensors: layer"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.path);
    probex_audit_result r;
    probex_audit_result_init(&r, sizeof r);
    CHECK(probex_audit_file(auditor, 0, c.path.c_str(), &r, &error) == c.status);
    CHECK(error.status == c.status);
    CHECK_MESSAGE(std::string(error.message).find(c.fragment) != std::string::npos, error.message);
  }
  probex_audit_result r;
  probex_audit_result_init(&r, sizeof r);
  CHECK(probex_audit_file(auditor, 0, model("block.weight", {6, 5}, Dtype::kF32, 0.5f).c_str(), &r, &error) ==
        PROBEX_OK);
  CHECK(error.status == PROBEX_OK);
  probex_auditor_free(auditor);
  probex_bundle_free(bundle);
}

TEST_CASE("C API misuse is an invalid-argument status, not a crash") {
  probex_error error{};
  probex_bundle* bundle = nullptr;
  CHECK(probex_bundle_open(nullptr, nullptr, &bundle, &error) == PROBEX_INVALID_ARGUMENT);
  CHECK(probex_bundle_open("x", nullptr, nullptr, nullptr) == PROBEX_INVALID_ARGUMENT);
  uint32_t n = 0;
  CHECK(probex_bundle_tree_count(nullptr, &n, nullptr) == PROBEX_INVALID_ARGUMENT);
  probex_audit_result r;
  probex_audit_result_init(&r, sizeof r);
  CHECK(probex_audit_file(nullptr, 0, "m", &r, &error) == PROBEX_INVALID_ARGUMENT);
  CHECK(probex_auditor_self_test(nullptr, nullptr, nullptr) == PROBEX_INVALID_ARGUMENT);
  probex_bundle_free(nullptr);
  probex_auditor_free(nullptr);

  BundleTree tree = bundle_tree({4, 4, 2, 2, 2, 2}, 17);
  TempDir dir;
  REQUIRE(write_bytes(dir.file("b.probex"), bundle_bytes({&tree})));
  REQUIRE(probex_bundle_open(dir.file("b.probex").c_str(), nullptr, &bundle, &error) == PROBEX_OK);
  probex_tree_info info;
  probex_tree_info_init(&info, sizeof info);
  CHECK(probex_bundle_tree_info(bundle, 1, &info, nullptr) == PROBEX_INVALID_ARGUMENT);
  REQUIRE(probex_bundle_tree_info(bundle, 0, &info, nullptr) == PROBEX_OK);
  CHECK(std::string(info.weight_type) == "f32");
  const char* label = nullptr;
  CHECK(probex_bundle_label(bundle, 0, 2, &label, nullptr) == PROBEX_INVALID_ARGUMENT);
  uint32_t index = 9;
  CHECK(probex_bundle_find_tree(bundle, "tree-a", &index, nullptr) == PROBEX_OK);
  CHECK(index == 0);
  probex_auditor* auditor = nullptr;
  probex_auditor_options options;
  probex_auditor_options_init(&options, sizeof options);
  const int bogus = 7;  // what a C caller could pass
  std::memcpy(&options.backend, &bogus, sizeof bogus);
  CHECK(probex_auditor_create(bundle, &options, nullptr, &auditor, &error) == PROBEX_INVALID_ARGUMENT);
  CHECK(auditor == nullptr);
  options.backend = PROBEX_BACKEND_REFERENCE;
  REQUIRE(probex_auditor_create(bundle, &options, nullptr, &auditor, &error) == PROBEX_OK);
  std::vector<float> x(16, 0.1f);
  CHECK(probex_audit_matrix(auditor, 0, x.data(), 4, 3, &r, &error) == PROBEX_LAYER_SHAPE);
  CHECK(probex_audit_matrix(auditor, 3, x.data(), 4, 4, &r, &error) == PROBEX_INVALID_ARGUMENT);
  CHECK(probex_audit_matrix(auditor, 0, x.data(), 4, 4, &r, &error) == PROBEX_OK);
  probex_auditor_free(auditor);
  probex_bundle_free(bundle);

  for (int s = 0; s <= PROBEX_NOT_A_MODEL; ++s)
    CHECK(std::string(probex_status_name(static_cast<probex_status>(s))) != "unknown_status");
}

TEST_CASE("a user allocator receives the audit arena") {
  struct Counter {
    size_t allocations = 0, releases = 0;
  } counter;
  probex_allocator allocator{&counter,
                             [](void* ctx, size_t size, size_t alignment) -> void* {
                               ++static_cast<Counter*>(ctx)->allocations;
                               return std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
                             },
                             [](void* ctx, void* p) {
                               ++static_cast<Counter*>(ctx)->releases;
                               std::free(p);
                             }};
  BundleTree tree = bundle_tree({4, 4, 2, 2, 2, 2}, 18);
  auto loaded = load({&tree});
  std::unique_ptr<Auditor> a;
  std::string message;
  const probex_auditor_options options = auditor_options(PROBEX_BACKEND_REFERENCE, 1, 0, 0);
  REQUIRE(Auditor::create(loaded->bundle, options, &allocator, &a, &message) == PROBEX_OK);
  CHECK(counter.allocations == 1);
  a.reset();
  CHECK(counter.releases == 1);
}

TEST_CASE("determinism: the same bundle and layer give bit-identical outputs across runs and auditors") {
  // Promised per backend and thread count (same arithmetic in the same order); across thread counts
  // XNNPACK may split reductions differently: "XNNPACK with a thread pool gives the single-thread result"
  // pins that within 1e-5.
  for (const char* quant : {"f32", "int8"}) {
    BundleTree tree = zero_shot_tree({41, 29, 8, 6, 7, 5}, 80, quant);
    auto loaded = load({&tree});
    const std::vector<float> x = random_layer(41 * 29, 81);
    for (probex_backend backend : {PROBEX_BACKEND_REFERENCE, PROBEX_BACKEND_XNNPACK}) {
      CAPTURE(quant);
      CAPTURE(backend);
      std::vector<float> first;
      for (int auditor_run = 0; auditor_run < 2; ++auditor_run) {
        auto auditor = auditor_for(loaded->bundle, backend, 16);
        for (int run = 0; run < 2; ++run) {
          probex_audit_result r;
          probex_audit_result_init(&r, sizeof r);
          std::string message;
          REQUIRE(auditor->audit_matrix(0, x.data(), 41, 29, &r, &message) == PROBEX_OK);
          std::vector<float> out(r.logits, r.logits + r.label_count);
          out.insert(out.end(), r.embedding, r.embedding + r.embedding_size);
          out.insert(out.end(), r.zero_shot_scores, r.zero_shot_scores + r.zero_shot_count);
          if (first.empty()) first = out;
          CHECK(std::memcmp(out.data(), first.data(), out.size() * sizeof(float)) == 0);
        }
      }
    }
  }
}
