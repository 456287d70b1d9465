// probex-synth: synthetic inputs for benchmarks and stress tests of the runtime, whose speed and memory
// do not depend on trained values: an expert checkpoint with the authors' random initialisation for
// any layer shape, and a model file holding one layer of any shape and dtype.
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "converter/expert/checkpoint.h"
#include "converter/io/gguf_writer.h"
#include "converter/io/safetensors_writer.h"
#include "converter/nn/rng.h"
#include "runtime/cli/args.h"

namespace {

using namespace probex::convert;

const char* const kHelp =
    "usage: probex-synth expert OUT --rows H --cols W [--r N] [--r-u N] [--r-v N] [--r-t N] [--labels N]\n"
    "                           [--layer NAME] [--seed N] [--expert probex|mvprobe] [--views LIST]\n"
    "       probex-synth model  OUT --rows H --cols W [--dtype f32|f16|bf16|q8_0|q4_k] [--format safetensors|gguf]\n"
    "                           [--layer NAME] [--seed N]\n"
    "\n"
    "expert: a ProbeX checkpoint for a layer X [H, W] (r_U = r_V = r_T = --r, default 128, unless --r-u,\n"
    "        --r-v or --r-t say otherwise; --labels default 10), randomly initialised as the authors' code\n"
    "        does, tree 'synthetic'. --expert mvprobe: an MVProbe checkpoint instead (r = --r-u probes per\n"
    "        view, p = --r-v), computing --views (default xu,xxtu,xtu,xtxu).\n"
    "model:  a safetensors file (or with --format gguf a GGUF file) with one tensor --layer (default\n"
    "        layer.weight) of shape [H, W], values uniform in [-0.05, 0.05). Safetensors takes f32, f16, bf16;\n"
    "        GGUF f32, f16, q8_0 (W a multiple of 32) and q4_k (W a multiple of 256).\n"
    "Use them with probex-convert and probex-bench (scripts/bench.sh).\n"
    "\n"
    "--help, --version\n"
    "\n"
    "exit codes: 0 success, 1 failure, 2 bad command line\n";

}  // namespace

int main(int argc, char** argv) {
  long rows = 0, cols = 0, r = 128, r_u = 0, r_v = 0, r_t = 0, labels = 10, seed = 1;
  std::string layer = "layer.weight", dtype = "f32", format = "safetensors", expert_kind = "probex",
              views = "xu,xxtu,xtu,xtxu";
  std::vector<std::string> positional;
  probex::cli::ArgParser args("probex-synth", kHelp);
  args.positional(&positional);
  args.integer("--rows", 1, 1 << 20, &rows);
  args.integer("--cols", 1, 1 << 20, &cols);
  args.integer("--r", 1, 4096, &r);
  args.integer("--r-u", 1, 4096, &r_u);
  args.integer("--r-v", 1, 4096, &r_v);
  args.integer("--r-t", 1, 4096, &r_t);
  args.integer("--labels", 1, 100000, &labels);
  args.integer("--seed", 0, 1L << 40, &seed);
  args.text("--layer", "a tensor name", &layer);
  args.choice("--dtype", {"f32", "f16", "bf16", "q8_0", "q4_k"}, &dtype);
  args.choice("--format", {"safetensors", "gguf"}, &format);
  args.choice("--expert", {"probex", "mvprobe"}, &expert_kind);
  args.alias("--reader", "--expert");  // its name before issue 30
  args.text("--views", "a list of xu, xxtu, xtu, xtxu", &views);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  const auto usage_error = [&](const std::string& what) { return args.usage_error(what); };
  if (positional.size() != 2) return usage_error("a kind (expert or model) and an output file are required");
  const std::string kind = positional[0], out = positional[1];
  if (kind != "expert" && kind != "model") return usage_error("unknown kind '" + kind + "'");
  if (!rows || !cols) return usage_error("--rows and --cols are required");
  const bool gguf = format == "gguf";
  if (gguf && dtype == "bf16") return usage_error("--format gguf takes --dtype f32, f16, q8_0 or q4_k");
  if (!gguf && (dtype == "q8_0" || dtype == "q4_k")) return usage_error("--dtype " + dtype + " needs --format gguf");
  std::string error;
  Rng rng(static_cast<uint64_t>(seed));
  std::string names = "[";
  for (long k = 0; k < labels; ++k) names += (k ? ", '" : "'") + std::string("label ") + std::to_string(k) + "'";
  names += "]";
  std::map<std::string, std::string> metadata = {
      {"tree", "synthetic"}, {"layer", layer}, {"layer_rule", "matrix"}, {"labels", names}};
  if (kind == "expert" && expert_kind == "mvprobe") {
    MvProbeShape shape;
    shape.d_h = static_cast<size_t>(rows);
    shape.d_w = static_cast<size_t>(cols);
    shape.r = static_cast<size_t>(r_u ? r_u : r);
    shape.p = static_cast<size_t>(r_v ? r_v : r);
    shape.r_t = static_cast<size_t>(r_t ? r_t : r);
    shape.d_y = static_cast<size_t>(labels);
    if (!parse_mvprobe_views(views, &shape.views))
      return usage_error("--views '" + views + "' is not a list of xu, xxtu, xtu, xtxu");
    MvProbeExpert expert(shape);
    expert.init(rng);
    metadata["views"] = views;
    if (!save_mvprobe_checkpoint(expert, metadata, out, &error)) {
      std::fprintf(stderr, "probex-synth: %s\n", error.c_str());
      return 1;
    }
  } else if (kind == "expert") {
    ProbexShape shape;
    shape.d_h = static_cast<size_t>(rows);
    shape.d_w = static_cast<size_t>(cols);
    shape.r_u = static_cast<size_t>(r_u ? r_u : r);
    shape.r_v = static_cast<size_t>(r_v ? r_v : r);
    shape.r_t = static_cast<size_t>(r_t ? r_t : r);
    shape.d_y = static_cast<size_t>(labels);
    ProbexExpert expert(shape);
    expert.init(rng);
    metadata["format"] = "probex-expert/1";
    if (!save_probex_checkpoint(expert, metadata, out, &error)) {
      std::fprintf(stderr, "probex-synth: %s\n", error.c_str());
      return 1;
    }
  } else {
    std::vector<float> values(static_cast<size_t>(rows) * static_cast<size_t>(cols));
    for (float& v : values) v = static_cast<float>(rng.uniform(-0.05, 0.05));
    const std::vector<uint64_t> shape = {static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)};
    if (gguf) {
      GgufType type = GgufType::kF32;
      std::string upper = dtype;
      for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      GgufWriter w;
      if (!parse_gguf_type(upper, &type) || !w.add_f32(layer, type, shape, values.data(), values.size(), &error) ||
          !w.write_file(out, &error)) {
        std::fprintf(stderr, "probex-synth: %s\n", error.empty() ? ("no GGUF type " + upper).c_str() : error.c_str());
        return 1;
      }
      std::printf("probex-synth: wrote %s\n", out.c_str());
      return 0;
    }
    SafetensorsWriter w;
    const probex::Dtype d = dtype == "f32"   ? probex::Dtype::kF32
                            : dtype == "f16" ? probex::Dtype::kF16
                                             : probex::Dtype::kBF16;
    if (!w.add_f32(layer, d, shape, values.data(), &error) || !w.write_file(out, &error)) {
      std::fprintf(stderr, "probex-synth: %s\n", error.c_str());
      return 1;
    }
  }
  std::printf("probex-synth: wrote %s\n", out.c_str());
  return 0;
}
