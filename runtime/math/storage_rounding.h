// How much a model file's storage type rounded the float weights it holds, estimated from the stored
// values alone, for the router (docs/routing.md, "Lossy copies"). A Q4_K GGUF or an int8 TFLite copy of a
// fine-tune is its float original plus a rounding error E that the type bounds: each element sits on a
// grid whose step the file fixes per block (the block scales), or, for float types, on the type's
// mantissa. The router needs the expected energy of E, sum of E[e^2] over the layer, because adding E
// moves the layer's sketch away from every root (docs/routing.md derives by how much).
//
// The estimate reads the dequantized values: in a block of B elements stored on a grid of 2^bits levels,
// the step is about (max - min) / (2^bits - 1) (exact for asymmetric types such as Q4_K, whose codes span
// the block's range; within 1/(2^bits - 1) of the scale d for symmetric ones such as Q8_0, whose codes
// span -max..max), and a rounding error uniform in +-step/2 has E[e^2] = step^2 / 12. Float types round
// each value to its own ulp: E[e^2] = ulp^2 / 12, whose mean over log-uniform mantissas is
// x^2 * 4^-(p-1) * 0.0451 for p significand bits (0.0451 = (3/8 / ln 2) / 12). tests/runtime/
// test_storage_rounding.cpp checks the estimate against the true error of real encodings.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace probex {

struct StorageRounding {
  enum class Kind : uint8_t {
    kExact,     // float32, float64, or a type the router does not model (a LoRA product: see routing.md)
    kMantissa,  // a narrower float: `bits` significand bits
    kGrid,      // integer codes on a grid of 2^bits levels, one step per `block` consecutive elements
  };
  Kind kind = Kind::kExact;
  uint32_t bits = 0;
  uint64_t block = 0;
  bool exact() const { return kind == Kind::kExact; }
};

// The rounding model of a tensor with `dtype` (as its format names it) and rows of `row_length` elements.
// GGUF block types round per (sub-)block along a row; TFLite's and ONNX's integer weights per output
// channel, i.e. per row of a [out, in] weight (per-tensor scales are rarer for weights: the row is then
// an underestimate of the block, documented in routing.md).
inline StorageRounding storage_rounding(std::string_view dtype, uint64_t row_length) {
  using K = StorageRounding::Kind;
  struct Entry {
    std::string_view name;
    K kind;
    uint32_t bits;
    uint64_t block;  // 0: a row
  };
  static constexpr Entry kTypes[] = {
      // Floats (safetensors, GGUF, TFLite and ONNX names).
      {"F16", K::kMantissa, 11, 0},
      {"FLOAT16", K::kMantissa, 11, 0},
      {"BF16", K::kMantissa, 8, 0},
      {"BFLOAT16", K::kMantissa, 8, 0},
      {"F8_E4M3", K::kMantissa, 4, 0},
      {"F8_E5M2", K::kMantissa, 3, 0},
      // GGUF blocks: (sub-)block length and bits per code (ggml-common.h's layouts).
      {"Q8_0", K::kGrid, 8, 32},
      {"Q5_0", K::kGrid, 5, 32},
      {"Q5_1", K::kGrid, 5, 32},
      {"Q4_0", K::kGrid, 4, 32},
      {"Q4_1", K::kGrid, 4, 32},
      {"Q6_K", K::kGrid, 6, 16},
      {"Q5_K", K::kGrid, 5, 32},
      {"Q4_K", K::kGrid, 4, 32},
      {"Q3_K", K::kGrid, 3, 16},
      {"Q2_K", K::kGrid, 2, 16},
      // Integer weights with scales (TFLite, ONNX): per output channel.
      {"INT8", K::kGrid, 8, 0},
      {"UINT8", K::kGrid, 8, 0},
      {"INT16", K::kGrid, 16, 0},
  };
  for (const Entry& e : kTypes)
    if (e.name == dtype) return {e.kind, e.bits, e.block != 0 ? e.block : std::max<uint64_t>(row_length, 1)};
  return {};
}

// Expected sum of squared rounding errors of `count` consecutive stored values x (starting at a block
// boundary; a trailing partial block counts as a block).
inline double expected_rounding_energy(const StorageRounding& r, const float* x, size_t count) {
  if (r.kind == StorageRounding::Kind::kExact || count == 0) return 0.0;
  if (r.kind == StorageRounding::Kind::kMantissa) {
    constexpr double kLogUniformUlp = 0.375 / 0.69314718055994531 / 12.0;  // mean of (ulp/x)^2/12 per 4^-(p-1)
    double sum = 0.0;
    for (size_t i = 0; i < count; ++i) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    return sum * kLogUniformUlp / static_cast<double>(uint64_t{1} << (2 * (r.bits - 1)));
  }
  const double levels = static_cast<double>((uint64_t{1} << r.bits) - 1);
  // size_t, not the model's uint64_t: a block longer than this call's values is cut to them (and 32-bit
  // targets must not narrow r.block silently).
  const size_t block = static_cast<size_t>(std::min<uint64_t>(std::max<uint64_t>(r.block, 1), count));
  double energy = 0.0;
  for (size_t begin = 0; begin < count; begin += block) {
    const size_t n = std::min(block, count - begin);
    const auto [lo, hi] = std::minmax_element(x + begin, x + begin + n);
    const double step = (static_cast<double>(*hi) - static_cast<double>(*lo)) / levels;
    energy += static_cast<double>(n) * step * step / 12.0;
  }
  return energy;
}

}  // namespace probex
