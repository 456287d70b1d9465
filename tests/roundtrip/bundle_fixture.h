// Random experts turned into bundles in memory, for the bundle and runtime tests.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "converter/bundle/bundle_writer.h"
#include "converter/bundle/zero_shot_bundle.h"
#include "converter/nn/rng.h"
#include "converter/text/embedding_table.h"
#include "runtime/bundle/bundle.h"
#include "runtime/executor/auditor.h"

namespace probex::test {

// n values uniform in [-0.1, 0.1): a layer's weights.
inline std::vector<float> random_matrix(size_t n, uint64_t seed) {
  convert::Rng rng(seed);
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(rng.uniform(-0.1, 0.1));
  return x;
}

// An expert with the authors' initialisation (so outputs have realistic scale), as a checkpoint.
inline convert::LoadedCheckpoint random_checkpoint(const convert::ProbexShape& shape, uint64_t seed,
                                                   const std::string& tree = "tree-a") {
  convert::LoadedCheckpoint ck;
  ck.expert = std::make_unique<convert::ProbexExpert>(shape);
  convert::Rng rng(seed);
  ck.expert->init(rng);
  ck.metadata = {{"tree", tree}, {"layer", "block.weight"}, {"layer_rule", "matrix"}, {"test_bit_accuracy", "0.75"}};
  for (size_t i = 0; i < shape.d_y; ++i) ck.labels.push_back("class " + std::to_string(i));
  return ck;
}

inline convert::BundleTree bundle_tree(const convert::ProbexShape& shape, uint64_t seed,
                                       const std::string& quant = "f32", const std::string& tree = "tree-a") {
  convert::QuantSpec spec;
  std::string error;
  REQUIRE(convert::parse_quant_spec(quant, &spec, &error));
  convert::BundleTree t;
  REQUIRE(convert::make_bundle_tree(random_checkpoint(shape, seed, tree), "test", spec, &t, &error));
  convert::add_self_tests(&t, 2, 0.1f, seed * 7 + 1, 1e-3f);
  return t;
}

// A float32 tree whose expert probes a LoRA pair (block.weight.lora_up/lora_down) instead of a matrix.
inline convert::BundleTree lora_bundle_tree(const convert::ProbexShape& shape, uint64_t seed) {
  convert::LoadedCheckpoint ck = random_checkpoint(shape, seed);
  ck.metadata["layer_rule"] = "lora";
  convert::QuantSpec spec;
  convert::BundleTree tree;
  std::string error;
  REQUIRE(convert::make_bundle_tree(ck, "t", spec, &tree, &error));
  return tree;
}

// A 6-d text table whose words name the fixture's labels ("class 0", "class 1", ...), plus a few more.
inline convert::EmbeddingTable small_text_table() {
  convert::EmbeddingTable t;
  t.source = "small-table.safetensors";
  t.dimension = 6;
  t.names = {"class", "0", "1", "2", "3", "boot", "sandal", "purse", "bag"};
  convert::Rng rng(99);
  for (size_t i = 0; i < t.names.size() * t.dimension; ++i) t.vectors.push_back(static_cast<float>(rng.uniform(-1, 1)));
  std::string error;
  REQUIRE(convert::index_embedding_table(&t, &error));
  return t;
}

// A zero-shot checkpoint for `tree` (same layer as random_checkpoint) with a random text projection;
// trained on "class 0".."class N-1", holding out "boot".
inline convert::LoadedCheckpoint random_zero_shot_checkpoint(const convert::ProbexShape& shape, size_t classes,
                                                             uint64_t seed, const std::string& tree = "tree-a") {
  convert::ProbexShape s = shape;
  s.d_y = 0;
  convert::LoadedCheckpoint ck = random_checkpoint(s, seed, tree);
  ck.labels.clear();
  for (size_t i = 0; i < classes; ++i) ck.labels.push_back("class " + std::to_string(i));
  ck.metadata["holdout_labels"] = "['boot']";
  ck.text_dimension = 6;
  convert::Rng rng(seed + 1);
  for (size_t i = 0; i < s.r_t * 6; ++i) ck.text_weight.push_back(static_cast<float>(rng.uniform(-0.4, 0.4)));
  for (size_t i = 0; i < s.r_t; ++i) ck.text_bias.push_back(static_cast<float>(rng.uniform(-0.4, 0.4)));
  return ck;
}

// A tree with a zero-shot expert (labels: class 0..2 trained, boot, then `extra`), self-tests included.
inline convert::BundleTree zero_shot_tree(const convert::ProbexShape& shape, uint64_t seed,
                                          const std::string& quant = "f32",
                                          const std::vector<std::string>& extra = {"sandal"}) {
  convert::QuantSpec spec;
  std::string error;
  REQUIRE(convert::parse_quant_spec(quant, &spec, &error));
  convert::BundleTree t;
  REQUIRE(convert::make_bundle_tree(random_checkpoint(shape, seed), "test", spec, &t, &error));
  REQUIRE_MESSAGE(convert::attach_zero_shot(random_zero_shot_checkpoint(shape, 3, seed + 50), "zs", spec,
                                            small_text_table(), extra, &t, &error),
                  error);
  convert::add_self_tests(&t, 2, 0.1f, seed * 7 + 1, 1e-3f);
  return t;
}

inline std::vector<uint8_t> bundle_bytes(const std::vector<const convert::BundleTree*>& trees,
                                         uint32_t version = PROBEX_BUNDLE_FORMAT_VERSION) {
  std::vector<uint8_t> bytes;
  std::string error;
  REQUIRE(convert::build_bundle(trees, "probex tests", &bytes, &error, version));
  return bytes;
}

// An 8-byte aligned copy of some bytes (what a caller buffer must be).
class AlignedBytes {
 public:
  explicit AlignedBytes(const std::vector<uint8_t>& bytes) : size_(bytes.size()) {
    data_ = static_cast<uint8_t*>(std::aligned_alloc(64, (bytes.size() + 63) / 64 * 64 + 64));
    if (!bytes.empty()) std::memcpy(data_, bytes.data(), bytes.size());
  }
  ~AlignedBytes() { std::free(data_); }
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;
  const uint8_t* data() const { return data_; }
  uint8_t* data() { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_;
  size_t size_;
};

// Loads (and so verifies) a bundle from bytes; the bundle is dropped with its buffer.
inline probex_status verify_bytes(const std::vector<uint8_t>& bytes, std::string* message) {
  AlignedBytes copy(bytes);
  Bundle bundle;
  return Bundle::open_buffer(copy.data(), copy.size(), "test.probex", &bundle, message);
}

// A verified bundle with the bytes it reads from.
struct LoadedBundle {
  std::vector<uint8_t> bytes;
  std::unique_ptr<AlignedBytes> buffer;
  Bundle bundle;
};

inline std::unique_ptr<LoadedBundle> load_bundle(const std::vector<uint8_t>& bytes) {
  auto l = std::make_unique<LoadedBundle>();
  l->bytes = bytes;
  l->buffer = std::make_unique<AlignedBytes>(l->bytes);
  std::string message;
  REQUIRE_MESSAGE(Bundle::open_buffer(l->buffer->data(), l->buffer->size(), "t", &l->bundle, &message) == PROBEX_OK,
                  message);
  return l;
}

// The defaults with these fields set (the limits keep their defaults).
inline probex_auditor_options auditor_options(probex_backend backend, uint32_t threads, uint32_t rows_per_block,
                                              uint32_t float_only = 0) {
  probex_auditor_options options;
  probex_auditor_options_init(&options, sizeof options);
  options.backend = backend;
  options.threads = threads;
  options.rows_per_block = rows_per_block;
  options.float_only = float_only;
  return options;
}

inline std::unique_ptr<Auditor> auditor_for(const Bundle& bundle, probex_backend backend, uint32_t rows_per_block) {
  std::unique_ptr<Auditor> a;
  std::string message;
  const probex_auditor_options options = auditor_options(backend, 1, rows_per_block);
  REQUIRE_MESSAGE(Auditor::create(bundle, options, nullptr, &a, &message) == PROBEX_OK, message);
  return a;
}

// A layer of n values uniform in [-amplitude, amplitude).
inline std::vector<float> random_layer(size_t n, uint64_t seed, double amplitude = 0.2) {
  convert::Rng rng(seed);
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(rng.uniform(-amplitude, amplitude));
  return x;
}

}  // namespace probex::test
