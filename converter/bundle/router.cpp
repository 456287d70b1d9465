#include "converter/bundle/router.h"

#include <algorithm>
#include <cmath>

namespace probex::convert {

bool fit_router(const std::vector<ZooFile>& files, const SketchSpec& spec, std::vector<BundleTree>* trees,
                std::vector<TreeCalibration>* report, std::string* error) {
  // Roots first.
  for (BundleTree& t : *trees) {
    const auto root = std::find_if(files.begin(), files.end(),
                                   [&](const ZooFile& f) { return f.tree == t.name && f.split == "root"; });
    if (root == files.end()) {
      *error = "tree '" + t.name +
               "' has no root model in the zoo (<tree>/root/model.safetensors): the router needs it";
      return false;
    }
    if (!sketch_model(root->path, t.layer_name, static_cast<uint32_t>(t.shape.d_h), static_cast<uint32_t>(t.shape.d_w),
                      spec, &t.root_sketch, error))
      return false;
  }
  // Distances of every calibration model (training models of the bundle's trees, and the roots) to every root
  // of the same layer.
  std::vector<std::vector<double>> own(trees->size()), others(trees->size());
  for (const ZooFile& f : files) {
    const bool in_bundle = std::any_of(trees->begin(), trees->end(),
                                       [&](const BundleTree& t) { return t.name == f.tree; });
    if (!in_bundle || (f.split != "train" && f.split != "root")) continue;
    std::vector<float> sketch;
    std::string last_layer;
    uint64_t last_shape = 0;
    for (size_t i = 0; i < trees->size(); ++i) {
      BundleTree& t = (*trees)[i];
      const uint64_t shape = t.shape.d_h * 1000003ull + t.shape.d_w;
      if (t.layer_name != last_layer || shape != last_shape) {
        std::string why;
        if (!sketch_model(f.path, t.layer_name, static_cast<uint32_t>(t.shape.d_h), static_cast<uint32_t>(t.shape.d_w),
                          spec, &sketch, &why)) {
          sketch.clear();  // this model has no such layer: it says nothing about this tree
        }
        last_layer = t.layer_name;
        last_shape = shape;
      }
      if (sketch.empty()) continue;
      const double d = sketch_distance(sketch.data(), t.root_sketch.data(), sketch.size());
      if (f.tree == t.name) {
        if (f.split == "train") own[i].push_back(d);
      } else {
        others[i].push_back(d);
      }
    }
  }
  report->clear();
  for (size_t i = 0; i < trees->size(); ++i) {
    BundleTree& t = (*trees)[i];
    TreeCalibration c;
    c.tree = t.name;
    c.own = own[i].size();
    c.others = others[i].size();
    if (own[i].empty()) {
      *error = "tree '" + t.name + "' has no training models in the zoo to calibrate its acceptance distance";
      return false;
    }
    std::sort(own[i].begin(), own[i].end());
    c.own_median = own[i][own[i].size() / 2];
    c.own_max = own[i].back();
    c.others_min = others[i].empty() ? static_cast<double>(INFINITY)
                                     : *std::min_element(others[i].begin(), others[i].end());
    // Unrelated layers point in unrelated directions: sqrt(2) apart in high dimension. That bounds the
    // gap when the bundle has no other tree of this layer (or only farther ones) to measure it by.
    const double unrelated = std::min(c.others_min, std::sqrt(2.0));
    c.accept = unrelated > c.own_max ? std::sqrt(c.own_max * unrelated) : c.own_max;
    t.accept_distance = static_cast<float>(c.accept);
    report->push_back(c);
  }
  return true;
}

}  // namespace probex::convert
