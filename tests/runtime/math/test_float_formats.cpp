#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <ios>

#include "runtime/math/float_formats.h"

using namespace probex;

TEST_CASE("f16 decoding of reference values") {
  CHECK(f16_to_f32(0x3C00) == 1.0f);
  CHECK(f16_to_f32(0xC000) == -2.0f);
  CHECK(f16_to_f32(0x7BFF) == 65504.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));     // smallest subnormal
  CHECK(f16_to_f32(0x03FF) == std::ldexp(1023.0f, -24));  // largest subnormal
  CHECK(f16_to_f32(0x0400) == std::ldexp(1.0f, -14));     // smallest normal
  CHECK(std::signbit(f16_to_f32(0x8000)));
  CHECK(std::isinf(f16_to_f32(0x7C00)));
  CHECK(std::isnan(f16_to_f32(0x7E00)));
  CHECK(f16_to_f32(0x3555) == doctest::Approx(0.33325195f).epsilon(1e-7));
}

TEST_CASE("f16 decoding equals the format's definition for all 65536 halves") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    const double sign = (h & 0x8000u) ? -1.0 : 1.0;
    const float got = f16_to_f32(static_cast<uint16_t>(h));
    CAPTURE(h);
    if (e == 0x1F) {
      CHECK((m == 0 ? std::isinf(got) : std::isnan(got)));
      CHECK(std::signbit(got) == ((h & 0x8000u) != 0));
      if (m != 0) CHECK((f32_to_bits(got) & 0x7FFFFFu) == m << 13);  // the payload is kept
      continue;
    }
    // (-1)^s 2^(e-15) (1 + m/1024) for normals, (-1)^s 2^-14 (m/1024) for subnormals and zeros.
    const double want = e == 0 ? sign * std::ldexp(static_cast<double>(m), -24)
                               : sign * std::ldexp(1.0 + static_cast<double>(m) / 1024.0, static_cast<int>(e) - 15);
    CHECK(static_cast<double>(got) == want);
    CHECK(std::signbit(got) == ((h & 0x8000u) != 0));  // -0 too
  }
}

TEST_CASE("f16 encode/decode round trips every finite half exactly") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto half = static_cast<uint16_t>(h);
    const float f = f16_to_f32(half);
    if (std::isnan(f)) continue;
    CHECK_MESSAGE(f32_to_f16(f) == half, "half 0x" << std::hex << h);
  }
}

TEST_CASE("f32 to f16 rounds to nearest even and saturates to infinity") {
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);      // halfway, rounds to even (down)
  CHECK(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);  // halfway, rounds to even (up)
  CHECK(f32_to_f16(65520.0f) == 0x7C00);                          // rounds past the largest half
  CHECK(f32_to_f16(65519.0f) == 0x7BFF);
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);  // exactly half the smallest subnormal: to even (0)
  CHECK(f32_to_f16(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(f32_to_f16(-1e-30f) == 0x8000);
  CHECK(std::isnan(f16_to_f32(f32_to_f16(NAN))));
}

TEST_CASE("bf16 conversion") {
  CHECK(bf16_to_f32(0x3F80) == 1.0f);
  CHECK(bf16_to_f32(0xC040) == -3.0f);
  CHECK(f32_to_bf16(1.0f) == 0x3F80);
  CHECK(f32_to_bf16(bits_to_f32(0x3F808000)) == 0x3F80);  // halfway: to even
  CHECK(f32_to_bf16(bits_to_f32(0x3F818000)) == 0x3F82);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  for (uint32_t b = 0; b < 0x10000; b += 7) {
    const float f = bf16_to_f32(static_cast<uint16_t>(b));
    if (!std::isnan(f)) CHECK(f32_to_bf16(f) == b);
  }
}

TEST_CASE("float8 decoding") {
  CHECK(f8e4m3_to_f32(0x38) == 1.0f);                  // exponent 7 = bias
  CHECK(f8e4m3_to_f32(0x7E) == 448.0f);                // largest finite
  CHECK(f8e4m3_to_f32(0x01) == std::ldexp(1.0f, -9));  // smallest subnormal
  CHECK(f8e4m3_to_f32(0xB8) == -1.0f);
  CHECK(std::isnan(f8e4m3_to_f32(0x7F)));
  CHECK(f8e5m2_to_f32(0x3C) == 1.0f);
  CHECK(f8e5m2_to_f32(0x7B) == 57344.0f);
  CHECK(std::isinf(f8e5m2_to_f32(0x7C)));
}
