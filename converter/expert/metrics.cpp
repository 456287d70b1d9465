#include "converter/expert/metrics.h"

#include <algorithm>
#include <numeric>

namespace probex::convert {

double roc_auc(const std::vector<float>& scores, const std::vector<float>& targets) {
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Average ranks over ties, then U = sum of positive ranks - P(P+1)/2.
  double positive_rank_sum = 0.0;
  size_t positives = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + 1 + j);  // mean of ranks i+1..j
    for (size_t k = i; k < j; ++k) {
      if (targets[order[k]] > 0.5f) {
        positive_rank_sum += rank;
        ++positives;
      }
    }
    i = j;
  }
  const size_t negatives = n - positives;
  if (positives == 0 || negatives == 0) return -1.0;
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(negatives));
}

MultiLabelMetrics multilabel_metrics(const float* logits, const float* targets, size_t n, size_t labels) {
  MultiLabelMetrics m;
  if (n == 0 || labels == 0) return m;
  size_t correct_bits = 0, exact = 0;
  for (size_t i = 0; i < n; ++i) {
    bool all = true;
    for (size_t j = 0; j < labels; ++j) {
      const bool predicted = logits[i * labels + j] > 0.0f;
      const bool truth = targets[i * labels + j] > 0.5f;
      correct_bits += predicted == truth;
      all = all && predicted == truth;
    }
    exact += all;
  }
  m.bit_accuracy = static_cast<double>(correct_bits) / static_cast<double>(n * labels);
  m.exact_set = static_cast<double>(exact) / static_cast<double>(n);
  double auc_sum = 0.0;
  std::vector<float> s(n), t(n);
  for (size_t j = 0; j < labels; ++j) {
    for (size_t i = 0; i < n; ++i) {
      s[i] = logits[i * labels + j];
      t[i] = targets[i * labels + j];
    }
    const double auc = roc_auc(s, t);
    m.label_auc.push_back(auc);
    if (auc >= 0) {
      auc_sum += auc;
      ++m.auc_labels;
    }
  }
  m.mean_auc = m.auc_labels ? auc_sum / static_cast<double>(m.auc_labels) : 0.0;
  return m;
}

MultiLabelMetrics chance_metrics(const float* train_targets, size_t n_train, const float* targets, size_t n,
                                 size_t labels) {
  std::vector<float> logits(n * labels);
  for (size_t j = 0; j < labels; ++j) {
    double positives = 0;
    for (size_t i = 0; i < n_train; ++i) positives += static_cast<double>(train_targets[i * labels + j]);
    const float majority = positives * 2 > static_cast<double>(n_train) ? 1.0f : -1.0f;
    for (size_t i = 0; i < n; ++i) logits[i * labels + j] = majority;
  }
  MultiLabelMetrics m = multilabel_metrics(logits.data(), targets, n, labels);
  m.mean_auc = 0.5;  // constant scores: every pair is a tie
  return m;
}

}  // namespace probex::convert
