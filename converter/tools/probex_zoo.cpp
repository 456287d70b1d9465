// probex-zoo: builds a model zoo of real fine-tuned models from Fashion-MNIST, or summarises one.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cli/args.h"
#include "nn/blas.h"
#include "zoo/zoo.h"

namespace {

constexpr const char* kVersion = "0.1.0";

void print_help() {
  std::printf(
      "usage: probex-zoo --config NAME --out DIR [options]   build a zoo\n"
      "       probex-zoo --summary DIR                          summarise an existing zoo\n"
      "\n"
      "Builds a Model-J-like zoo: roots pre-trained on all 10 Fashion-MNIST classes, each from its own\n"
      "seed, and children fine-tuned from them on 'subset' (k classes) and 'detector' (one class)\n"
      "tasks with per-child hyper-parameters. Same configuration and seed, same bytes.\n"
      "\n"
      "options:\n"
      "  --config NAME     small (the embedded default, ~2 min), standard (figures, ~30 min),\n"
      "                    sanity (the 784-128-10 reference, 300 children), demo (scripts/demo.sh:\n"
      "                    3 trees + 1 foreign, children keep the root's head, ~1 min)\n"
      "  --out DIR         where the zoo goes; built in DIR.partial, renamed when complete\n"
      "  --data DIR        Fashion-MNIST IDX .gz files (default %s)\n"
      "  --seed N          override the configuration's seed\n"
      "  --architecture A  override the architecture, e.g. mlp-784-512-512-10 (a custom zoo, not the named one)\n"
      "  --trees N         override the number of trees\n"
      "  --tasks LIST      subset,detector (default), subset or detector: which children to build\n"
      "  --children N      at most N children per task and split (a custom zoo)\n"
      "  --steps-scale X   children fine-tune X times as many steps (a custom zoo: e.g. to measure how far\n"
      "                    longer fine-tunes drift from their root; same seed, same roots)\n"
      "  --threads N       worker threads, one model each (default 2)\n"
      "  --layout L        probex (default) or hf (Hugging Face cache: refs/main + snapshots/<ref>/)\n"
      "  --force           replace DIR if it exists\n"
      "  --quiet           no progress output\n"
      "  --summary DIR     read every model in DIR with the strict reader and print the summary\n"
      "  --help, --version\n"
      "\n"
      "exit codes: 0 success, 1 failure (message on stderr), 2 bad command line\n",
      probex::convert::kFashionMnistDefaultDir);
}

int usage_error(const std::string& what) {
  std::fprintf(stderr, "probex-zoo: %s (see --help)\n", what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace probex::convert;
  std::string config_name, out_dir, summary_dir, data_dir = kFashionMnistDefaultDir;
  ZooBuildOptions options;
  long seed = -1, trees = 0;
  std::string architecture, tasks = "subset,detector";
  long children = 0;
  double steps_scale = 0.0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char** v) {
      if (i + 1 >= argc) return false;
      *v = argv[++i];
      return true;
    };
    const char* v = nullptr;
    if (arg == "--help" || arg == "-h") {
      print_help();
      return 0;
    } else if (arg == "--version") {
      std::printf("probex-zoo %s\n", kVersion);
      return 0;
    } else if (arg == "--config") {
      if (!value(&v)) return usage_error("--config needs a name");
      config_name = v;
    } else if (arg == "--out") {
      if (!value(&v)) return usage_error("--out needs a folder");
      out_dir = v;
    } else if (arg == "--data") {
      if (!value(&v)) return usage_error("--data needs a folder");
      data_dir = v;
    } else if (arg == "--summary") {
      if (!value(&v)) return usage_error("--summary needs a folder");
      summary_dir = v;
    } else if (arg == "--seed") {
      if (!value(&v) || !parse_long(v, 0, 0x7FFFFFFFFFFFFFFFL, &seed)) return usage_error("--seed needs a non-negative integer");
    } else if (arg == "--architecture") {
      if (!value(&v)) return usage_error("--architecture needs a spec such as mlp-784-256-128-10");
      architecture = v;
    } else if (arg == "--trees") {
      if (!value(&v) || !parse_long(v, 1, 26, &trees)) return usage_error("--trees needs 1..26");
    } else if (arg == "--children") {
      if (!value(&v) || !parse_long(v, 1, 100000, &children)) return usage_error("--children needs a positive integer");
    } else if (arg == "--steps-scale") {
      if (!value(&v) || !parse_double(v, 0.01, 1000.0, &steps_scale)) return usage_error("--steps-scale needs a number in [0.01, 1000]");
    } else if (arg == "--tasks") {
      if (!value(&v)) return usage_error("--tasks needs subset, detector or both");
      tasks = v;
      if (tasks != "subset" && tasks != "detector" && tasks != "subset,detector" && tasks != "detector,subset") {
        return usage_error("--tasks takes subset, detector or subset,detector");
      }
    } else if (arg == "--threads") {
      long t = 0;
      if (!value(&v) || !parse_long(v, 1, 256, &t)) return usage_error("--threads needs 1..256");
      options.threads = static_cast<int>(t);
    } else if (arg == "--layout") {
      if (!value(&v)) return usage_error("--layout needs probex or hf");
      if (std::strcmp(v, "probex") == 0) {
        options.layout = ZooLayout::kProbex;
      } else if (std::strcmp(v, "hf") == 0) {
        options.layout = ZooLayout::kHuggingFace;
      } else {
        return usage_error("--layout needs probex or hf");
      }
    } else if (arg == "--force") {
      options.overwrite = true;
    } else if (arg == "--quiet") {
      options.progress = false;
    } else {
      return usage_error("unknown argument '" + arg + "'");
    }
  }

  std::string error;
  std::vector<ZooModel> models;
  if (!summary_dir.empty()) {
    if (!scan_zoo(summary_dir, &models, &error)) {
      std::fprintf(stderr, "probex-zoo: %s\n", error.c_str());
      return 1;
    }
    std::printf("%s: %zu models\n%s", summary_dir.c_str(), models.size(), summarize_zoo(models).c_str());
    return 0;
  }
  if (config_name.empty() || out_dir.empty()) return usage_error("--config and --out are required");
  // Before the builder starts its threads: loading the BLAS chooses its kernel (nn/blas.h).
  if (const std::string warning = blas::generic_kernel_warning(); !warning.empty()) {
    std::fprintf(stderr, "%s\n", warning.c_str());
  }
  ZooConfig config;
  if (!named_zoo_config(config_name, &config)) return usage_error("unknown configuration '" + config_name + "'");
  if (seed >= 0) config.seed = static_cast<uint64_t>(seed);
  if (!architecture.empty()) {
    config.architecture = architecture;
    config.tree_architectures.clear();
  }
  if (trees > 0) {
    config.trees = static_cast<int>(trees);
    if (!config.tree_architectures.empty()) config.tree_architectures.resize(config.trees, config.architecture);
  }
  if (tasks.find("subset") == std::string::npos) {
    config.subset.count.clear();
    config.foreign_trees = 0;  // foreign trees hold subset children only
  }
  if (tasks.find("detector") == std::string::npos) config.detector.count.clear();
  if (children > 0)
    for (SplitSizes* sizes : {&config.subset, &config.detector})
      for (auto& [split, count] : sizes->count) count = std::min(count, static_cast<int>(children));
  if (steps_scale > 0.0) {
    config.child.steps_min = static_cast<int>(std::lround(config.child.steps_min * steps_scale));
    config.child.steps_max = static_cast<int>(std::lround(config.child.steps_max * steps_scale));
  }
  const bool custom = !architecture.empty() || trees > 0 || tasks.find(',') == std::string::npos || children > 0 ||
                      steps_scale > 0.0;
  if (custom) config.name += "-custom";  // recorded in every file's metadata: not the named zoo
  options.out_dir = out_dir;

  const auto start = std::chrono::steady_clock::now();
  FashionMnist data;
  const probex::convert::IdxStatus st = load_fashion_mnist(data_dir, &data);
  if (!st.ok()) {
    std::fprintf(stderr, "probex-zoo: %s\n", st.message.c_str());
    return 1;
  }
  if (!build_zoo(config, data, options, &models, &error)) {
    std::fprintf(stderr, "probex-zoo: %s\n", error.c_str());
    return 1;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("zoo '%s' (seed %llu): %zu models in %s, built in %.1f s with %d threads\n%s", config.name.c_str(),
              static_cast<unsigned long long>(config.seed), models.size(), out_dir.c_str(), seconds, options.threads,
              summarize_zoo(models).c_str());
  return 0;
}
