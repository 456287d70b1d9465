// Reading the bundle's stored weights back as float32: f32 as is, f16 widened, int8 times the scale of
// its (row, block). The converter's quantizer (converter/bundle/quantize.h) writes what this reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "runtime/math/float_formats.h"

namespace probex {

enum class StorageType : uint8_t { kF32 = 0, kF16 = 1, kI8 = 2 };

inline size_t storage_type_size(StorageType type) {
  return type == StorageType::kF32 ? 4 : type == StorageType::kF16 ? 2 : 1;
}
inline const char* storage_type_name(StorageType type) {
  return type == StorageType::kF32 ? "f32" : type == StorageType::kF16 ? "f16" : "int8";
}

// Number of scale blocks per row: one per output channel when block_size is 0.
inline size_t blocks_per_row(size_t cols, size_t block_size) {
  if (block_size == 0 || cols == 0) return 1;
  return (cols + block_size - 1) / block_size;
}

// Writes row `row` of a stored [rows, cols] matrix as float32 into out[cols]. The caller has verified
// that data and scales are large enough (the bundle's semantic pass). Data need not be aligned.
inline void dequantize_row(StorageType type, const uint8_t* data, const float* scales, size_t cols, size_t block_size,
                           size_t row, float* out) {
  switch (type) {
    case StorageType::kF32: std::memcpy(out, data + row * cols * 4, cols * 4); return;
    case StorageType::kF16: {
      const uint8_t* p = data + row * cols * 2;
      for (size_t c = 0; c < cols; ++c) out[c] = f16_to_f32(static_cast<uint16_t>(p[2 * c] | (p[2 * c + 1] << 8)));
      return;
    }
    case StorageType::kI8: {
      const int8_t* q = reinterpret_cast<const int8_t*>(data + row * cols);
      const size_t block = block_size == 0 ? cols : block_size;
      const float* row_scales = scales + row * blocks_per_row(cols, block_size);
      for (size_t c = 0; c < cols; ++c) out[c] = static_cast<float>(q[c]) * row_scales[c / block];
      return;
    }
  }
}

}  // namespace probex
