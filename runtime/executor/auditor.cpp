#include "auditor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "core/float_formats.h"
#include "core/self_test_input.h"

namespace probex {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr size_t kAlignment = 64;
constexpr size_t kSlackBytes = 64;  // >= XNN_EXTRA_BYTES after every input buffer

size_t round_up(size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

// A float view of arena bytes. Every part of the arena starts on a kAlignment boundary (the arena is
// allocated so aligned and parts are rounded up), so the cast is safe; going through void* says so to
// -Wcast-align, which cannot know it on 32-bit ARM.
float* arena_floats(uint8_t* p) { return static_cast<float*>(static_cast<void*>(p)); }

}  // namespace

probex_status status_of(ModelError e) {
  switch (e) {
    case ModelError::kTensorNotFound: return PROBEX_LAYER_NOT_FOUND;
    case ModelError::kUnsupportedConversion: return PROBEX_LAYER_DTYPE;
    case ModelError::kLayerShape: return PROBEX_LAYER_SHAPE;
    case ModelError::kIo: return PROBEX_IO_ERROR;
    case ModelError::kLimitExceeded: return PROBEX_LIMIT_EXCEEDED;
    case ModelError::kNotAModel: return PROBEX_NOT_A_MODEL;
    default: return PROBEX_MODEL_INVALID;  // a format rule broken, a range outside a tensor
  }
}

namespace {

class FileRows final : public RowSource {
 public:
  FileRows(const ModelFile& file, const ProbedLayer& layer, std::vector<float>* storage)
      : reader_(file, layer, storage) {}
  probex_status read(uint32_t first, uint32_t count, float* out, std::string* message) override {
    ModelStatus s = reader_.read(first, count, out);
    if (!s.ok()) {
      *message = s.message;
      return status_of(s.code);
    }
    return PROBEX_OK;
  }

 private:
  ProbedRowReader reader_;
};

class MatrixRows final : public RowSource {
 public:
  MatrixRows(const float* x, uint32_t cols) : x_(x), cols_(cols) {}
  probex_status read(uint32_t first, uint32_t count, float* out, std::string*) override {
    std::memcpy(out, x_ + static_cast<size_t>(first) * cols_, static_cast<size_t>(count) * cols_ * sizeof(float));
    return PROBEX_OK;
  }

 private:
  const float* x_;
  uint32_t cols_;
};

class GeneratedRows final : public RowSource {
 public:
  GeneratedRows(uint64_t seed, float amplitude, uint32_t cols)
      : seed_(seed), amplitude_(amplitude), input_(seed, amplitude), cols_(cols) {}
  probex_status read(uint32_t first, uint32_t count, float* out, std::string*) override {
    if (first == 0) input_ = SelfTestInput(seed_, amplitude_);  // a new pass over the layer (zero-shot)
    input_.generate(out, static_cast<size_t>(count) * cols_);  // blocks arrive in order within a pass
    return PROBEX_OK;
  }

 private:
  uint64_t seed_;
  float amplitude_;
  SelfTestInput input_;
  uint32_t cols_;
};

// An expert's float32 weights for Backend::add_tree, unpacked from the bundle (valid until the next call).
class ExpertUnpacker {
 public:
  ExpertWeights unpack(const ExpertView& e, uint32_t d_h, uint32_t d_w, bool float_only) {
    ExpertWeights w;
    w.d_h = d_h;
    w.d_w = d_w;
    w.r_u = e.r_u;
    w.r_v = e.r_v;
    w.r_t = e.r_t;
    w.d_y = e.d_y;
    w.probes = matrix(e.probes, &probes_);
    w.projection = matrix(e.projection, &projection_);
    w.encoder = matrix(e.encoder, &encoder_);
    w.encoder_bias = matrix(e.encoder_bias, &encoder_bias_);
    if (e.d_y > 0) {
      w.head = matrix(e.head, &head_);
      w.head_bias = matrix(e.head_bias, &head_bias_);
    }
    if (e.probe_output_ratio > 0.0f && !float_only) {  // the bundle checked: int8, per channel
      w.probes_int8 = reinterpret_cast<const int8_t*>(e.probes.data);
      w.probes_scales = e.probes.scales;
      w.probe_output_ratio = e.probe_output_ratio;
    }
    return w;
  }

 private:
  static const float* matrix(const MatrixView& m, std::vector<float>* out) {
    out->resize(static_cast<size_t>(m.rows) * m.cols);
    for (size_t r = 0; r < m.rows; ++r) m.row(r, out->data() + r * m.cols);
    return out->data();
  }
  std::vector<float> probes_, projection_, encoder_, encoder_bias_, head_, head_bias_;
};

}  // namespace

bool ArenaBuffer::allocate(size_t bytes, const probex_allocator* allocator) {
  release();
  if (allocator && allocator->allocate && allocator->release) {
    allocator_ = *allocator;
    data_ = static_cast<uint8_t*>(allocator->allocate(allocator->context, bytes, kAlignment));
  } else {
    allocator_ = probex_allocator{};
    data_ = static_cast<uint8_t*>(std::aligned_alloc(kAlignment, round_up(bytes)));
  }
  size_ = data_ ? bytes : 0;
  if (data_) std::memset(data_, 0, bytes);
  return data_ != nullptr;
}

void ArenaBuffer::release() {
  if (!data_) return;
  if (allocator_.release) {
    allocator_.release(allocator_.context, data_);
  } else {
    std::free(data_);
  }
  data_ = nullptr;
  size_ = 0;
}

probex_status Auditor::create(const Bundle& bundle, const probex_auditor_options& options,
                              const probex_allocator* allocator, std::unique_ptr<Auditor>* out, std::string* message) {
  const uint32_t rows_per_block = options.rows_per_block ? options.rows_per_block : 256;
  if (rows_per_block > (1u << 20)) {
    *message = "rows_per_block " + std::to_string(rows_per_block) + " is too large";
    return PROBEX_INVALID_ARGUMENT;
  }
  std::unique_ptr<Auditor> a(new Auditor(bundle, rows_per_block));
  // Model-file limits: 0 keeps a field's default.
  if (options.max_model_bytes) a->model_limits_.max_file_bytes = options.max_model_bytes;
  if (options.max_header_bytes) a->model_limits_.max_header_bytes = options.max_header_bytes;
  if (options.max_tensors) a->model_limits_.max_tensors = options.max_tensors;
  if (options.max_tensor_dims) a->model_limits_.max_dims = options.max_tensor_dims;
  if (options.max_lora_rank) a->max_lora_rank_ = options.max_lora_rank;
  probex_status s = PROBEX_OK;
  // A C caller may pass any integer in the enum field: read it as one (an out-of-range enum value is
  // undefined behaviour in C++).
  std::underlying_type_t<probex_backend> backend = 0;
  std::memcpy(&backend, &options.backend, sizeof backend);
  if (backend == PROBEX_BACKEND_REFERENCE) {
    a->backend_ = make_reference_backend();
  } else if (backend == PROBEX_BACKEND_XNNPACK) {
    s = make_xnnpack_backend(options.threads, &a->backend_, message);
  } else {
    *message = "unknown backend " + std::to_string(backend);
    return PROBEX_INVALID_ARGUMENT;
  }
  if (s != PROBEX_OK) return s;

  size_t max_x = 0, max_g = 0, max_t = 0, max_y = 0, max_zt = 0, max_zl = 0;
  ExpertUnpacker unpacker;
  const auto& trees = bundle.trees();
  for (const TreeView& t : trees) {
    const uint32_t block = std::min(rows_per_block, t.d_h);
    s = a->backend_->add_tree(unpacker.unpack(t, t.d_h, t.d_w, options.float_only), block, message);
    if (s != PROBEX_OK) return s;
    max_x = std::max(max_x, static_cast<size_t>(block) * t.d_w);
    max_g = std::max(max_g, static_cast<size_t>(t.r_u) * t.r_v);
    max_t = std::max<size_t>(max_t, t.r_t);
    max_y = std::max<size_t>(max_y, t.d_y);
  }
  // Zero-shot experts take the backend slots after the trees', in tree order.
  a->zero_shot_slot_.assign(trees.size(), kNoSlot);
  uint32_t next_slot = static_cast<uint32_t>(trees.size());
  for (size_t i = 0; i < trees.size(); ++i) {
    const TreeView& t = trees[i];
    if (!t.has_zero_shot) continue;
    const ExpertView& z = t.zero_shot.expert;
    s = a->backend_->add_tree(unpacker.unpack(z, t.d_h, t.d_w, options.float_only), std::min(rows_per_block, t.d_h),
                              message);
    if (s != PROBEX_OK) return s;
    a->zero_shot_slot_[i] = next_slot++;
    max_g = std::max(max_g, static_cast<size_t>(z.r_u) * z.r_v);
    max_zt = std::max<size_t>(max_zt, z.r_t);
    max_zl = std::max(max_zl, t.zero_shot.labels.size());
  }
  // One arena: x | g | embedding | logits | probabilities | predicted | zero-shot embedding | scores |
  // prototype row, each 64-byte aligned.
  const size_t x_bytes = round_up(max_x * sizeof(float) + kSlackBytes), g_bytes = round_up(max_g * sizeof(float));
  const size_t t_bytes = round_up(max_t * sizeof(float) + kSlackBytes), y_bytes = round_up(max_y * sizeof(float) + kSlackBytes);
  const size_t zt_bytes = round_up(max_zt * sizeof(float) + kSlackBytes), zl_bytes = round_up(max_zl * sizeof(float));
  if (!a->arena_.allocate(x_bytes + g_bytes + t_bytes + 2 * y_bytes + round_up(max_y * sizeof(bool)) + 2 * zt_bytes + zl_bytes,
                          allocator)) {
    *message = "cannot allocate the audit arena";
    return PROBEX_OUT_OF_MEMORY;
  }
  uint8_t* p = a->arena_.data();
  a->x_ = arena_floats(p);
  a->g_ = arena_floats(p += x_bytes);
  a->embedding_ = arena_floats(p += g_bytes);
  a->logits_ = arena_floats(p += t_bytes);
  a->probabilities_ = arena_floats(p += y_bytes);
  a->predicted_ = reinterpret_cast<bool*>(p += y_bytes);
  a->zero_shot_embedding_ = arena_floats(p += round_up(max_y * sizeof(bool)));
  a->prototype_row_ = arena_floats(p += zt_bytes);
  a->zero_shot_scores_ = arena_floats(p += zt_bytes);
  s = a->prepare_router(message);
  if (s != PROBEX_OK) return s;
  *out = std::move(a);
  return PROBEX_OK;
}

probex_status Auditor::prepare_router(std::string* message) {
  const auto& trees = bundle_.trees();
  distances_.assign(trees.size(), std::nanf(""));
  if (!bundle_.has_router()) return PROBEX_OK;
  const SketchSpec& spec = bundle_.router();
  for (uint32_t i = 0; i < trees.size(); ++i) {
    const TreeView& t = trees[i];
    auto same = [&](const Site& site) {
      return std::strcmp(site.layer_name, t.layer_name) == 0 && site.rule == t.rule && site.d_h == t.d_h && site.d_w == t.d_w;
    };
    auto it = std::find_if(sites_.begin(), sites_.end(), same);
    if (it == sites_.end()) {
      Site site{t.layer_name, t.rule, t.d_h, t.d_w, 0, sketch_left(spec, t.d_h), {}};
      const std::vector<float> right_t = sketch_right_t(spec, t.d_w);
      const probex_status s =
          backend_->add_projection(t.d_w, spec.cols, std::min(rows_per_block_, t.d_h), right_t.data(), &site.projection, message);
      if (s != PROBEX_OK) return s;
      sites_.push_back(std::move(site));
      it = sites_.end() - 1;
    }
    it->trees.push_back(i);
  }
  sketch_.assign(static_cast<size_t>(spec.rows) * spec.cols, 0.0f);
  y_.assign(static_cast<size_t>(rows_per_block_) * spec.cols + kSlackBytes / sizeof(float), 0.0f);
  return PROBEX_OK;
}

probex_status Auditor::sketch_site(size_t index, RowSource& rows, std::string* message) {
  const Site& site = sites_[index];
  const SketchSpec& spec = bundle_.router();
  std::fill(sketch_.begin(), sketch_.end(), 0.0f);
  const uint32_t block = std::min(rows_per_block_, site.d_h);
  for (uint32_t first = 0; first < site.d_h; first += block) {
    const uint32_t count = std::min(block, site.d_h - first);
    probex_status s = rows.read(first, count, x_, message);
    if (s != PROBEX_OK) return s;
    if (!all_finite(x_, static_cast<size_t>(count) * site.d_w)) {
      // Rejected before routing: a distance computed from NaN would route nowhere, silently.
      *message = std::string("layer '") + site.layer_name + "' holds NaN or Inf (rows " + std::to_string(first) + "..)";
      return PROBEX_LAYER_NONFINITE;
    }
    s = backend_->project(site.projection, x_, count, y_.data(), message);
    if (s != PROBEX_OK) return s;
    sketch_accumulate(spec, site.left.data(), site.d_h, y_.data(), first, count, sketch_.data());
  }
  return PROBEX_OK;
}

probex_status Auditor::route_file(const ModelFile& file, uint32_t* tree, probex_audit_result* result,
                                  std::string* message) {
  const auto& trees = bundle_.trees();
  std::fill(distances_.begin(), distances_.end(), std::nanf(""));
  std::string why_not;  // the first site this model does not fit, for the report
  for (size_t i = 0; i < sites_.size(); ++i) {
    const Site& site = sites_[i];
    ProbedLayer layer;
    const ModelStatus st = find_probed_layer(file, site.layer_name, &layer, max_lora_rank_);
    if (st.code == ModelError::kLimitExceeded) {  // a refusal to read, not a verdict about the tree
      *message = st.message;
      return PROBEX_LIMIT_EXCEEDED;
    }
    if (!st.ok() || layer.rows != site.d_h || layer.cols != site.d_w || layer.rule != site.rule) {
      if (st.ok() && layer.rows == site.d_h && layer.cols == site.d_w) continue;  // another rule: not this site
      if (why_not.empty())
        why_not = st.ok() ? "layer '" + std::string(site.layer_name) + "' is [" + std::to_string(layer.rows) + ", " +
                                std::to_string(layer.cols) + "], the experts expect [" + std::to_string(site.d_h) + ", " +
                                std::to_string(site.d_w) + "]"
                          : st.message;
      continue;
    }
    FileRows rows(file, layer, &lora_scratch_);
    const probex_status s = sketch_site(i, rows, message);
    if (s != PROBEX_OK) {
      if (s == PROBEX_LAYER_NONFINITE) *message = file.label() + ": " + *message;
      return s;
    }
    for (uint32_t t : site.trees)
      distances_[t] = static_cast<float>(sketch_distance(sketch_.data(), trees[t].root_sketch, sketch_.size()));
  }
  uint32_t best = PROBEX_NO_TREE;
  float nearest = INFINITY, second = INFINITY;
  for (uint32_t t = 0; t < trees.size(); ++t) {
    if (std::isnan(distances_[t])) continue;
    if (distances_[t] < nearest) {
      second = nearest;
      nearest = distances_[t];
      best = t;
    } else if (distances_[t] < second) {
      second = distances_[t];
    }
  }
  result->routed = true;
  result->root_distance_count = static_cast<uint32_t>(trees.size());
  result->root_distances = distances_.data();
  result->route_distance = nearest;
  result->route_margin = best != PROBEX_NO_TREE && nearest > 0.0f ? second / nearest : INFINITY;
  result->route_accept = best != PROBEX_NO_TREE ? trees[best].accept_distance : 0.0f;
  reason_[0] = '\0';
  if (best == PROBEX_NO_TREE) {
    std::snprintf(reason_, sizeof(reason_), "no expert covers this model's architecture (%s)",
                  why_not.empty() ? "no probed layer found" : why_not.c_str());
  } else if (nearest > trees[best].accept_distance) {
    std::snprintf(reason_, sizeof(reason_),
                  "the nearest root is tree '%s' at distance %.3f, beyond its acceptance distance %.3f",
                  trees[best].name, static_cast<double>(nearest), static_cast<double>(trees[best].accept_distance));
    best = PROBEX_NO_TREE;
  }
  *tree = best;
  return PROBEX_OK;
}

probex_status Auditor::run_expert(uint32_t slot, const TreeView& t, uint32_t r_u, uint32_t r_v, RowSource& rows,
                                  float* embedding, float* logits, double* read_s, double* probe_s,
                                  double* rest_s, std::string* message) {
  const uint32_t block = std::min(rows_per_block_, t.d_h);
  std::fill(g_, g_ + static_cast<size_t>(r_u) * r_v, 0.0f);
  for (uint32_t first = 0; first < t.d_h; first += block) {
    const uint32_t count = std::min(block, t.d_h - first);
    Clock::time_point start = Clock::now();
    probex_status s = rows.read(first, count, x_, message);
    if (s != PROBEX_OK) return s;
    const size_t n = static_cast<size_t>(count) * t.d_w;
    if (!all_finite(x_, n)) {
      size_t i = 0;
      while (std::isfinite(x_[i])) ++i;
      *message = std::string("layer '") + t.layer_name + "' holds NaN or Inf (row " + std::to_string(first + i / t.d_w) + ")";
      return PROBEX_LAYER_NONFINITE;
    }
    *read_s += seconds_since(start);
    start = Clock::now();
    s = backend_->probe_block(slot, x_, first, count, g_, message);
    if (s != PROBEX_OK) return s;
    *probe_s += seconds_since(start);
  }
  const Clock::time_point start = Clock::now();
  const probex_status s = backend_->finish(slot, g_, embedding, logits, message);
  *rest_s += seconds_since(start);
  return s;
}

void Auditor::score_zero_shot(const TreeView& t) {
  const ZeroShotView& z = t.zero_shot;
  const uint32_t r = z.expert.r_t;
  double norm = 0.0;
  for (uint32_t j = 0; j < r; ++j) norm += static_cast<double>(zero_shot_embedding_[j]) * static_cast<double>(zero_shot_embedding_[j]);
  norm = std::sqrt(norm);
  for (size_t c = 0; c < z.labels.size(); ++c) {
    z.prototypes.row(c, prototype_row_);  // unit rows (verified at load)
    double dot = 0.0;
    for (uint32_t j = 0; j < r; ++j) dot += static_cast<double>(zero_shot_embedding_[j]) * static_cast<double>(prototype_row_[j]);
    zero_shot_scores_[c] = norm > 0.0 ? static_cast<float>(dot / norm) : 0.0f;
  }
}

probex_status Auditor::run(uint32_t tree, RowSource& rows, probex_audit_result* result, std::string* message) {
  const TreeView& t = bundle_.trees()[tree];
  double read_s = 0, probe_s = 0, rest_s = 0;
  probex_status s = run_expert(tree, t, t.r_u, t.r_v, rows, embedding_, logits_, &read_s, &probe_s, &rest_s, message);
  if (s != PROBEX_OK) return s;
  Clock::time_point start = Clock::now();
  for (size_t k = 0; k < t.d_y; ++k) {
    probabilities_[k] = 1.0f / (1.0f + std::exp(-logits_[k]));
    predicted_[k] = probabilities_[k] >= 0.5f;
  }
  result->tree = tree;
  result->label_count = t.d_y;
  result->logits = logits_;
  result->probabilities = probabilities_;
  result->predicted = predicted_;
  result->embedding_size = t.r_t;
  result->embedding = embedding_;
  result->seconds_read = read_s;
  result->seconds_probe = probe_s;
  result->seconds_rest = rest_s + seconds_since(start);  // steps 3-4 in the backend, then the sigmoids
  if (zero_shot_slot_[tree] == kNoSlot) return PROBEX_OK;
  // The zero-shot expert reads the layer a second time (backends keep one expert's row blocks at a time).
  start = Clock::now();
  double zero_shot_read = 0, zero_shot_probe = 0, zero_shot_rest = 0;
  const ExpertView& z = t.zero_shot.expert;
  s = run_expert(zero_shot_slot_[tree], t, z.r_u, z.r_v, rows, zero_shot_embedding_, nullptr, &zero_shot_read,
                 &zero_shot_probe, &zero_shot_rest, message);
  if (s != PROBEX_OK) return s;
  score_zero_shot(t);
  result->zero_shot_count = static_cast<uint32_t>(t.zero_shot.labels.size());
  result->zero_shot_scores = zero_shot_scores_;
  result->seconds_zero_shot = seconds_since(start);
  return PROBEX_OK;
}

probex_status Auditor::audit_file(uint32_t tree, const std::string& path, probex_audit_result* result,
                                  std::string* message) {
  const auto& trees = bundle_.trees();
  const bool route = tree == PROBEX_ROUTE;
  if (route && !bundle_.has_router() && trees.size() != 1) {
    *message = "the bundle has " + std::to_string(trees.size()) + " trees and no router: name the tree";
    return PROBEX_INVALID_ARGUMENT;
  }
  if (!route && tree >= trees.size()) {
    *message = "tree index " + std::to_string(tree) + " out of range";
    return PROBEX_INVALID_ARGUMENT;
  }
  *result = probex_audit_result{};
  result->unknown_reason = reason_;
  reason_[0] = '\0';
  std::unique_ptr<ModelFile> file;
  probex_status s = open_model(path, &file, result, message);
  if (s != PROBEX_OK) return s;
  if (route && bundle_.has_router()) {
    const Clock::time_point start = Clock::now();
    s = route_file(*file, &tree, result, message);
    result->seconds_route = seconds_since(start);
    if (s != PROBEX_OK) return s;
    if (tree == PROBEX_NO_TREE) {
      result->tree = PROBEX_NO_TREE;
      return PROBEX_OK;
    }
  } else if (route) {
    tree = 0;  // a single tree and no router
  }
  const TreeView& t = trees[tree];
  ProbedLayer layer;
  const ModelStatus st = find_probed_layer(*file, t.layer_name, &layer, max_lora_rank_);
  if (!st.ok()) {
    *message = st.message;
    return status_of(st.code);
  }
  if (layer.rows != t.d_h || layer.cols != t.d_w || layer.rule != t.rule) {
    *message = path + ": layer '" + t.layer_name + "' reads as [" + std::to_string(layer.rows) + ", " +
               std::to_string(layer.cols) + "] (" + layer_rule_name(layer.rule) + "), tree '" + t.name + "' expects [" +
               std::to_string(t.d_h) + ", " + std::to_string(t.d_w) + "] (" + layer_rule_name(t.rule) + ")";
    return PROBEX_LAYER_SHAPE;
  }
  FileRows rows(*file, layer, &lora_scratch_);
  s = run(tree, rows, result, message);
  if (s == PROBEX_LAYER_NONFINITE) *message = path + ": " + *message;
  return s;
}

probex_status Auditor::open_model(const std::string& path, std::unique_ptr<ModelFile>* file, probex_audit_result* result,
                                  std::string* message) {
  const ModelStatus st = open_model_file(path, file, model_limits_);
  if (!st.ok()) {
    *message = st.message;
    return status_of(st.code);  // opening yields kIo, a limit, or a format error (PROBEX_MODEL_INVALID)
  }
  result->model_format = model_format_name((*file)->format());
  // Copied: the file is closed when the audit returns, the result lives until the next one.
  std::snprintf(declared_base_, sizeof(declared_base_), "%s", (*file)->declared_base_model().c_str());
  result->declared_base_model = declared_base_;
  return PROBEX_OK;
}

probex_status Auditor::route_only(const std::string& path, probex_audit_result* result, std::string* message) {
  if (!bundle_.has_router()) {
    *message = "the bundle has no router";
    return PROBEX_INVALID_ARGUMENT;
  }
  *result = probex_audit_result{};
  result->unknown_reason = reason_;
  reason_[0] = '\0';
  std::unique_ptr<ModelFile> file;
  probex_status s = open_model(path, &file, result, message);
  if (s != PROBEX_OK) return s;
  const Clock::time_point start = Clock::now();
  uint32_t tree = PROBEX_NO_TREE;
  s = route_file(*file, &tree, result, message);
  result->seconds_route = seconds_since(start);
  result->tree = tree;
  return s;
}

probex_status Auditor::audit_matrix(uint32_t tree, const float* x, uint32_t rows, uint32_t cols,
                                    probex_audit_result* result, std::string* message) {
  if (tree >= bundle_.trees().size() || !x) {
    *message = x ? "tree index " + std::to_string(tree) + " out of range" : std::string("null matrix");
    return PROBEX_INVALID_ARGUMENT;
  }
  const TreeView& t = bundle_.trees()[tree];
  if (rows != t.d_h || cols != t.d_w) {
    *message = "matrix is [" + std::to_string(rows) + ", " + std::to_string(cols) + "], tree '" + t.name + "' expects [" +
               std::to_string(t.d_h) + ", " + std::to_string(t.d_w) + "]";
    return PROBEX_LAYER_SHAPE;
  }
  *result = probex_audit_result{};
  result->unknown_reason = reason_;
  reason_[0] = '\0';
  MatrixRows source(x, cols);
  return run(tree, source, result, message);
}

probex_status Auditor::self_test(double* worst, std::string* message) {
  double worst_seen = 0.0;
  const auto& trees = bundle_.trees();
  for (uint32_t i = 0; i < trees.size(); ++i) {
    const TreeView& t = trees[i];
    for (size_t k = 0; k < t.self_tests.size(); ++k) {
      const SelfTestView& st = t.self_tests[k];
      GeneratedRows source(st.seed, st.amplitude, t.d_w);
      probex_audit_result r{};
      r.unknown_reason = reason_;
      probex_status s = run(i, source, &r, message);
      if (s != PROBEX_OK) return s;
      const auto difference = [](const float* got, const float* want, size_t n) {
        double scale = 0, diff = 0;
        for (size_t j = 0; j < n; ++j) {
          scale = std::max(scale, std::fabs(static_cast<double>(want[j])));
          diff = std::max(diff, std::fabs(static_cast<double>(got[j]) - static_cast<double>(want[j])));
        }
        return diff / (1.0 + scale);
      };
      double d = std::max(difference(r.logits, st.logits, t.d_y), difference(r.embedding, st.embedding, t.r_t));
      if (st.zero_shot_count > 0) d = std::max(d, difference(r.zero_shot_scores, st.zero_shot_scores, st.zero_shot_count));
      worst_seen = std::max(worst_seen, d);
      if (!(d <= static_cast<double>(st.tolerance))) {
        *message = std::string("tree '") + t.name + "' self-test " + std::to_string(k) + ": outputs differ by " +
                   std::to_string(d) + " (relative), tolerance " + std::to_string(st.tolerance) + " (backend " +
                   backend_->name() + ")";
        if (worst) *worst = worst_seen;
        return PROBEX_SELF_TEST_FAILED;
      }
    }
  }
  if (worst) *worst = worst_seen;
  return PROBEX_OK;
}

}  // namespace probex
