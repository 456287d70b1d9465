#include "runtime/backends/kernels/int8_gemv.h"

namespace probex {
namespace {

// sum_k w[k] * x[k] over n values in 32 float lanes: the fixed-width inner loop is what compilers turn into
// vector code (int8 -> int32 -> float, multiply-add) without being allowed to reorder a single sum.
inline float dot_int8(const int8_t* w, const float* x, size_t n) {
  constexpr size_t kLanes = 32;
  float lanes[kLanes] = {};
  size_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (size_t j = 0; j < kLanes; ++j) lanes[j] += static_cast<float>(w[k + j]) * x[k + j];
  float sum = 0.0f;
  for (size_t j = 0; j < kLanes; ++j) sum += lanes[j];
  for (; k < n; ++k) sum += static_cast<float>(w[k]) * x[k];
  return sum;
}

}  // namespace

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(PROBEX_NO_TARGET_CLONES)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
void gemv_int8(const int8_t* w, const float* scales, size_t block_size, const float* bias, const float* x,
               size_t rows, size_t cols, float* y) {
  const size_t block = block_size == 0 || block_size > cols ? cols : block_size;
  const size_t blocks = cols == 0 ? 0 : (cols + block - 1) / block;  // 1 per row when block_size is 0
  for (size_t o = 0; o < rows; ++o) {
    const int8_t* row = w + o * cols;
    const float* row_scales = scales + o * blocks;
    float sum = 0.0f;
    for (size_t b = 0; b < blocks; ++b) {
      const size_t first = b * block, n = first + block <= cols ? block : cols - first;
      sum += row_scales[b] * dot_int8(row + first, x + first, n);
    }
    y[o] = bias ? sum + bias[o] : sum;
  }
}

}  // namespace probex
