// Multi-label models on weights and their training loop, shared by ProbeX and the baselines.
//
// Training follows the authors' code (docs/method.md section 3): binary cross-entropy with logits (mean over
// batch x labels), torch Adam with weight decay added to the gradient, shuffled mini-batches, constant
// lr, evaluation on val after epoch 1 and every `eval_every` epochs after it (epochs 1, 26, 51, ... for
// 25, as the authors' `epoch % 25 == 0` on 0-based epochs), keeping the parameters of the strictly best
// val bit accuracy.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "converter/expert/metrics.h"
#include "converter/nn/model.h"

namespace probex::convert {

class MultiLabelModel {
 public:
  virtual ~MultiLabelModel() = default;
  virtual size_t input_size() const = 0;  // floats per example
  // Outputs per example: one logit per label, or the embedding for a model without a head (zero-shot).
  virtual size_t outputs() const = 0;
  // Outputs [batch, outputs] for `batch` examples stored contiguously; valid until the next forward.
  virtual const float* forward(const float* x, size_t batch) = 0;
  // Accumulates parameter gradients for the last forward, given dL/doutputs.
  virtual void backward(const float* doutputs) = 0;
  virtual std::vector<Param*> params() = 0;
  // The embedding e [batch, r_T] of the last forward, for experts that have one (ProbeX, MVProbe).
  virtual const float* embeddings() const { return nullptr; }
};

// A chain of Linear layers with no nonlinearity between them: the Dense expert is
// {dense: F -> r_T, classification_head: r_T -> d_Y}; logistic regression is one layer.
class LinearChain final : public MultiLabelModel {
 public:
  // names[i] names layer i; widths has one more entry than names.
  LinearChain(const std::vector<std::string>& names, const std::vector<size_t>& widths);
  void init(Rng& rng);
  size_t input_size() const override { return layers_.front().input_size(); }
  size_t outputs() const override { return layers_.back().output_size(); }
  const float* forward(const float* x, size_t batch) override;
  void backward(const float* dlogits) override;
  std::vector<Param*> params() override;
  // The output of the first layer (the embedding, for the Dense expert), [batch, width].
  const float* first_output() const { return outputs_.front().data(); }

 private:
  std::vector<Linear> layers_;
  std::vector<std::vector<float>> outputs_, grads_;
  const float* x_ = nullptr;
  size_t batch_ = 0, capacity_ = 0;
};

// Examples as one contiguous array (loaded once; never re-read per epoch) with multi-hot targets.
struct ExpertData {
  size_t count = 0;
  size_t features = 0;
  size_t labels = 0;
  std::vector<float> x;            // [count, features]
  std::vector<float> y;            // [count, labels]
  std::vector<std::string> names;  // one per example (model paths), for reports
};

struct FitConfig {
  int epochs = 500;
  size_t batch_size = 128;
  double lr = 1e-3;
  double weight_decay = 1e-5;
  int eval_every = 25;
  uint64_t seed = 0;
  std::string label;  // shown in the progress line
  bool progress = true;
};

struct FitEval {
  int epoch = 0;  // 1-based: evaluated after this many epochs
  double train_loss = 0.0;
  MultiLabelMetrics val;
};

struct FitResult {
  int best_epoch = 0;
  MultiLabelMetrics best_val;
  std::vector<FitEval> evals;
  double seconds = 0.0;
  double seconds_per_epoch = 0.0;
};

// Mean BCE-with-logits over n x labels; writes dL/dlogits (already divided by n * labels).
double bce_with_logits(const float* logits, const float* targets, size_t n, size_t labels, float* dlogits);

FitResult fit_multilabel(MultiLabelModel& model, const ExpertData& train, const ExpertData& val,
                         const FitConfig& config);

// True when the kept parameters are those of the last evaluation (and there were at least two): val was
// still improving when training stopped, so more epochs may give a better expert.
bool best_at_last_evaluation(const FitResult& result);

// Outputs [data.count, outputs] in batches of `batch_size`.
std::vector<float> predict(MultiLabelModel& model, const ExpertData& data, size_t batch_size = 128);

// The batching of predict with any per-batch result: `run(x, b)` returns `width` floats per example
// for the b examples at x (valid until the next call).
std::vector<float> predict_batched(const ExpertData& data, size_t width, size_t batch_size,
                                   const std::function<const float*(const float* x, size_t b)>& run);

}  // namespace probex::convert
