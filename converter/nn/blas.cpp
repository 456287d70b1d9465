#include "converter/nn/blas.h"

#include <dlfcn.h>

#include <cblas.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace probex::convert::blas {

namespace {

// The entry points probex uses, typed from Debian's cblas.h (no link-time dependency on the library).
using SgemmFn = decltype(&cblas_sgemm);
using SetThreadsFn = decltype(&openblas_set_num_threads);
using CorenameFn = decltype(&openblas_get_corename);

struct CpuFeatures {
  bool avx = false, avx2_fma = false, avx512 = false;
  std::string text;
};

CpuFeatures cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  // GCC's checks read cpuid and also require the OS to save the vector registers (XCR0), so a CPU
  // whose AVX-512 state the OS or an emulator (valgrind) does not enable counts as without it.
  __builtin_cpu_init();
  f.avx = __builtin_cpu_supports("avx");
  f.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl");
  const std::array<std::pair<const char*, bool>, 9> named = {{
      {"sse3", __builtin_cpu_supports("sse3") != 0},
      {"avx", f.avx},
      {"avx2", __builtin_cpu_supports("avx2") != 0},
      {"fma", __builtin_cpu_supports("fma") != 0},
      {"avx512f", __builtin_cpu_supports("avx512f") != 0},
      {"avx512cd", __builtin_cpu_supports("avx512cd") != 0},
      {"avx512bw", __builtin_cpu_supports("avx512bw") != 0},
      {"avx512dq", __builtin_cpu_supports("avx512dq") != 0},
      {"avx512vl", __builtin_cpu_supports("avx512vl") != 0},
  }};
  for (const auto& [name, has] : named) {
    if (!has) continue;
    if (!f.text.empty()) f.text += ' ';
    f.text += name;
  }
#endif
  if (f.text.empty()) f.text = "(not probed on this architecture)";
  return f;
}

// OpenBLAS kernels that use AVX2 + FMA or wider (as openblas_get_corename names them).
bool is_avx2_class(std::string_view core) {
  for (std::string_view k : {"Haswell", "SkylakeX", "Cooperlake", "SapphireRapids", "Zen", "Excavator"}) {
    if (core == k) return true;
  }
  return false;
}

struct Library {
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_threads = nullptr;
  Kernel kernel;
};

[[noreturn]] void fail(const std::string& what) {
  // The same outcome as a missing shared library at program start, with a message that says which.
  std::fprintf(stderr, "probex: cannot use OpenBLAS: %s (install libopenblas0: scripts/install-deps.sh)\n",
               what.c_str());
  std::exit(127);
}

Library load() {
  Library lib;
  const CpuFeatures cpu = cpu_features();
  lib.kernel.cpu_features = cpu.text;
  const char* user_choice = std::getenv("OPENBLAS_CORETYPE");
  if (user_choice != nullptr && *user_choice != '\0') {
    lib.kernel.chosen_by = "OPENBLAS_CORETYPE from the environment";
  } else if (const std::string core = core_for_features(cpu.avx, cpu.avx2_fma, cpu.avx512); !core.empty()) {
    // Before dlopen: OpenBLAS reads the variable in its constructor. overwrite = 0 keeps a user's value.
    setenv("OPENBLAS_CORETYPE", core.c_str(), 0);
    lib.kernel.chosen_by = "the CPU's features";
  } else {
    lib.kernel.chosen_by = "OpenBLAS's own CPU table";
  }
  void* handle = nullptr;
  std::string errors;
  for (const char* name : {"libopenblas.so.0", "libopenblas.so"}) {
    handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    const char* e = dlerror();
    errors += std::string(errors.empty() ? "" : "; ") + (e != nullptr ? e : name);
  }
  if (handle == nullptr) fail(errors);
  // Never closed: the library lives as long as the process (its threads and buffers too).
  lib.sgemm = reinterpret_cast<SgemmFn>(dlsym(handle, "cblas_sgemm"));
  lib.set_threads = reinterpret_cast<SetThreadsFn>(dlsym(handle, "openblas_set_num_threads"));
  const auto corename = reinterpret_cast<CorenameFn>(dlsym(handle, "openblas_get_corename"));
  if (lib.sgemm == nullptr || lib.set_threads == nullptr || corename == nullptr) {
    fail("the library lacks cblas_sgemm, openblas_set_num_threads or openblas_get_corename");
  }
  const char* core = corename();
  lib.kernel.core = core != nullptr ? core : "unknown";
  lib.kernel.generic = cpu.avx2_fma && !is_avx2_class(lib.kernel.core);
  return lib;
}

// Loaded once per process; immutable afterwards (C++ makes the first call's initialisation thread-safe).
const Library& library() {
  static const Library lib = load();
  return lib;
}

CBLAS_TRANSPOSE to_cblas(Op op) { return op == Op::kTranspose ? CblasTrans : CblasNoTrans; }

}  // namespace

std::string core_for_features(bool avx, bool avx2_fma, bool avx512) {
  if (avx512 && avx2_fma) return "SkylakeX";
  if (avx2_fma) return "Haswell";
  if (avx) return "SandyBridge";
  return "";
}

void sgemm(Op op_a, Op op_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
           float beta, float* c, int ldc) {
  library().sgemm(CblasRowMajor, to_cblas(op_a), to_cblas(op_b), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void set_threads(int threads) { library().set_threads(threads); }

const Kernel& kernel() { return library().kernel; }

std::string generic_kernel_warning() {
  const Kernel& k = kernel();
  if (!k.generic) return "";
  return "probex: warning: OpenBLAS runs its generic '" + k.core + "' kernel (chosen by " + k.chosen_by +
         ") on a CPU with " + k.cpu_features + ": training runs several times slower than it could " +
         "(unset OPENBLAS_CORETYPE, or set it to Haswell or SkylakeX)";
}

}  // namespace probex::convert::blas
