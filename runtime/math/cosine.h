// The cosine similarity of two vectors, the one definition used by the runtime (the router's distance)
// and the converter (text labels, quantization checks, tree discovery).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace probex {

// cos(a, b) = a.b / (|a| |b|), accumulated in double, clamped to [-1, 1] (rounding can step just outside,
// and callers take sqrt(2 - 2 cos)). A zero vector has no direction, so the formula is 0/0 there; defined
// once, here, as:
//   - both zero: 1. They are the same vector: a check that the runtime reproduces the converter's output
//     must call two zero outputs agreement, and a distance between them must be 0;
//   - one zero: 0. It shares no direction with the other, which makes it neither alike (1) nor opposite
//     (-1): the distance of directions sqrt(2 - 2 cos) is then sqrt(2), the distance of unrelated vectors.
// NaN in either vector gives NaN.
template <class T>
double cosine(const T* a, const T* b, size_t n) {
  double ab = 0.0, aa = 0.0, bb = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(a[i]), y = static_cast<double>(b[i]);
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  if (aa == 0.0 || bb == 0.0) return aa == bb ? 1.0 : 0.0;
  const double c = ab / std::sqrt(aa * bb);
  return std::isnan(c) ? c : std::max(-1.0, std::min(1.0, c));
}

// The distance between the directions of a and b, || a/|a| - b/|b| || = sqrt(2 - 2 cos(a, b)), in [0, 2].
template <class T>
double direction_distance(const T* a, const T* b, size_t n) {
  return std::sqrt(2.0 - 2.0 * cosine(a, b, n));
}

}  // namespace probex
