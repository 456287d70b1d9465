// The int8 GEMV of step 3 (backends/kernels/int8_gemv.h) against a double-precision sum of the dequantized
// weights, over shapes that exercise its 32-lane body and tails and every scale layout the bundle has.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "runtime/backends/kernels/int8_gemv.h"
#include "runtime/math/quantized.h"

using namespace probex;

TEST_CASE("int8 GEMV equals the double-precision product of the dequantized weights") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> q(-127, 127);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f), s(0.001f, 0.05f);
  struct Shape {
    size_t rows, cols, block;
  };
  for (const Shape& shape : {Shape{1, 1, 0}, Shape{3, 31, 0}, Shape{5, 32, 0}, Shape{4, 33, 0}, Shape{128, 16384, 0},
                             Shape{6, 100, 32}, Shape{3, 64, 7}, Shape{2, 40, 64}}) {
    CAPTURE(shape.rows);
    CAPTURE(shape.cols);
    CAPTURE(shape.block);
    const size_t blocks = blocks_per_row(shape.cols, shape.block);
    std::vector<int8_t> w(shape.rows * shape.cols);
    std::vector<float> scales(shape.rows * blocks), bias(shape.rows), x(shape.cols), y(shape.rows), row(shape.cols);
    for (int8_t& v : w) v = static_cast<int8_t>(q(rng));
    for (float& v : scales) v = s(rng);
    for (float& v : bias) v = u(rng);
    for (float& v : x) v = u(rng);
    for (const bool with_bias : {true, false}) {
      gemv_int8(w.data(), scales.data(), shape.block, with_bias ? bias.data() : nullptr, x.data(), shape.rows,
                shape.cols, y.data());
      for (size_t o = 0; o < shape.rows; ++o) {
        dequantize_row(StorageType::kI8, reinterpret_cast<const uint8_t*>(w.data()), scales.data(), shape.cols,
                       shape.block, o, row.data());
        double want = with_bias ? static_cast<double>(bias[o]) : 0.0, magnitude = std::fabs(want);
        for (size_t k = 0; k < shape.cols; ++k) {
          want += static_cast<double>(row[k]) * static_cast<double>(x[k]);
          magnitude += std::fabs(static_cast<double>(row[k]) * static_cast<double>(x[k]));
        }
        // float32 sums of n terms: error below n * 2^-24 of the terms' magnitude, far below that in practice.
        CHECK(std::fabs(static_cast<double>(y[o]) - want) <= 1e-6 * magnitude + 1e-7);
      }
    }
  }
}
