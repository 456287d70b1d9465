// Fitting the bundle's router (docs/method.md section 7): a sketch of each tree's root layer, and for each tree
// an acceptance distance calibrated on the zoo's training models, so that a model from no known tree is
// refused instead of being sent to an expert.
#pragma once

#include <string>
#include <vector>

#include "converter/bundle/bundle_writer.h"
#include "converter/zoo/layout.h"
#include "converter/zoo/sketch.h"

namespace probex::convert {

struct TreeCalibration {
  std::string tree;
  size_t own = 0;  // training models of this tree
  double own_median = 0, own_max = 0;
  size_t others = 0;  // other trees' roots and training models of the same layer
  double others_min = 0;
  double accept = 0;
};

// Sets every tree's root_sketch and accept_distance from the zoo: the root is <tree>/root; the training
// models of the bundle's trees calibrate. accept = sqrt(own_max * min(others_min, sqrt 2)), the geometric
// middle of the gap between a tree's farthest known child and the nearest model of another tree (headroom
// for children fine-tuned longer than any seen); sqrt 2 is where unrelated layers sit, so a tree alone with
// its layer shape is still bounded; own_max when there is no gap (reported).
bool fit_router(const std::vector<ZooFile>& files, const SketchSpec& spec, std::vector<BundleTree>* trees,
                std::vector<TreeCalibration>* report, std::string* error);

}  // namespace probex::convert
