#include "runtime/executor/auditor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "runtime/math/float_formats.h"
#include "runtime/math/self_test_input.h"

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

// An expert's float32 weights for Backend::add_tree, unpacked from the bundle (valid until the next call).
class ExpertUnpacker {
 public:
  ExpertWeights unpack(const ExpertView& e, uint32_t d_h, uint32_t d_w, bool float_only, bool int8_encoder) {
    ExpertWeights w;
    w.d_h = d_h;
    w.d_w = d_w;
    w.r_u = e.r_u;
    w.r_v = e.r_v;
    w.r_t = e.r_t;
    w.d_y = e.d_y;
    if (!e.views.empty()) {  // a multi-view expert: views instead of probes and projection
      view_probes_.resize(e.views.size());
      view_projections_.resize(e.views.size());
      views_.resize(e.views.size());
      for (size_t i = 0; i < e.views.size(); ++i)
        views_[i] = MultiViewInput{e.views[i].kind, matrix(e.views[i].probes, &view_probes_[i]),
                                   matrix(e.views[i].projection, &view_projections_[i])};
      w.views = views_.data();
      w.view_count = static_cast<uint32_t>(views_.size());
      w.std_eps = e.std_eps;
    } else {
      w.probes = matrix(e.probes, &probes_);
      w.projection = matrix(e.projection, &projection_);
    }
    if (int8_encoder && e.encoder.type == StorageType::kI8) {  // kept int8, read from the bundle's bytes
      w.encoder_int8 = reinterpret_cast<const int8_t*>(e.encoder.data);
      w.encoder_scales = e.encoder.scales;
      w.encoder_block_size = e.encoder.block_size;
    } else {
      w.encoder = matrix(e.encoder, &encoder_);
    }
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
  std::vector<std::vector<float>> view_probes_, view_projections_;
  std::vector<MultiViewInput> views_;
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
                              const probex_allocator* allocator, std::unique_ptr<Auditor>* out, std::string* message,
                              Int8Step1 int8_step1) {
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
    s = make_xnnpack_backend(options.threads, int8_step1, &a->backend_, message);
  } else {
    *message = "unknown backend " + std::to_string(backend);
    return PROBEX_INVALID_ARGUMENT;
  }
  if (s != PROBEX_OK) return s;

  size_t max_x = 0, max_g = 0, max_zg = 0, max_t = 0, max_y = 0, max_zt = 0, max_zl = 0;
  ExpertUnpacker unpacker;
  const auto& trees = bundle.trees();
  for (const TreeView& t : trees) {
    const uint32_t block = std::min(rows_per_block, t.d_h);
    s = a->backend_->add_tree(unpacker.unpack(t, t.d_h, t.d_w, options.float_only, a->backend_->accepts_int8_encoder()),
                              block, message);
    if (s != PROBEX_OK) return s;
    max_x = std::max(max_x, static_cast<size_t>(block) * t.d_w);
    max_g = std::max<size_t>(max_g, t.feature_size());
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
    s = a->backend_->add_tree(unpacker.unpack(z, t.d_h, t.d_w, options.float_only, a->backend_->accepts_int8_encoder()),
                              std::min(rows_per_block, t.d_h), message);
    if (s != PROBEX_OK) return s;
    a->zero_shot_slot_[i] = next_slot++;
    max_zg = std::max<size_t>(max_zg, z.feature_size());
    max_zt = std::max<size_t>(max_zt, z.r_t);
    max_zl = std::max(max_zl, t.zero_shot.labels.size());
  }
  // One arena: x | g | zero-shot g | embedding | logits | probabilities | predicted | zero-shot embedding |
  // scores | prototype row, each 64-byte aligned.
  const size_t x_bytes = round_up(max_x * sizeof(float) + kSlackBytes), g_bytes = round_up(max_g * sizeof(float));
  const size_t zg_bytes = round_up(max_zg * sizeof(float));
  const size_t t_bytes = round_up(max_t * sizeof(float) + kSlackBytes),
               y_bytes = round_up(max_y * sizeof(float) + kSlackBytes);
  const size_t zt_bytes = round_up(max_zt * sizeof(float) + kSlackBytes), zl_bytes = round_up(max_zl * sizeof(float));
  if (!a->arena_.allocate(x_bytes + g_bytes + zg_bytes + t_bytes + 2 * y_bytes + round_up(max_y * sizeof(bool)) +
                              2 * zt_bytes + zl_bytes,
                          allocator)) {
    *message = "cannot allocate the audit arena";
    return PROBEX_OUT_OF_MEMORY;
  }
  uint8_t* p = a->arena_.data();
  a->x_ = arena_floats(p);
  a->g_ = arena_floats(p += x_bytes);
  a->zero_shot_g_ = arena_floats(p += g_bytes);
  a->embedding_ = arena_floats(p += zg_bytes);
  a->logits_ = arena_floats(p += t_bytes);
  a->probabilities_ = arena_floats(p += y_bytes);
  a->predicted_ = reinterpret_cast<bool*>(p += y_bytes);
  a->zero_shot_embedding_ = arena_floats(p += round_up(max_y * sizeof(bool)));
  a->prototype_row_ = arena_floats(p += zt_bytes);
  a->zero_shot_scores_ = arena_floats(p += zt_bytes);
  s = a->router_.prepare(bundle, a->backend_.get(), rows_per_block, message);
  if (s != PROBEX_OK) return s;
  *out = std::move(a);
  return PROBEX_OK;
}

probex_status Auditor::pass(RowSource& rows, uint32_t d_h, uint32_t d_w, const char* layer_name, size_t site,
                            uint32_t tree, probex_audit_result* result, std::string* message) {
  const TreeView* t = tree != PROBEX_NO_TREE ? &bundle_.trees()[tree] : nullptr;
  const uint32_t zero_shot = t ? zero_shot_slot_[tree] : kNoSlot;
  if (site != kNoSite) router_.begin(site);
  if (t) std::fill(g_, g_ + t->feature_size(), 0.0f);
  if (zero_shot != kNoSlot) std::fill(zero_shot_g_, zero_shot_g_ + t->zero_shot.expert.feature_size(), 0.0f);
  const uint32_t block = std::min(rows_per_block_, d_h);
  for (uint32_t first = 0; first < d_h; first += block) {
    const uint32_t count = std::min(block, d_h - first);
    Clock::time_point start = Clock::now();
    probex_status s = rows.read(first, count, x_, message);
    if (s != PROBEX_OK) return s;
    const size_t n = static_cast<size_t>(count) * d_w;
    if (!all_finite(x_, n)) {
      // Rejected before any use: a distance or a prediction computed from NaN would be silently wrong.
      size_t i = 0;
      while (std::isfinite(x_[i])) ++i;
      *message = std::string("layer '") + layer_name + "' holds NaN or Inf (row " + std::to_string(first + i / d_w) +
                 ")";
      return PROBEX_LAYER_NONFINITE;
    }
    result->seconds_read += seconds_since(start);
    if (site != kNoSite) {
      start = Clock::now();
      s = router_.add_block(site, x_, first, count, message);
      if (s != PROBEX_OK) return s;
      result->seconds_route += seconds_since(start);
    }
    if (t) {
      start = Clock::now();
      s = backend_->probe_block(tree, x_, first, count, g_, message);
      if (s != PROBEX_OK) return s;
      result->seconds_probe += seconds_since(start);
    }
    if (zero_shot != kNoSlot) {
      start = Clock::now();
      s = backend_->probe_block(zero_shot, x_, first, count, zero_shot_g_, message);
      if (s != PROBEX_OK) return s;
      result->seconds_zero_shot += seconds_since(start);
    }
  }
  if (site != kNoSite) {
    const Clock::time_point start = Clock::now();
    router_.end(site);
    result->seconds_route += seconds_since(start);
  }
  return PROBEX_OK;
}

void Auditor::score_zero_shot(const TreeView& t) {
  const ZeroShotView& z = t.zero_shot;
  const uint32_t r = z.expert.r_t;
  double norm = 0.0;
  for (uint32_t j = 0; j < r; ++j)
    norm += static_cast<double>(zero_shot_embedding_[j]) * static_cast<double>(zero_shot_embedding_[j]);
  norm = std::sqrt(norm);
  for (size_t c = 0; c < z.labels.size(); ++c) {
    z.prototypes.row(c, prototype_row_);  // unit rows (verified at load)
    double dot = 0.0;
    for (uint32_t j = 0; j < r; ++j)
      dot += static_cast<double>(zero_shot_embedding_[j]) * static_cast<double>(prototype_row_[j]);
    zero_shot_scores_[c] = norm > 0.0 ? static_cast<float>(dot / norm) : 0.0f;
  }
}

probex_status Auditor::finish(uint32_t tree, probex_audit_result* result, std::string* message) {
  const TreeView& t = bundle_.trees()[tree];
  Clock::time_point start = Clock::now();
  probex_status s = backend_->finish(tree, g_, embedding_, logits_, message);
  if (s != PROBEX_OK) return s;
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
  result->seconds_rest += seconds_since(start);  // steps 3-4 in the backend, then the sigmoids
  if (zero_shot_slot_[tree] == kNoSlot) return PROBEX_OK;
  start = Clock::now();
  s = backend_->finish(zero_shot_slot_[tree], zero_shot_g_, zero_shot_embedding_, nullptr, message);
  if (s != PROBEX_OK) return s;
  score_zero_shot(t);
  result->zero_shot_count = static_cast<uint32_t>(t.zero_shot.labels.size());
  result->zero_shot_scores = zero_shot_scores_;
  result->seconds_zero_shot += seconds_since(start);
  return PROBEX_OK;
}

probex_status Auditor::run(uint32_t tree, RowSource& rows, probex_audit_result* result, std::string* message) {
  const TreeView& t = bundle_.trees()[tree];
  const probex_status s = pass(rows, t.d_h, t.d_w, t.layer_name, kNoSite, tree, result, message);
  return s != PROBEX_OK ? s : finish(tree, result, message);
}

probex_status Auditor::route(const ModelFile& file, bool speculate, uint32_t* tree, uint32_t* speculated,
                             probex_audit_result* result, std::string* message) {
  Clock::time_point start = Clock::now();
  router_.reset();
  std::string why_not;  // the first site this model does not fit, for the report
  probex_status s = router_.match(file, max_lora_rank_, &why_not, message);
  if (s != PROBEX_OK) return s;
  const auto& sites = router_.sites();
  size_t matched = 0;
  for (size_t i = 0; i < sites.size(); ++i) matched += router_.layer(i).rows > 0;
  result->seconds_route += seconds_since(start);
  *speculated = PROBEX_NO_TREE;
  for (size_t i = 0; i < sites.size(); ++i) {
    const ProbedLayer& layer = router_.layer(i);
    if (layer.rows == 0) continue;
    // The experts run on speculation only where no other tree could be chosen: the model's one site, used
    // by one tree. The router still decides; a refusal discards their work.
    const uint32_t experts = speculate && matched == 1 && sites[i].trees.size() == 1 ? sites[i].trees[0]
                                                                                     : PROBEX_NO_TREE;
    FileRows rows(file, layer, &lora_scratch_);
    s = pass(rows, sites[i].d_h, sites[i].d_w, sites[i].layer_name, i, experts, result, message);
    if (s != PROBEX_OK) {
      if (s == PROBEX_LAYER_NONFINITE) *message = file.label() + ": " + *message;
      return s;
    }
    *speculated = experts;
  }
  start = Clock::now();
  router_.decide(why_not, result, tree);
  result->seconds_route += seconds_since(start);
  return PROBEX_OK;
}

probex_status Auditor::tree_layer(const ModelFile& file, const std::string& path, uint32_t tree, ProbedLayer* layer,
                                  std::string* message) {
  const TreeView& t = bundle_.trees()[tree];
  const ModelStatus st = find_probed_layer(file, t.layer_name, layer, max_lora_rank_);
  if (!st.ok()) {
    *message = st.message;
    return status_of(st.code);
  }
  if (layer->rows != t.d_h || layer->cols != t.d_w || layer->rule != t.rule) {
    *message = path + ": layer '" + t.layer_name + "' reads as [" + std::to_string(layer->rows) + ", " +
               std::to_string(layer->cols) + "] (" + layer_rule_name(layer->rule) + "), tree '" + t.name +
               "' expects [" + std::to_string(t.d_h) + ", " + std::to_string(t.d_w) + "] (" + layer_rule_name(t.rule) +
               ")";
    return PROBEX_LAYER_SHAPE;
  }
  return PROBEX_OK;
}

probex_status Auditor::audit_file(uint32_t tree, const std::string& path, probex_audit_result* result,
                                  std::string* message) {
  const auto& trees = bundle_.trees();
  const bool route_it = tree == PROBEX_ROUTE;
  if (route_it && !bundle_.has_router() && trees.size() != 1) {
    *message = "the bundle has " + std::to_string(trees.size()) + " trees and no router: name the tree";
    return PROBEX_INVALID_ARGUMENT;
  }
  if (!route_it && tree >= trees.size()) {
    *message = "tree index " + std::to_string(tree) + " out of range";
    return PROBEX_INVALID_ARGUMENT;
  }
  *result = probex_audit_result{};
  router_.reset();
  result->unknown_reason = router_.reason();
  std::unique_ptr<ModelFile> file;
  probex_status s = open_model(path, &file, result, message);
  if (s != PROBEX_OK) return s;
  if (route_it && bundle_.has_router()) {
    uint32_t speculated = PROBEX_NO_TREE;
    s = route(*file, true, &tree, &speculated, result, message);
    if (s != PROBEX_OK) return s;
    if (tree == PROBEX_NO_TREE) {
      result->tree = PROBEX_NO_TREE;
      return PROBEX_OK;
    }
    if (tree == speculated) return finish(tree, result, message);  // the experts ran in the router's pass
  } else if (route_it) {
    tree = 0;  // a single tree and no router
  }
  ProbedLayer layer;
  s = tree_layer(*file, path, tree, &layer, message);
  if (s != PROBEX_OK) return s;
  FileRows rows(*file, layer, &lora_scratch_);
  s = run(tree, rows, result, message);
  if (s == PROBEX_LAYER_NONFINITE) *message = path + ": " + *message;
  return s;
}

probex_status Auditor::open_model(const std::string& path, std::unique_ptr<ModelFile>* file,
                                  probex_audit_result* result, std::string* message) {
  const Clock::time_point start = Clock::now();
  const ModelStatus st = open_model_file(path, file, model_limits_);
  result->seconds_open = seconds_since(start);
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
  router_.reset();
  result->unknown_reason = router_.reason();
  std::unique_ptr<ModelFile> file;
  probex_status s = open_model(path, &file, result, message);
  if (s != PROBEX_OK) return s;
  uint32_t tree = PROBEX_NO_TREE, speculated = PROBEX_NO_TREE;
  s = route(*file, false, &tree, &speculated, result, message);
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
    *message = "matrix is [" + std::to_string(rows) + ", " + std::to_string(cols) + "], tree '" + t.name +
               "' expects [" + std::to_string(t.d_h) + ", " + std::to_string(t.d_w) + "]";
    return PROBEX_LAYER_SHAPE;
  }
  *result = probex_audit_result{};
  router_.reset();
  result->unknown_reason = router_.reason();
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
      r.unknown_reason = "";
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
      if (st.zero_shot_count > 0)
        d = std::max(d, difference(r.zero_shot_scores, st.zero_shot_scores, st.zero_shot_count));
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
