// Step 1 in int8 (backends/kernels/int8_probe.h): every path this CPU runs equals the scalar path bit for
// bit (the sums are exact integers), the scalar path equals a double-precision product of the quantized
// operands, and the quantization of a row is what the header says. Shapes cover the tiles' edges: rows
// and columns that are not multiples of the tile, depths that are not multiples of 4.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "runtime/backends/kernels/int8_probe.h"

using namespace probex;

namespace {

struct Case {
  uint32_t rows, r_u, d_w;
};

}  // namespace

TEST_CASE("int8 probe: quantize_row") {
  Int8Probe probe;
  const std::vector<int8_t> u(3 * 5, 1);
  const std::vector<float> scales(3, 1.0f);
  REQUIRE(probe.init(u.data(), scales.data(), 3, 5, Int8Probe::Path::kScalar));
  CHECK(probe.row_stride() == 8);
  const float x[5] = {0.5f, -1.0f, 0.25f, 0.0f, 1.0f / 254.0f};
  std::vector<int8_t> q(8, 99);
  const float scale = probe.quantize_row(x, q.data());
  CHECK(scale == doctest::Approx(1.0 / 127.0).epsilon(1e-7));
  CHECK(q[0] == 64);  // 63.5 rounds to even
  CHECK(q[1] == -127);
  CHECK(q[2] == 32);  // 31.75
  CHECK(q[3] == 0);
  CHECK(q[4] == 0);  // 0.5 rounds to even
  CHECK(q[5] == 0);  // the padding is zeroed
  CHECK(q[7] == 0);
  const float zeros[5] = {};
  CHECK(probe.quantize_row(zeros, q.data()) == 0.0f);
  for (int i = 0; i < 8; ++i) CHECK(q[i] == 0);
}

TEST_CASE("int8 probe: init refuses what it cannot sum exactly") {
  Int8Probe probe;
  const int8_t u[1] = {1};
  const float s[1] = {1.0f};
  CHECK_FALSE(probe.init(u, s, 0, 1, Int8Probe::Path::kScalar));
  CHECK_FALSE(probe.init(u, s, 1, 0, Int8Probe::Path::kScalar));
  std::vector<int8_t> wide(Int8Probe::kMaxDepth + 1, 1);
  CHECK_FALSE(probe.init(wide.data(), s, 1, Int8Probe::kMaxDepth + 1, Int8Probe::Path::kScalar));
  CHECK(probe.init(wide.data(), s, 1, Int8Probe::kMaxDepth, Int8Probe::Path::kScalar));
}

TEST_CASE("int8 probe: every path this CPU has equals the scalar path and the exact product") {
  const Int8Probe::Path paths[] = {Int8Probe::Path::kAvx512Vnni, Int8Probe::Path::kNeonDot, Int8Probe::Path::kNeon};
  MESSAGE("best path on this CPU: " << std::string(Int8Probe::path_name(Int8Probe::best_path())));
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> qdist(-127, 127);
  std::uniform_real_distribution<float> xdist(-2.0f, 2.0f), sdist(0.001f, 0.05f);
  for (const Case& c : {Case{1, 1, 1}, Case{1, 16, 4}, Case{3, 17, 5}, Case{4, 64, 768}, Case{5, 128, 768},
                        Case{9, 3, 13}, Case{7, 33, 100}, Case{8, 80, 31}, Case{2, 130, 4099}}) {
    CAPTURE(c.rows);
    CAPTURE(c.r_u);
    CAPTURE(c.d_w);
    // Random, and the extremes first and last, so that the unsigned offset of the x86 path meets them.
    std::vector<int8_t> u(static_cast<size_t>(c.r_u) * c.d_w);
    for (size_t i = 0; i < u.size(); ++i)
      u[i] = static_cast<int8_t>(i == 0 ? -127 : i + 1 == u.size() ? 127 : qdist(rng));
    std::vector<float> scales(c.r_u), x(static_cast<size_t>(c.rows) * c.d_w);
    for (float& v : scales) v = sdist(rng);
    for (float& v : x) v = xdist(rng);

    Int8Probe scalar;
    REQUIRE(scalar.init(u.data(), scales.data(), c.r_u, c.d_w, Int8Probe::Path::kScalar));
    const size_t stride = scalar.row_stride();
    std::vector<int8_t> q(c.rows * stride);
    std::vector<float> row_scales(c.rows);
    for (size_t i = 0; i < c.rows; ++i)
      row_scales[i] = scalar.quantize_row(x.data() + i * c.d_w, q.data() + i * stride);
    // p_stride wider than r_u: nothing may be written past a row's r_u columns.
    const size_t p_stride = c.r_u + 3;
    std::vector<float> expected(c.rows * p_stride, -7.0f);
    scalar.run(q.data(), row_scales.data(), c.rows, expected.data(), p_stride);
    for (size_t i = 0; i < c.rows; ++i) {
      for (size_t l = 0; l < c.r_u; ++l) {
        double sum = 0.0;
        for (size_t k = 0; k < c.d_w; ++k) sum += static_cast<double>(q[i * stride + k]) * u[l * c.d_w + k];
        const double want = sum * static_cast<double>(scales[l]) * static_cast<double>(row_scales[i]);
        REQUIRE(std::fabs(static_cast<double>(expected[i * p_stride + l]) - want) <= 1e-6 * std::fabs(want) + 1e-30);
      }
      for (size_t l = c.r_u; l < p_stride; ++l) REQUIRE(expected[i * p_stride + l] == -7.0f);
    }
    for (Int8Probe::Path path : paths) {
      if (!Int8Probe::supported(path)) continue;
      const std::string path_name = Int8Probe::path_name(path);
      CAPTURE(path_name);
      Int8Probe fast;
      REQUIRE(fast.init(u.data(), scales.data(), c.r_u, c.d_w, path));
      // Its own row stride (a multiple of its step), the same quantized values.
      const size_t fast_stride = fast.row_stride();
      REQUIRE(fast_stride >= c.d_w);
      std::vector<int8_t> fast_q(c.rows * fast_stride, 55);
      std::vector<float> fast_scales(c.rows);
      for (size_t i = 0; i < c.rows; ++i) {
        fast_scales[i] = fast.quantize_row(x.data() + i * c.d_w, fast_q.data() + i * fast_stride);
        REQUIRE(fast_scales[i] == row_scales[i]);
        REQUIRE(std::memcmp(fast_q.data() + i * fast_stride, q.data() + i * stride, c.d_w) == 0);
      }
      std::vector<float> got(c.rows * p_stride, -7.0f);
      fast.run(fast_q.data(), fast_scales.data(), c.rows, got.data(), p_stride);
      REQUIRE(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);
    }
  }
}
