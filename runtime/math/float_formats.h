// Conversions between float32 and the narrow float formats found in model files (IEEE half,
// bfloat16, and the two OCP float8 formats). Bit-exact, portable, no hardware F16 support assumed:
// decoding must give the same float on x86, aarch64 and armv7.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace probex {

// True when no value is NaN or Inf (exponent bits all ones). Written on the bits so that the compiler
// vectorizes it: the runtime runs it over every value of a layer on each audit.
inline bool all_finite(const float* v, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, v + i, sizeof bits);
    bad |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

inline float bits_to_f32(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline uint32_t f32_to_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// A little-endian 16-bit value from unaligned bytes (model files store halves little-endian).
inline uint16_t load_le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// binary64 -> binary32. Out-of-range double -> float conversion is undefined behaviour in C++: saturate
// explicitly to +-inf (NaN stays NaN).
inline float f64_to_f32(double d) {
  if (d > static_cast<double>(FLT_MAX)) return INFINITY;
  if (d < -static_cast<double>(FLT_MAX)) return -INFINITY;
  return static_cast<float>(d);
}

// IEEE 754 binary16 -> binary32, exact (every half is representable as a float). Written as three exact
// candidates and a select, with no branch and no loop, so a row converts at vector speed (it was 4x slower
// than bfloat16 with the branches of a by-case decoder): a normal half is its bits moved into place with the
// exponent rebiased; a subnormal half is its mantissa times 2^-24 (an integer below 1024 times a power of
// two, exact in float, and no subnormal float is ever an operand, so flush-to-zero modes cannot change it);
// infinities and NaNs keep their payload. Pinned against the format's definition for all 65536 halves.
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t em = h & 0x7FFFu;  // exponent and mantissa
  const uint32_t normal = (em << 13) + (112u << 23);
  const uint32_t subnormal = f32_to_bits(static_cast<float>(em) * 0x1p-24f);
  const uint32_t special = 0x7F800000u | (em << 13);
  // Masks rather than ?: so that GCC keeps it branch-free (it turned the ternaries into jumps, unvectorized).
  const uint32_t is_subnormal = 0u - static_cast<uint32_t>(em < 0x0400u);
  const uint32_t is_special = 0u - static_cast<uint32_t>(em >= 0x7C00u);
  const uint32_t magnitude = (subnormal & is_subnormal) | (special & is_special) |
                             (normal & ~(is_subnormal | is_special));
  return bits_to_f32(sign | magnitude);
}

// binary32 -> binary16 with round-to-nearest-even; overflow goes to inf, NaN stays NaN.
inline uint16_t f32_to_f16(float f) {
  const uint32_t bits = f32_to_bits(f);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u);   // NaN (quiet)
  if (abs >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65536: inf
  if (abs < 0x38800000u) {                                      // below the smallest normal half: subnormal or zero
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // < half of the smallest subnormal
    const uint32_t exponent = abs >> 23;
    const uint32_t mantissa = (abs & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - exponent;  // 14..24
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = ((abs >> 13) - (112u << 10));  // rebias exponent, keep 10 mantissa bits
  const uint32_t rest = abs & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // may carry into the exponent: fine
  return static_cast<uint16_t>(sign | half);
}

// bfloat16 is the top half of a float32.
inline float bf16_to_f32(uint16_t b) { return bits_to_f32(static_cast<uint32_t>(b) << 16); }

inline uint16_t f32_to_bf16(float f) {
  const uint32_t bits = f32_to_bits(f);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
  const uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);                                     // round to nearest even
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

// OCP FP8 E5M2: the top byte of an IEEE half.
inline float f8e5m2_to_f32(uint8_t v) { return f16_to_f32(static_cast<uint16_t>(v << 8)); }

// OCP FP8 E4M3 ("fn" variant, as PyTorch's float8_e4m3fn): bias 7, no infinities,
// S.1111.111 is NaN, the largest finite value is 448.
inline float f8e4m3_to_f32(uint8_t v) {
  const uint32_t sign = static_cast<uint32_t>(v & 0x80u) << 24;
  const uint32_t exponent = (v >> 3) & 0xFu;
  const uint32_t mantissa = v & 0x7u;
  if (exponent == 0xF && mantissa == 0x7) return bits_to_f32(sign | 0x7FC00000u);
  if (exponent == 0) {  // subnormal: mantissa * 2^-9
    const float magnitude = static_cast<float>(mantissa) * 0.001953125f;
    return sign ? -magnitude : magnitude;
  }
  return bits_to_f32(sign | ((exponent + 120u) << 23) | (mantissa << 20));
}

}  // namespace probex
