// The label-flip budget as a statistical verdict. probex-convert counts k flips in n (layer, label)
// decisions of the runtime against the float expert; with n in the hundreds, k is a coin's outcome (at a
// true rate of 0.005, 500 decisions give 0 to 5 flips by chance). So a storage type is over the budget
// only when the count shows that its true rate exceeds it: when the one-sided Clopper-Pearson lower
// confidence bound of the rate is above the budget, i.e. when an exact binomial test rejects "rate <=
// budget" at 1 - confidence.
#pragma once

#include <cstddef>

namespace probex::convert {

// The confidence of the flip budget's verdict (docs/runtime.md).
constexpr double kFlipBudgetConfidence = 0.95;

// P(X >= k) for X ~ Binomial(n, p).
double binomial_upper_tail(size_t k, size_t n, double p);

// The one-sided Clopper-Pearson lower bound at `confidence` of a rate seen as k of n: the p with
// P(X >= k | n, p) = 1 - confidence (0 for k = 0).
double flip_rate_lower_bound(size_t k, size_t n, double confidence = kFlipBudgetConfidence);

// The largest flip count among n decisions that is within the budget `max_rate`: the largest k whose lower
// bound is not above it (P(X >= k | n, max_rate) >= 1 - confidence). 0 when max_rate is 0, n when it is 1.
size_t max_flips_within(size_t n, double max_rate, double confidence = kFlipBudgetConfidence);

}  // namespace probex::convert
