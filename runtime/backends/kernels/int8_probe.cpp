#include "runtime/backends/kernels/int8_probe.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PROBEX_HAVE_VNNI 1
#include <immintrin.h>
#endif
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__)) && defined(__linux__)
#define PROBEX_HAVE_NEON_DOT 1
#define PROBEX_HAVE_NEON 1
#include <arm_neon.h>
#include <sys/auxv.h>
#endif
#if defined(__arm__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define PROBEX_HAVE_NEON 1  // 32-bit: Debian's armhf baseline has no NEON; the kernel enables it (and checks HWCAP)
#include <arm_neon.h>
#include <sys/auxv.h>
#endif

namespace probex {
namespace {

// Lanes per column group of each path's packed layout, and bytes of depth per lane and step.
size_t lanes_of(Int8Probe::Path path) {
  switch (path) {
    case Int8Probe::Path::kAvx512Vnni: return 16;
    case Int8Probe::Path::kNeonDot: return 4;
    case Int8Probe::Path::kNeon: return 4;
    case Int8Probe::Path::kScalar: break;
  }
  return 1;
}
size_t unit_of(Int8Probe::Path path) { return path == Int8Probe::Path::kNeon ? 8 : 4; }

#if defined(PROBEX_HAVE_VNNI) || defined(PROBEX_HAVE_NEON_DOT)
int32_t load_word(const int8_t* p) {
  int32_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}
#endif

// Tiles: up to kRows rows of X against up to kGroups column groups, every sum in a register. The tile
// functions are templates on the tile's shape so that the accumulators stay registers; run() picks the
// instance for the edges.
constexpr int kRows = 4, kGroups = 4;

struct TileArgs {
  const int8_t* packed;       // first group of the tile
  size_t steps;               // steps along the depth: d_w / unit_of(path), rounded up
  const int32_t* correction;  // first column of the tile
  const float* scales;        // first column of the tile
  const int8_t* q;            // first row of the tile
  size_t q_stride;
  const float* row_scales;  // first row of the tile
  float* p;                 // p[0, first column of the tile]
  size_t p_stride;
  size_t columns;  // valid columns from the tile's first (may be fewer than its groups hold)
};
using TileFn = void (*)(const TileArgs&);

#ifdef PROBEX_HAVE_VNNI
#define PROBEX_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

template <int R, int G>
PROBEX_VNNI_TARGET void vnni_tile(const TileArgs& a) {
  __m512i acc[R][G];
#pragma GCC unroll 4
  for (int m = 0; m < R; ++m)
#pragma GCC unroll 4
    for (int n = 0; n < G; ++n) acc[m][n] = _mm512_setzero_si512();
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));  // Xq + 128 as unsigned bytes
  for (size_t k = 0; k < a.steps; ++k) {
    __m512i b[G];
#pragma GCC unroll 4
    for (int n = 0; n < G; ++n) b[n] = _mm512_loadu_si512(a.packed + (n * a.steps + k) * 64);
#pragma GCC unroll 4
    for (int m = 0; m < R; ++m) {
      const __m512i x = _mm512_xor_si512(_mm512_set1_epi32(load_word(a.q + m * a.q_stride + 4 * k)), flip);
#pragma GCC unroll 4
      for (int n = 0; n < G; ++n) acc[m][n] = _mm512_dpbusd_epi32(acc[m][n], x, b[n]);
    }
  }
#pragma GCC unroll 4
  for (int n = 0; n < G; ++n) {
    const size_t first = static_cast<size_t>(n) * 16;
    if (first >= a.columns) break;
    const size_t cols = std::min<size_t>(16, a.columns - first);
    const __mmask16 mask = static_cast<__mmask16>(cols == 16 ? 0xffffu : (1u << cols) - 1u);
    const __m512i correction = _mm512_loadu_si512(a.correction + first);
    const __m512 scales = _mm512_loadu_ps(a.scales + first);
#pragma GCC unroll 4
    for (int m = 0; m < R; ++m) {
      // The maskz form: GCC 12's plain _mm512_cvtepi32_ps trips -Wmaybe-uninitialized in its own header.
      const __m512 sum = _mm512_maskz_cvtepi32_ps(0xffff, _mm512_sub_epi32(acc[m][n], correction));
      _mm512_mask_storeu_ps(a.p + m * a.p_stride + first, mask,
                            _mm512_mul_ps(_mm512_mul_ps(sum, scales), _mm512_set1_ps(a.row_scales[m])));
    }
  }
}
#endif

#ifdef PROBEX_HAVE_NEON_DOT
// arm_neon.h declares the dot-product intrinsics for armv8.2-a+dotprod: the caller must have at least that.
#define PROBEX_DOT_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))

template <int R, int G>
PROBEX_DOT_TARGET void dot_tile(const TileArgs& a) {
  int32x4_t acc[R][G];
#pragma GCC unroll 4
  for (int m = 0; m < R; ++m)
#pragma GCC unroll 4
    for (int n = 0; n < G; ++n) acc[m][n] = vdupq_n_s32(0);
  for (size_t k = 0; k < a.steps; ++k) {
    int8x16_t b[G];
#pragma GCC unroll 4
    for (int n = 0; n < G; ++n) b[n] = vld1q_s8(a.packed + (n * a.steps + k) * 16);
#pragma GCC unroll 4
    for (int m = 0; m < R; ++m) {
      const int8x16_t x = vreinterpretq_s8_s32(vdupq_n_s32(load_word(a.q + m * a.q_stride + 4 * k)));
#pragma GCC unroll 4
      for (int n = 0; n < G; ++n) acc[m][n] = vdotq_s32(acc[m][n], b[n], x);
    }
  }
#pragma GCC unroll 4
  for (int n = 0; n < G; ++n) {
    const size_t first = static_cast<size_t>(n) * 4;
    if (first >= a.columns) break;
    const size_t cols = std::min<size_t>(4, a.columns - first);
    const float32x4_t scales = vld1q_f32(a.scales + first);
#pragma GCC unroll 4
    for (int m = 0; m < R; ++m) {
      const float32x4_t v = vmulq_n_f32(vmulq_f32(vcvtq_f32_s32(acc[m][n]), scales), a.row_scales[m]);
      if (cols == 4) {
        vst1q_f32(a.p + m * a.p_stride + first, v);
      } else {
        float tmp[4];
        vst1q_f32(tmp, v);
        std::memcpy(a.p + m * a.p_stride + first, tmp, cols * sizeof(float));
      }
    }
  }
}
#endif

#ifdef PROBEX_HAVE_NEON
#ifdef __aarch64__
#define PROBEX_NEON_TARGET
#else
#define PROBEX_NEON_TARGET __attribute__((target("fpu=neon")))
#endif

// Plain NEON (armv7, aarch64 without SDOT): VMULL.S8 multiplies 8 int8 pairs into int16 (|product| <=
// 127 * 128, no overflow), VPADAL.S16 adds neighbouring pairs into int32 lanes. One accumulator per (row,
// column), reduced across lanes at the end; two rows at a time so that 8 accumulators and the operands fit
// armv7's 16 quad registers.
template <int R>
PROBEX_NEON_TARGET void neon_rows(const TileArgs& a, const int8_t* packed, size_t first, size_t cols) {
  int32x4_t acc[R][4];
  for (int m = 0; m < R; ++m)
    for (int c = 0; c < 4; ++c) acc[m][c] = vdupq_n_s32(0);
  for (size_t k = 0; k < a.steps; ++k) {
    const int8_t* b = packed + k * 32;
    const int8x8_t b0 = vld1_s8(b), b1 = vld1_s8(b + 8), b2 = vld1_s8(b + 16), b3 = vld1_s8(b + 24);
    for (int m = 0; m < R; ++m) {
      const int8x8_t x = vld1_s8(a.q + m * a.q_stride + 8 * k);
      acc[m][0] = vpadalq_s16(acc[m][0], vmull_s8(x, b0));
      acc[m][1] = vpadalq_s16(acc[m][1], vmull_s8(x, b1));
      acc[m][2] = vpadalq_s16(acc[m][2], vmull_s8(x, b2));
      acc[m][3] = vpadalq_s16(acc[m][3], vmull_s8(x, b3));
    }
  }
  const float32x4_t scales = vld1q_f32(a.scales + first);
  for (int m = 0; m < R; ++m) {
    int32x2_t t[4];
    for (int c = 0; c < 4; ++c) t[c] = vadd_s32(vget_low_s32(acc[m][c]), vget_high_s32(acc[m][c]));
    const int32x4_t sums = vcombine_s32(vpadd_s32(t[0], t[1]), vpadd_s32(t[2], t[3]));
    const float32x4_t v = vmulq_n_f32(vmulq_f32(vcvtq_f32_s32(sums), scales), a.row_scales[m]);
    float tmp[4];
    vst1q_f32(tmp, v);
    std::memcpy(a.p + m * a.p_stride + first, tmp, cols * sizeof(float));
  }
}

// The tile's groups one by one, its rows two by two.
template <int R, int G>
PROBEX_NEON_TARGET void neon_tile(const TileArgs& a) {
  for (int n = 0; n < G; ++n) {
    const size_t first = static_cast<size_t>(n) * 4;
    if (first >= a.columns) break;
    const size_t cols = std::min<size_t>(4, a.columns - first);
    const int8_t* packed = a.packed + static_cast<size_t>(n) * a.steps * 32;
    for (int m = 0; m < R; m += 2) {
      TileArgs rows = a;
      rows.q = a.q + m * a.q_stride;
      rows.row_scales = a.row_scales + m;
      rows.p = a.p + m * a.p_stride;
      if (m + 1 < R) {
        neon_rows<2>(rows, packed, first, cols);
      } else {
        neon_rows<1>(rows, packed, first, cols);
      }
    }
  }
}
#endif

// The table of a path's tile instances, [rows - 1][groups - 1].
#define PROBEX_TILE_ROW(fn, r) \
  { fn<r, 1>, fn<r, 2>, fn<r, 3>, fn<r, 4> }
#define PROBEX_TILE_TABLE(fn) \
  { PROBEX_TILE_ROW(fn, 1), PROBEX_TILE_ROW(fn, 2), PROBEX_TILE_ROW(fn, 3), PROBEX_TILE_ROW(fn, 4) }

#ifdef PROBEX_HAVE_VNNI
const TileFn kVnniTiles[kRows][kGroups] = PROBEX_TILE_TABLE(vnni_tile);
#endif
#ifdef PROBEX_HAVE_NEON_DOT
const TileFn kDotTiles[kRows][kGroups] = PROBEX_TILE_TABLE(dot_tile);
#endif
#ifdef PROBEX_HAVE_NEON
const TileFn kNeonTiles[kRows][kGroups] = PROBEX_TILE_TABLE(neon_tile);
#endif

}  // namespace

bool Int8Probe::supported(Path path) {
  switch (path) {
    case Path::kScalar: return true;
    case Path::kAvx512Vnni:
#ifdef PROBEX_HAVE_VNNI
      // libgcc's check includes the OS saving the AVX-512 state (XGETBV); under valgrind, which emulates
      // no AVX-512, it is false.
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vnni");
#else
      return false;
#endif
    case Path::kNeonDot:
#ifdef PROBEX_HAVE_NEON_DOT
      return (getauxval(AT_HWCAP) & (1ul << 20)) != 0;  // HWCAP_ASIMDDP
#else
      return false;
#endif
    case Path::kNeon:
#if defined(PROBEX_HAVE_NEON) && defined(__aarch64__)
      return true;  // Advanced SIMD is part of every aarch64 CPU
#elif defined(PROBEX_HAVE_NEON)
      return (getauxval(AT_HWCAP) & (1ul << 12)) != 0;  // HWCAP_NEON
#else
      return false;
#endif
  }
  return false;
}

Int8Probe::Path Int8Probe::best_path() {
  if (supported(Path::kAvx512Vnni)) return Path::kAvx512Vnni;
  if (supported(Path::kNeonDot)) return Path::kNeonDot;
  if (supported(Path::kNeon)) return Path::kNeon;
  return Path::kScalar;
}

const char* Int8Probe::path_name(Path path) {
  switch (path) {
    case Path::kScalar: return "scalar";
    case Path::kAvx512Vnni: return "avx512-vnni";
    case Path::kNeonDot: return "neon-dot";
    case Path::kNeon: return "neon";
  }
  return "?";
}

bool Int8Probe::init(const int8_t* u, const float* scales, uint32_t r_u, uint32_t d_w, Path path) {
  if (r_u == 0 || d_w == 0 || d_w > kMaxDepth || !supported(path)) return false;
  path_ = path;
  r_u_ = r_u;
  d_w_ = d_w;
  const size_t unit = unit_of(path);
  stride_ = (d_w + unit - 1) / unit * unit;
  const size_t lanes = lanes_of(path);
  groups_ = (r_u + lanes - 1) / lanes;
  scales_.assign(groups_ * lanes, 0.0f);
  std::copy(scales, scales + r_u, scales_.begin());
  if (path == Path::kScalar) {
    packed_.assign(u, u + static_cast<size_t>(r_u) * d_w);
    correction_.clear();
    return true;
  }
  // [group][k / unit][lane][k % unit]; columns past r_u and depth past d_w are zero: they add nothing.
  const size_t steps = stride_ / unit;
  packed_.assign(groups_ * steps * lanes * unit, 0);
  for (size_t l = 0; l < r_u; ++l) {
    const size_t g = l / lanes, lane = l % lanes;
    for (size_t k = 0; k < d_w; ++k)
      packed_[((g * steps + k / unit) * lanes + lane) * unit + k % unit] = u[l * d_w + k];
  }
  correction_.assign(groups_ * lanes, 0);
  if (path == Path::kAvx512Vnni)
    for (size_t l = 0; l < r_u; ++l) {
      int32_t sum = 0;
      for (size_t k = 0; k < d_w; ++k) sum += u[l * d_w + k];
      correction_[l] = 128 * sum;
    }
  return true;
}

// Compiled for AVX-512, AVX2 and the baseline (chosen by the loader from the CPU's features, as
// int8_gemv.h): on the SSE2 baseline the unsigned maximum does not vectorize, and this pass over X then
// cost as much as the int8 products themselves (0.28 against 0.33 ms for a 768x768 layer on Zen 4).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(PROBEX_NO_TARGET_CLONES)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
float quantize_row_int8(const float* x, size_t n, int8_t* q) {
  // Written so that it vectorizes: the maximum on the bits of |v| (non-negative floats order like their
  // bit patterns), and rounding to nearest even by the 1.5 * 2^23 trick instead of a library call.
  uint32_t max_bits = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, x + i, sizeof b);
    b &= 0x7fffffffu;
    max_bits = b > max_bits ? b : max_bits;
  }
  float amax;
  std::memcpy(&amax, &max_bits, sizeof amax);
  if (!(amax > 0.0f)) {
    std::memset(q, 0, n);
    return 0.0f;
  }
  const float inv = 127.0f / amax;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  for (size_t i = 0; i < n; ++i) {
    const float r = (x[i] * inv + kRound) - kRound;  // |r| <= 127
    q[i] = static_cast<int8_t>(static_cast<int32_t>(r));
  }
  return amax / 127.0f;
}

void Int8Probe::run(const int8_t* q, const float* row_scales, size_t rows, float* p, size_t p_stride) const {
  if (path_ == Path::kScalar) {
    for (size_t i = 0; i < rows; ++i)
      for (size_t l = 0; l < r_u_; ++l) {
        const int8_t* xr = q + i * stride_;
        const int8_t* ur = packed_.data() + l * d_w_;
        int32_t sum = 0;
        for (size_t k = 0; k < d_w_; ++k) sum += static_cast<int32_t>(xr[k]) * ur[k];
        p[i * p_stride + l] = static_cast<float>(sum) * scales_[l] * row_scales[i];
      }
    return;
  }
  const TileFn(*table)[kGroups] = nullptr;
#ifdef PROBEX_HAVE_VNNI
  if (path_ == Path::kAvx512Vnni) table = kVnniTiles;
#endif
#ifdef PROBEX_HAVE_NEON_DOT
  if (path_ == Path::kNeonDot) table = kDotTiles;
#endif
#ifdef PROBEX_HAVE_NEON
  if (path_ == Path::kNeon) table = kNeonTiles;
#endif
  if (table == nullptr) return;  // unreachable: init() accepts supported paths only
  const size_t lanes = lanes_of(path_), unit = unit_of(path_), steps = stride_ / unit;
  for (size_t i = 0; i < rows; i += kRows) {
    const size_t tile_rows = std::min<size_t>(kRows, rows - i);
    for (size_t g = 0; g < groups_; g += kGroups) {
      const size_t tile_groups = std::min<size_t>(kGroups, groups_ - g);
      const size_t first = g * lanes;
      TileArgs a{packed_.data() + g * steps * lanes * unit,
                 steps,
                 correction_.data() + first,
                 scales_.data() + first,
                 q + i * stride_,
                 stride_,
                 row_scales + i,
                 p + i * p_stride + first,
                 p_stride,
                 r_u_ - first};
      table[tile_rows - 1][tile_groups - 1](a);
    }
  }
}

}  // namespace probex
