#include "converter/expert/weight_stats.h"

#include <algorithm>
#include <cmath>

namespace probex::convert {
namespace {

void mean_std(const float* x, size_t n, size_t stride, float* mean, float* std_dev) {
  double s = 0, s2 = 0;
  for (size_t i = 0; i < n; ++i) {
    const double v = x[i * stride];
    s += v;
    s2 += v * v;
  }
  const double m = s / static_cast<double>(n);
  *mean = static_cast<float>(m);
  *std_dev = static_cast<float>(std::sqrt(std::max(0.0, s2 / static_cast<double>(n) - m * m)));
}

}  // namespace

size_t weight_stat_count(size_t rows, size_t cols, const StatGroups& g) {
  return (g.whole ? 11 : 0) + (g.rows ? 2 * rows : 0) + (g.cols ? 2 * cols : 0);
}

void weight_stats(const float* x, size_t rows, size_t cols, float* out, const StatGroups& g) {
  size_t k = 0;
  if (g.whole) {
    const size_t n = rows * cols;
    std::vector<float> sorted(x, x + n);
    std::sort(sorted.begin(), sorted.end());
    float mean = 0, std_dev = 0;
    mean_std(x, n, 1, &mean, &std_dev);
    double abs_sum = 0, sq_sum = 0;
    for (size_t i = 0; i < n; ++i) {
      abs_sum += std::fabs(static_cast<double>(x[i]));
      sq_sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    }
    auto quantile = [&](double q) { return sorted[static_cast<size_t>(q * static_cast<double>(n - 1))]; };
    out[k++] = mean;
    out[k++] = std_dev;
    out[k++] = sorted.front();
    out[k++] = sorted.back();
    for (double q : {0.05, 0.25, 0.5, 0.75, 0.95}) out[k++] = quantile(q);
    out[k++] = static_cast<float>(abs_sum / static_cast<double>(n));
    out[k++] = static_cast<float>(std::sqrt(sq_sum / static_cast<double>(n)));
  }
  if (g.rows) {
    for (size_t r = 0; r < rows; ++r, k += 2) mean_std(x + r * cols, cols, 1, &out[k], &out[k + 1]);
  }
  if (g.cols) {
    for (size_t c = 0; c < cols; ++c, k += 2) mean_std(x + c, rows, cols, &out[k], &out[k + 1]);
  }
}

ExpertData weight_stat_features(const ExpertData& layers, size_t rows, size_t cols, const StatGroups& groups) {
  ExpertData f;
  f.count = layers.count;
  f.features = weight_stat_count(rows, cols, groups);
  f.labels = layers.labels;
  f.y = layers.y;
  f.names = layers.names;
  f.x.resize(f.count * f.features);
  for (size_t i = 0; i < f.count; ++i) {
    weight_stats(layers.x.data() + i * layers.features, rows, cols, f.x.data() + i * f.features, groups);
  }
  return f;
}

void standardize_features(ExpertData* train, const std::vector<ExpertData*>& others) {
  const size_t d = train->features;
  std::vector<float> mean(d), inv_std(d);
  for (size_t j = 0; j < d; ++j) {
    float m = 0, s = 0;
    mean_std(train->x.data() + j, train->count, d, &m, &s);
    mean[j] = m;
    inv_std[j] = s > 1e-12f ? 1.0f / s : 0.0f;
  }
  auto apply = [&](ExpertData* e) {
    for (size_t i = 0; i < e->count; ++i) {
      for (size_t j = 0; j < d; ++j) e->x[i * d + j] = (e->x[i * d + j] - mean[j]) * inv_std[j];
    }
  };
  apply(train);
  for (ExpertData* e : others) apply(e);
}

}  // namespace probex::convert
