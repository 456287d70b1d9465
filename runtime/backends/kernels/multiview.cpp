#include "runtime/backends/kernels/multiview.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace probex {

// C is computed in tiles of 4 rows x kTileN columns held in local accumulators (registers, once the compiler
// has vectorized the fixed-size inner loops): each row of B loaded feeds four rows' multiply-adds, and C is
// read and written once per block of K instead of once per multiply-add. K is blocked so that a block of B
// stays in the L2 cache while every row tile passes over it. Compiled for AVX-512, AVX2 and the baseline,
// chosen by the loader from the CPU's features.
namespace {

constexpr size_t kTileN = 32;
constexpr size_t kBlockK = 256;

// C[i0 .. i0+rows, j0 .. j0+kTileN) += A[i0 .., k0 .. k1) B[k0 .. k1, j0 ..), rows <= 4, full-width tile.
__attribute__((always_inline)) inline void tile_full(size_t rows, size_t k0, size_t k1, const float* a, size_t a_row,
                                                     size_t a_col, const float* b, size_t ldb, float* c, size_t ldc) {
  float acc[4][kTileN];
  for (size_t r = 0; r < 4; ++r)
    for (size_t j = 0; j < kTileN; ++j) acc[r][j] = r < rows ? c[r * ldc + j] : 0.0f;
  for (size_t kk = k0; kk < k1; ++kk) {
    const float* bk = b + kk * ldb;
    float av[4];
    for (size_t r = 0; r < 4; ++r) av[r] = r < rows ? a[r * a_row + kk * a_col] : 0.0f;
    for (size_t r = 0; r < 4; ++r)
      for (size_t j = 0; j < kTileN; ++j) acc[r][j] += av[r] * bk[j];
  }
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < kTileN; ++j) c[r * ldc + j] = acc[r][j];
}

}  // namespace

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(PROBEX_NO_TARGET_CLONES)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
void gemm_f32(size_t m, size_t n, size_t k, const float* a, size_t a_row, size_t a_col, const float* b, size_t ldb,
              float* c, size_t ldc) {
  const size_t n_full = n / kTileN * kTileN;
  for (size_t k0 = 0; k0 < k; k0 += kBlockK) {
    const size_t k1 = std::min(k, k0 + kBlockK);
    for (size_t i = 0; i < m; i += 4) {
      const size_t rows = std::min<size_t>(4, m - i);
      const float* ai = a + i * a_row;
      for (size_t j = 0; j < n_full; j += kTileN)
        tile_full(rows, k0, k1, ai, a_row, a_col, b + j, ldb, c + i * ldc + j, ldc);
      // The last columns (n not a multiple of the tile): plain loops.
      for (size_t r = 0; r < rows; ++r) {
        float* __restrict ci = c + (i + r) * ldc;
        for (size_t kk = k0; kk < k1; ++kk) {
          const float av = ai[r * a_row + kk * a_col];
          const float* __restrict bk = b + kk * ldb;
          for (size_t j = n_full; j < n; ++j) ci[j] += av * bk[j];
        }
      }
    }
  }
}

namespace {

// In place over S [rows, r] (leading dimension ld): (S - mean) / (std + eps), one mean and one unbiased std
// over all rows * r entries, in double, as the trainer (converter/expert/mvprobe_expert.cpp). With a
// single entry the std is 0 (the trainer's answer where torch has none).
void standardize(float* s, size_t rows, size_t r, size_t ld, double eps) {
  const size_t n = rows * r;
  double sum = 0.0;
  for (size_t i = 0; i < rows; ++i)
    for (size_t l = 0; l < r; ++l) sum += static_cast<double>(s[i * ld + l]);
  const double mean = sum / static_cast<double>(n);
  double ss = 0.0;
  for (size_t i = 0; i < rows; ++i)
    for (size_t l = 0; l < r; ++l) {
      const double d = static_cast<double>(s[i * ld + l]) - mean;
      ss += d * d;
    }
  const double sigma = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
  const double denom = sigma + eps;
  for (size_t i = 0; i < rows; ++i)
    for (size_t l = 0; l < r; ++l)
      s[i * ld + l] = static_cast<float>((static_cast<double>(s[i * ld + l]) - mean) / denom);
}

// U^T [r, len] into columns [col, col + r) of B [len, n].
void place_transposed(const float* u_t, size_t r, size_t len, float* b, size_t n, size_t col) {
  for (size_t l = 0; l < r; ++l)
    for (size_t h = 0; h < len; ++h) b[h * n + col + l] = u_t[l * len + h];
}

}  // namespace

void MultiViewProbe::init(uint32_t d_h, uint32_t d_w, uint32_t r, uint32_t p, float std_eps,
                          const MultiViewInput* views, size_t count) {
  d_h_ = d_h;
  d_w_ = d_w;
  r_ = r;
  p_ = p;
  eps_ = static_cast<double>(std_eps);
  const MultiViewInput* by_kind[kViewKinds] = {};
  for (size_t i = 0; i < count; ++i) by_kind[static_cast<size_t>(views[i].kind)] = &views[i];
  const MultiViewInput* xu = by_kind[0];
  const MultiViewInput* xxtu = by_kind[1];
  const MultiViewInput* xtu = by_kind[2];
  const MultiViewInput* xtxu = by_kind[3];
  // Columns of the two first GEMMs: P = X [U_xu | U_xtxu], Q = X^T [U_xtu | U_xxtu].
  n_x_ = (xu ? r : 0) + (xtxu ? r : 0);
  n_xt_ = (xtu ? r : 0) + (xxtu ? r : 0);
  b_x_.assign(static_cast<size_t>(d_w) * n_x_, 0.0f);
  b_xt_.assign(static_cast<size_t>(d_h) * n_xt_, 0.0f);
  p_prod_.assign(static_cast<size_t>(d_h) * n_x_, 0.0f);
  q_prod_.assign(static_cast<size_t>(d_w) * n_xt_, 0.0f);
  if (xu) place_transposed(xu->probes, r, d_w, b_x_.data(), n_x_, 0);
  if (xtxu) place_transposed(xtxu->probes, r, d_w, b_x_.data(), n_x_, xu ? r : 0);
  if (xtu) place_transposed(xtu->probes, r, d_h, b_xt_.data(), n_xt_, 0);
  if (xxtu) place_transposed(xxtu->probes, r, d_h, b_xt_.data(), n_xt_, xtu ? r : 0);
  t4_ = xtxu ? p_prod_.data() + (xu ? r : 0) : nullptr;
  t2_ = xxtu ? q_prod_.data() + (xtu ? r : 0) : nullptr;
  s_xxtu_.assign(xxtu ? static_cast<size_t>(d_h) * r : 0, 0.0f);
  s_xtxu_.assign(xtxu ? static_cast<size_t>(d_w) * r : 0, 0.0f);
  x_.assign(static_cast<size_t>(d_h) * d_w, 0.0f);
  views_.clear();
  for (size_t i = 0; i < count; ++i) {
    View v;
    v.kind = views[i].kind;
    v.rows = view_response_rows(v.kind, d_h, d_w);
    // V^T [p, rows] -> V [rows, p], the B operand of G = Z^T V.
    v.projection.resize(v.rows * p);
    for (size_t j = 0; j < p; ++j)
      for (size_t h = 0; h < v.rows; ++h) v.projection[h * p + j] = views[i].projection[j * v.rows + h];
    switch (v.kind) {
      case ViewKind::kXU: v.s = p_prod_.data(), v.ld = n_x_; break;
      case ViewKind::kXXtU: v.s = s_xxtu_.data(), v.ld = r; break;
      case ViewKind::kXtU: v.s = q_prod_.data(), v.ld = n_xt_; break;
      case ViewKind::kXtXU: v.s = s_xtxu_.data(), v.ld = r; break;
    }
    views_.push_back(std::move(v));
  }
}

void MultiViewProbe::compute(float* g) {
  const float* x = x_.data();
  const size_t h = d_h_, w = d_w_, r = r_;
  std::fill(p_prod_.begin(), p_prod_.end(), 0.0f);
  std::fill(q_prod_.begin(), q_prod_.end(), 0.0f);
  std::fill(s_xxtu_.begin(), s_xxtu_.end(), 0.0f);
  std::fill(s_xtxu_.begin(), s_xtxu_.end(), 0.0f);
  if (n_x_) gemm_f32(h, n_x_, w, x, w, 1, b_x_.data(), n_x_, p_prod_.data(), n_x_);       // X B_x
  if (n_xt_) gemm_f32(w, n_xt_, h, x, 1, w, b_xt_.data(), n_xt_, q_prod_.data(), n_xt_);  // X^T B_xt
  if (t2_) gemm_f32(h, r, w, x, w, 1, t2_, n_xt_, s_xxtu_.data(), r);                     // X T_2
  if (t4_) gemm_f32(w, r, h, x, 1, w, t4_, n_x_, s_xtxu_.data(), r);                      // X^T T_4
  for (size_t i = 0; i < views_.size(); ++i) {
    View& v = views_[i];
    float* s = v.s;
    standardize(s, v.rows, r, v.ld, eps_);
    // G [r, p] += Z^T V: A = Z read transposed (A[l, n] = Z[n * ld + l]).
    gemm_f32(r, p_, v.rows, s, 1, v.ld, v.projection.data(), p_, g + i * r * p_, p_);
  }
}

}  // namespace probex
