// Multi-label metrics (docs/method.md section 4). Predictions are logits; a label is predicted if its
// logit is > 0 (sigmoid > 0.5).
#pragma once

#include <cstddef>
#include <vector>

namespace probex::convert {

struct MultiLabelMetrics {
  double bit_accuracy = 0.0;      // correct label bits / (models x labels)
  double exact_set = 0.0;         // share of models whose whole predicted set is right
  double mean_auc = 0.0;          // mean over labels (with both classes present) of the per-label ROC AUC
  size_t auc_labels = 0;          // how many labels entered mean_auc
  std::vector<double> label_auc;  // per label, in label order; -1 where only one class is present
};

// logits and targets are [n, labels], row-major; targets are 0/1.
MultiLabelMetrics multilabel_metrics(const float* logits, const float* targets, size_t n, size_t labels);

// ROC AUC of scores against 0/1 targets (Mann-Whitney U with ties counted half). Returns -1 when only
// one class is present.
double roc_auc(const std::vector<float>& scores, const std::vector<float>& targets);

// The metrics of always predicting each label's majority value in `train_targets` (the chance row),
// evaluated on `targets`; AUC is 0.5 by definition.
MultiLabelMetrics chance_metrics(const float* train_targets, size_t n_train, const float* targets, size_t n,
                                 size_t labels);

}  // namespace probex::convert
