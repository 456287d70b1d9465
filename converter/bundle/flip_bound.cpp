#include "converter/bundle/flip_bound.h"

#include <cmath>

namespace probex::convert {

namespace {

// log P(X = i) for X ~ Binomial(n, p), 0 < p < 1; in logs because (1 - p)^n underflows for large n.
double log_binomial_pmf(size_t i, size_t n, double p) {
  const double in = static_cast<double>(i), nn = static_cast<double>(n);
  return std::lgamma(nn + 1.0) - std::lgamma(in + 1.0) - std::lgamma(nn - in + 1.0) + in * std::log(p) +
         (nn - in) * std::log1p(-p);
}

}  // namespace

double binomial_upper_tail(size_t k, size_t n, double p) {
  if (k == 0) return 1.0;
  if (k > n || p <= 0.0) return 0.0;
  if (p >= 1.0) return 1.0;
  // 1 - P(X < k): k terms, few where it matters (a flip count); the tails compared with 1 - confidence
  // are far above the rounding of the subtraction.
  double below = 0.0;
  for (size_t i = 0; i < k; ++i) below += std::exp(log_binomial_pmf(i, n, p));
  return below >= 1.0 ? 0.0 : 1.0 - below;
}

double flip_rate_lower_bound(size_t k, size_t n, double confidence) {
  if (k == 0 || n == 0) return 0.0;
  if (k > n) k = n;
  const double alpha = 1.0 - confidence;
  // The tail grows with p: bisection to well below the 4 decimals printed.
  double lo = 0.0, hi = 1.0;
  for (int it = 0; it < 200 && hi - lo > 1e-13; ++it) {
    const double mid = 0.5 * (lo + hi);
    (binomial_upper_tail(k, n, mid) < alpha ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

size_t max_flips_within(size_t n, double max_rate, double confidence) {
  if (max_rate <= 0.0) return 0;
  if (max_rate >= 1.0) return n;
  const double alpha = 1.0 - confidence;
  // The tail falls with k, and k = 0 (tail 1) is always within: the largest k with tail >= alpha.
  size_t lo = 0, hi = n;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo + 1) / 2;
    if (binomial_upper_tail(mid, n, max_rate) >= alpha)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

}  // namespace probex::convert
