// probex-zoo: builds a model zoo of real fine-tuned models from Fashion-MNIST, summarises one, or exports
// one to GGUF, TFLite or ONNX.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "converter/data/fashion_mnist.h"
#include "converter/nn/blas.h"
#include "converter/zoo/zoo.h"
#include "runtime/cli/args.h"

namespace {

std::string help() {
  return std::string(
             "usage: probex-zoo --config NAME --out DIR [options]   build a zoo\n"
             "       probex-zoo --summary DIR                          summarise an existing zoo\n"
             "       probex-zoo --export SRC --out DIR [--format F] [--gguf-type T | --tflite-type T]\n"
             "                                                         a GGUF, TFLite or ONNX copy of a safetensors zoo\n"
             "\n"
             "Builds a Model-J-like zoo: roots pre-trained on all 10 Fashion-MNIST classes, each from its own\n"
             "seed, and children fine-tuned from them on 'subset' (k classes) and 'detector' (one class)\n"
             "tasks with per-child hyper-parameters. Same configuration and seed, same bytes.\n"
             "\n"
             "options:\n"
             "  --config NAME     small (the embedded default, ~2 min), standard (figures, ~30 min),\n"
             "                    sanity (the 784-128-10 reference, 300 children), demo (scripts/demo.sh:\n"
             "                    3 trees + 1 foreign, children keep the root's head, ~1 min), modelj (closer to\n"
             "                    Model-J: roots pre-trained without labels, a deeper MLP, probe fc2.weight)\n"
             "  --out DIR         where the zoo goes; built in DIR.partial, renamed when complete\n"
             "  --data DIR        Fashion-MNIST IDX .gz files (default ") +
         probex::convert::kFashionMnistDefaultDir +
         ")\n"
         "  --seed N          override the configuration's seed\n"
         "  --architecture A  override the architecture, e.g. mlp-784-512-512-10 (a custom zoo, not the named one)\n"
         "  --trees N         override the number of trees\n"
         "  --tasks LIST      subset,detector (default), subset or detector: which children to build\n"
         "  --children N      at most N children per task and split (a custom zoo)\n"
         "  --root-objective O  classify (10 classes), rotation (which quarter-turn, no class labels) or\n"
         "                    denoise (reconstruct half-masked images, no labels): how roots pre-train (a custom zoo)\n"
         "  --label-rotations N  1..4: labels are class x N quarter-turns (10 N labels; a custom zoo)\n"
         "  --subset-k N      labels per subset child (a custom zoo)\n"
         "  --steps-scale X   children fine-tune X times as many steps (a custom zoo: e.g. to measure how far\n"
         "                    longer fine-tunes drift from their root; same seed, same roots)\n"
         "  --threads N       worker threads, one model each (default 2; auto: every processor online)\n"
         "  --layout L        probex (default) or hf (Hugging Face cache: refs/main + snapshots/<ref>/)\n"
         "  --format F        safetensors (default), gguf, tflite or onnx: the models' files (model.safetensors,\n"
         "                    model.gguf, model.tflite or model.onnx; TFLite and ONNX files are the MLP as a graph:\n"
         "                    FULLY_CONNECTED with fused ReLU, or Gemm transB=1 + Relu). --export: gguf (default),\n"
         "                    tflite or onnx\n"
         "  --gguf-type T     F16 (default), Q8_0, Q4_K or F32: with --format gguf or --export. As llama.cpp\n"
         "                    converts: 1-D tensors (biases) stay F32; a row length (last dimension) that is\n"
         "                    not a multiple of 32 (Q8_0) or 256 (Q4_K) falls back, Q8_0 to F16, Q4_K to\n"
         "                    Q5_0 (multiple of 32) or else F16\n"
         "  --tflite-type T   FLOAT32 (default) or INT8: with --format tflite. INT8: weights per-channel int8\n"
         "                    (scale max|w|/127 per output row, zero point 0), biases and activations FLOAT32\n"
         "                    (TFLite's dynamic-range model)\n"
         "  --export SRC      write a GGUF (or --format tflite, onnx) copy of the safetensors zoo SRC (either\n"
         "                    layout) into DIR (--out), without retraining: model.gguf (.tflite, .onnx) where\n"
         "                    model.safetensors was, manifest.jsonl with\n"
         "                    its paths changed, other files copied; built in DIR.partial\n"
         "  --force           replace DIR if it exists\n"
         "  --quiet           no progress output\n"
         "  --summary DIR     read every model in DIR with the strict reader and print the summary\n"
         "  --help, --version\n"
         "\n"
         "exit codes: 0 success, 1 failure (message on stderr), 2 bad command line\n";
}

// --export: an existing zoo copied in another format.
int export_command(const probex::cli::ArgParser& args, const std::string& export_dir, const std::string& config_name,
                   const std::string& out_dir, const std::string& format, const std::string& gguf_type,
                   const std::string& tflite_type, const probex::convert::ZooBuildOptions& options) {
  using namespace probex::convert;
  std::string error;
  std::vector<ZooModel> models;
  if (!config_name.empty()) return args.usage_error("--export copies an existing zoo: it takes no --config");
  if (out_dir.empty()) return args.usage_error("--export needs --out, the folder of the copy");
  if (args.given("--format") && format == "safetensors")
    return args.usage_error("--export writes GGUF, TFLite or ONNX files (--format gguf, tflite or onnx)");
  const ZooFormat export_format = args.given("--format") ? options.format : ZooFormat::kGguf;
  if (args.given("--gguf-type") && export_format != ZooFormat::kGguf)
    return args.usage_error("--gguf-type is for GGUF copies (--format gguf)");
  if (args.given("--tflite-type") && export_format != ZooFormat::kTflite)
    return args.usage_error("--tflite-type needs --format tflite");
  ZooExportOptions export_options;
  export_options.out_dir = out_dir;
  export_options.format = export_format;
  export_options.gguf_type = options.gguf_type;
  export_options.tflite_type = options.tflite_type;
  export_options.threads = options.threads;
  export_options.progress = options.progress;
  export_options.overwrite = options.overwrite;
  const auto start = std::chrono::steady_clock::now();
  if (!export_zoo(export_dir, export_options, &models, &error)) {
    std::fprintf(stderr, "probex-zoo: %s\n", error.c_str());
    return 1;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string as = export_format == ZooFormat::kGguf     ? "GGUF " + gguf_type
                         : export_format == ZooFormat::kTflite ? "TFLite " + tflite_type
                                                               : std::string("ONNX FLOAT");
  std::printf("exported %zu models of %s to %s as %s in %.1f s\n%s", models.size(), export_dir.c_str(), out_dir.c_str(),
              as.c_str(), seconds, summarize_zoo(models).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace probex::convert;
  std::string config_name, out_dir, summary_dir, export_dir, data_dir = kFashionMnistDefaultDir;
  std::string format = "safetensors", gguf_type = "F16", tflite_type = "FLOAT32";
  ZooBuildOptions options;
  long seed = -1, trees = 0;
  std::string architecture, layout = "probex";
  std::vector<std::string> tasks = {"subset", "detector"};
  long children = 0;
  double steps_scale = 0.0;
  std::string root_objective;
  long label_rotations = 0, subset_k = 0;
  uint32_t threads = static_cast<uint32_t>(options.threads);
  bool quiet = false;
  probex::cli::ArgParser args("probex-zoo", help());
  args.text("--config", "a name", &config_name);
  args.text("--out", "a folder", &out_dir);
  args.text("--data", "a folder", &data_dir);
  args.text("--summary", "a folder", &summary_dir);
  args.integer("--seed", 0, 0x7FFFFFFFFFFFFFFFL, &seed, "a non-negative integer");
  args.text("--architecture", "a spec such as mlp-784-256-128-10", &architecture);
  args.integer("--trees", 1, 26, &trees);
  args.integer("--children", 1, 100000, &children, "a positive integer");
  args.number("--steps-scale", 0.01, 1000.0, &steps_scale);
  args.choice("--root-objective", {"classify", "rotation", "denoise"}, &root_objective);
  args.integer("--label-rotations", 1, 4, &label_rotations);
  args.integer("--subset-k", 1, 39, &subset_k);
  args.list("--tasks", {"subset", "detector"}, &tasks);
  args.threads(&threads);
  args.choice("--layout", {"probex", "hf"}, &layout);
  args.choice("--format", {"safetensors", "gguf", "tflite", "onnx"}, &format);
  args.choice("--gguf-type", {"F16", "Q8_0", "Q4_K", "F32"}, &gguf_type);
  args.choice("--tflite-type", {"FLOAT32", "INT8"}, &tflite_type);
  args.text("--export", "a folder", &export_dir);
  args.flag("--force", &options.overwrite);
  args.flag("--quiet", &quiet);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  options.threads = static_cast<int>(threads);
  options.layout = layout == "hf" ? ZooLayout::kHuggingFace : ZooLayout::kProbex;
  options.progress = !quiet;
  options.format = format == "gguf"     ? ZooFormat::kGguf
                   : format == "tflite" ? ZooFormat::kTflite
                   : format == "onnx"   ? ZooFormat::kOnnx
                                        : ZooFormat::kSafetensors;
  parse_gguf_type(gguf_type, &options.gguf_type);               // one of the choices above
  parse_tflite_weight_type(tflite_type, &options.tflite_type);  // likewise
  const auto has_task = [&](const char* task) { return std::find(tasks.begin(), tasks.end(), task) != tasks.end(); };

  std::string error;
  std::vector<ZooModel> models;
  if (!summary_dir.empty() && !export_dir.empty())
    return args.usage_error("--summary and --export are separate commands");
  if (!summary_dir.empty()) {
    if (!scan_zoo(summary_dir, &models, &error)) {
      std::fprintf(stderr, "probex-zoo: %s\n", error.c_str());
      return 1;
    }
    std::printf("%s: %zu models\n%s", summary_dir.c_str(), models.size(), summarize_zoo(models).c_str());
    return 0;
  }
  if (!export_dir.empty())
    return export_command(args, export_dir, config_name, out_dir, format, gguf_type, tflite_type, options);
  if (args.given("--gguf-type") && format != "gguf") return args.usage_error("--gguf-type needs --format gguf");
  if (args.given("--tflite-type") && format != "tflite") return args.usage_error("--tflite-type needs --format tflite");
  if (config_name.empty() || out_dir.empty()) return args.usage_error("--config and --out are required");
  // Before the builder starts its threads: loading the BLAS chooses its kernel (nn/blas.h).
  if (const std::string warning = blas::generic_kernel_warning(); !warning.empty()) {
    std::fprintf(stderr, "%s\n", warning.c_str());
  }
  ZooConfig config;
  if (!named_zoo_config(config_name, &config)) return args.usage_error("unknown configuration '" + config_name + "'");
  ZooOverrides overrides;
  overrides.seed = seed;
  overrides.architecture = architecture;
  overrides.trees = static_cast<int>(trees);
  overrides.subset = has_task("subset");
  overrides.detector = has_task("detector");
  overrides.children = static_cast<int>(children);
  overrides.steps_scale = steps_scale;
  overrides.root_objective = root_objective;
  overrides.label_rotations = static_cast<int>(label_rotations);
  overrides.subset_k = static_cast<int>(subset_k);
  apply_zoo_overrides(overrides, &config);
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
  const std::string as = format == "gguf"     ? " (GGUF " + gguf_type + ")"
                         : format == "tflite" ? " (TFLite " + tflite_type + ")"
                         : format == "onnx"   ? " (ONNX)"
                                              : "";
  std::printf("zoo '%s' (seed %llu): %zu models in %s%s, built in %.1f s with %d threads\n%s", config.name.c_str(),
              static_cast<unsigned long long>(config.seed), models.size(), out_dir.c_str(), as.c_str(), seconds,
              options.threads, summarize_zoo(models).c_str());
  return 0;
}
