// The trainers' BLAS: the kernel chosen from CPU features (the Intel/OpenBLAS trap of nn/blas.h), and
// sgemm, in every transpose combination, against a plain triple loop.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "converter/nn/blas.h"

using namespace probex::convert;

TEST_CASE("the kernel follows the CPU's features, the widest first") {
  CHECK(blas::core_for_features(true, true, true) == "SkylakeX");
  CHECK(blas::core_for_features(true, true, false) == "Haswell");
  CHECK(blas::core_for_features(true, false, false) == "SandyBridge");
  CHECK(blas::core_for_features(false, false, false).empty());
  // AVX-512 reported without AVX2 + FMA (an odd emulator): not a SkylakeX kernel, which needs both.
  CHECK(blas::core_for_features(true, false, true) == "SandyBridge");
}

TEST_CASE("the library loads the kernel chosen from the CPU's features, and warns only when it is generic") {
  const blas::Kernel& k = blas::kernel();
  CHECK_FALSE(k.core.empty());
  CHECK_FALSE(k.chosen_by.empty());
  INFO("kernel " << k.core << " chosen by " << k.chosen_by << "; CPU " << k.cpu_features);
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  if (k.chosen_by == "the CPU's features") {
    REQUIRE(forced != nullptr);  // what the choice set, before the library started
    CHECK(k.core == forced);     // and OpenBLAS runs it
    CHECK_FALSE(k.generic);
  }
  // A user's OPENBLAS_CORETYPE is kept; a generic one is then warned about, and only then.
  CHECK(blas::generic_kernel_warning().empty() == !k.generic);
}

TEST_CASE("sgemm equals a triple loop for every transpose combination, with alpha, beta and strides") {
  const int m = 7, n = 5, k = 9;
  std::vector<float> a(static_cast<size_t>(m) * k), b(static_cast<size_t>(k) * n), c0(static_cast<size_t>(m) * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(0.7f * static_cast<float>(i));
  for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(0.3f * static_cast<float>(i));
  for (size_t i = 0; i < c0.size(); ++i) c0[i] = 0.1f * static_cast<float>(i);
  for (const blas::Op op_a : {blas::Op::kNone, blas::Op::kTranspose}) {
    for (const blas::Op op_b : {blas::Op::kNone, blas::Op::kTranspose}) {
      const bool ta = op_a == blas::Op::kTranspose, tb = op_b == blas::Op::kTranspose;
      // A is stored m x k (or k x m when transposed), B k x n (or n x k), row-major and packed.
      auto at = [&](int i, int p) {
        return ta ? a[static_cast<size_t>(p) * m + i] : a[static_cast<size_t>(i) * k + p];
      };
      auto bt = [&](int p, int j) {
        return tb ? b[static_cast<size_t>(j) * k + p] : b[static_cast<size_t>(p) * n + j];
      };
      std::vector<float> c = c0;
      blas::sgemm(op_a, op_b, m, n, k, 2.0f, a.data(), ta ? m : k, b.data(), tb ? k : n, 0.5f, c.data(), n);
      for (int i = 0; i < m; ++i) {
        for (int j = 0; j < n; ++j) {
          double want = 0.5 * double{c0[static_cast<size_t>(i) * n + j]};
          for (int p = 0; p < k; ++p) want += 2.0 * double{at(i, p)} * double{bt(p, j)};
          CHECK(c[static_cast<size_t>(i) * n + j] == doctest::Approx(want).epsilon(1e-5));
        }
      }
    }
  }
}
