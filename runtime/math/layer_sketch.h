// A small random sketch of a probed layer, for routing a model to its tree (docs/method.md section 7).
//
//   S(X) = L X R      X [d_H, d_W],  R [d_W, k_c],  L [k_r, d_H],  S [k_r, k_c]
// with L and R random +-1 entries scaled by 1/sqrt(k), generated from a seed (never stored). Then
// E ||S(A) - S(B)||^2 = ||A - B||^2 (Johnson-Lindenstrauss): the sketch keeps the distance between a
// model's layer and a root's layer, which separates trees by an order of magnitude (fine-tunes move a
// layer by a fraction of its norm; an unrelated root is ~sqrt(2) norms away), in k_r * k_c floats.
//
// The device computes X R with its backend (it is a GEMM with d_W inputs) as rows stream in, then
// accumulates L; the converter uses sketch_layer() below. Both use the same generator.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/math/cosine.h"

namespace probex {

struct SketchSpec {
  uint64_t seed = 0;
  uint32_t rows = 0;  // k_r
  uint32_t cols = 0;  // k_c
};

// +-1/sqrt(k) entries, `count` of them, from a SplitMix64 stream (one bit per entry).
inline void sketch_signs(uint64_t seed, size_t count, uint32_t k, float* out) {
  const float v = 1.0f / std::sqrt(static_cast<float>(k));
  uint64_t state = seed, bits = 0;
  for (size_t i = 0; i < count; ++i) {
    if (i % 64 == 0) {
      uint64_t z = (state += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      bits = z ^ (z >> 31);
    }
    out[i] = (bits >> (i % 64)) & 1u ? v : -v;
  }
}

// R^T [k_c, d_W] (the layout of a fully-connected operator's weights) and L [k_r, d_H].
inline std::vector<float> sketch_right_t(const SketchSpec& s, uint32_t d_w) {
  std::vector<float> r(static_cast<size_t>(s.cols) * d_w);
  sketch_signs(s.seed, r.size(), s.cols, r.data());
  return r;
}
inline std::vector<float> sketch_left(const SketchSpec& s, uint32_t d_h) {
  std::vector<float> l(static_cast<size_t>(s.rows) * d_h);
  sketch_signs(s.seed ^ 0x5DEECE66Dull, l.size(), s.rows, l.data());
  return l;
}

// sketch += L[:, first:first+rows] Y, for Y = X_blk R [rows, k_c] of the rows [first, first + rows).
inline void sketch_accumulate(const SketchSpec& s, const float* left, uint32_t d_h, const float* y, uint32_t first,
                              uint32_t rows, float* sketch) {
  for (size_t a = 0; a < s.rows; ++a) {
    const float* l = left + a * d_h + first;
    float* out = sketch + a * s.cols;
    for (size_t i = 0; i < rows; ++i) {
      const float w = l[i];
      const float* yr = y + i * s.cols;
      for (size_t c = 0; c < s.cols; ++c) out[c] += w * yr[c];
    }
  }
}

// The whole sketch of X [d_H, d_W] with plain loops (workstation side, tests).
inline std::vector<float> sketch_layer(const SketchSpec& s, const float* x, uint32_t d_h, uint32_t d_w) {
  const std::vector<float> r_t = sketch_right_t(s, d_w), left = sketch_left(s, d_h);
  std::vector<float> y(static_cast<size_t>(d_h) * s.cols), sketch(static_cast<size_t>(s.rows) * s.cols, 0.0f);
  for (size_t h = 0; h < d_h; ++h)
    for (size_t c = 0; c < s.cols; ++c) {
      double acc = 0.0;
      for (size_t k = 0; k < d_w; ++k)
        acc += static_cast<double>(x[h * d_w + k]) * static_cast<double>(r_t[c * d_w + k]);
      y[h * s.cols + c] = static_cast<float>(acc);
    }
  sketch_accumulate(s, left.data(), d_h, y.data(), 0, d_h, sketch.data());
  return sketch;
}

// The router's distance between a model's sketch a and a root's sketch b: the distance between their
// directions, || a/||a|| - b/||b|| || = sqrt(2 - 2 cos(a, b)), in [0, 2]. Scale-free on purpose: weight
// decay shrinks a long fine-tune toward zero, which would put it at distance ~1 (one root norm) from
// every root under ||a - b|| / ||b||; its direction stays its root's. Unrelated roots are ~sqrt(2) apart, and
// so is a zero layer (no direction) from any root (math/cosine.h).
inline double sketch_distance(const float* a, const float* b, size_t n) { return direction_distance(a, b, n); }

// Where a lossy copy's distance lands (docs/routing.md, "Lossy copies"). A stored layer X' = X + E whose
// rounding E has energy N = sum E[e^2] (math/storage_rounding.h) has the sketch u' = u + S(E). With +-1/sqrt(k)
// signs, S(E) has E|S(E)|^2 = N spread evenly over the D sketch entries, nearly orthogonal to everything, so
//   - it lengthens the sketch: |u|^2 = |u'|^2 - N, and shrinks every cosine by f = sqrt(|u'|^2 / |u|^2):
//     cos(u', v) = cos(u, v) / f on average. The copy of an original at the acceptance distance a (cosine
//     c_a = 1 - a^2/2) is expected at cosine c_a / f;
//   - it scatters that cosine by sqrt(N / D) / |u'| (the part of S(E) along v), and the estimate of N is
//     itself approximate (the bias c_a - c_a / f is known to within `energy_uncertainty` of itself).
// The band is the distances of cosines c_a / f +- (sigmas * scatter + energy_uncertainty * bias). Exact
// types (N = 0) give the band [a, a]: the router's decision is then the plain comparison with a.
class RoutingBand {
 public:
  RoutingBand(const float* sketch, size_t n, double rounding_energy, double sigmas, double energy_uncertainty)
      : energy_(rounding_energy), sigmas_(sigmas), energy_uncertainty_(energy_uncertainty), n_(n) {
    for (size_t i = 0; i < n; ++i) norm2_ += static_cast<double>(sketch[i]) * static_cast<double>(sketch[i]);
  }
  // The band of measured distances around an acceptance distance a: at or below *low the original is
  // within a, above *high beyond it.
  void around(float accept, float* low, float* high) const {
    if (!(energy_ > 0.0) || n_ == 0) {
      *low = *high = accept;
      return;
    }
    const double signal = norm2_ - energy_;
    if (signal <= kMinSignal * norm2_) {  // rounding as large as the layer: no distance means anything
      *low = 0.0f;
      *high = 2.0f;
      return;
    }
    const double a = static_cast<double>(accept), c_a = 1.0 - a * a / 2.0, center = c_a * std::sqrt(signal / norm2_);
    const double spread = sigmas_ * std::sqrt(energy_ / (static_cast<double>(n_) * norm2_)) +
                          energy_uncertainty_ * std::fabs(c_a - center);
    *low = static_cast<float>(std::sqrt(2.0 - 2.0 * std::min(1.0, center + spread)));
    *high = static_cast<float>(std::sqrt(2.0 - 2.0 * std::max(-1.0, center - spread)));
  }
  // |E| / |X|: the rounding's size relative to the layer (the sketch keeps norms: |u|^2 ~ |X|^2).
  float relative_error() const {
    if (!(energy_ > 0.0)) return 0.0f;
    return static_cast<float>(std::sqrt(energy_ / std::max(norm2_ - energy_, kMinSignal * norm2_)));
  }

 private:
  static constexpr double kMinSignal = 0.01;
  double energy_, sigmas_, energy_uncertainty_;
  size_t n_;
  double norm2_ = 0.0;
};

}  // namespace probex
