#include "converter/bundle/bundle_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "converter/bundle/flip_bound.h"
#include "converter/bundle/runtime_bundle.h"
#include "converter/text/embedding_table.h"
#include "probex/probex.h"
#include "probex_bundle_generated.h"
#include "runtime/math/cosine.h"
#include "runtime/math/self_test_input.h"

namespace probex::convert {
namespace {

// Large tensor data starts on a 32-byte boundary of the file (FlatBuffers 2.0 allows no more), so a
// bundle in aligned memory (the runtime's copy of a file is 64-byte aligned) can feed SIMD kernels directly.
constexpr size_t kDataAlignment = 32;

bool parse_rule(const std::string& name, LayerRule* out) {
  for (LayerRule r : {LayerRule::kMatrix, LayerRule::kConv1x1, LayerRule::kConvReshape, LayerRule::kVector,
                      LayerRule::kLoraProduct}) {
    if (name == layer_rule_name(r)) {
      *out = r;
      return true;
    }
  }
  return false;
}

std::vector<float> transpose(const std::vector<float>& m, size_t rows, size_t cols) {
  std::vector<float> t(m.size());
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) t[c * rows + r] = m[r * cols + c];
  return t;
}

void set_param(ProbexExpert& e, const std::string& name, const std::vector<float>& values) {
  e.find_param(name)->value = values;
}

flatbuffers::Offset<fb::Tensor> write_tensor(flatbuffers::FlatBufferBuilder& b, const QuantizedMatrix& m) {
  b.ForceVectorAlignment(m.data.size(), 1, kDataAlignment);
  const auto data = b.CreateVector(m.data);
  const auto scales = m.scales.empty() ? 0 : b.CreateVector(m.scales);
  const auto name = b.CreateString(m.name);
  fb::TensorBuilder t(b);
  t.add_name(name);
  t.add_rows(m.rows);
  t.add_cols(m.cols);
  t.add_type(static_cast<fb::TensorType>(m.type));
  t.add_data(data);
  if (!m.scales.empty()) t.add_scales(scales);
  t.add_block_size(m.block_size);
  return t.Finish();
}

const std::vector<float>& param_value(const ProbexExpert& e, const std::string& name) {
  for (const Param* p : e.const_params())
    if (p->name == name) return p->value;
  static const std::vector<float> none;  // unreachable: a loaded expert has every parameter
  return none;
}

// Cosines of the device zero-shot model's embedding (last forward) with every prototype.
std::vector<float> zero_shot_scores(const BundleZeroShot& z) {
  const size_t r = z.shape.r_t;
  const std::vector<float> prototypes = z.prototypes.dequantized();
  std::vector<float> scores(z.labels.size());
  for (size_t c = 0; c < scores.size(); ++c)
    scores[c] = static_cast<float>(probex::cosine(z.device_model->embeddings(), prototypes.data() + c * r, r));
  return scores;
}

// Raises *ratio to cover `count` layers for int8 per-channel probes (see calibrate_probe_output).
void calibrate_ratio(const QuantizedMatrix& probes, const ProbexShape& s, const float* layers, size_t count,
                     float* ratio) {
  if (probes.type != StorageType::kI8 || probes.block_size != 0) return;
  const std::vector<float> u_t = probes.dequantized();  // [r_U, d_W], what the device multiplies by
  for (size_t n = 0; n < count; ++n) {
    const float* x = layers + n * s.d_h * s.d_w;
    for (size_t h = 0; h < s.d_h; ++h) {
      const float* row = x + h * s.d_w;
      float amax = 0.0f;
      for (size_t k = 0; k < s.d_w; ++k) amax = std::max(amax, std::fabs(row[k]));
      if (!(amax > 0.0f)) continue;
      float pmax = 0.0f;
      for (size_t l = 0; l < s.r_u; ++l) {
        const float* u = u_t.data() + l * s.d_w;
        double acc = 0.0;
        for (size_t k = 0; k < s.d_w; ++k) acc += static_cast<double>(row[k]) * static_cast<double>(u[k]);
        pmax = std::max(pmax, static_cast<float>(std::fabs(acc)));
      }
      *ratio = std::max(*ratio, pmax / amax);
    }
  }
}

std::vector<float> copy_floats(const float* p, size_t n) {
  std::vector<float> out(n);
  if (n > 0) std::memcpy(out.data(), p, n * sizeof(float));
  return out;
}

QuantizedMatrix from_view(const MatrixView& m) {
  QuantizedMatrix q;
  q.name = m.name;
  q.rows = m.rows;
  q.cols = m.cols;
  q.type = m.type;
  q.block_size = m.block_size;
  q.data.assign(m.data, m.data + m.data_bytes());
  if (m.scales) q.scales = copy_floats(m.scales, m.scale_count);
  return q;
}

// An expert: ProbeX's probes and projection, or a multi-view expert's views (no int8 step 1); the head
// absent (null) for a zero-shot expert.
flatbuffers::Offset<fb::Expert> write_expert(flatbuffers::FlatBufferBuilder& b, const ProbexShape& shape,
                                             const QuantizedMatrix& probes, const QuantizedMatrix& projection,
                                             const QuantizedMatrix& encoder, const QuantizedMatrix& encoder_bias,
                                             const std::vector<BundleView>& views, float std_eps,
                                             float probe_output_ratio, const QuantizedMatrix* head,
                                             const QuantizedMatrix* head_bias) {
  const auto u32 = [](size_t v) { return static_cast<uint32_t>(v); };
  // The tensors are written inside the calls, as before this function existed, so bundles keep their bytes.
  using TensorOffset = flatbuffers::Offset<fb::Tensor>;
  if (views.empty()) {
    return fb::CreateExpert(b, u32(shape.r_u), u32(shape.r_v), u32(shape.r_t), write_tensor(b, probes),
                            write_tensor(b, projection), write_tensor(b, encoder), write_tensor(b, encoder_bias),
                            head ? write_tensor(b, *head) : TensorOffset(),
                            head_bias ? write_tensor(b, *head_bias) : TensorOffset(), probe_output_ratio);
  }
  std::vector<flatbuffers::Offset<fb::View>> offsets;
  for (const BundleView& v : views)
    offsets.push_back(
        fb::CreateView(b, static_cast<fb::ViewKind>(v.kind), write_tensor(b, v.probes), write_tensor(b, v.projection)));
  return fb::CreateExpert(b, u32(shape.r_u), u32(shape.r_v), u32(shape.r_t), 0, 0, write_tensor(b, encoder),
                          write_tensor(b, encoder_bias), head ? write_tensor(b, *head) : TensorOffset(),
                          head_bias ? write_tensor(b, *head_bias) : TensorOffset(), 0.0f, b.CreateVector(offsets),
                          std_eps);
}

}  // namespace

void quantize_expert_body(const ProbexExpert& e, const QuantSpec& spec, QuantizedMatrix* probes,
                          QuantizedMatrix* projection, QuantizedMatrix* encoder, QuantizedMatrix* encoder_bias) {
  const ProbexShape& s = e.shape();
  const auto u32 = [](size_t v) { return static_cast<uint32_t>(v); };
  // int8 covers the two large matrices (the probes, which step 1 multiplies by, and the encoder, which
  // is most of the bytes). The projection V (and the head) stay f16: measured on the standard zoo's fc1
  // experts, int8 on V alone (even in blocks of 32) moved probabilities by up to 0.04 and flipped up to
  // 0.4% of the decisions (G = relu(P^T V) cancels, so small errors in V matter), while int8 on the
  // encoder alone moved them by 0.003. Both are small, so f16 costs little.
  const QuantSpec sensitive = spec.type == StorageType::kI8 ? QuantSpec{StorageType::kF16, 0} : spec;
  const auto u_t = transpose(param_value(e, "probes.weight"), s.d_w, s.r_u);  // [r_U, d_W]
  *probes = quantize_matrix("probes.weight", u_t.data(), u32(s.r_u), u32(s.d_w), spec);
  *projection = quantize_matrix("shared_probe_proj.weight", param_value(e, "shared_probe_proj.weight").data(),
                                u32(s.r_v), u32(s.d_h), sensitive);
  *encoder = quantize_matrix("per_probe_encoders.weight", param_value(e, "per_probe_encoders.weight").data(),
                             u32(s.r_t), u32(s.r_u * s.r_v), spec);
  *encoder_bias = quantize_matrix("per_probe_encoders.bias", param_value(e, "per_probe_encoders.bias").data(), 1,
                                  u32(s.r_t), QuantSpec{StorageType::kF32, 0});
}

void set_expert_body(const QuantizedMatrix& probes, const QuantizedMatrix& projection, const QuantizedMatrix& encoder,
                     const QuantizedMatrix& encoder_bias, ProbexExpert* device_model) {
  const ProbexShape& s = device_model->shape();
  set_param(*device_model, "probes.weight", transpose(probes.dequantized(), s.r_u, s.d_w));
  set_param(*device_model, "shared_probe_proj.weight", projection.dequantized());
  set_param(*device_model, "per_probe_encoders.weight", encoder.dequantized());
  set_param(*device_model, "per_probe_encoders.bias", encoder_bias.dequantized());
}

// What a tree takes from its checkpoint's metadata: names, rule, labels and figures.
bool tree_from_metadata(const std::map<std::string, std::string>& metadata, const std::vector<std::string>& labels,
                        const std::string& path, BundleTree* t, std::string* error) {
  const auto meta = [&](const char* key) {
    auto it = metadata.find(key);
    return it == metadata.end() ? std::string() : it->second;
  };
  t->name = meta("tree");
  t->layer_name = meta("layer");
  t->root = meta("root");
  t->reader_reason = meta("reader_reason");
  if (t->name.empty() || t->layer_name.empty()) {
    *error = path +
             ": the checkpoint's metadata names no tree or layer (a bare state dict needs probex-train's metadata)";
    return false;
  }
  const std::string rule = meta("layer_rule").empty() ? "matrix" : meta("layer_rule");
  if (!parse_rule(rule, &t->rule)) {
    *error = path + ": unknown layer_rule '" + rule + "'";
    return false;
  }
  t->labels = labels;
  for (const auto& [key, value] : metadata) {
    if (key.rfind("test_", 0) != 0 && key.rfind("val_", 0) != 0) continue;
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (end != value.c_str() && *end == '\0' && std::isfinite(v)) t->metrics.emplace_back(key, v);
  }
  return true;
}

bool make_bundle_tree(const LoadedCheckpoint& checkpoint, const std::string& path, const QuantSpec& spec,
                      BundleTree* out, std::string* error) {
  BundleTree t;
  if (!tree_from_metadata(checkpoint.metadata, checkpoint.labels, path, &t, error)) return false;
  const ProbexExpert& e = *checkpoint.expert;
  t.shape = e.shape();
  const ProbexShape& s = t.shape;
  quantize_expert_body(e, spec, &t.probes, &t.projection, &t.encoder, &t.encoder_bias);
  // The head stays f16 under int8, as the projection V (see quantize_expert_body).
  const QuantSpec sensitive = spec.type == StorageType::kI8 ? QuantSpec{StorageType::kF16, 0} : spec;
  t.head = quantize_matrix("classification_head.weight", param_value(e, "classification_head.weight").data(),
                           static_cast<uint32_t>(s.d_y), static_cast<uint32_t>(s.r_t), sensitive);
  t.head_bias = quantize_matrix("classification_head.bias", param_value(e, "classification_head.bias").data(), 1,
                                static_cast<uint32_t>(s.d_y), QuantSpec{StorageType::kF32, 0});
  auto device = std::make_unique<ProbexExpert>(s);
  set_expert_body(t.probes, t.projection, t.encoder, t.encoder_bias, device.get());
  set_param(*device, "classification_head.weight", t.head.dequantized());
  set_param(*device, "classification_head.bias", t.head_bias.dequantized());
  t.device_model = std::move(device);
  *out = std::move(t);
  return true;
}

void quantize_mvprobe_body(const MvProbeExpert& e, const QuantSpec& spec, std::vector<BundleView>* views,
                           QuantizedMatrix* encoder, QuantizedMatrix* encoder_bias, MvProbeExpert* device) {
  const MvProbeShape& s = e.shape();
  const auto u32 = [](size_t v) { return static_cast<uint32_t>(v); };
  // As ProbeX (quantize_expert_body): int8 on the probes and the encoder, f16 on the projections.
  const QuantSpec sensitive = spec.type == StorageType::kI8 ? QuantSpec{StorageType::kF16, 0} : spec;
  const char* probe_names[] = {"probes_xu.weight", "probes_xxtu.weight", "probes_xtu.weight", "probes_xtxu.weight"};
  const char* projection_names[] = {"shared_probe_proj_row.weight", "shared_probe_proj_row2.weight",
                                    "shared_probe_proj_col.weight", "shared_probe_proj_col2.weight"};
  const auto value = [&](const char* name) -> const std::vector<float>& {
    for (const Param* q : e.const_params())
      if (q->name == name) return q->value;
    static const std::vector<float> none;  // unreachable: a loaded expert has every parameter
    return none;
  };
  const size_t rp = s.r * s.p;
  const std::vector<float>& m = value("concat_all4_encoder.weight");  // [r_T, 4rp]
  std::vector<float> live_columns;  // M restricted to the views computed, [r_T, views * rp]
  std::vector<unsigned> live;
  for (unsigned k = 0; k < 4; ++k)
    if ((s.views >> k) & 1u) live.push_back(k);
  live_columns.resize(s.r_t * live.size() * rp);
  for (size_t j = 0; j < s.r_t; ++j)
    for (size_t i = 0; i < live.size(); ++i)
      std::copy_n(m.data() + j * 4 * rp + live[i] * rp, rp, live_columns.data() + (j * live.size() + i) * rp);
  views->clear();
  for (unsigned k : live) {
    BundleView v;
    v.kind = static_cast<ViewKind>(k);
    const size_t len = view_probe_length(v.kind, u32(s.d_h), u32(s.d_w));
    const size_t rows = view_response_rows(v.kind, u32(s.d_h), u32(s.d_w));
    const auto u_t = transpose(value(probe_names[k]), len, s.r);  // [r, len]
    v.probes = quantize_matrix(probe_names[k], u_t.data(), u32(s.r), u32(len), spec);
    v.projection = quantize_matrix(projection_names[k], value(projection_names[k]).data(), u32(s.p), u32(rows),
                                   sensitive);
    device->find_param(probe_names[k])->value = transpose(v.probes.dequantized(), s.r, len);
    device->find_param(projection_names[k])->value = v.projection.dequantized();
    views->push_back(std::move(v));
  }
  *encoder = quantize_matrix("concat_all4_encoder.weight", live_columns.data(), u32(s.r_t), u32(live.size() * rp),
                             spec);
  *encoder_bias = quantize_matrix("concat_all4_encoder.bias", value("concat_all4_encoder.bias").data(), 1, u32(s.r_t),
                                  QuantSpec{StorageType::kF32, 0});
  // The device model: the stored weights; the encoder's columns of views not computed keep the float
  // values (their features are 0, so they never count).
  std::vector<float> device_m = m;
  const std::vector<float> stored = encoder->dequantized();
  for (size_t j = 0; j < s.r_t; ++j)
    for (size_t i = 0; i < live.size(); ++i)
      std::copy_n(stored.data() + (j * live.size() + i) * rp, rp, device_m.data() + j * 4 * rp + live[i] * rp);
  device->find_param("concat_all4_encoder.weight")->value = device_m;
  device->find_param("concat_all4_encoder.bias")->value = encoder_bias->dequantized();
}

bool make_bundle_tree(const LoadedMvProbeCheckpoint& checkpoint, const std::string& path, const QuantSpec& spec,
                      BundleTree* out, std::string* error) {
  BundleTree t;
  if (!tree_from_metadata(checkpoint.metadata, checkpoint.labels, path, &t, error)) return false;
  const MvProbeExpert& e = *checkpoint.expert;
  const MvProbeShape& s = e.shape();
  if (!e.has_head()) {
    *error = path + ": a zero-shot expert (no classification head); it joins a tree's classification checkpoint";
    return false;
  }
  const auto u32 = [](size_t v) { return static_cast<uint32_t>(v); };
  t.shape = ProbexShape{s.d_h, s.d_w, s.r, s.p, s.r_t, s.d_y};
  t.std_eps = static_cast<float>(MvProbeExpert::kStdEps);
  auto device = std::make_unique<MvProbeExpert>(s);
  quantize_mvprobe_body(e, spec, &t.views, &t.encoder, &t.encoder_bias, device.get());
  // The head stays f16 under int8, as the projections.
  const QuantSpec sensitive = spec.type == StorageType::kI8 ? QuantSpec{StorageType::kF16, 0} : spec;
  const Param* head = nullptr;
  const Param* head_bias = nullptr;
  for (const Param* q : e.const_params()) {
    if (q->name == "classification_head.weight") head = q;
    if (q->name == "classification_head.bias") head_bias = q;
  }
  t.head = quantize_matrix(head->name, head->value.data(), u32(s.d_y), u32(s.r_t), sensitive);
  t.head_bias = quantize_matrix(head_bias->name, head_bias->value.data(), 1, u32(s.d_y),
                                QuantSpec{StorageType::kF32, 0});
  device->find_param("classification_head.weight")->value = t.head.dequantized();
  device->find_param("classification_head.bias")->value = t.head_bias.dequantized();
  t.device_model = std::move(device);
  *out = std::move(t);
  return true;
}

void add_self_tests(BundleTree* tree, size_t count, float amplitude, uint64_t seed, float tolerance) {
  const ProbexShape& s = tree->shape;
  std::vector<float> x(s.d_h * s.d_w);
  for (size_t i = 0; i < count; ++i) {
    SelfTestEntry st;
    st.seed = seed + i;
    st.amplitude = amplitude;
    st.tolerance = tolerance;
    SelfTestInput(st.seed, amplitude).generate(x.data(), x.size());
    calibrate_probe_output(tree, x.data(), 1);  // the device's int8 step 1 must cover its own self-tests
    const float* logits = tree->device_model->forward(x.data(), 1);
    st.logits.assign(logits, logits + s.d_y);
    st.embedding.assign(tree->device_model->embeddings(), tree->device_model->embeddings() + s.r_t);
    if (tree->zero_shot) {
      calibrate_ratio(tree->zero_shot->probes, tree->zero_shot->shape, x.data(), 1,
                      &tree->zero_shot->probe_output_ratio);
      tree->zero_shot->device_model->forward(x.data(), 1);
      st.zero_shot_scores = zero_shot_scores(*tree->zero_shot);
    }
    tree->self_tests.push_back(std::move(st));
  }
}

void calibrate_probe_output(BundleTree* tree, const float* layers, size_t count) {
  calibrate_ratio(tree->probes, tree->shape, layers, count, &tree->probe_output_ratio);
  if (tree->zero_shot) {
    calibrate_ratio(tree->zero_shot->probes, tree->zero_shot->shape, layers, count,
                    &tree->zero_shot->probe_output_ratio);
  }
}

bool compare_with_runtime(const std::vector<uint8_t>& bundle_bytes, size_t tree_index, MultiLabelModel& float_model,
                          const ExpertData& layers, QuantComparison* out, std::string* error) {
  QuantComparison c;
  c.layers = layers.count;
  for (Int8Step1 path : RuntimeBundle::device_paths()) {
    RuntimeBundle rt;
    if (!rt.open(bundle_bytes, error, path)) return false;
    const TreeView& s = rt.bundle.trees()[tree_index];
    size_t flips = 0;
    for (size_t i = 0; i < layers.count; ++i) {
      const float* x = layers.x.data() + i * layers.features;
      const float* logits = float_model.forward(x, 1);
      const std::vector<float> a(logits, logits + s.d_y);
      const std::vector<float> ea(float_model.embeddings(), float_model.embeddings() + s.r_t);
      probex_audit_result r{};
      std::string message;
      if (rt.auditor->audit_matrix(static_cast<uint32_t>(tree_index), x, static_cast<uint32_t>(s.d_h),
                                   static_cast<uint32_t>(s.d_w), &r, &message) != PROBEX_OK) {
        *error = "the runtime fails on a held-out layer: " + message;
        return false;
      }
      for (size_t k = 0; k < s.d_y; ++k) {
        const double pa = 1.0 / (1.0 + std::exp(-static_cast<double>(a[k])));
        const double pb = static_cast<double>(r.probabilities[k]);
        flips += (pa >= 0.5) != (r.predicted[k] != 0);
        c.max_probability_error = std::max(c.max_probability_error, std::fabs(pa - pb));
      }
      c.min_embedding_cosine = std::min(c.min_embedding_cosine, probex::cosine(ea.data(), r.embedding, s.r_t));
    }
    c.decisions = layers.count * s.d_y;
    c.flips = std::max(c.flips, flips);
  }
  if (c.decisions) c.label_flip_rate = static_cast<double>(c.flips) / static_cast<double>(c.decisions);
  *out = c;
  return true;
}

bool measure_self_tests(const std::vector<uint8_t>& bundle_bytes, double* worst, std::string* error) {
  *worst = 0.0;
  for (Int8Step1 path : RuntimeBundle::device_paths()) {
    RuntimeBundle rt;
    if (!rt.open(bundle_bytes, error, path)) return false;
    std::string message;
    double w = 0.0;
    if (rt.auditor->self_test(&w, &message) != PROBEX_OK) {
      *error = "self-test: " + message;
      return false;
    }
    *worst = std::max(*worst, w);
  }
  return true;
}

bool build_bundle(const std::vector<const BundleTree*>& trees, const std::string& producer, std::vector<uint8_t>* out,
                  std::string* error, uint32_t format_version, const SketchSpec& router) {
  flatbuffers::FlatBufferBuilder b(1 << 20);
  std::map<std::vector<std::string>, uint32_t> space_index;
  std::vector<flatbuffers::Offset<fb::LabelSpace>> spaces;
  std::vector<flatbuffers::Offset<fb::Tree>> tree_offsets;
  std::set<std::string> names;
  for (const BundleTree* t : trees) {
    if (!names.insert(t->name).second) {
      *error = "two experts are for tree '" + t->name + "'";
      return false;
    }
    auto [it, inserted] = space_index.emplace(t->labels, static_cast<uint32_t>(spaces.size()));
    if (inserted) spaces.push_back(fb::CreateLabelSpace(b, b.CreateVectorOfStrings(t->labels)));
    const auto expert = write_expert(b, t->shape, t->probes, t->projection, t->encoder, t->encoder_bias, t->views,
                                     t->std_eps, t->probe_output_ratio, &t->head, &t->head_bias);
    std::vector<flatbuffers::Offset<fb::Metric>> metrics;
    for (const auto& [k, v] : t->metrics) metrics.push_back(fb::CreateMetric(b, b.CreateString(k), v));
    std::vector<flatbuffers::Offset<fb::SelfTest>> tests;
    for (const SelfTestEntry& st : t->self_tests)
      tests.push_back(fb::CreateSelfTest(b, st.seed, st.amplitude, b.CreateVector(st.logits),
                                         b.CreateVector(st.embedding), st.tolerance,
                                         st.zero_shot_scores.empty() ? 0 : b.CreateVector(st.zero_shot_scores)));
    flatbuffers::Offset<fb::ZeroShot> zero_shot = 0;
    if (const BundleZeroShot* z = t->zero_shot.get()) {
      const auto zs_expert = write_expert(b, z->shape, z->probes, z->projection, z->encoder, z->encoder_bias, z->views,
                                          z->std_eps, z->probe_output_ratio, nullptr, nullptr);
      zero_shot = fb::CreateZeroShot(b, zs_expert, b.CreateVectorOfStrings(z->labels), b.CreateVector(z->trained),
                                     write_tensor(b, z->prototypes), write_tensor(b, z->text_projection),
                                     write_tensor(b, z->text_bias), b.CreateString(z->text_source));
    }
    const auto sketch = t->root_sketch.empty() ? 0 : b.CreateVector(t->root_sketch);
    tree_offsets.push_back(fb::CreateTree(b, b.CreateString(t->name), b.CreateString(t->root),
                                          b.CreateString(t->layer_name), static_cast<fb::LayerRule>(t->rule),
                                          static_cast<uint32_t>(t->shape.d_h), static_cast<uint32_t>(t->shape.d_w),
                                          it->second, expert, b.CreateVector(metrics), b.CreateVector(tests), sketch,
                                          t->accept_distance, zero_shot,
                                          t->reader_reason.empty() ? 0 : b.CreateString(t->reader_reason)));
  }
  const auto router_offset = router.rows > 0 ? fb::CreateRouter(b, router.seed, router.rows, router.cols) : 0;
  const auto root = fb::CreateBundle(b, format_version, b.CreateString(producer), b.CreateVector(tree_offsets),
                                     b.CreateVector(spaces), router_offset);
  fb::FinishBundleBuffer(b, root);
  out->assign(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  return true;
}

bool unpack_bundle(const std::vector<uint8_t>& bytes, std::vector<BundleTree>* trees, SketchSpec* router,
                   std::string* error) {
  RuntimeBundle rt;
  if (!rt.open(bytes, error)) return false;
  trees->clear();
  *router = rt.bundle.has_router() ? rt.bundle.router() : SketchSpec{};
  for (const TreeView& v : rt.bundle.trees()) {
    BundleTree t;
    t.name = v.name;
    t.root = v.root;
    t.layer_name = v.layer_name;
    t.reader_reason = v.reader_reason;
    t.rule = v.rule;
    t.shape = ProbexShape{v.d_h, v.d_w, v.r_u, v.r_v, v.r_t, v.d_y};
    t.labels.assign(v.labels.begin(), v.labels.end());
    for (const auto& [k, value] : v.metrics) t.metrics.emplace_back(k, value);
    if (v.views.empty()) {
      t.probes = from_view(v.probes);
      t.projection = from_view(v.projection);
    }
    for (const ViewWeights& w : v.views)
      t.views.push_back(BundleView{w.kind, from_view(w.probes), from_view(w.projection)});
    t.std_eps = v.std_eps;
    t.encoder = from_view(v.encoder);
    t.encoder_bias = from_view(v.encoder_bias);
    t.head = from_view(v.head);
    t.head_bias = from_view(v.head_bias);
    t.probe_output_ratio = v.probe_output_ratio;
    for (const SelfTestView& st : v.self_tests) {
      SelfTestEntry e;
      e.seed = st.seed;
      e.amplitude = st.amplitude;
      e.logits = copy_floats(st.logits, v.d_y);
      e.embedding = copy_floats(st.embedding, v.r_t);
      e.tolerance = st.tolerance;
      if (st.zero_shot_scores) e.zero_shot_scores = copy_floats(st.zero_shot_scores, st.zero_shot_count);
      t.self_tests.push_back(std::move(e));
    }
    if (v.root_sketch) t.root_sketch = copy_floats(v.root_sketch, static_cast<size_t>(router->rows) * router->cols);
    t.accept_distance = v.accept_distance;
    if (v.has_zero_shot) {
      const ZeroShotView& zv = v.zero_shot;
      auto z = std::make_unique<BundleZeroShot>();
      z->shape = ProbexShape{v.d_h, v.d_w, zv.expert.r_u, zv.expert.r_v, zv.expert.r_t, 0};
      if (zv.expert.views.empty()) {
        z->probes = from_view(zv.expert.probes);
        z->projection = from_view(zv.expert.projection);
      }
      for (const ViewWeights& w : zv.expert.views)
        z->views.push_back(BundleView{w.kind, from_view(w.probes), from_view(w.projection)});
      z->std_eps = zv.expert.std_eps;
      z->encoder = from_view(zv.expert.encoder);
      z->encoder_bias = from_view(zv.expert.encoder_bias);
      z->probe_output_ratio = zv.expert.probe_output_ratio;
      z->labels.assign(zv.labels.begin(), zv.labels.end());
      z->trained.assign(zv.trained, zv.trained + zv.labels.size());
      z->prototypes = from_view(zv.prototypes);
      z->text_projection = from_view(zv.text_projection);
      z->text_bias = from_view(zv.text_bias);
      z->text_source = zv.text_source;
      t.zero_shot = std::move(z);
    }
    trees->push_back(std::move(t));
  }
  return true;
}

bool build_bundle(const std::vector<BundleTree>& trees, const std::string& producer, std::vector<uint8_t>* out,
                  std::string* error, const SketchSpec& router) {
  std::vector<const BundleTree*> pointers;
  for (const BundleTree& t : trees) pointers.push_back(&t);
  return build_bundle(pointers, producer, out, error, PROBEX_BUNDLE_FORMAT_VERSION, router);
}

bool within_budget(const QuantComparison& c, const QuantBudget& budget) {
  return c.flips <= max_flips_within(c.decisions, budget.max_flip_rate) &&
         c.max_probability_error <= budget.max_probability_error &&
         c.min_embedding_cosine >= budget.min_embedding_cosine;
}

bool uses_int8_step1(const BundleTree& tree) {
  return tree.probe_output_ratio > 0.0f || (tree.zero_shot && tree.zero_shot->probe_output_ratio > 0.0f);
}

float int8_self_test_tolerance(double worst) { return static_cast<float>(std::max(1e-3, 4.0 * worst)); }

float set_self_test_tolerances(std::vector<BundleTree>* trees, double worst) {
  const float int8_tolerance = int8_self_test_tolerance(worst);
  for (BundleTree& t : *trees)
    for (SelfTestEntry& st : t.self_tests) st.tolerance = uses_int8_step1(t) ? int8_tolerance : 1e-3f;
  return int8_tolerance;
}

}  // namespace probex::convert
