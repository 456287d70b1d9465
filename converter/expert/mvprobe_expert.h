// The MVProbe expert (Heo, Seo, Yoo, "What Linear Probes Miss: Multi-View Probing for Weight-Space
// Learning", ICML 2026; the authors' code `AI-hew-math/MVProbe` @ 7cdae0f, `probex.py`, class ProbeXCore),
// batched for training on the workstation, beside ProbexExpert. probex-convert puts it in bundles (its
// computed views only); the runtime's views stage is runtime/backends/kernels/multiview.h.
//
// Sizes: r = n_probes, p = proj_dim, r_T = rep_dim. Parameters, with the authors' names and PyTorch shapes,
// in the authors' creation (and therefore initialisation) order:
//   probes_xu.weight                U_1   [d_W, r]     used as  S_1 = X U_1            [d_H, r]
//   probes_xxtu.weight              U_2   [d_H, r]              S_2 = X (X^T U_2)      [d_H, r]
//   probes_xtu.weight               U_3   [d_H, r]              S_3 = X^T U_3          [d_W, r]
//   probes_xtxu.weight              U_4   [d_W, r]              S_4 = X^T (X U_4)      [d_W, r]
//   shared_probe_proj_row.weight    V_1^T [p, d_H]    (no bias, as every probe and projection)
//   shared_probe_proj_row2.weight   V_2^T [p, d_H]
//   shared_probe_proj_col.weight    V_3^T [p, d_W]
//   shared_probe_proj_col2.weight   V_4^T [p, d_W]
//   concat_all4_encoder.weight      M     [r_T, 4rp]   and .bias [r_T]
//   classification_head.weight      W     [d_Y, r_T]   and .bias [d_Y]
// Forward for one layer X [d_H, d_W], each view k (in the order above):
//   Z_k = (S_k - mean(S_k)) / (std(S_k) + 1e-8)   one scalar mean and one unbiased std (N-1) over all of
//                                                 S_k's N_k * r entries; the eps is added to the std
//   F_k = relu(Z_k^T V_k)                          [r, p], flattened probe-major (index l*p + v)
//   f   = [F_xu, F_xxtu, F_xtu, F_xtxu]            [4rp], the code's concatenation order
//   e   = M f + b_M                                [r_T]  the embedding
//   logits = W e + b_W                             [d_Y]  (absent when d_Y = 0: forward returns e)
// X X^T and X^T X are never formed: S_2 and S_4 go through T_2 = X^T U_2 and T_4 = X U_4. Batched, X U_1 and
// X U_4 are one GEMM each over the batch's layers stacked as [B*d_H, d_W]; the X^T products and X T_2 are
// one GEMM per layer. The statistics are computed in double.
//
// One departure, where torch has no answer: a view with N_k = 1 entry (d = 1 and r = 1) has no unbiased std
// (torch gives NaN); here its std is 0, so its Z is 0. A constant response (std 0) gets Z = 0 and no
// gradient through the std, where torch's backward would give NaN.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "converter/expert/multilabel.h"
#include "converter/nn/model.h"
#include "converter/nn/rng.h"

namespace probex::convert {

// The views, in the order of the concatenation.
enum MvView : unsigned { kViewXU = 0, kViewXXtU = 1, kViewXtU = 2, kViewXtXU = 3 };
constexpr unsigned kAllViews = 0xF;

struct MvProbeShape {
  size_t d_h = 0, d_w = 0;  // the probed layer, after shaping
  size_t r = 128, p = 128, r_t = 128;
  size_t d_y = 0;  // labels
  // Bit k set: view k is computed. A cleared view's features are 0, as the authors' `--ablation`, which
  // multiplies them by 0 after computing them (the encoder keeps its width 4rp and every parameter exists).
  unsigned views = kAllViews;
};

// Parameters of an MVProbe expert (with its head when d_Y > 0): 34,392,676 at d = 768, r = p = 128,
// r_T = 512, d_Y = 100.
size_t mvprobe_parameter_count(const MvProbeShape& shape);
// The parameters that matter when views are masked: the live views' probes and projections, the encoder's
// columns that read them ([r_T, views*r*p]) and its bias, the head. What a bundle that ships only the live
// views stores (docs/design/mvprobe.md section 5(c)); equal to mvprobe_parameter_count with every view.
size_t mvprobe_live_parameter_count(const MvProbeShape& shape);
// "xu,xxtu,xtu,xtxu" for the views set in `views`, in the concatenation order.
std::string mvprobe_view_list(unsigned views);
// The inverse of mvprobe_view_list (any order, no repeats); false for an unknown or repeated name or none.
bool parse_mvprobe_views(const std::string& list, unsigned* views);

class MvProbeExpert final : public MultiLabelModel {
 public:
  static constexpr double kStdEps = 1e-8;  // `_standardize_per_sample`'s eps, added to the std

  explicit MvProbeExpert(const MvProbeShape& shape);

  const MvProbeShape& shape() const { return shape_; }
  // torch.nn.Linear default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases,
  // fan_in = r (probes), d_H (row projections), d_W (column projections), 4rp (encoder), r_T (head), in the
  // parameter order above.
  void init(Rng& rng);

  size_t input_size() const override { return shape_.d_h * shape_.d_w; }
  size_t outputs() const override { return has_head() ? shape_.d_y : shape_.r_t; }
  bool has_head() const { return shape_.d_y > 0; }
  // Forward for `batch` layers stored contiguously (layer b at x + b*d_H*d_W). Returns logits [batch, d_Y]
  // (or e without a head); embeddings() holds e [batch, r_T]. Valid until the next forward; x must stay
  // alive until backward.
  const float* forward(const float* x, size_t batch) override;
  const float* embeddings() const override { return e_.data(); }
  // The concatenated features f [batch, 4rp] of the last forward.
  const float* features() const { return f_.data(); }
  // The standardised responses Z_k of view k for layer b of the last forward, [N_k, r] row-major
  // (N_k = d_H for xu and xxtu, d_W for xtu and xtxu). Only for a view that is computed.
  const float* standardized(size_t b, MvView view) const;
  // Accumulates parameter gradients for the last forward, given dL/dlogits [batch, d_Y] (dL/de without a head).
  void backward(const float* dlogits) override;
  void zero_grad();

  std::vector<Param*> params() override;
  std::vector<const Param*> const_params() const;
  Param* find_param(const std::string& name);

 private:
  void reserve(size_t batch);
  size_t view_rows(unsigned k) const { return k < 2 ? shape_.d_h : shape_.d_w; }
  float* view_z(unsigned k, size_t b);

  MvProbeShape shape_;
  Param probes_[4], proj_[4], enc_w_, enc_b_, head_w_, head_b_;
  size_t capacity_ = 0, batch_ = 0;
  const float* x_ = nullptr;
  // Activations of the last forward, sized for capacity_ layers: Z_1 (S_1 standardised in place), T_4,
  // Z_2 [B*d_H*r]; T_2, Z_3, Z_4 [B*d_W*r]; per (layer, view) the std and std + eps.
  std::vector<float> z1_, t4_, z2_, t2_, z3_, z4_, f_, e_, logits_;
  std::vector<double> sigma_, denom_;
  // Backward scratch.
  std::vector<float> de_, df_, ds1_, dt4_, ds_, dt2_;
};

// The embedding e [data.count, r_T] of every example.
std::vector<float> predict_embeddings(MvProbeExpert& expert, const ExpertData& data, size_t batch_size = 128);

}  // namespace probex::convert
