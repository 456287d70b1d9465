// Checks the XNNPACK that Debian ships, as FindXNNPACK.cmake finds it: it initialises, and its f32
// fully-connected operator (the future probe GEMM, X * U) agrees with a plain loop.
#include <doctest/doctest.h>

#include <xnnpack.h>

#include <cmath>
#include <vector>

TEST_CASE("XNNPACK f32 fully-connected equals a plain loop") {
  REQUIRE(xnn_initialize(nullptr) == xnn_status_success);
  const size_t rows = 37, in = 29, out = 11;  // odd sizes: exercises the kernels' remainders
  std::vector<float> x(rows * in + XNN_EXTRA_BYTES / sizeof(float)), w(out * in), y(rows * out), ref(rows * out);
  for (size_t i = 0; i < rows * in; ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
  for (size_t i = 0; i < out * in; ++i) w[i] = std::cos(0.11f * static_cast<float>(i));
  for (size_t r = 0; r < rows; ++r) {
    for (size_t o = 0; o < out; ++o) {
      double s = 0;
      for (size_t k = 0; k < in; ++k) s += static_cast<double>(x[r * in + k]) * static_cast<double>(w[o * in + k]);
      ref[r * out + o] = static_cast<float>(s);
    }
  }
  xnn_operator_t op = nullptr;
  REQUIRE(xnn_create_fully_connected_nc_f32(in, out, in, out, w.data(), nullptr, -INFINITY, INFINITY, 0, &op) ==
          xnn_status_success);
  REQUIRE(xnn_setup_fully_connected_nc_f32(op, rows, x.data(), y.data(), nullptr) == xnn_status_success);
  REQUIRE(xnn_run_operator(op, nullptr) == xnn_status_success);
  xnn_delete_operator(op);
  for (size_t i = 0; i < rows * out; ++i) CHECK(y[i] == doctest::Approx(ref[i]).epsilon(1e-5).scale(1.0));
}
