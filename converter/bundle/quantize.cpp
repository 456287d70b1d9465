#include "converter/bundle/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/math/float_formats.h"

namespace probex::convert {

bool parse_quant_spec(const std::string& text, QuantSpec* out, std::string* error) {
  QuantSpec s;
  if (text == "f32") {
    s.type = StorageType::kF32;
  } else if (text == "f16") {
    s.type = StorageType::kF16;
  } else if (text == "int8") {
    s.type = StorageType::kI8;
  } else if (text.rfind("int8-b", 0) == 0) {
    s.type = StorageType::kI8;
    const std::string digits = text.substr(6);
    char* end = nullptr;
    const unsigned long block = digits.empty() ? 0 : std::strtoul(digits.c_str(), &end, 10);
    if (digits.empty() || *end != '\0' || block < 4 || block > 65536 || block % 4 != 0) {
      *error = "--quant " + text + ": the block size must be a multiple of 4 between 4 and 65536";
      return false;
    }
    s.block_size = static_cast<uint32_t>(block);
  } else {
    *error = "--quant takes f32, f16, int8 or int8-bNN, not '" + text + "'";
    return false;
  }
  *out = s;
  return true;
}

std::string quant_spec_name(const QuantSpec& spec) {
  if (spec.type != StorageType::kI8) return storage_type_name(spec.type);
  return spec.block_size ? "int8-b" + std::to_string(spec.block_size) : "int8";
}

bool finer_quant_spec(const QuantSpec& spec, QuantSpec* finer) {
  QuantSpec next;
  switch (spec.type) {
    case StorageType::kI8:
      // A block of 32 is the block measured in --help; smaller blocks are finer still, f16 next.
      if (spec.block_size == 0 || spec.block_size > 32) {
        next.type = StorageType::kI8;
        next.block_size = 32;
      } else {
        next.type = StorageType::kF16;
      }
      break;
    case StorageType::kF16: next.type = StorageType::kF32; break;
    default: return false;
  }
  *finer = next;
  return true;
}

QuantizedMatrix quantize_matrix(const std::string& name, const float* values, uint32_t rows, uint32_t cols,
                                const QuantSpec& spec) {
  QuantizedMatrix q;
  q.name = name;
  q.rows = rows;
  q.cols = cols;
  q.type = spec.type;
  const size_t n = static_cast<size_t>(rows) * cols;
  switch (spec.type) {
    case StorageType::kF32:
      q.data.resize(n * 4);
      std::memcpy(q.data.data(), values, n * 4);  // little-endian hosts only (checked in CMake)
      break;
    case StorageType::kF16:
      q.data.resize(n * 2);
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_f16(values[i]);
        q.data[2 * i] = static_cast<uint8_t>(h & 0xff);
        q.data[2 * i + 1] = static_cast<uint8_t>(h >> 8);
      }
      break;
    case StorageType::kI8: {
      q.block_size = spec.block_size >= cols ? 0 : spec.block_size;
      const size_t block = q.block_size ? q.block_size : cols;
      const size_t per_row = blocks_per_row(cols, q.block_size);
      q.data.resize(n);
      q.scales.resize(rows * per_row);
      for (size_t r = 0; r < rows; ++r) {
        for (size_t b = 0; b < per_row; ++b) {
          const size_t begin = b * block, end = std::min<size_t>(cols, begin + block);
          float amax = 0.0f;
          for (size_t c = begin; c < end; ++c) amax = std::max(amax, std::fabs(values[r * cols + c]));
          const float scale = amax / 127.0f;
          q.scales[r * per_row + b] = scale;
          const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
          for (size_t c = begin; c < end; ++c) {
            const float v = std::nearbyint(values[r * cols + c] * inv);
            q.data[r * cols + c] = static_cast<uint8_t>(static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f)));
          }
        }
      }
      break;
    }
  }
  return q;
}

std::vector<float> QuantizedMatrix::dequantized() const {
  std::vector<float> out(static_cast<size_t>(rows) * cols);
  for (size_t r = 0; r < rows; ++r)
    dequantize_row(type, data.data(), scales.data(), cols, block_size, r, out.data() + r * cols);
  return out;
}

}  // namespace probex::convert
