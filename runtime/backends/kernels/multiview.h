// The views stage of a multi-view expert (MVProbe, docs/design/mvprobe.md section 3; schema: View): from the
// whole layer X [d_H, d_W] to the pre-ReLU features g = [G_1 | G_2 | ...], G_k = Z_k^T V_k [r, p]
// probe-major, one block per view in bundle order. The backends' step 3 (ReLU, encoder, head) is the
// same as ProbeX's on g, so a multi-view expert differs from ProbeX only up to here.
//
// Per view k, with Z = (S - mean(S)) / (std(S) + eps) over all of S's entries (unbiased std, in double):
//   xu    S = X U              xxtu  S = X T_2,  T_2 = X^T U
//   xtu   S = X^T U            xtxu  S = X^T T_4, T_4 = X U
// The products with the stored U go first, as two GEMMs ([U_xu | U_xtxu] against X, [U_xtu | U_xxtu]
// against X^T), then the two with T. X^T is never formed: the GEMM reads X with swapped strides.
// X X^T and X^T X are never formed either.
//
// Why X is held whole: S_xxtu needs T_2, which needs every row of X, so it cannot be accumulated in one
// pass over row blocks as ProbeX's G can (docs/design/mvprobe.md). The bundle bounds the layer
// (kMaxMultiViewLayer). Memory: the layer and the responses, allocated in init, none per audit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/math/multiview.h"

namespace probex {

// C[M, N] += A[M, K] B[K, N], with A read as A[i * a_row + k * a_col] (so a transposed A costs nothing),
// B and C row-major with leading dimensions ldb, ldc. Float32 accumulation, four rows of A at a time.
void gemm_f32(size_t m, size_t n, size_t k, const float* a, size_t a_row, size_t a_col, const float* b, size_t ldb,
              float* c, size_t ldc);

struct MultiViewInput {
  ViewKind kind;
  const float* probes;      // U^T [r, view_probe_length]
  const float* projection;  // V^T [p, view_response_rows]
};

class MultiViewProbe {
 public:
  // Views in concatenation order (the bundle checked kinds, order and shapes).
  void init(uint32_t d_h, uint32_t d_w, uint32_t r, uint32_t p, float std_eps, const MultiViewInput* views,
            size_t count);
  size_t feature_size() const { return views_.size() * r_ * p_; }
  // The layer buffer [d_H, d_W] the caller fills (row blocks, as they stream) before compute().
  float* layer() { return x_.data(); }
  // Adds the views' features of the layer in layer() into g [feature_size()].
  void compute(float* g);

 private:
  struct View {
    ViewKind kind;
    std::vector<float> projection;  // V [rows of S, p]
    float* s = nullptr;             // S [rows, r]: columns of p_prod_ or q_prod_, or s_xxtu_ / s_xtxu_
    size_t ld = 0, rows = 0;
  };
  uint32_t d_h_ = 0, d_w_ = 0, r_ = 0, p_ = 0;
  double eps_ = 0.0;
  std::vector<View> views_;
  std::vector<float> x_;
  // B operands [K, N]: [U_xu | U_xtxu] [d_W, n_x], [U_xtu | U_xxtu] [d_H, n_xt]; and the products
  // P = X B_x [d_H, n_x], Q = X^T B_xt [d_W, n_xt], S_xxtu [d_H, r], S_xtxu [d_W, r].
  std::vector<float> b_x_, b_xt_, p_prod_, q_prod_, s_xxtu_, s_xtxu_;
  size_t n_x_ = 0, n_xt_ = 0;
  const float* t4_ = nullptr;  // T_4 = X U_xtxu inside p_prod_
  const float* t2_ = nullptr;  // T_2 = X^T U_xxtu inside q_prod_
};

}  // namespace probex
