// probex-bench: latency of auditing one model file, per stage, against a bare XNNPACK GEMM of the
// same X*U shape measured in the same run (the floor the probe step can approach).
#include <pthreadpool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xnnpack.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "probex/probex.h"
#include "runtime/backends/kernels/int8_probe.h"
#include "runtime/tools/cli_common.h"

namespace {

const char* const kHelp =
    "usage: probex-bench BUNDLE MODEL [options]\n"
    "\n"
    "Audits MODEL repeatedly and prints p50 / p90 latency per stage (open: the file and its header; route:\n"
    "the router's sketch; read: the layer's rows, once per pass; probe: steps 1-2; encode: steps 3-4;\n"
    "zero-shot: its expert), how much of the total the stages account for, the same for a bare XNNPACK\n"
    "f32 fully-connected X*U of the tree's shape, and the peak resident memory.\n"
    "\n"
    "options:\n"
    "  --tree NAME            the tree (default: the first); --route lets the router choose, and times it\n"
    "  --route                route each audit (the bundle must have a router)\n"
    "  --backend NAME         xnnpack (default) or reference\n"
    "  --threads N            threads for the backend (default 1; auto: every processor online)\n"
    "  --warmup N             default 3      --runs N     default 20\n"
    "  --rows-per-block N     rows of the layer read and probed at a time (default 256)\n"
    "  --float-only           float arithmetic even where an int8 bundle allows int8 step 1\n"
    "  --help, --version\n"
    "\n"
    "exit codes: 0 success, 1 failure, 2 bad command line\n";

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// Resident memory now, in MB (Linux /proc/self/statm; 0 where it cannot be read).
double resident_mb() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0.0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0) : 0.0;
}

int fail(const probex_error& e) {
  std::fprintf(stderr, "probex-bench: %s [%s]\n", e.message, probex_status_name(e.status));
  return 1;
}

// The floor: one XNNPACK f32 fully-connected of X [d_H, d_W] by U [d_W, r_U], same threads; ms per run.
std::vector<double> bare_gemm_ms(const probex_tree_info& info, unsigned long threads, unsigned long warmup,
                                 unsigned long runs) {
  std::vector<double> gemm;
  std::vector<float> x(static_cast<size_t>(info.d_h) * info.d_w + XNN_EXTRA_BYTES / 4),
      u(static_cast<size_t>(info.r_u) * info.d_w), y(static_cast<size_t>(info.d_h) * info.r_u);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i) * 0.001f);
  for (size_t i = 0; i < u.size(); ++i) u[i] = std::cos(static_cast<float>(i) * 0.003f);
  xnn_initialize(nullptr);
  pthreadpool_t pool = threads > 1 ? pthreadpool_create(threads) : nullptr;
  xnn_operator_t op = nullptr;
  if (xnn_create_fully_connected_nc_f32(info.d_w, info.r_u, info.d_w, info.r_u, u.data(), nullptr, -INFINITY, INFINITY,
                                        0, &op) == xnn_status_success) {
    for (unsigned long i = 0; i < warmup + runs; ++i) {
      const auto start = std::chrono::steady_clock::now();
      xnn_setup_fully_connected_nc_f32(op, info.d_h, x.data(), y.data(), pool);
      xnn_run_operator(op, pool);
      if (i >= warmup)
        gemm.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() * 1e3);
    }
    xnn_delete_operator(op);
  }
  if (pool) pthreadpool_destroy(pool);
  xnn_deinitialize();
  return gemm;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string tree_name;
  bool route = false, float_only = false;
  long warmup_arg = 3, runs_arg = 20, rows_per_block = 256;
  probex_auditor_options options;
  probex_auditor_options_init(&options, sizeof options);
  probex::cli::ArgParser args("probex-bench", kHelp);
  args.positional(&positional);
  args.text("--tree", "a tree name", &tree_name);
  args.flag("--route", &route);
  args.flag("--float-only", &float_only);
  probex::cli::add_backend_option(&args, &options);
  args.threads(&options.threads);
  args.integer("--warmup", 0, 100000, &warmup_arg);
  args.integer("--runs", 1, 1000000, &runs_arg);
  args.integer("--rows-per-block", 1, 1 << 20, &rows_per_block);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  if (positional.size() != 2) return args.usage_error("a bundle and one model are required");
  options.float_only = float_only;
  options.rows_per_block = static_cast<uint32_t>(rows_per_block);
  const unsigned long warmup = static_cast<unsigned long>(warmup_arg), runs = static_cast<unsigned long>(runs_arg);
  const unsigned long threads = options.threads;
  probex_error e{};
  probex_bundle* bundle = nullptr;
  if (probex_bundle_open(positional[0].c_str(), nullptr, &bundle, &e) != PROBEX_OK) return fail(e);
  uint32_t tree = 0;
  if (!tree_name.empty() && probex_bundle_find_tree(bundle, tree_name.c_str(), &tree, nullptr) != PROBEX_OK) {
    std::fprintf(stderr, "probex-bench: no tree '%s'\n", tree_name.c_str());
    return 1;
  }
  probex_tree_info info;
  probex_tree_info_init(&info, sizeof info);
  probex_bundle_tree_info(bundle, tree, &info, nullptr);
  struct stat st {};
  const double bundle_mb = stat(positional[0].c_str(), &st) == 0 ? static_cast<double>(st.st_size) / (1024.0 * 1024.0)
                                                                 : 0.0;
  probex_auditor* auditor = nullptr;
  const double before_auditor_mb = resident_mb();
  if (probex_auditor_create(bundle, &options, nullptr, &auditor, &e) != PROBEX_OK) return fail(e);

  std::vector<double> opening, routing, read, probe, rest, zero_shot, total;
  double stage_sum = 0, total_sum = 0;
  for (unsigned long i = 0; i < warmup + runs; ++i) {
    probex_audit_result r;
    probex_audit_result_init(&r, sizeof r);
    const auto start = std::chrono::steady_clock::now();
    if (probex_audit_file(auditor, route ? PROBEX_ROUTE : tree, positional[1].c_str(), &r, &e) != PROBEX_OK)
      return fail(e);
    if (route && r.tree == PROBEX_NO_TREE) {
      std::fprintf(stderr, "probex-bench: the router refuses the model: %s\n", r.unknown_reason);
      return 1;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i < warmup) continue;
    opening.push_back(r.seconds_open * 1e3);
    routing.push_back(r.seconds_route * 1e3);
    read.push_back(r.seconds_read * 1e3);
    probe.push_back(r.seconds_probe * 1e3);
    rest.push_back(r.seconds_rest * 1e3);
    zero_shot.push_back(r.seconds_zero_shot * 1e3);
    total.push_back(seconds * 1e3);
    stage_sum += opening.back() + routing.back() + read.back() + probe.back() + rest.back() + zero_shot.back();
    total_sum += total.back();
  }

  // Peak memory of the audits alone, before the comparison GEMM below allocates a whole X.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;
  // What the auditor holds after its audits (packed weights, arena, scratch; the model file is closed).
  const double auditor_mb = resident_mb() - before_auditor_mb;

  const std::vector<double> gemm = bare_gemm_ms(info, threads, warmup, runs);
  std::printf("tree %s, layer %s X [%u, %u], r_U %u r_V %u r_T %u, weights %s%s, backend %s, %lu thread(s), %lu runs\n",
              info.name, info.layer_name, info.d_h, info.d_w, info.r_u, info.r_v, info.r_t, info.weight_type,
              options.float_only ? " (float arithmetic)" : "",
              options.backend == PROBEX_BACKEND_XNNPACK ? "xnnpack" : "reference", threads, runs);
  // Which int8 step 1 an int8 bundle gets here (the bundle may still have it off: probex-inspect says).
  if (std::string(info.weight_type) == "int8" && !options.float_only && options.backend == PROBEX_BACKEND_XNNPACK) {
    const probex::Int8Probe::Path path = probex::Int8Probe::best_path();
    std::printf("int8 step 1 on this CPU: %s\n", path == probex::Int8Probe::Path::kScalar
                                                     ? "XNNPACK qc8 operator (no integer dot product)"
                                                     : probex::Int8Probe::path_name(path));
  }
  std::printf("%-26s %10s %10s\n", "stage (ms)", "p50", "p90");
  const auto line = [](const char* name, const std::vector<double>& v) {
    if (!v.empty()) std::printf("%-26s %10.3f %10.3f\n", name, percentile(v, 0.5), percentile(v, 0.9));
  };
  line("open (file, header)", opening);
  if (route) line("route (sketch, decision)", routing);
  line("read (rows, once per pass)", read);
  line("probe (steps 1-2)", probe);
  line("encode (steps 3-4)", rest);
  if (percentile(zero_shot, 0.9) > 0.0) line("zero-shot expert", zero_shot);
  line("audit total", total);
  std::printf("the stages account for %.1f%% of the total (mean over the runs; the rest is the C API's checks)\n",
              total_sum > 0 ? 100.0 * stage_sum / total_sum : 0.0);
  line("bare XNNPACK X*U GEMM", gemm);
  if (!gemm.empty())
    std::printf("compute (probe + rest) / bare GEMM: %.2fx\n",
                (percentile(probe, 0.5) + percentile(rest, 0.5)) / percentile(gemm, 0.5));
  std::printf("peak RSS of the audits %.1f MB (bundle %.1f MB in memory); the auditor's own resident memory %.1f MB\n",
              peak_mb, bundle_mb, auditor_mb);
  probex_auditor_free(auditor);
  probex_bundle_free(bundle);
  return 0;
}
