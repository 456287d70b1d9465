// The input of a bundle's self-test: a layer X [d_H, d_W] generated from a seed, so a bundle carries
// 12 bytes per self-test instead of a whole layer. The converter (which computes the expected outputs)
// and the device (which checks them) must produce the same floats: both use this generator.
// Values are generated row-major, so rows can be produced block by block in order.
#pragma once

#include <cstddef>
#include <cstdint>

namespace probex {

class SelfTestInput {
 public:
  SelfTestInput(uint64_t seed, float amplitude) : state_(seed), amplitude_(amplitude) {}

  // The next `count` values, uniform in [-amplitude, amplitude).
  void generate(float* out, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      // SplitMix64; the top 24 bits give an exact float in [0, 1).
      uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      const float unit = static_cast<float>(z >> 40) * 0x1.0p-24f;
      out[i] = amplitude_ * (2.0f * unit - 1.0f);
    }
  }

 private:
  uint64_t state_;
  float amplitude_;
};

}  // namespace probex
