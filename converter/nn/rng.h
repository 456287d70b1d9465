// A small, fully specified random number generator (SplitMix64). The standard library's
// distributions differ between implementations; ours give the same numbers everywhere, which is
// what makes a zoo reproducible byte for byte.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace probex::convert {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Log-uniform in [lo, hi).
  double log_uniform(double lo, double hi) { return std::exp(uniform(std::log(lo), std::log(hi))); }
  // Uniform integer in [0, n), n > 0 (Lemire's method without the rejection step: bias < 2^-32 here).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  bool chance(double p) { return uniform() < p; }

  template <class T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(below(i))]);
  }

 private:
  uint64_t state_;
};

// Derives independent seeds from a parent seed and a path of integers (tree, task, split, index),
// so each child's randomness does not depend on the order in which children are built.
inline uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> path) {
  uint64_t s = seed;
  for (uint64_t p : path) {
    Rng r(s ^ (p * 0xD1B54A32D192ED03ull));
    s = r.next();
  }
  return s;
}

}  // namespace probex::convert
