// probex-convert: trainer checkpoints -> one probex bundle (schema/probex_bundle.fbs), quantized, with
// self-tests, after checking the quantized expert against the float one on held-out zoo layers. The
// pipeline is converter/pipeline/convert.h's; this file parses arguments and prints its report.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "converter/bundle/onnx_expert.h"
#include "converter/bundle/route_report.h"
#include "converter/io/safetensors_writer.h"
#include "converter/pipeline/convert.h"
#include "runtime/cli/args.h"

namespace {

using namespace probex::convert;

const char* const kHelp =
    "usage: probex-convert --out BUNDLE [options] CHECKPOINT...\n"
    "       probex-convert --add-labels BUNDLE --text-table FILE --out NEW [--tree NAME] LABEL...\n"
    "       probex-convert --onnx-expert [--quant int8] --out MODEL.onnx CHECKPOINT\n"
    "\n"
    "Reads probex-train checkpoints (one per tree) and writes one bundle for the runtime. With --zoo, the\n"
    "quantized experts are compared with the float ones on the zoo's held-out layers (--split, default\n"
    "test) and the bundle is refused if the difference is over budget.\n"
    "A zero-shot checkpoint (probex-train --task detector) joins the tree of the same name (whose\n"
    "classification checkpoint must be given too, on the same layer) with the prototypes of its trained\n"
    "labels, its held-out labels and every --label; it needs --text-table. --add-labels adds label texts\n"
    "to the zero-shot trees of an existing bundle (or --tree) without retraining.\n"
    "--onnx-expert writes the checkpoint's float expert as an ONNX model instead (docs/formats.md): input\n"
    "\"layer\" [d_H, d_W], outputs \"logits\" [1, d_Y] (not for a zero-shot checkpoint) and \"embedding\"\n"
    "[1, r_T], the same forward as the runtime's, for other runtimes such as ONNX Runtime. With --quant\n"
    "int8, step 1 and the encoder are int8 weights (quantized as in an int8 bundle) behind ONNX Runtime's\n"
    "dynamic quantization (DynamicQuantizeLinear, MatMulInteger): the peer of an int8 bundle.\n"
    "\n"
    "options:\n"
    "  --out FILE             the bundle to write (refuses to overwrite without --force)\n"
    "  --quant TYPE           storage of the weight matrices (biases stay f32), default f32. Measured on the\n"
    "                         standard zoo's experts (trees mlp-a..c, fc1 and fc2, 50 test layers each;\n"
    "                         size vs f32, then label flips / largest probability change vs the float expert):\n"
    "      f32        1.00x    exact\n"
    "      f16        0.50x    flips <= 0.002, prob <= 0.0014\n"
    "      int8       0.25x    probes and encoder int8, one scale per output row; projection and head f16.\n"
    "                          Step 1 runs in int8 on XNNPACK (faster) where that stays within the budget,\n"
    "                          else in float: flips <= 0.004, prob <= 0.026 (float step 1: prob <= 0.018)\n"
    "      int8-bNN   0.28x    (NN = 32) the same with one scale per NN weights along the reduction;\n"
    "                          always float arithmetic: flips <= 0.002, prob <= 0.0075\n"
    "  --quant-fallback       a tree over budget with --quant TYPE is written with the first finer type that\n"
    "                         passes (int8 -> int8-b32 -> f16 -> f32; the other trees keep TYPE), with a\n"
    "                         message; without it, over budget is a refusal (exit 3) naming that type\n"
    "  --zoo DIR              held-out layers for the check, and each tree's root name (<tree>/root)\n"
    "  --split NAME           the zoo split to check on (default test)\n"
    "  --max-flip-rate X      budget: share of label decisions that may change (default 0.005); over it only\n"
    "                         when the count shows it: the flips' one-sided 95% Clopper-Pearson lower\n"
    "                         bound is above X (at 500 decisions and 0.005: up to 5 flips pass)\n"
    "  --max-prob-error X     budget: largest probability change (default 0.05)\n"
    "  --min-cosine X         budget: smallest embedding cosine similarity (default 0.99)\n"
    "  --self-tests N         self-tests stored per tree (default 3)\n"
    "  --sketch RxC           the router's sketch of the probed layer (default 64x16: 4 KB per tree)\n"
    "  --no-router            no router (audits must then name their tree); the default with --zoo is to\n"
    "                         fit one: each tree's root sketch, acceptance distance from its training models\n"
    "  --route-report         after writing, route every model of the zoo's test splits (and of --foreign)\n"
    "                         with the runtime and print routing accuracy and rejection rates\n"
    "  --foreign DIR          a zoo whose models descend from roots the bundle does not hold (report only)\n"
    "  --report DIR           also measure f32, f16, int8 and int8-b32 on the held-out layers and write their\n"
    "                         size and accuracy cost as HTML to DIR/index.html (needs --zoo; docs/report.md)\n"
    "  --text-table FILE      text embeddings for zero-shot labels (scripts/fetch-glove.sh); --text-names\n"
    "                         FILE its names list (default: FILE with .names.txt)\n"
    "  --label TEXT           a further zero-shot label text (repeatable)\n"
    "  --max-zero-shot-drop X budget: zero-shot top-1 the runtime may lose vs the float expert on the zoo's\n"
    "                         test (seen labels) and test_holdout (unseen labels) models (default 0.01)\n"
    "  --sign KEY             sign the bundle with the Ed25519 secret key file KEY (probex-keygen); devices\n"
    "                         that trust its public key refuse unsigned or changed bundles\n"
    "  --onnx-expert          write one checkpoint's float expert to --out as an ONNX model (see above)\n"
    "  --force                overwrite --out\n"
    "  --quiet                print only errors\n"
    "  --help, --version\n"
    "\n"
    "exit codes: 0 success, 1 failure (message on stderr), 3 over the quantization budget, 2 bad command line\n";

int fail(const std::string& what) {
  std::fprintf(stderr, "probex-convert: %s\n", what.c_str());
  return 1;
}

bool write_new(const std::string& out, const std::vector<uint8_t>& bytes, std::string* error) {
  return write_file_atomically(out, bytes.data(), bytes.size(), error);
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, quant = "f32", foreign, add_to, only_tree;
  long self_tests = 3;
  bool force = false, quiet = false, no_router = false, route_report = false, onnx_expert = false;
  ConvertOptions o;
  o.producer = probex::cli::version_line("probex-convert");
  probex::SketchSpec& sketch = o.sketch;
  probex::cli::ArgParser args("probex-convert", kHelp);
  args.positional(&o.checkpoints);
  args.text("--out", "a file", &out);
  args.text("--zoo", "a zoo folder", &o.zoo);
  args.text("--split", "a split name", &o.split);
  args.text("--quant", "a storage type", &quant);
  args.flag("--quant-fallback", &o.quant_fallback);
  args.number("--max-flip-rate", 0.0, 1.0, &o.budget.max_flip_rate);
  args.number("--max-prob-error", 0.0, 1.0, &o.budget.max_probability_error);
  args.number("--min-cosine", 0.0, 1.0, &o.budget.min_embedding_cosine);
  args.number("--max-zero-shot-drop", 0.0, 1.0, &o.budget.max_zero_shot_drop);
  args.integer("--self-tests", 0, 100, &self_tests);
  args.custom("--sketch", "RxC, each 1..4096 (e.g. 64x16)", [&](const std::string& v, std::string* message) {
    unsigned r = 0, c = 0;
    char tail = 0;
    if (std::sscanf(v.c_str(), "%ux%u%c", &r, &c, &tail) != 2 || r < 1 || c < 1 || r > 4096 || c > 4096) {
      *message = "--sketch takes RxC, each 1..4096 (e.g. 64x16)";
      return false;
    }
    sketch.rows = r;
    sketch.cols = c;
    return true;
  });
  args.flag("--no-router", &no_router);
  args.flag("--route-report", &route_report);
  args.text("--report", "a folder", &o.report_dir);
  args.text("--foreign", "a zoo folder", &foreign);
  args.text("--text-table", "a file", &o.text_table);
  args.text("--text-names", "a file", &o.text_names);
  args.texts("--label", "a label text", &o.extra_labels);
  args.text("--add-labels", "a bundle", &add_to);
  args.text("--tree", "a tree name", &only_tree);
  args.text("--sign", "a secret key file (probex-keygen)", &o.sign_key);
  args.flag("--onnx-expert", &onnx_expert);
  args.flag("--force", &force);
  args.flag("--quiet", &quiet);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  const auto usage_error = [&](const std::string& what) { return args.usage_error(what); };
  std::string error;
  if (!force && !out.empty() && std::filesystem::exists(out) &&
      (onnx_expert || !add_to.empty() || !o.checkpoints.empty()))
    error = out + " exists (use --force to overwrite)";
  if (onnx_expert) {
    for (const char* other :
         {"--zoo", "--split", "--max-flip-rate", "--max-prob-error", "--min-cosine", "--max-zero-shot-drop",
          "--self-tests", "--sketch", "--no-router", "--route-report", "--report", "--foreign", "--text-table",
          "--text-names", "--label", "--add-labels", "--tree", "--sign", "--quant-fallback"}) {
      if (args.given(other)) return usage_error(std::string("--onnx-expert takes no ") + other);
    }
    if (out.empty() || o.checkpoints.size() != 1) return usage_error("--onnx-expert needs --out and one checkpoint");
    if (quant != "f32" && quant != "int8") return usage_error("--onnx-expert takes --quant f32 or int8");
    if (!error.empty()) return fail(error);
    std::vector<uint8_t> bytes;
    std::string summary;
    if (!export_onnx_expert(o.checkpoints[0], quant == "int8", &bytes, &summary, &error) ||
        !write_new(out, bytes, &error))
      return fail(error);
    if (!quiet) std::printf("ONNX expert %s: %zu bytes; %s\n", out.c_str(), bytes.size(), summary.c_str());
    return 0;
  }
  if (!add_to.empty()) {
    if (out.empty() || o.text_table.empty() || o.checkpoints.empty())
      return usage_error("--add-labels needs --out, --text-table and at least one label");
    if (!error.empty()) return fail(error);
    AddLabelsReport r;
    if (!add_labels_to_bundle(add_to, only_tree, o.text_table, o.text_names, o.checkpoints, o.sign_key, o.producer, &r,
                              &error) ||
        !write_new(out, r.bytes, &error))
      return fail(error);
    if (quiet) return 0;
    for (const std::string& w : r.warnings) std::fprintf(stderr, "probex-convert: warning: %s\n", w.c_str());
    for (const std::string& l : r.lines) std::printf("%s\n", l.c_str());
    std::printf("bundle %s: %zu bytes%s (self-tests pass, worst difference %.3g)\n", out.c_str(), r.bytes.size(),
                o.sign_key.empty() ? "" : ", signed", r.worst_self_test);
    return 0;
  }
  if (out.empty() || o.checkpoints.empty()) return usage_error("--out and at least one checkpoint are required");
  if (!o.report_dir.empty() && o.zoo.empty()) return usage_error("--report needs --zoo (its held-out layers)");
  if (o.quant_fallback && o.zoo.empty())
    return usage_error("--quant-fallback needs --zoo (the check it falls back on)");
  if (!parse_quant_spec(quant, &o.spec, &error)) return usage_error(error);
  if (!error.empty()) return fail(error);
  o.self_tests = static_cast<size_t>(self_tests);
  o.router = !no_router;
  if (route_report && (o.zoo.empty() || no_router))
    return usage_error("--route-report needs a router (--zoo, without --no-router)");

  ConvertReport r;
  const ConvertOutcome outcome = convert_bundle(o, &r, &error);
  if (outcome == ConvertOutcome::kBadRequest) return usage_error(error);
  if (outcome == ConvertOutcome::kFailed) return fail(error);
  if (!quiet) std::fputs(router_text(o, r).c_str(), stdout);
  std::fputs(budget_text(o, r, quiet).c_str(), stdout);
  if (outcome == ConvertOutcome::kOverBudget) {
    std::fprintf(stderr, "probex-convert: %s\n", r.over_budget.c_str());
    return 3;
  }
  if (!write_new(out, r.bytes, &error)) return fail(error);
  if (!quiet) std::fputs(written_text(o, r, out).c_str(), stdout);
  if (route_report) {
    std::vector<ZooFile> foreign_files;
    if (!foreign.empty() && !list_zoo_files(foreign, &foreign_files, &error)) return fail(error);
    if (!print_route_report(r.bytes, r.files, foreign_files, &error)) return fail(error);
  }
  return 0;
}
