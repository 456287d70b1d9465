// The GEMMs of the workstation trainers (zoo builder, probex-train), on OpenBLAS with a kernel chosen
// from the features the CPU reports at run time.
//
// Why not simply link OpenBLAS: Debian 12's OpenBLAS 0.3.21 picks its kernel from a table of CPU
// models, read once when the library loads. A CPU newer than the table (seen: an Intel Xeon with
// AVX-512, Sapphire-Rapids class) gets the generic SSE3 kernel ("Prescott"), 6x slower than the CPU
// allows. The only way to choose is the OPENBLAS_CORETYPE environment variable, before the library
// loads. So the library is loaded here, with dlopen, on first use: the CPU's features (cpuid + the
// OS's saved vector state, which is also what valgrind's virtual CPU reports) name the widest kernel
// the CPU runs, OPENBLAS_CORETYPE is set to it unless the user set it, and only then does OpenBLAS
// start. The same features give the same kernel: AVX-512 machines of both vendors get "SkylakeX" (on an
// AMD EPYC here it runs as fast as the Zen and Haswell kernels OpenBLAS would pick).
#pragma once

#include <string>

namespace probex::convert::blas {

enum class Op { kNone, kTranspose };

// C = alpha * op(A) * op(B) + beta * C, every matrix row-major; op(A) is m x k, op(B) k x n.
void sgemm(Op op_a, Op op_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
           float beta, float* c, int ldc);

// BLAS threads for the calls that follow (results of a training depend on it: see probex-train --threads).
void set_threads(int threads);

struct Kernel {
  std::string core;          // what OpenBLAS runs, e.g. "SkylakeX", "Haswell", "Prescott"
  std::string chosen_by;     // "the CPU's features", "OPENBLAS_CORETYPE from the environment", ...
  std::string cpu_features;  // the vector features that matter, e.g. "avx2 fma avx512f avx512bw ..."
  bool generic = false;      // a kernel far below what the CPU runs (the 6x trap above)
};

// Loads the library on first call (as sgemm does). Call it first from a CLI's main(), before any
// thread starts: choosing the kernel sets an environment variable.
const Kernel& kernel();

// One line for stderr when the kernel is generic on a CPU that runs a much faster one; empty otherwise.
std::string generic_kernel_warning();

// The OPENBLAS_CORETYPE name for CPU features (exposed for tests): "SkylakeX" with AVX-512 F/CD/BW/DQ/VL,
// "Haswell" with AVX2 + FMA, "SandyBridge" with AVX, "" below (OpenBLAS's own choice is as good).
std::string core_for_features(bool avx, bool avx2_fma, bool avx512);

}  // namespace probex::convert::blas
