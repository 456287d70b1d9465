// Loading a probex bundle (schema/probex_bundle.fbs) and checking it completely before any use.
//
// Trust boundary: the bundle is hostile until Bundle::open*/ has returned PROBEX_OK. The checks, in
// order: size and file identifier; the format version; the FlatBuffers Verifier (every offset, vector
// length and string inside the buffer); then a semantic pass (every tensor present with the shape the
// expert's dimensions imply, data and scale counts exact with overflow-checked sizes, int8 scales finite
// and non-negative, weights finite, label-space indices in range, self-tests sized to the outputs, tree
// names unique), then the router (sketch sizes, finite sketches and thresholds, present for every tree or
// for none), then each zero-shot part (its expert as above, unique labels, unit-norm prototypes, text
// projection shapes). After that the views below may be used without further checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "probex/platform/read_only_file.h"
#include "probex/probex.h"
#include "runtime/bundle/signature.h"
#include "runtime/formats/probed_layer.h"
#include "runtime/math/layer_sketch.h"
#include "runtime/math/multiview.h"
#include "runtime/math/quantized.h"

namespace probex {

// A stored weight matrix [rows = outputs, cols = reduction], pointing into the bundle.
struct MatrixView {
  const char* name = "";
  StorageType type = StorageType::kF32;
  uint32_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;  // rows * cols elements of `type`
  const float* scales = nullptr;  // int8: rows * blocks_per_row(cols, block_size)
  uint32_t scale_count = 0;
  uint32_t block_size = 0;
  size_t data_bytes() const { return static_cast<size_t>(rows) * cols * storage_type_size(type); }
  // Row `row` as float32 into out[cols].
  void row(size_t r, float* out) const { dequantize_row(type, data, scales, cols, block_size, r, out); }
};

struct SelfTestView {
  uint64_t seed = 0;
  float amplitude = 1.0f;
  const float* logits = nullptr;     // d_y
  const float* embedding = nullptr;  // r_t
  float tolerance = 0.0f;
  const float* zero_shot_scores = nullptr;  // the first zero_shot_count zero-shot labels' cosines
  uint32_t zero_shot_count = 0;
};

// A multi-view expert's view (schema: View): probes U^T [r, d_W or d_H], projection V^T [p, rows of S].
struct ViewWeights {
  ViewKind kind = ViewKind::kXU;
  MatrixView probes, projection;
};

// One expert's weights (d_y = 0 and no head for a zero-shot expert). A multi-view expert (MVProbe) has
// views and no probes/projection of its own; then r_u = r, r_v = p.
struct ExpertView {
  uint32_t r_u = 0, r_v = 0, r_t = 0, d_y = 0;
  MatrixView probes, projection, encoder, encoder_bias, head, head_bias;
  float probe_output_ratio = 0.0f;  // > 0: step 1 may run in int8 (schema: Expert.probe_output_ratio)
  std::vector<ViewWeights> views;   // empty: a ProbeX expert
  float std_eps = 0.0f;
  // The encoder's input width: r_U * r_V, times the number of views for a multi-view expert.
  uint32_t feature_size() const { return r_u * r_v * static_cast<uint32_t>(views.empty() ? 1 : views.size()); }
};

// A tree's zero-shot expert and its label prototypes (schema: ZeroShot).
struct ZeroShotView {
  ExpertView expert;
  std::vector<const char*> labels;
  const uint8_t* trained = nullptr;  // per label: 1 if trained on
  MatrixView prototypes;             // [labels, r_T], unit rows
  MatrixView text_projection;        // [r_T, d_text]
  MatrixView text_bias;              // [1, r_T]
  const char* text_source = "";
};

// A tree: its classification expert (the ExpertView fields), labels, router data and optional zero-shot.
struct TreeView : ExpertView {
  const char* name = "";
  const char* root = "";
  const char* layer_name = "";
  LayerRule rule = LayerRule::kMatrix;
  uint32_t d_h = 0, d_w = 0;
  std::vector<const char*> labels;
  std::vector<std::pair<const char*, double>> metrics;
  std::vector<SelfTestView> self_tests;
  const float* root_sketch = nullptr;  // router: sketch of the root's layer (Bundle::router() sizes it)
  float accept_distance = 0.0f;
  bool has_zero_shot = false;
  ZeroShotView zero_shot;
  const char* reader_reason = "";  // why the trainer chose this expert kind ("" if not recorded; the schema's name)
};

// The largest layer (d_H * d_W values) a multi-view expert may read: the backends hold it whole, with its
// transpose (2 x 256 MB in float32 at this bound).
constexpr uint64_t kMaxMultiViewLayer = uint64_t{1} << 26;
// The largest views stage a multi-view expert may need (the layer, its products and responses; 512 MB of
// float32). A 768x768 layer with r = p = 128 needs 2.2 M floats.
constexpr uint64_t kMaxMultiViewWork = uint64_t{1} << 27;

class Bundle {
 public:
  Bundle() = default;
  Bundle(const Bundle&) = delete;
  Bundle& operator=(const Bundle&) = delete;
  Bundle(Bundle&&) = default;
  Bundle& operator=(Bundle&&) = default;

  // Reads the whole file into memory the bundle owns (never a mapping: what was verified is what is used,
  // whatever happens to the file later), refusing files above `max_bytes` (PROBEX_LIMIT_EXCEEDED) before
  // allocating. On failure *message names `path` and the problem; *out is unchanged. With key_count > 0
  // the bundle must be signed by one of `trusted_keys` (key_count x 32 bytes, Ed25519 public keys;
  // signature.h), checked before anything else is read.
  static probex_status open(const std::string& path, Bundle* out, std::string* message,
                            const uint8_t* trusted_keys = nullptr, size_t key_count = 0,
                            uint64_t max_bytes = kDefaultMaxBundleBytes);
  static constexpr uint64_t kDefaultMaxBundleBytes = uint64_t{256} << 20;
  // `data` must outlive the bundle and be 8-byte aligned; `name` is used in messages. Checks as open() does.
  static probex_status open_buffer(const uint8_t* data, size_t size, const std::string& name, Bundle* out,
                                   std::string* message, const uint8_t* trusted_keys = nullptr, size_t key_count = 0,
                                   uint64_t max_bytes = kDefaultMaxBundleBytes);

  uint32_t format_version() const { return format_version_; }
  const char* producer() const { return producer_; }
  const std::vector<TreeView>& trees() const { return trees_; }
  // The router, if the bundle has one (sketch rows and cols > 0).
  bool has_router() const { return router_.rows > 0; }
  const SketchSpec& router() const { return router_; }
  size_t size() const { return size_; }  // the bundle's own bytes (without a signature trailer)
  const BundleSignature& signature() const { return signature_; }
  const uint8_t* data() const { return data_; }

 private:
  probex_status parse(const std::string& name, std::string* message);

  platform::AlignedBytes owned_;  // the file's bytes (empty for a caller buffer)
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint32_t format_version_ = 0;
  const char* producer_ = "";
  std::vector<TreeView> trees_;
  SketchSpec router_;
  BundleSignature signature_;
};

}  // namespace probex
