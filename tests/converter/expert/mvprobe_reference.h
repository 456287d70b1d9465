// The MVProbe forward pass (converter/expert/mvprobe_expert.h; docs/design/mvprobe.md section 1) written
// literally in double precision with plain loops, independent of the trainer's batched GEMMs: it forms the
// Gram matrices X X^T and X^T X (the trainer never does), standardises each view with torch's unbiased
// std and the eps added to the std, and concatenates in the authors' order xu, xxtu, xtu, xtxu.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "converter/expert/mvprobe_expert.h"
#include "converter/nn/rng.h"

namespace probex::convert {

using Params = std::map<std::string, std::vector<double>>;

// Row-major products in double.
inline std::vector<double> mv_matmul(const std::vector<double>& a, const std::vector<double>& b, size_t m, size_t k,
                                     size_t n) {
  std::vector<double> c(m * n, 0.0);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j)
      for (size_t t = 0; t < k; ++t) c[i * n + j] += a[i * k + t] * b[t * n + j];
  return c;
}

inline std::vector<double> mv_transpose(const std::vector<double>& a, size_t rows, size_t cols) {
  std::vector<double> t(rows * cols);
  for (size_t i = 0; i < rows; ++i)
    for (size_t j = 0; j < cols; ++j) t[j * rows + i] = a[i * cols + j];
  return t;
}

// torch: (s - s.mean()) / (s.std() + 1e-8), std unbiased.
inline std::vector<double> mv_standardize(std::vector<double> s) {
  const double n = static_cast<double>(s.size());
  double mean = 0.0;
  for (double v : s) mean += v;
  mean /= n;
  double ss = 0.0;
  for (double v : s) ss += (v - mean) * (v - mean);
  const double sd = s.size() > 1 ? std::sqrt(ss / (n - 1.0)) : 0.0;
  for (double& v : s) v = (v - mean) / (sd + 1e-8);
  return s;
}

// Logits (and the embedding and the features f) of one layer x [d_H, d_W].
inline std::vector<double> mv_reference_logits(MvProbeExpert& ex, const float* x,
                                               std::vector<double>* embedding = nullptr,
                                               const Params* override_params = nullptr,
                                               std::vector<double>* features = nullptr) {
  const MvProbeShape& s = ex.shape();
  auto param = [&](const char* name) {
    if (override_params && override_params->count(name)) return override_params->at(name);
    const Param* p = ex.find_param(name);
    return p ? std::vector<double>(p->value.begin(), p->value.end()) : std::vector<double>();
  };
  const size_t H = s.d_h, W = s.d_w, r = s.r, p = s.p;
  const std::vector<double> X(x, x + H * W), Xt = mv_transpose(X, H, W);
  const std::vector<double> XXt = mv_matmul(X, Xt, H, W, H), XtX = mv_matmul(Xt, X, W, H, W);
  std::vector<double> S[4] = {mv_matmul(X, param("probes_xu.weight"), H, W, r),       // X U_1       [H, r]
                              mv_matmul(XXt, param("probes_xxtu.weight"), H, H, r),   // X X^T U_2   [H, r]
                              mv_matmul(Xt, param("probes_xtu.weight"), W, H, r),     // X^T U_3     [W, r]
                              mv_matmul(XtX, param("probes_xtxu.weight"), W, W, r)};  // X^T X U_4   [W, r]
  const char* proj[4] = {"shared_probe_proj_row.weight", "shared_probe_proj_row2.weight",
                         "shared_probe_proj_col.weight", "shared_probe_proj_col2.weight"};
  const size_t rows[4] = {H, H, W, W};
  std::vector<double> f(4 * r * p, 0.0);
  for (unsigned k = 0; k < 4; ++k) {
    if (!((s.views >> k) & 1u)) continue;  // the authors' ablation: features multiplied by 0
    const std::vector<double> Z = mv_standardize(S[k]), Vt = param(proj[k]);
    for (size_t l = 0; l < r; ++l)
      for (size_t v = 0; v < p; ++v) {
        double sum = 0.0;
        for (size_t n = 0; n < rows[k]; ++n) sum += Z[n * r + l] * Vt[v * rows[k] + n];
        f[k * r * p + l * p + v] = std::max(sum, 0.0);
      }
  }
  const auto M = param("concat_all4_encoder.weight"), bM = param("concat_all4_encoder.bias");
  const auto Wh = param("classification_head.weight"), bW = param("classification_head.bias");
  std::vector<double> e(s.r_t), logits(s.d_y);
  for (size_t t = 0; t < s.r_t; ++t) {
    e[t] = bM[t];
    for (size_t k = 0; k < f.size(); ++k) e[t] += M[t * f.size() + k] * f[k];
  }
  for (size_t y = 0; y < s.d_y; ++y) {
    logits[y] = bW[y];
    for (size_t t = 0; t < s.r_t; ++t) logits[y] += Wh[y * s.r_t + t] * e[t];
  }
  if (embedding) *embedding = e;
  if (features) *features = f;
  return logits;
}

inline std::vector<float> mv_random_layers(size_t n, const MvProbeShape& s, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(n * s.d_h * s.d_w);
  for (float& v : x) v = static_cast<float>(rng.uniform(-1, 1));
  return x;
}

}  // namespace probex::convert
