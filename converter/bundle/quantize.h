// Quantizing the expert's weight matrices for the bundle. Every matrix is [out, reduction]; int8 is
// symmetric (zero point 0), with one scale per output row or per block of `block_size` along the
// reduction dimension (ggml's Q8_0 idea: a block's outlier only costs its own block precision).
// The runtime reads the result with math/quantized.h's dequantize_row.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/math/quantized.h"

namespace probex::convert {

struct QuantSpec {
  StorageType type = StorageType::kF32;
  uint32_t block_size = 0;  // int8 only; 0 = per output channel
};

// Parses "f32", "f16", "int8" (per channel) or "int8-bNN" (blocks of NN, NN a multiple of 4).
bool parse_quant_spec(const std::string& text, QuantSpec* out, std::string* error);
std::string quant_spec_name(const QuantSpec& spec);
// The next finer storage type, the order probex-convert tries when a type is over budget: int8 (one scale
// per row) -> int8-b32 -> f16 -> f32; int8 in blocks of more than 32 -> int8-b32, of 32 or fewer -> f16.
// False for f32, the finest.
bool finer_quant_spec(const QuantSpec& spec, QuantSpec* finer);

struct QuantizedMatrix {
  std::string name;
  uint32_t rows = 0, cols = 0;
  StorageType type = StorageType::kF32;
  uint32_t block_size = 0;
  std::vector<uint8_t> data;  // little-endian
  std::vector<float> scales;  // int8 only
  // What the device will compute with.
  std::vector<float> dequantized() const;
  size_t bytes() const { return data.size() + scales.size() * sizeof(float); }
};

QuantizedMatrix quantize_matrix(const std::string& name, const float* values, uint32_t rows, uint32_t cols,
                                const QuantSpec& spec);

}  // namespace probex::convert
