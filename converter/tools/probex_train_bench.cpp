// probex-train-bench: how fast one ProbeX training epoch runs, against the machine's GEMM speed
// measured in the same run. Synthetic layers (the speed does not depend on their values).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "converter/expert/multilabel.h"
#include "converter/expert/probex_expert.h"
#include "converter/nn/blas.h"
#include "runtime/cli/args.h"

namespace {

using namespace probex::convert;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Best-of-N GFLOP/s of one sgemm of the given size.
double gemm_gflops(int m, int n, int k, int reps) {
  std::vector<float> a(static_cast<size_t>(m) * k, 0.5f), b(static_cast<size_t>(k) * n, 0.25f),
      c(static_cast<size_t>(m) * n);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t = Clock::now();
    blas::sgemm(blas::Op::kNone, blas::Op::kNone, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    best = std::min(best, seconds_since(t));
  }
  return 2.0 * m * n * k / best / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  long models_arg = 300, rows_arg = 128, cols_arg = 784, epochs_arg = 5, labels_arg = 10;
  uint32_t threads_arg = 1;
  probex::cli::ArgParser args(
      "probex-train-bench",
      "usage: probex-train-bench [--models 300] [--rows 128] [--cols 784] [--labels 10] [--epochs 5]\n"
      "                          [--threads N]\n"
      "Times ProbeX training epochs (r=128, batch 128) and the machine's sgemm peak, and prints the\n"
      "peak resident memory. Model-J's shape: --models 1000 --rows 768 --cols 768 --labels 100.\n"
      "--threads: BLAS threads (default 1; auto: every processor online). --help, --version\n"
      "exit codes: 0 success, 2 bad command line\n");
  args.integer("--models", 1, 1000000, &models_arg);
  args.integer("--rows", 1, 1 << 20, &rows_arg);
  args.integer("--cols", 1, 1 << 20, &cols_arg);
  args.integer("--epochs", 1, 1000000, &epochs_arg);
  args.integer("--labels", 1, 100000, &labels_arg);
  args.threads(&threads_arg);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  const size_t models = static_cast<size_t>(models_arg), rows = static_cast<size_t>(rows_arg),
               cols = static_cast<size_t>(cols_arg);
  const int epochs = static_cast<int>(epochs_arg), threads = static_cast<int>(threads_arg);
  blas::set_threads(threads);
  ProbexShape s{rows, cols, 128, 128, 128, static_cast<size_t>(labels_arg)};
  ExpertData train, val;
  for (ExpertData* d : {&train, &val}) {
    d->count = d == &train ? models : 8;
    d->features = rows * cols;
    d->labels = s.d_y;
    d->x.resize(d->count * d->features);
    Rng rng(1);
    for (float& v : d->x) v = static_cast<float>(rng.uniform(-0.1, 0.1));
    d->y.assign(d->count * s.d_y, 0.0f);
    for (size_t i = 0; i < d->y.size(); i += 2) d->y[i] = 1.0f;
  }
  ProbexExpert expert(s);
  Rng rng(2);
  expert.init(rng);
  FitConfig fit;
  fit.epochs = 1;  // warm-up epoch (allocations, caches)
  fit.eval_every = 1000;
  fit.progress = false;
  fit_multilabel(expert, train, val, fit);
  fit.epochs = epochs;
  const auto t = Clock::now();
  fit_multilabel(expert, train, val, fit);
  const double per_epoch = seconds_since(t) / epochs;

  const double ru = 128, rv = 128, rt = 128, dh = static_cast<double>(rows), dw = static_cast<double>(cols);
  // Forward + backward per layer: X U and X^T dP (4 dh dw ru), G and its two gradients (6 ru rv dh),
  // the encoders and their two gradients (6 ru rv rt); the head is negligible.
  const double flop = static_cast<double>(models) * (4 * dh * dw * ru + 6 * ru * rv * dh + 6 * ru * rv * rt);
  const double peak_big = gemm_gflops(1024, 1024, 1024, 5);
  const double peak_probe = gemm_gflops(static_cast<int>(128 * rows), 128, static_cast<int>(cols), 5);
  const blas::Kernel& kernel = blas::kernel();
  std::printf("OpenBLAS kernel %s (chosen by %s); CPU features: %s\n", kernel.core.c_str(), kernel.chosen_by.c_str(),
              kernel.cpu_features.c_str());
  if (kernel.generic) std::printf("%s\n", blas::generic_kernel_warning().c_str());
  std::printf("ProbeX training, %zu layers of [%zu, %zu], r_U=r_V=r_T=128, %zu labels, batch 128, %d thread(s)\n",
              models, rows, cols, s.d_y, threads);
  std::printf("  seconds per epoch          %.3f   (%.3f per 300 layers)\n", per_epoch,
              per_epoch * 300.0 / static_cast<double>(models));
  std::printf("  GFLOP per epoch            %.1f\n", flop / 1e9);
  std::printf("  achieved GFLOP/s           %.1f\n", flop / per_epoch / 1e9);
  std::printf("  sgemm peak 1024^3 GFLOP/s  %.1f   (epoch at %.0f%% of it)\n", peak_big,
              100.0 * flop / per_epoch / 1e9 / peak_big);
  std::printf("  sgemm X*U batch GFLOP/s    %.1f   ([%zu x %zu] x [%zu x 128])\n", peak_probe, 128 * rows, cols, cols);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("  peak RSS                   %.0f MB   (the layers alone: %.0f MB)\n",
              static_cast<double>(usage.ru_maxrss) / 1024.0,
              static_cast<double>((models + 8) * rows * cols * sizeof(float)) / (1024.0 * 1024.0));
  return 0;
}
