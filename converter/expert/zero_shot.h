// Weight-language alignment (docs/method.md sections 2-4): an expert without a classification head maps a
// layer to an embedding e [r_T]; the text projection (`regression_head`, [r_T, d_text] + bias) maps a
// class's text embedding t_c to z_c = W t_c + b. A model's score for class c is cos(e, z_c), and the
// predicted class is the argmax over the candidate classes, which may include classes never trained on.
//
// Training, as the authors: each model has one class; loss = cross-entropy over the cosine scores
// against every training class (temperature 1); Adam lr 2e-3, no weight decay, batch 128, 200 epochs,
// evaluation after epoch 1 and every 10 epochs after it; two parameter sets are kept: the strictly best
// in-distribution top-1 on val (seen classes) and the strictly best zero-shot top-1 on val_holdout
// (unseen classes, candidates = the unseen classes only).
#pragma once

#include <string>
#include <vector>

#include "converter/expert/multilabel.h"
#include "converter/nn/model.h"

namespace probex::convert {

// The text embeddings of a list of class names, [names.size(), dimension].
struct ClassTexts {
  std::vector<std::string> names;
  size_t dimension = 0;
  std::vector<float> vectors;
};

// Layers of one split with one class each (an index into the split's ClassTexts).
struct ZeroShotSplit {
  ExpertData data;              // x holds the layers; y is unused
  std::vector<size_t> classes;  // [data.count]
  ClassTexts texts;
};

// regression_head, initialised as torch.nn.Linear (fan_in = d_text).
class TextProjection {
 public:
  TextProjection(size_t d_text, size_t r_t) : linear_("regression_head", d_text, r_t) {}
  void init(Rng& rng) { linear_.init(rng); }
  size_t text_dimension() const { return linear_.input_size(); }
  size_t embedding_size() const { return linear_.output_size(); }
  // Z = T W^T + b, [count, r_T] (not normalised).
  std::vector<float> project(const float* texts, size_t count);
  // Accumulates the gradients of the last project() call's parameters, given dL/dZ.
  void backward(const float* texts, size_t count, const float* dz) {
    linear_.backward(texts, nullptr, dz, count, nullptr);
  }
  std::vector<Param*> params();

 private:
  Linear linear_;
};

// Mean cross-entropy of softmax_c(cos(e_b, z_c)) against classes[b]; writes dL/dE [n, r] and dL/dZ [c, r].
double cosine_cross_entropy(const float* e, size_t n, const float* z, size_t c, size_t r, const size_t* classes,
                            float* de, float* dz);

// cos(e_b, z_c) for every pair, [n, c].
std::vector<float> cosine_scores(const float* e, size_t n, const float* z, size_t c, size_t r);

// Share of rows whose highest score is at their class.
double top1_accuracy(const std::vector<float>& scores, size_t c, const std::vector<size_t>& classes);

// Top-1 of a split's models over the split's own classes (0 for an empty split).
double split_top1(MultiLabelModel& embedder, TextProjection& projection, const ZeroShotSplit& split);

// One evaluation of fit_zero_shot (the report's curves).
struct ZeroShotEval {
  int epoch = 0;  // 1-based: evaluated after this many epochs
  double train_loss = 0.0;
  double val_top1 = 0.0, val_holdout_top1 = 0.0;
};

struct ZeroShotFitResult {
  int best_seen_epoch = 0, best_unseen_epoch = 0;
  double best_seen_val = 0.0;    // val top-1 over the seen classes
  double best_unseen_val = 0.0;  // val_holdout top-1 over the unseen classes
  double seconds_per_epoch = 0.0;
  std::vector<ZeroShotEval> evals;
  // Parameter values (embedder's then projection's, in params() order) at each best epoch.
  std::vector<std::vector<float>> seen_params, unseen_params;
};

// Trains `embedder` (outputs() = r_T) and `projection` together. `val_unseen` may be empty (count 0).
ZeroShotFitResult fit_zero_shot(MultiLabelModel& embedder, TextProjection& projection, const ZeroShotSplit& train,
                                const ZeroShotSplit& val, const ZeroShotSplit& val_unseen, const FitConfig& config);

// Loads a parameter snapshot of fit_zero_shot back into the models.
void restore_zero_shot(MultiLabelModel& embedder, TextProjection& projection,
                       const std::vector<std::vector<float>>& values);

struct RetrievalMetrics {
  double recall_at_1 = 0.0;  // share of queries whose top-ranked model is of the query's class
  double recall_at_5 = 0.0;  // share of queries with a model of their class among the top 5
  double mean_ap = 0.0;      // mean over queries of average precision
  size_t queries = 0;        // queries with at least one model of their class
};

// Ranks the models (embeddings e [n, r]) for each query (projected texts z [c, r]) by cosine.
RetrievalMetrics retrieval_metrics(const float* e, size_t n, const float* z, size_t c, size_t r,
                                   const std::vector<size_t>& classes);

}  // namespace probex::convert
