// The ProbeX expert (docs/method.md section 2), batched for training on the workstation.
//
// Parameters, with the authors' names and PyTorch shapes:
//   probes.weight                 U    [d_W, r_U]
//   shared_probe_proj.weight      V^T  [r_V, d_H]        (no bias)
//   per_probe_encoders.weight     M    [r_T, r_U*r_V]    and .bias [r_T]
//   classification_head.weight    W    [d_Y, r_T]        and .bias [d_Y]
// Forward for one layer X [d_H, d_W]:
//   P = X U                      [d_H, r_U]
//   G = relu(P^T V)              [r_U, r_V]   (= H^T: row l is probe l, so flattening G row-major is the
//                                              authors' probe-major order, index l*r_V + v)
//   e = M vec(G) + b_M           [r_T]        the embedding
//   logits = W e + b_W           [d_Y]     (absent when d_Y = 0: the zero-shot expert outputs e)
// Batched, step 1 is one GEMM over all layers of the batch stacked as [B*d_H, d_W] (the bulk of the
// FLOPs); steps 3-4 are one GEMM each over [B, ...]; step 2 is one small GEMM per layer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "converter/expert/multilabel.h"
#include "converter/nn/model.h"
#include "converter/nn/rng.h"

namespace probex::convert {

struct ProbexShape {
  size_t d_h = 0, d_w = 0;  // the probed layer, after shaping
  size_t r_u = 128, r_v = 128, r_t = 128;
  size_t d_y = 0;  // labels
};

// Parameters of a ProbeX expert (with its head when d_Y > 0); its init draws one random number per parameter.
size_t probex_parameter_count(const ProbexShape& shape);

class ProbexExpert final : public MultiLabelModel {
 public:
  explicit ProbexExpert(const ProbexShape& shape);

  const ProbexShape& shape() const { return shape_; }
  // torch.nn.Linear default initialisation, fan_in = r_U, d_H, r_U*r_V, r_T (docs/method.md section 2).
  void init(Rng& rng);

  // Forward for `batch` layers stored contiguously (layer b at x + b*d_H*d_W). Returns logits
  // [batch, d_Y] (or e without a head); embeddings() holds e [batch, r_T]. Valid until the next forward.
  size_t input_size() const override { return shape_.d_h * shape_.d_w; }
  size_t outputs() const override { return has_head() ? shape_.d_y : shape_.r_t; }
  // d_Y == 0: no classification head; forward returns the embedding (the zero-shot expert).
  bool has_head() const { return shape_.d_y > 0; }
  const float* forward(const float* x, size_t batch) override;
  const float* embeddings() const override { return e_.data(); }
  // Accumulates parameter gradients for the last forward, given dL/dlogits [batch, d_Y] (dL/de without a head).
  void backward(const float* dlogits) override;
  void zero_grad();

  std::vector<Param*> params() override;
  std::vector<const Param*> const_params() const;
  Param* find_param(const std::string& name);

 private:
  void reserve(size_t batch);

  ProbexShape shape_;
  Param probes_, proj_, enc_w_, enc_b_, head_w_, head_b_;
  // Activations of the last forward, sized for `capacity_` layers.
  size_t capacity_ = 0, batch_ = 0;
  const float* x_ = nullptr;
  std::vector<float> p_, g_, e_, logits_;
  std::vector<float> de_, dg_, dp_;
};

// The embedding e [data.count, r_T] of every example (the layer's place in the expert's space).
std::vector<float> predict_embeddings(ProbexExpert& expert, const ExpertData& data, size_t batch_size = 128);

}  // namespace probex::convert
