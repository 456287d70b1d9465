// The ProbeX forward pass of docs/method.md section 2 written literally in double precision, independent of
// the trainer's batched GEMMs: the reference of the golden and gradient tests.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "converter/expert/probex_expert.h"
#include "converter/nn/rng.h"

namespace probex::convert {

// docs/method.md section 2, literally, in double: P = X U; H = relu(V^T P); vec[l*r_V + v] = H[v][l];
// e = M vec + b; logits = W e + b.
inline std::vector<double> reference_logits(
    ProbexExpert& ex, const float* x, std::vector<double>* embedding = nullptr,
    const std::map<std::string, std::vector<double>>* override_params = nullptr) {
  const ProbexShape& s = ex.shape();
  auto param = [&](const char* name) {
    if (override_params && override_params->count(name)) return override_params->at(name);
    const Param* p = ex.find_param(name);
    return p ? std::vector<double>(p->value.begin(), p->value.end()) : std::vector<double>();  // no head
  };
  const auto U = param("probes.weight"), Vt = param("shared_probe_proj.weight");
  const auto M = param("per_probe_encoders.weight"), bM = param("per_probe_encoders.bias");
  const auto W = param("classification_head.weight"), bW = param("classification_head.bias");
  std::vector<double> P(s.d_h * s.r_u, 0.0), vec(s.r_u * s.r_v, 0.0), e(s.r_t), logits(s.d_y);
  for (size_t h = 0; h < s.d_h; ++h)
    for (size_t l = 0; l < s.r_u; ++l)
      for (size_t w = 0; w < s.d_w; ++w) P[h * s.r_u + l] += static_cast<double>(x[h * s.d_w + w]) * U[w * s.r_u + l];
  for (size_t v = 0; v < s.r_v; ++v)
    for (size_t l = 0; l < s.r_u; ++l) {
      double sum = 0.0;
      for (size_t h = 0; h < s.d_h; ++h) sum += Vt[v * s.d_h + h] * P[h * s.r_u + l];
      vec[l * s.r_v + v] = std::max(sum, 0.0);
    }
  for (size_t t = 0; t < s.r_t; ++t) {
    e[t] = bM[t];
    for (size_t k = 0; k < s.r_u * s.r_v; ++k) e[t] += M[t * s.r_u * s.r_v + k] * vec[k];
  }
  for (size_t y = 0; y < s.d_y; ++y) {
    logits[y] = bW[y];
    for (size_t t = 0; t < s.r_t; ++t) logits[y] += W[y * s.r_t + t] * e[t];
  }
  if (embedding) *embedding = e;
  return logits;
}

inline std::vector<float> random_layers(size_t n, const ProbexShape& s, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(n * s.d_h * s.d_w);
  for (float& v : x) v = static_cast<float>(rng.uniform(-1, 1));
  return x;
}

}  // namespace probex::convert
