// Step 1 of an int8 expert with integer dot products: P = X U, with U^T stored int8 [r_U, d_W] with one
// scale per probe (the bundle's per-channel int8 probes) and each row h of X quantized on the fly to int8
// with its own scale s_h = max|X[h, :]| / 127. The sums over k are exact in int32, so
//   P[h, l] = float(sum_k Xq[h, k] Uq[l, k]) * su[l] * s_h
// is the same on every path, bit for bit; the only error is the two quantizations (no output
// requantization, unlike XNNPACK 2022's qc8 operator).
//
// Paths, chosen once from the CPU's features (never from a library's CPU table):
//   avx512-vnni  x86-64 with AVX512F/BW/VNNI (AMD Zen 4, Intel Ice Lake and later): VPDPBUSD, 64 products
//                per instruction. It multiplies unsigned by signed bytes, so X goes in as Xq + 128 (a XOR
//                of the sign bit) and 128 * sum_k Uq[l, k] is subtracted from each sum.
//   neon-dot     aarch64 with the dot-product extension (HWCAP ASIMDDP: Cortex-A55/A76 and later): SDOT.
//   neon         armv7 with NEON (HWCAP NEON) and aarch64 without SDOT: VMULL.S8 into int16, VPADAL into
//                int32. No board was at hand to time it against XNNPACK's qc8 operator; it is chosen for
//                giving every ARM device the host's P exactly (XNNPACK also requantizes P to int8).
//   scalar       everywhere: the yardstick the others are tested against, bit for bit. Backends use
//                another operator where only this path exists (it is not faster than float32).
// Exact int32 sums need 255 * 127 * d_W < 2^31: init() refuses d_W above kMaxDepth.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace probex {

// Symmetric int8 of n floats with one scale, max|x| / 127 (returned; 0 for an all-zero row), rounded to
// nearest even. Non-finite values must have been rejected before (the row readers do).
float quantize_row_int8(const float* x, size_t n, int8_t* q);

class Int8Probe {
 public:
  enum class Path { kScalar, kAvx512Vnni, kNeonDot, kNeon };
  static constexpr uint32_t kMaxDepth = 65536;

  // The fastest path this CPU runs (kScalar when it has no integer dot product).
  static Path best_path();
  static bool supported(Path path);
  static const char* path_name(Path path);

  // u: Uq [r_u, d_w] row-major, scales [r_u]; copied and packed for `path`. False when d_w is 0 or above
  // kMaxDepth, r_u is 0, or `path` is not supported here.
  bool init(const int8_t* u, const float* scales, uint32_t r_u, uint32_t d_w, Path path);
  Path path() const { return path_; }
  // Bytes per quantized row: d_w rounded up to the path's step, 4 or 8 (the padding must be zero;
  // quantize_row writes it).
  size_t row_stride() const { return stride_; }

  // quantize_row_int8 of d_w floats into `row_stride()` bytes, the padding zeroed.
  float quantize_row(const float* x, int8_t* q) const {
    for (size_t i = d_w_; i < stride_; ++i) q[i] = 0;
    return quantize_row_int8(x, d_w_, q);
  }

  // p[i * p_stride + l] for rows i < rows, l < r_u, from quantized rows q (row_stride() bytes apart) and
  // their scales.
  void run(const int8_t* q, const float* row_scales, size_t rows, float* p, size_t p_stride) const;

 private:
  Path path_ = Path::kScalar;
  uint32_t r_u_ = 0, d_w_ = 0;
  size_t stride_ = 0;
  size_t groups_ = 0;                // column groups of the packed layout (lanes per group: 16 or 4)
  std::vector<int8_t> packed_;       // path's layout: [group][d_w / unit][lanes][unit]; scalar: Uq as given
  std::vector<float> scales_;        // [groups * lanes], zero-padded
  std::vector<int32_t> correction_;  // avx512-vnni: 128 * sum_k Uq[l, k], zero-padded
};

}  // namespace probex
