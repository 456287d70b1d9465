#include "runtime/executor/router.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "runtime/executor/rows.h"
#include "runtime/math/layer_sketch.h"

namespace probex {
namespace {
constexpr size_t kSlackFloats = 16;  // >= XNN_EXTRA_BYTES after a projection's output
}

probex_status Router::prepare(const Bundle& bundle, Backend* backend, uint32_t rows_per_block, std::string* message) {
  bundle_ = &bundle;
  backend_ = backend;
  const auto& trees = bundle.trees();
  distances_.assign(trees.size(), std::nanf(""));
  band_low_.assign(trees.size(), std::nanf(""));
  band_high_.assign(trees.size(), std::nanf(""));
  rounding_error_.assign(trees.size(), 0.0f);
  if (!bundle.has_router()) return PROBEX_OK;
  const SketchSpec& spec = bundle.router();
  uint32_t max_block = 0;
  for (uint32_t i = 0; i < trees.size(); ++i) {
    const TreeView& t = trees[i];
    auto same = [&](const Site& site) {
      return std::strcmp(site.layer_name, t.layer_name) == 0 && site.rule == t.rule && site.d_h == t.d_h &&
             site.d_w == t.d_w;
    };
    auto it = std::find_if(sites_.begin(), sites_.end(), same);
    if (it == sites_.end()) {
      Site site{t.layer_name, t.rule, t.d_h, t.d_w, 0, sketch_left(spec, t.d_h), {}};
      const std::vector<float> right_t = sketch_right_t(spec, t.d_w);
      const uint32_t block = std::min(rows_per_block, t.d_h);
      const probex_status s = backend->add_projection(t.d_w, spec.cols, block, right_t.data(), &site.projection,
                                                      message);
      if (s != PROBEX_OK) return s;
      max_block = std::max(max_block, block);
      sites_.push_back(std::move(site));
      it = sites_.end() - 1;
    }
    it->trees.push_back(i);
  }
  layers_.assign(sites_.size(), ProbedLayer{});
  rounding_.assign(sites_.size(), StorageRounding{});
  sketch_.assign(static_cast<size_t>(spec.rows) * spec.cols, 0.0f);
  y_.assign(static_cast<size_t>(max_block) * spec.cols + kSlackFloats, 0.0f);
  return PROBEX_OK;
}

probex_status Router::match(const ModelFile& file, uint64_t max_lora_rank, std::string* why_not, std::string* message) {
  std::fill(layers_.begin(), layers_.end(), ProbedLayer{});
  std::fill(rounding_.begin(), rounding_.end(), StorageRounding{});
  for (size_t i = 0; i < sites_.size(); ++i) {
    const Site& site = sites_[i];
    ProbedLayer layer;
    const ModelStatus st = find_probed_layer(file, site.layer_name, &layer, max_lora_rank);
    if (st.code == ModelError::kLimitExceeded) {
      *message = st.message;
      return PROBEX_LIMIT_EXCEEDED;
    }
    if (st.ok() && layer.rows == site.d_h && layer.cols == site.d_w && layer.rule == site.rule) {
      layers_[i] = layer;
      // A LoRA product B A is not on a grid of its own: its factors' rounding is not modelled (exact).
      // The rounding's blocks follow the tensor's flat order, which X keeps under every other rule.
      const ModelTensor& t = *layer.tensor;
      if (layer.rule != LayerRule::kLoraProduct)
        rounding_[i] = storage_rounding(t.dtype, t.shape.size() > 1 ? t.row_length() : t.element_count);
      continue;
    }
    if (st.ok() && layer.rows == site.d_h && layer.cols == site.d_w) continue;  // another rule: not this site
    if (why_not->empty())
      *why_not = st.ok() ? "layer '" + std::string(site.layer_name) + "' is [" + std::to_string(layer.rows) + ", " +
                               std::to_string(layer.cols) + "], the experts expect [" + std::to_string(site.d_h) +
                               ", " + std::to_string(site.d_w) + "]"
                         : st.message;
  }
  return PROBEX_OK;
}

void Router::begin(size_t) {
  std::fill(sketch_.begin(), sketch_.end(), 0.0f);
  rounding_energy_ = 0.0;
}

probex_status Router::add_block(size_t index, const float* x, uint32_t first, uint32_t rows, std::string* message) {
  const Site& site = sites_[index];
  const probex_status s = backend_->project(site.projection, x, rows, y_.data(), message);
  if (s != PROBEX_OK) return s;
  sketch_accumulate(bundle_->router(), site.left.data(), site.d_h, y_.data(), first, rows, sketch_.data());
  rounding_energy_ += expected_rounding_energy(rounding_[index], x, static_cast<size_t>(rows) * site.d_w);
  return PROBEX_OK;
}

void Router::end(size_t index) {
  const auto& trees = bundle_->trees();
  const RoutingBand band(sketch_.data(), sketch_.size(), rounding_energy_, kBandSigmas, kEnergyUncertainty);
  for (uint32_t t : sites_[index].trees) {
    distances_[t] = static_cast<float>(sketch_distance(sketch_.data(), trees[t].root_sketch, sketch_.size()));
    band.around(trees[t].accept_distance, &band_low_[t], &band_high_[t]);
    rounding_error_[t] = band.relative_error();
  }
}

void Router::reset() {
  std::fill(distances_.begin(), distances_.end(), std::nanf(""));
  std::fill(band_low_.begin(), band_low_.end(), std::nanf(""));
  std::fill(band_high_.begin(), band_high_.end(), std::nanf(""));
  std::fill(rounding_error_.begin(), rounding_error_.end(), 0.0f);
  reason_[0] = '\0';
}

void Router::decide(const std::string& why_not, probex_audit_result* result, uint32_t* tree) {
  const auto& trees = bundle_->trees();
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
  result->route_band_low = best != PROBEX_NO_TREE ? band_low_[best] : NAN;
  result->route_band_high = best != PROBEX_NO_TREE ? band_high_[best] : NAN;
  result->layer_rounding = best != PROBEX_NO_TREE ? rounding_error_[best] : 0.0f;
  result->route_outcome = PROBEX_ROUTE_ACCEPTED;
  reason_[0] = '\0';
  if (best == PROBEX_NO_TREE) {
    std::snprintf(reason_, sizeof(reason_), "no expert covers this model's architecture (%s)",
                  why_not.empty() ? "no probed layer found" : why_not.c_str());
    result->route_outcome = PROBEX_ROUTE_REFUSED;
  } else if (nearest > band_high_[best]) {
    const double accept = static_cast<double>(trees[best].accept_distance),
                 high = static_cast<double>(band_high_[best]);
    char lossy[128] = "";
    if (high > accept)  // a lossy copy: say how far its rounding moved the boundary
      std::snprintf(lossy, sizeof(lossy), " (%.3f for this file's rounding, %.3f of its layer's norm)", high,
                    static_cast<double>(rounding_error_[best]));
    std::snprintf(reason_, sizeof(reason_),
                  "the nearest root is tree '%s' at distance %.3f, beyond its acceptance distance %.3f%s",
                  trees[best].name, static_cast<double>(nearest), accept, lossy);
    best = PROBEX_NO_TREE;
    result->route_outcome = PROBEX_ROUTE_REFUSED;
  } else if (nearest > band_low_[best]) {
    result->route_outcome = PROBEX_ROUTE_NEAR_BOUNDARY;
  }
  *tree = best;
}

}  // namespace probex
