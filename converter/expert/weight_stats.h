// The weight-statistics baseline's features (in the spirit of StatNN, Unterthiner et al. 2020): what a
// method can learn from the distribution of a layer's weights without reading its structure.
// For X [rows, cols], in this order:
//   whole layer: mean, std, min, max, 5/25/50/75/95% quantiles, mean |x|, RMS      (11)
//   per row: mean and std (2 * rows); per column: mean and std (2 * cols)
#pragma once

#include <cstddef>
#include <vector>

#include "converter/expert/multilabel.h"

namespace probex::convert {

// Which groups of statistics to compute (all by default; the others exist to find out which carry the signal).
struct StatGroups {
  bool whole = true, rows = true, cols = true;
};

size_t weight_stat_count(size_t rows, size_t cols, const StatGroups& groups = {});
void weight_stats(const float* x, size_t rows, size_t cols, float* out, const StatGroups& groups = {});

// Feature rows for every layer of `layers` (X [rows, cols] each), labels copied.
ExpertData weight_stat_features(const ExpertData& layers, size_t rows, size_t cols, const StatGroups& groups = {});

// Standardises every feature with the mean and std of `train` (features constant in train are zeroed).
void standardize_features(ExpertData* train, const std::vector<ExpertData*>& others);

}  // namespace probex::convert
