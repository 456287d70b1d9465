// The one cosine (math/cosine.h) and its answer for zero vectors.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "runtime/math/cosine.h"
#include "runtime/math/layer_sketch.h"

TEST_CASE("cosine of ordinary vectors, in float and double") {
  const std::vector<float> a = {3.0f, 4.0f}, b = {4.0f, 3.0f}, c = {-3.0f, -4.0f}, d = {-4.0f, 3.0f};
  CHECK(probex::cosine(a.data(), b.data(), 2) == doctest::Approx(24.0 / 25.0));
  CHECK(probex::cosine(a.data(), c.data(), 2) == doctest::Approx(-1.0));
  CHECK(probex::cosine(a.data(), d.data(), 2) == doctest::Approx(0.0));
  CHECK(probex::cosine(a.data(), a.data(), 2) <= 1.0);  // clamped: rounding may not step above 1
  const std::vector<double> x = {1.0, 2.0, 2.0}, y = {2.0, 4.0, 4.0};
  CHECK(probex::cosine(x.data(), y.data(), 3) == doctest::Approx(1.0));
  CHECK(probex::direction_distance(a.data(), c.data(), 2) == doctest::Approx(2.0));
  CHECK(probex::direction_distance(a.data(), d.data(), 2) == doctest::Approx(std::sqrt(2.0)));
}

TEST_CASE("a zero vector: 1 against a zero vector, 0 against any other; NaN stays NaN") {
  const std::vector<float> zero = {0.0f, 0.0f, 0.0f}, v = {1.0f, -2.0f, 0.5f}, nan = {NAN, 1.0f, 1.0f};
  CHECK(probex::cosine(zero.data(), zero.data(), 3) == 1.0);
  CHECK(probex::cosine(zero.data(), v.data(), 3) == 0.0);
  CHECK(probex::cosine(v.data(), zero.data(), 3) == 0.0);
  CHECK(probex::cosine(v.data(), v.data(), 0) == 1.0);  // empty vectors are zero vectors
  CHECK(std::isnan(probex::cosine(nan.data(), v.data(), 3)));
  // The router's distance follows: a zero layer is as far from a root as an unrelated one.
  CHECK(probex::sketch_distance(zero.data(), zero.data(), 3) == 0.0);
  CHECK(probex::sketch_distance(zero.data(), v.data(), 3) == doctest::Approx(std::sqrt(2.0)));
}
