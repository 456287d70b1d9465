#include "converter/bundle/zero_shot_bundle.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "converter/bundle/flip_bound.h"
#include "converter/bundle/runtime_bundle.h"
#include "converter/expert/layer_dataset.h"
#include "runtime/formats/python_literal.h"
#include "runtime/math/cosine.h"

namespace probex::convert {
namespace {

// Prototypes are stored as the bundle's float type: f32 for f32 bundles, f16 otherwise (the runtime's
// unit-norm check allows f16 rounding; a prototype is r_T values per label).
QuantSpec prototype_spec(const QuantSpec& spec) {
  return spec.type == StorageType::kF32 ? spec : QuantSpec{StorageType::kF16, 0};
}

template <class Checkpoint>
std::string metadata(const Checkpoint& c, const char* key) {
  const auto it = c.metadata.find(key);
  return it == c.metadata.end() ? std::string() : it->second;
}

// The expert of a zero-shot checkpoint as the bundle stores it, and the device model with those values.
void quantize_zero_shot_body(const ProbexExpert& e, const QuantSpec& spec, BundleZeroShot* z) {
  z->shape = e.shape();
  quantize_expert_body(e, spec, &z->probes, &z->projection, &z->encoder, &z->encoder_bias);
  auto device = std::make_unique<ProbexExpert>(e.shape());
  set_expert_body(z->probes, z->projection, z->encoder, z->encoder_bias, device.get());
  z->device_model = std::move(device);
}

void quantize_zero_shot_body(const MvProbeExpert& e, const QuantSpec& spec, BundleZeroShot* z) {
  const MvProbeShape& s = e.shape();
  z->shape = ProbexShape{s.d_h, s.d_w, s.r, s.p, s.r_t, 0};
  z->std_eps = static_cast<float>(MvProbeExpert::kStdEps);
  auto device = std::make_unique<MvProbeExpert>(s);
  quantize_mvprobe_body(e, spec, &z->views, &z->encoder, &z->encoder_bias, device.get());
  z->device_model = std::move(device);
}

// Adds labels with their prototypes, projected by the zero-shot part's own text projection; the stored
// prototypes are re-quantized with their type (exact for f32; f16 -> f32 -> f16 is exact too).
bool append_labels(BundleZeroShot* z, const EmbeddingTable& table, const std::vector<std::string>& labels,
                   uint8_t trained, std::string* error) {
  std::set<std::string> names(z->labels.begin(), z->labels.end());
  for (const std::string& label : labels) {
    if (label.empty()) {
      *error = "an empty label text";
      return false;
    }
    if (!names.insert(label).second) {
      *error = "label '" + label + "' is given twice (or is already among the zero-shot labels)";
      return false;
    }
  }
  std::vector<float> added;
  if (!label_prototypes(z->text_projection.dequantized(), z->text_bias.dequantized(), table, labels, &added, error))
    return false;
  std::vector<float> all = z->prototypes.dequantized();
  all.insert(all.end(), added.begin(), added.end());
  const uint32_t rows = static_cast<uint32_t>(z->labels.size() + labels.size());
  z->prototypes = quantize_matrix("prototypes", all.data(), rows, z->prototypes.cols, QuantSpec{z->prototypes.type, 0});
  z->labels.insert(z->labels.end(), labels.begin(), labels.end());
  z->trained.insert(z->trained.end(), labels.size(), trained);
  return true;
}

template <class Checkpoint>
bool attach(const Checkpoint& checkpoint, const std::string& path, const QuantSpec& spec, const EmbeddingTable& table,
            const std::vector<std::string>& extra_labels, BundleTree* tree, std::string* error) {
  const auto& s = checkpoint.expert->shape();
  if (metadata(checkpoint, "layer") != tree->layer_name || s.d_h != tree->shape.d_h || s.d_w != tree->shape.d_w) {
    *error = path + ": the zero-shot expert probes '" + metadata(checkpoint, "layer") + "' [" + std::to_string(s.d_h) +
             ", " + std::to_string(s.d_w) + "], tree '" + tree->name + "' probes '" + tree->layer_name + "' [" +
             std::to_string(tree->shape.d_h) + ", " + std::to_string(tree->shape.d_w) +
             "]; they must be the same layer";
    return false;
  }
  if (tree->zero_shot) {
    *error = path + ": tree '" + tree->name + "' already has a zero-shot expert";
    return false;
  }
  if (checkpoint.text_dimension != table.dimension) {
    *error = path + ": the text projection takes " + std::to_string(checkpoint.text_dimension) +
             "-d text embeddings, the table " + table.source + " has " + std::to_string(table.dimension);
    return false;
  }
  auto z = std::make_unique<BundleZeroShot>();
  quantize_zero_shot_body(*checkpoint.expert, spec, z.get());
  z->text_source = table.source.substr(table.source.find_last_of('/') + 1);
  const QuantSpec f32{StorageType::kF32, 0};
  z->text_projection = quantize_matrix("regression_head.weight", checkpoint.text_weight.data(),
                                       static_cast<uint32_t>(s.r_t), static_cast<uint32_t>(table.dimension), f32);
  z->text_bias = quantize_matrix("regression_head.bias", checkpoint.text_bias.data(), 1, static_cast<uint32_t>(s.r_t),
                                 f32);
  z->prototypes.name = "prototypes";
  z->prototypes.type = prototype_spec(spec).type;
  z->prototypes.cols = static_cast<uint32_t>(s.r_t);

  std::vector<std::string> holdout;
  const std::string holdout_text = metadata(checkpoint, "holdout_labels");
  std::string why;
  if (!holdout_text.empty() && !parse_python_string_list(holdout_text, &holdout, &why)) {
    *error = path + ": metadata 'holdout_labels' is " + why;
    return false;
  }
  // Trained labels first, then unseen ones.
  std::vector<std::string> unseen = holdout;
  unseen.insert(unseen.end(), extra_labels.begin(), extra_labels.end());
  tree->zero_shot = std::move(z);
  return append_labels(tree->zero_shot.get(), table, checkpoint.labels, 1, error) &&
         append_labels(tree->zero_shot.get(), table, unseen, 0, error);
}

}  // namespace

bool attach_zero_shot(const LoadedCheckpoint& checkpoint, const std::string& path, const QuantSpec& spec,
                      const EmbeddingTable& table, const std::vector<std::string>& extra_labels, BundleTree* tree,
                      std::string* error) {
  return attach(checkpoint, path, spec, table, extra_labels, tree, error);
}

bool attach_zero_shot(const LoadedMvProbeCheckpoint& checkpoint, const std::string& path, const QuantSpec& spec,
                      const EmbeddingTable& table, const std::vector<std::string>& extra_labels, BundleTree* tree,
                      std::string* error) {
  return attach(checkpoint, path, spec, table, extra_labels, tree, error);
}

bool is_zero_shot_checkpoint(const LoadedCheckpoint& checkpoint) {
  return !checkpoint.expert->has_head() && checkpoint.text_dimension > 0;
}

bool is_zero_shot_checkpoint(const LoadedMvProbeCheckpoint& checkpoint) {
  return !checkpoint.expert->has_head() && checkpoint.text_dimension > 0;
}

bool label_prototypes(const std::vector<float>& weight, const std::vector<float>& bias, const EmbeddingTable& table,
                      const std::vector<std::string>& labels, std::vector<float>* out, std::string* error) {
  const size_t r = bias.size(), d = table.dimension;
  if (weight.size() != r * d) {
    *error = "the text table " + table.source + " has dimension " + std::to_string(d) + ", the text projection takes " +
             std::to_string(r ? weight.size() / r : 0);
    return false;
  }
  out->assign(labels.size() * r, 0.0f);
  for (size_t c = 0; c < labels.size(); ++c) {
    LabelEmbedding e;
    if (!embed_label(table, labels[c], &e, error)) return false;
    double norm = 0.0;
    std::vector<double> z(r);
    for (size_t i = 0; i < r; ++i) {
      double acc = static_cast<double>(bias[i]);
      for (size_t j = 0; j < d; ++j) acc += static_cast<double>(weight[i * d + j]) * static_cast<double>(e.vector[j]);
      z[i] = acc;
      norm += acc * acc;
    }
    norm = std::sqrt(norm);
    if (!(norm > 0.0)) {
      *error = "label '" + labels[c] + "' projects to the zero vector";
      return false;
    }
    for (size_t i = 0; i < r; ++i) (*out)[c * r + i] = static_cast<float>(z[i] / norm);
  }
  return true;
}

bool add_zero_shot_labels(BundleZeroShot* zero_shot, const EmbeddingTable& table,
                          const std::vector<std::string>& labels, std::string* error) {
  return append_labels(zero_shot, table, labels, 0, error);
}

bool compare_zero_shot(const std::vector<uint8_t>& bundle_bytes, size_t tree_index, MultiLabelModel& float_expert,
                       size_t d_h, size_t d_w, const std::vector<float>& float_prototypes, const ExpertData& layers,
                       const std::vector<size_t>& candidates, const std::vector<size_t>& classes,
                       ZeroShotAgreement* out, std::string* error) {
  const size_t r_t = float_expert.outputs();  // no head: the embedding
  ZeroShotAgreement a;
  a.layers = layers.count;
  bool first_path = true;
  for (Int8Step1 path : RuntimeBundle::device_paths()) {  // the worst device path's top-1
    RuntimeBundle rt;
    if (!rt.open(bundle_bytes, error, path)) return false;
    size_t runtime_right = 0, float_right = 0;
    for (size_t i = 0; i < layers.count; ++i) {
      const float* x = layers.x.data() + i * layers.features;
      probex_audit_result r{};
      std::string message;
      if (rt.auditor->audit_matrix(static_cast<uint32_t>(tree_index), x, static_cast<uint32_t>(d_h),
                                   static_cast<uint32_t>(d_w), &r, &message) != PROBEX_OK) {
        *error = "the runtime fails on a held-out layer: " + message;
        return false;
      }
      if (r.zero_shot_count == 0) {
        *error = "the runtime ran no zero-shot expert for tree " + std::to_string(tree_index);
        return false;
      }
      const float* e = float_expert.forward(x, 1);
      size_t best_runtime = 0, best_float = 0;
      double top_runtime = -2.0, top_float = -2.0;
      for (size_t k = 0; k < candidates.size(); ++k) {
        const size_t c = candidates[k];
        const double f = probex::cosine(e, float_prototypes.data() + c * r_t, r_t);
        if (static_cast<double>(r.zero_shot_scores[c]) > top_runtime) {
          top_runtime = static_cast<double>(r.zero_shot_scores[c]);
          best_runtime = k;
        }
        if (f > top_float) {
          top_float = f;
          best_float = k;
        }
      }
      runtime_right += best_runtime == classes[i];
      float_right += best_float == classes[i];
    }
    if (layers.count) {
      const double top1 = static_cast<double>(runtime_right) / static_cast<double>(layers.count);
      a.runtime_top1 = first_path ? top1 : std::min(a.runtime_top1, top1);
      a.float_top1 = static_cast<double>(float_right) / static_cast<double>(layers.count);
    }
    first_path = false;
  }
  *out = a;
  return true;
}

// Zero-shot top-1 of the runtime and of the float expert on the zoo's detector models of the tree:
// test (trained classes, candidates = the trained labels) and test_holdout (candidates = its labels).
bool zero_shot_agreement(const std::vector<uint8_t>& bytes, size_t tree_index, const ZeroShotFloat& zs,
                         const BundleTree& tree, const std::vector<ZooFile>& files, const EmbeddingTable& table,
                         ZeroShotAgreement* seen, ZeroShotAgreement* unseen, std::string* error) {
  const BundleZeroShot& z = *tree.zero_shot;
  std::vector<float> prototypes;
  if (!label_prototypes(zs.text->text_weight, zs.text->text_bias, table, z.labels, &prototypes, error)) return false;
  LoadOptions load;
  load.layer = tree.layer_name;
  load.task = "detector";
  for (const char* split : {"test", "test_holdout"}) {
    const bool holdout = std::string(split) == "test_holdout";
    std::vector<std::string> space;
    if (!holdout) space.assign(z.labels.begin(), z.labels.begin() + std::count(z.trained.begin(), z.trained.end(), 1));
    LoadedSplit loaded;
    if (!load_split(files, tree.name, split, load, &space, tree.shape.d_h, tree.shape.d_w, &loaded, error))
      return false;
    std::vector<size_t> candidates, classes;
    for (const std::string& label : space) {
      const auto it = std::find(z.labels.begin(), z.labels.end(), label);
      if (it == z.labels.end()) {
        *error = "tree '" + tree.name + "': the zoo's " + split + " class '" + label + "' is not a zero-shot label";
        return false;
      }
      candidates.push_back(static_cast<size_t>(it - z.labels.begin()));
    }
    const ExpertData& d = loaded.data;
    for (size_t m = 0; m < d.count; ++m) {
      const float* y = d.y.data() + m * d.labels;
      classes.push_back(static_cast<size_t>(std::max_element(y, y + d.labels) - y));
    }
    if (!compare_zero_shot(bytes, tree_index, *zs.model, tree.shape.d_h, tree.shape.d_w, prototypes, d, candidates,
                           classes, holdout ? unseen : seen, error))
      return false;
  }
  return true;
}

size_t zero_shot_models_lost(const ZeroShotAgreement& a) {
  const double lost = (a.float_top1 - a.runtime_top1) * static_cast<double>(a.layers);
  return lost > 0.5 ? static_cast<size_t>(std::lround(lost)) : 0;
}

bool within_zero_shot_budget(const ZeroShotAgreement& seen, const ZeroShotAgreement& unseen,
                             const QuantBudget& budget) {
  // The flip budget's rule (flip_bound.h): over only when the count shows the true drop exceeds the budget.
  return zero_shot_models_lost(seen) <= max_flips_within(seen.layers, budget.max_zero_shot_drop) &&
         zero_shot_models_lost(unseen) <= max_flips_within(unseen.layers, budget.max_zero_shot_drop);
}

}  // namespace probex::convert
