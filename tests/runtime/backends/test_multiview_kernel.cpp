// The multi-view views stage (backends/kernels/multiview.h) on its own, so that it runs on every target the
// runtime tests run on (aarch64 and armv7 under qemu included): gemm_f32 against plain double loops for
// every tile edge and a transposed A, and MultiViewProbe's features against the views written out literally
// (X X^T and X^T X formed, standardised in double) for every subset of views.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "runtime/backends/kernels/multiview.h"

using namespace probex;

namespace {

// Uniform in [-1, 1): a small LCG, so the test needs nothing but the runtime.
std::vector<float> random_values(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t s = seed * 2654435761u + 1u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / 8388608.0f - 1.0f;
  }
  return v;
}

std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b, size_t m, size_t k, size_t n) {
  std::vector<double> c(m * n, 0.0);
  for (size_t i = 0; i < m; ++i)
    for (size_t t = 0; t < k; ++t)
      for (size_t j = 0; j < n; ++j) c[i * n + j] += a[i * k + t] * b[t * n + j];
  return c;
}

std::vector<double> transpose(const std::vector<double>& a, size_t rows, size_t cols) {
  std::vector<double> t(a.size());
  for (size_t i = 0; i < rows; ++i)
    for (size_t j = 0; j < cols; ++j) t[j * rows + i] = a[i * cols + j];
  return t;
}

}  // namespace

TEST_CASE("gemm_f32 equals plain double loops, at every tile edge and with A transposed") {
  for (size_t m : {1u, 3u, 4u, 9u})
    for (size_t n : {1u, 31u, 32u, 33u, 70u})
      for (size_t k : {1u, 5u, 257u}) {
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        const std::vector<float> a = random_values(m * k, 1), b = random_values(k * n, 2), c0 = random_values(m * n, 3);
        std::vector<float> c = c0, ct = c0;
        gemm_f32(m, n, k, a.data(), k, 1, b.data(), n, c.data(), n);
        // The same A stored transposed ([k, m]) and read with swapped strides.
        std::vector<float> a_t(k * m);
        for (size_t i = 0; i < m; ++i)
          for (size_t t = 0; t < k; ++t) a_t[t * m + i] = a[i * k + t];
        gemm_f32(m, n, k, a_t.data(), 1, m, b.data(), n, ct.data(), n);
        double worst = 0.0;
        for (size_t i = 0; i < m; ++i)
          for (size_t j = 0; j < n; ++j) {
            double want = static_cast<double>(c0[i * n + j]);
            for (size_t t = 0; t < k; ++t)
              want += static_cast<double>(a[i * k + t]) * static_cast<double>(b[t * n + j]);
            worst = std::max({worst, std::fabs(static_cast<double>(c[i * n + j]) - want),
                              std::fabs(static_cast<double>(ct[i * n + j]) - want)});
          }
        CHECK(worst <= 1e-5 * static_cast<double>(k + 1));
      }
}

TEST_CASE("MultiViewProbe's features equal the views written out literally, for every subset of views") {
  const uint32_t d_h = 11, d_w = 7, r = 5, p = 3;  // d_H != d_W, neither a multiple of the 4-row tile
  const std::vector<float> x = random_values(d_h * d_w, 10);
  const std::vector<double> X(x.begin(), x.end()), Xt = transpose(X, d_h, d_w);
  const std::vector<double> XXt = matmul(X, Xt, d_h, d_w, d_h), XtX = matmul(Xt, X, d_w, d_h, d_w);
  std::vector<float> probes[kViewKinds], projections[kViewKinds];
  for (uint8_t k = 0; k < kViewKinds; ++k) {
    const ViewKind kind = static_cast<ViewKind>(k);
    probes[k] = random_values(r * view_probe_length(kind, d_h, d_w), 20 + k);
    projections[k] = random_values(p * view_response_rows(kind, d_h, d_w), 30 + k);
  }
  for (unsigned mask = 1; mask < 16; ++mask) {
    CAPTURE(mask);
    std::vector<MultiViewInput> views;
    std::vector<double> want;
    for (uint8_t k = 0; k < kViewKinds; ++k) {
      if (!((mask >> k) & 1u)) continue;
      const ViewKind kind = static_cast<ViewKind>(k);
      views.push_back({kind, probes[k].data(), projections[k].data()});
      const size_t len = view_probe_length(kind, d_h, d_w), rows = view_response_rows(kind, d_h, d_w);
      const std::vector<double> U = transpose(std::vector<double>(probes[k].begin(), probes[k].end()), r,
                                              len);  // [len, r]
      const std::vector<double> S = kind == ViewKind::kXU     ? matmul(X, U, d_h, d_w, r)
                                    : kind == ViewKind::kXXtU ? matmul(XXt, U, d_h, d_h, r)
                                    : kind == ViewKind::kXtU  ? matmul(Xt, U, d_w, d_h, r)
                                                              : matmul(XtX, U, d_w, d_w, r);
      double mean = 0.0, ss = 0.0;
      for (double v : S) mean += v;
      mean /= static_cast<double>(S.size());
      for (double v : S) ss += (v - mean) * (v - mean);
      const double denom = std::sqrt(ss / static_cast<double>(S.size() - 1)) + 1e-8;
      for (size_t l = 0; l < r; ++l)
        for (size_t v = 0; v < p; ++v) {
          double g = 0.0;
          for (size_t n = 0; n < rows; ++n)
            g += (S[n * r + l] - mean) / denom * static_cast<double>(projections[k][v * rows + n]);
          want.push_back(g);  // before the ReLU, which the backends' step 3 applies
        }
    }
    MultiViewProbe probe;
    probe.init(d_h, d_w, r, p, 1e-8f, views.data(), views.size());
    REQUIRE(probe.feature_size() == want.size());
    std::copy(x.begin(), x.end(), probe.layer());
    std::vector<float> g(want.size(), 0.0f);
    probe.compute(g.data());
    for (size_t i = 0; i < want.size(); ++i) CHECK(g[i] == doctest::Approx(want[i]).epsilon(1e-5).scale(1.0));
    // compute() adds: a second call doubles g (the executor zeroes g before every pass).
    probe.compute(g.data());
    for (size_t i = 0; i < want.size(); ++i) CHECK(g[i] == doctest::Approx(2.0 * want[i]).epsilon(1e-5).scale(1.0));
  }
}
