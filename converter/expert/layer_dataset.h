// Loading the probed layer of every model of a tree and split into one contiguous array, with
// multi-hot labels from `dataset_chosen_targets`. Zoos are listed by zoo/layout.h.
#pragma once

#include <string>
#include <vector>

#include "converter/expert/multilabel.h"
#include "converter/zoo/layout.h"
#include "runtime/formats/probed_layer.h"

namespace probex::convert {

struct LoadOptions {
  std::string layer;            // tensor name (or LoRA base name)
  std::string task = "subset";  // models whose metadata names another task are not candidates
  bool strict = false;          // a bad model is an error instead of a warning and a skip
  double max_bad_share = 0.1;   // more bad models than this share is an error even when not strict
};

struct LoadedSplit {
  ExpertData data;
  size_t rows = 0, cols = 0;  // the shaped layer, X [rows, cols]
  LayerRule rule = LayerRule::kMatrix;
  std::vector<std::string> skipped;  // "path: reason", one per skipped bad model
};

// Loads the models of (tree, split). Labels become multi-hot over `space`; if `space` is empty it is
// built from these models (sorted union) and returned through it. `expect_rows/cols` (if non-zero)
// pin the layer shape, e.g. to the training split's.
bool load_split(const std::vector<ZooFile>& files, const std::string& tree, const std::string& split,
                const LoadOptions& options, std::vector<std::string>* space, size_t expect_rows, size_t expect_cols,
                LoadedSplit* out, std::string* error);

}  // namespace probex::convert
