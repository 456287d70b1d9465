// probex-convert: trainer checkpoints -> one probex bundle (schema/probex_bundle.fbs), quantized, with
// self-tests, after checking the quantized expert against the float one on held-out zoo layers.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "converter/bundle/budget_check.h"
#include "converter/bundle/bundle_writer.h"
#include "converter/bundle/flip_bound.h"
#include "converter/bundle/route_report.h"
#include "converter/bundle/router.h"
#include "converter/bundle/signing.h"
#include "converter/bundle/zero_shot_bundle.h"
#include "runtime/cli/args.h"
#include "converter/expert/checkpoint.h"
#include "converter/expert/layer_dataset.h"
#include "converter/io/onnx_writer.h"
#include "converter/io/safetensors_writer.h"
#include "converter/report/quant_report.h"
#include "probex/platform/mapped_file.h"
#include "probex/probex.h"
#include "converter/zoo/layout.h"

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
      "                         standard zoo's experts (3 trees, fc1 and fc2, 50 test layers each; size vs f32,\n"
      "                         then label flips / largest probability change vs the float expert):\n"
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

// [rows, cols] int8 transposed.
std::vector<int8_t> transposed_int8(const QuantizedMatrix& m) {
  std::vector<int8_t> t(m.data.size());
  for (size_t r = 0; r < m.rows; ++r)
    for (size_t c = 0; c < m.cols; ++c) t[c * m.rows + r] = static_cast<int8_t>(m.data[r * m.cols + c]);
  return t;
}

// --onnx-expert: the checkpoint's expert as an ONNX graph (io/onnx_writer.h), with its metadata; with
// int8, step 1 and the encoder quantized per output channel as an int8 bundle's are.
int export_onnx_expert(const std::string& checkpoint, const std::string& out, bool int8, bool quiet) {
  LoadedCheckpoint c;
  std::string error;
  if (!load_probex_checkpoint(checkpoint, &c, &error)) return fail(error);
  ProbexExpert& e = *c.expert;
  const ProbexShape& s = e.shape();
  const auto values = [&](const char* name) { return e.find_param(name)->value.data(); };
  ExpertGraphWeights w;
  w.d_h = s.d_h;
  w.d_w = s.d_w;
  w.r_u = s.r_u;
  w.r_v = s.r_v;
  w.r_t = s.r_t;
  w.d_y = s.d_y;
  w.probes = values("probes.weight");
  w.projection = values("shared_probe_proj.weight");
  w.encoder = values("per_probe_encoders.weight");
  w.encoder_bias = values("per_probe_encoders.bias");
  if (e.has_head()) {
    w.head = values("classification_head.weight");
    w.head_bias = values("classification_head.bias");
  }
  // The bundle's quantization works on [out, reduction] matrices: U^T [r_U, d_W] and M [r_T, r_U*r_V].
  QuantSpec spec;
  spec.type = probex::StorageType::kI8;
  std::vector<float> u_t(s.r_u * s.d_w);
  for (size_t k = 0; k < s.d_w; ++k)
    for (size_t l = 0; l < s.r_u; ++l) u_t[l * s.d_w + k] = w.probes[k * s.r_u + l];
  const QuantizedMatrix probes_q = quantize_matrix("probes.weight", u_t.data(), static_cast<uint32_t>(s.r_u),
                                                   static_cast<uint32_t>(s.d_w), spec);
  const QuantizedMatrix encoder_q = quantize_matrix("per_probe_encoders.weight", w.encoder, static_cast<uint32_t>(s.r_t),
                                                    static_cast<uint32_t>(s.r_u * s.r_v), spec);
  const std::vector<int8_t> probes_int8 = transposed_int8(probes_q), encoder_t = transposed_int8(encoder_q);
  const ExpertGraphInt8 q{probes_int8.data(), probes_q.scales.data(), encoder_t.data(), encoder_q.scales.data()};
  std::vector<uint8_t> bytes;
  if (!encode_onnx_expert(w, c.metadata, &bytes, &error, int8 ? &q : nullptr)) return fail(checkpoint + ": " + error);
  if (!write_file_atomically(out, bytes.data(), bytes.size(), &error)) return fail(error);
  if (!quiet) {
    std::printf("ONNX expert %s: %zu bytes; input \"layer\" [%zu, %zu], outputs ", out.c_str(), bytes.size(), s.d_h, s.d_w);
    if (e.has_head()) std::printf("\"logits\" [1, %zu], ", s.d_y);
    std::printf("\"embedding\" [1, %zu]\n", s.r_t);
  }
  return 0;
}

// The flip count against its budget, with the sample size and the bound the verdict is made on
// (bundle/flip_bound.h), e.g. "label flips 3 of 500 (0.0060; 95% lower bound 0.0016; the budget 0.0050
// allows up to 5 of 500)".
std::string flips_verdict(const QuantComparison& c, const QuantBudget& budget) {
  char text[200];
  std::snprintf(text, sizeof(text), "label flips %zu of %zu (%.4f; %.0f%% lower bound %.4f; the budget %.4f allows up to %zu of %zu)",
                c.flips, c.decisions, c.label_flip_rate, 100.0 * kFlipBudgetConfidence,
                flip_rate_lower_bound(c.flips, c.decisions), budget.max_flip_rate,
                max_flips_within(c.decisions, budget.max_flip_rate), c.decisions);
  return text;
}

// Appends to a comma-separated list.
void add(std::string* list, const std::string& item) { *list += (list->empty() ? "" : ", ") + item; }

// A finer type's result in brief, e.g. "label flips 0 of 500, max prob error 0.0031, min embedding cosine
// 0.99998", with the zero-shot top-1 where the tree has a zero-shot expert.
std::string finer_result_text(const FinerTypeCheck& f) {
  const QuantComparison& c = f.classifier.comparison;
  char text[160];
  std::snprintf(text, sizeof(text), "label flips %zu of %zu, max prob error %.4g, min embedding cosine %.5f", c.flips,
                c.decisions, c.max_probability_error, c.min_embedding_cosine);
  std::string result = text;
  if (f.zero_shot.checked) {
    std::snprintf(text, sizeof(text), ", zero-shot top-1 %.4f vs %.4f (seen), %.4f vs %.4f (unseen)",
                  f.zero_shot.seen.runtime_top1, f.zero_shot.seen.float_top1, f.zero_shot.unseen.runtime_top1,
                  f.zero_shot.unseen.float_top1);
    result += text;
  }
  return result;
}

// What was tried for a tree over budget with `spec`, e.g. "tree mlp-a: int8 over budget; int8-b32 passes
// (label flips 0 of 500, ...): use --quant int8-b32, or --quant-fallback to let probex-convert choose it".
std::string finer_types_text(const std::string& tree, const QuantSpec& spec, const FinerTypes& f) {
  std::string text = "tree " + tree + ": " + quant_spec_name(spec) + " over budget";
  for (const FinerTypeCheck& t : f.tried)
    text += "; " + quant_spec_name(t.spec) + (t.within() ? " passes (" : " over budget too (") + finer_result_text(t) + ")";
  const FinerTypeCheck* passing = f.passing();
  if (passing == nullptr) return text + (f.tried.empty() ? "; there is no finer type" : "; no finer type passes");
  const std::string name = quant_spec_name(passing->spec);
  if (f.applied) return text + ": written as " + name + " (--quant-fallback)";
  return text + ": use --quant " + name + ", or --quant-fallback to let probex-convert choose it";
}

// The refusal, naming the trees over budget and, when each has a finer type that passes, the type that
// passes for all of them (the finest of theirs), e.g. "quantization int8 is over budget for tree mlp-a;
// no bundle written; int8-b32 passes for mlp-a: use --quant int8-b32, or --quant-fallback".
std::string over_budget_text(const std::vector<BundleTree>& trees, const QuantSpec& spec,
                             const std::vector<FinerTypes>& finer) {
  std::string names, passes, none;
  size_t finest_steps = 0;
  QuantSpec finest;
  for (const FinerTypes& f : finer) {
    if (f.applied) continue;
    const std::string& tree = trees[f.tree].name;
    add(&names, tree);
    const FinerTypeCheck* passing = f.passing();
    if (passing == nullptr) {
      add(&none, tree);
      continue;
    }
    add(&passes, quant_spec_name(passing->spec) + (passes.empty() ? " passes for " : " for ") + tree);
    // f.tried holds every type from spec's next one to the passing one: its length is how much finer.
    if (f.tried.size() > finest_steps) {
      finest_steps = f.tried.size();
      finest = passing->spec;
    }
  }
  const std::string text = "quantization " + quant_spec_name(spec) + " is over budget for " +
                           (names.find(',') == std::string::npos ? "tree " : "trees ") + names;
  if (!none.empty()) return text + "; no finer type passes for " + none + "; no bundle written";
  return text + "; no bundle written; " + passes + ": use --quant " + quant_spec_name(finest) + ", or --quant-fallback";
}

std::string shape_text(const QuantizedMatrix& m) {
  return "[" + std::to_string(m.rows) + ", " + std::to_string(m.cols) + "]";
}

// --add-labels: the bundle read back, labels appended to its zero-shot trees, written anew. Self-tests
// keep their zero-shot scores for the labels they had; new prototypes are checked by their unit norm.
int add_labels(const std::string& in, const std::string& out, const std::string& only_tree, const EmbeddingTable& table,
               const std::vector<std::string>& labels, const std::string& sign_key, bool quiet) {
  std::string error;
  std::vector<uint8_t> bytes;
  {
    probex::platform::MappedFile file;
    if (!file.open(in, &error)) return fail(error);
    bytes.assign(file.data(), file.data() + file.size());
  }
  std::vector<BundleTree> trees;
  probex::SketchSpec router;
  if (!unpack_bundle(bytes, &trees, &router, &error)) return fail(in + ": " + error);
  size_t changed = 0;
  for (BundleTree& t : trees) {
    if (!only_tree.empty() && t.name != only_tree) continue;
    if (!t.zero_shot) {
      if (!only_tree.empty()) return fail(in + ": tree '" + t.name + "' has no zero-shot expert");
      continue;
    }
    const std::string source = table.source.substr(table.source.find_last_of('/') + 1);
    if (source != t.zero_shot->text_source && !quiet) {
      std::fprintf(stderr, "probex-convert: warning: tree %s's labels were embedded with %s, the new ones with %s\n",
                   t.name.c_str(), t.zero_shot->text_source.c_str(), source.c_str());
    }
    if (!add_zero_shot_labels(t.zero_shot.get(), table, labels, &error)) return fail("tree '" + t.name + "': " + error);
    ++changed;
    if (!quiet) std::printf("tree %s: %zu zero-shot labels\n", t.name.c_str(), t.zero_shot->labels.size());
  }
  if (changed == 0) return fail(in + ": no tree has a zero-shot expert" + (only_tree.empty() ? "" : " named " + only_tree));
  const std::string producer = probex::cli::version_line("probex-convert");
  if (!build_bundle(trees, producer, &bytes, &error, router)) return fail(error);
  double worst = 0;
  if (!measure_self_tests(bytes, &worst, &error)) return fail(error);
  if (!sign_key.empty() && !sign_bundle(sign_key, &bytes, &error)) return fail(error);
  if (!write_file_atomically(out, bytes.data(), bytes.size(), &error)) return fail(error);
  if (!quiet)
    std::printf("bundle %s: %zu bytes%s (self-tests pass, worst difference %.3g)\n", out.c_str(), bytes.size(),
                sign_key.empty() ? "" : ", signed", worst);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, zoo, split = "test", quant = "f32", report_dir;
  std::vector<std::string> checkpoints;
  QuantBudget budget;
  long self_tests = 3;
  bool force = false, quiet = false, no_router = false, route_report = false, onnx_expert = false, quant_fallback = false;
  std::string foreign, text_table, text_names, add_to, only_tree, sign_key;
  std::vector<std::string> extra_labels;
  probex::SketchSpec sketch = kDefaultSketch;
  probex::cli::ArgParser args("probex-convert", kHelp);
  args.positional(&checkpoints);
  args.text("--out", "a file", &out);
  args.text("--zoo", "a zoo folder", &zoo);
  args.text("--split", "a split name", &split);
  args.text("--quant", "a storage type", &quant);
  args.flag("--quant-fallback", &quant_fallback);
  args.number("--max-flip-rate", 0.0, 1.0, &budget.max_flip_rate);
  args.number("--max-prob-error", 0.0, 1.0, &budget.max_probability_error);
  args.number("--min-cosine", 0.0, 1.0, &budget.min_embedding_cosine);
  args.number("--max-zero-shot-drop", 0.0, 1.0, &budget.max_zero_shot_drop);
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
  args.text("--report", "a folder", &report_dir);
  args.text("--foreign", "a zoo folder", &foreign);
  args.text("--text-table", "a file", &text_table);
  args.text("--text-names", "a file", &text_names);
  args.texts("--label", "a label text", &extra_labels);
  args.text("--add-labels", "a bundle", &add_to);
  args.text("--tree", "a tree name", &only_tree);
  args.text("--sign", "a secret key file (probex-keygen)", &sign_key);
  args.flag("--onnx-expert", &onnx_expert);
  args.flag("--force", &force);
  args.flag("--quiet", &quiet);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  const auto usage_error = [&](const std::string& what) { return args.usage_error(what); };
  std::string error;
  if (onnx_expert) {
    for (const char* other : {"--zoo", "--split", "--max-flip-rate", "--max-prob-error", "--min-cosine",
                              "--max-zero-shot-drop", "--self-tests", "--sketch", "--no-router", "--route-report",
                              "--report", "--foreign", "--text-table", "--text-names", "--label", "--add-labels",
                              "--tree", "--sign", "--quant-fallback"}) {
      if (args.given(other)) return usage_error(std::string("--onnx-expert takes no ") + other);
    }
    if (out.empty() || checkpoints.size() != 1) return usage_error("--onnx-expert needs --out and one checkpoint");
    if (quant != "f32" && quant != "int8") return usage_error("--onnx-expert takes --quant f32 or int8");
    if (!force && std::filesystem::exists(out)) return fail(out + " exists (use --force to overwrite)");
    return export_onnx_expert(checkpoints[0], out, quant == "int8", quiet);
  }
  EmbeddingTable table;
  if (!add_to.empty()) {
    if (out.empty() || text_table.empty() || checkpoints.empty())
      return usage_error("--add-labels needs --out, --text-table and at least one label");
    if (!force && std::filesystem::exists(out)) return fail(out + " exists (use --force to overwrite)");
    if (!load_embedding_table(text_table, text_names, &table, &error)) return fail(error);
    return add_labels(add_to, out, only_tree, table, checkpoints, sign_key, quiet);
  }
  if (out.empty() || checkpoints.empty()) return usage_error("--out and at least one checkpoint are required");
  if (!report_dir.empty() && zoo.empty()) return usage_error("--report needs --zoo (its held-out layers)");
  if (quant_fallback && zoo.empty()) return usage_error("--quant-fallback needs --zoo (the check it falls back on)");
  QuantSpec spec;
  if (!parse_quant_spec(quant, &spec, &error)) return usage_error(error);
  if (!force && std::filesystem::exists(out)) return fail(out + " exists (use --force to overwrite)");

  std::vector<ZooFile> files;
  if (!zoo.empty() && !list_zoo_files(zoo, &files, &error)) return fail(error);

  // Classification checkpoints make the trees (in the order given); zero-shot ones join their tree.
  std::vector<LoadedCheckpoint> floats, zero_shot_floats;
  std::vector<std::string> classifier_paths, zero_shot_paths;
  // MVProbe experts (probex-train --reader mvprobe|auto), by index into floats or zero_shot_floats, whose
  // entry there is an empty slot.
  std::map<size_t, LoadedMvProbeCheckpoint> mv_floats, mv_zero_shot;
  for (const std::string& path : checkpoints) {
    if (is_mvprobe_checkpoint(path)) {
      LoadedMvProbeCheckpoint m;
      if (!load_mvprobe_checkpoint(path, &m, &error)) return fail(error);
      const bool zs = is_zero_shot_checkpoint(m);
      (zs ? mv_zero_shot : mv_floats).emplace((zs ? zero_shot_paths : classifier_paths).size(), std::move(m));
      (zs ? zero_shot_floats : floats).emplace_back();
      (zs ? zero_shot_paths : classifier_paths).push_back(path);
      continue;
    }
    LoadedCheckpoint c;
    if (!load_probex_checkpoint(path, &c, &error)) return fail(error);
    const bool zs = is_zero_shot_checkpoint(c);
    (zs ? zero_shot_floats : floats).push_back(std::move(c));
    (zs ? zero_shot_paths : classifier_paths).push_back(path);
  }
  if (!mv_floats.empty() && !report_dir.empty())
    return usage_error("--report compares quantizations of ProbeX experts only; " + mv_floats.begin()->second.metadata["tree"] +
                       " is an MVProbe expert");
  if (floats.empty()) return usage_error("no classification checkpoint: every tree needs one (zero-shot ones join it)");
  if (!zero_shot_floats.empty() && text_table.empty()) return usage_error("zero-shot checkpoints need --text-table");
  if (zero_shot_floats.empty() && !extra_labels.empty()) return usage_error("--label needs a zero-shot checkpoint");
  if (!text_table.empty() && !load_embedding_table(text_table, text_names, &table, &error)) return fail(error);
  // A tree from its checkpoints with storage type `s`: its classification expert, then its zero-shot
  // expert, if it has one (zero_shot_of[tree], known once the trees have their names), then its int8 step
  // 1 calibrated on its held-out layers and its self-tests (their tolerance is set below, once the
  // runtime's own difference on these inputs is known). Also for the finer types tried for a tree over
  // budget (find_finer_types).
  std::vector<size_t> zero_shot_of(floats.size(), SIZE_MAX);  // tree -> index into zero_shot_floats
  std::vector<LoadedSplit> held_out(floats.size());
  std::vector<float> amplitudes(floats.size(), 0.1f);  // without a zoo: a typical weight scale
  const auto make_classifier = [&](size_t i, const QuantSpec& s, BundleTree* t, std::string* e) {
    const auto mv = mv_floats.find(i);
    return mv != mv_floats.end() ? make_bundle_tree(mv->second, classifier_paths[i], s, t, e)
                                 : make_bundle_tree(floats[i], classifier_paths[i], s, t, e);
  };
  const auto attach = [&](size_t k, const QuantSpec& s, BundleTree* t, std::string* e) {
    const auto mv = mv_zero_shot.find(k);
    return mv != mv_zero_shot.end() ? attach_zero_shot(mv->second, zero_shot_paths[k], s, table, extra_labels, t, e)
                                    : attach_zero_shot(zero_shot_floats[k], zero_shot_paths[k], s, table, extra_labels, t, e);
  };
  const auto finish_tree = [&](size_t i, BundleTree* t) {
    if (!zoo.empty()) {
      if (t->root.empty()) t->root = t->name + "/root";
      calibrate_probe_output(t, held_out[i].data.x.data(), held_out[i].data.count);
    }
    add_self_tests(t, static_cast<size_t>(self_tests), amplitudes[i], 0x5e1f7e57ull + i * 1000, 1e30f);
  };
  const MakeTree make_tree = [&](size_t i, const QuantSpec& s, BundleTree* t, std::string* e) {
    if (!make_classifier(i, s, t, e) || (zero_shot_of[i] != SIZE_MAX && !attach(zero_shot_of[i], s, t, e))) return false;
    finish_tree(i, t);
    return true;
  };
  std::vector<BundleTree> trees(floats.size());
  for (size_t i = 0; i < floats.size(); ++i)
    if (!make_classifier(i, spec, &trees[i], &error)) return fail(error);
  for (size_t k = 0; k < zero_shot_floats.size(); ++k) {
    const auto mv = mv_zero_shot.find(k);
    const auto& md = mv != mv_zero_shot.end() ? mv->second.metadata : zero_shot_floats[k].metadata;
    const auto it = md.find("tree");
    const std::string name = it == md.end() ? "" : it->second;
    size_t i = 0;
    while (i < trees.size() && trees[i].name != name) ++i;
    if (i == trees.size())
      return fail(zero_shot_paths[k] + ": zero-shot expert for tree '" + name + "', but no classification checkpoint of that tree was given");
    if (!attach(k, spec, &trees[i], &error)) return fail(error);
    zero_shot_of[i] = k;
  }
  for (size_t i = 0; i < trees.size(); ++i) {
    BundleTree& t = trees[i];
    if (!zoo.empty()) {
      LoadOptions load;
      load.layer = t.layer_name;
      std::vector<std::string> space = t.labels;
      if (!load_split(files, t.name, split, load, &space, t.shape.d_h, t.shape.d_w, &held_out[i], &error)) return fail(error);
      const ExpertData& d = held_out[i].data;
      if (d.count == 0) return fail(zoo + ": tree '" + t.name + "' has no models in split '" + split + "'");
      double sum_sq = 0;
      for (const double x : d.x) sum_sq += x * x;
      amplitudes[i] = static_cast<float>(std::sqrt(3.0 * sum_sq / static_cast<double>(d.x.size())));
    }
    finish_tree(i, &t);
  }
  const bool with_router = !zoo.empty() && !no_router;
  if (route_report && !with_router) return usage_error("--route-report needs a router (--zoo, without --no-router)");
  if (with_router) {
    std::vector<TreeCalibration> calibration;
    if (!fit_router(files, sketch, &trees, &calibration, &error)) return fail(error);
    if (!quiet) {
      std::printf("router: sketch %ux%u (%zu bytes per tree); direction distance to the root:\n", sketch.rows, sketch.cols,
                  static_cast<size_t>(sketch.rows) * sketch.cols * sizeof(float));
      for (const TreeCalibration& c : calibration)
        std::printf("  tree %-10s own training models %zu: median %.3f, max %.3f; other trees' models %zu: min %.3f; "
                    "accept <= %.3f%s\n",
                    c.tree.c_str(), c.own, c.own_median, c.own_max, c.others, c.others_min, c.accept,
                    c.others_min > c.own_max ? "" : "  (no gap: trees overlap)");
    }
  }
  const probex::SketchSpec router = with_router ? sketch : probex::SketchSpec{};

  std::vector<uint8_t> bytes;
  const std::string producer = probex::cli::version_line("probex-convert");
  BudgetCheck budget_check;
  BudgetReference reference;
  if (zoo.empty()) {
    if (!build_bundle(trees, producer, &bytes, &error, router)) return fail(error);
  } else {
    for (size_t i = 0; i < trees.size(); ++i) {
      const auto mv = mv_floats.find(i);
      reference.floats.push_back(mv != mv_floats.end() ? static_cast<MultiLabelModel*>(mv->second.expert.get())
                                                       : floats[i].expert.get());
    }
    reference.held_out = &held_out;
    for (const size_t k : zero_shot_of) {
      ZeroShotFloat z;
      if (k != SIZE_MAX) {
        const auto mv = mv_zero_shot.find(k);
        z.model = mv != mv_zero_shot.end() ? static_cast<MultiLabelModel*>(mv->second.expert.get())
                                           : zero_shot_floats[k].expert.get();
        z.text = mv != mv_zero_shot.end() ? static_cast<const TextProjectionWeights*>(&mv->second) : &zero_shot_floats[k];
      }
      reference.zero_shot.push_back(z);
    }
    reference.files = &files;
    reference.table = &table;
    if (!check_quant_budget(&trees, reference, budget, producer, router, &bytes, &budget_check, &error)) return fail(error);
  }
  for (size_t i = 0; i < budget_check.trees.size(); ++i) {
    const TreeBudgetCheck& r = budget_check.trees[i];
    const QuantComparison& c = r.comparison;
    char note[160] = "";
    if (r.fell_back)
      std::snprintf(note, sizeof(note), " (int8 step 1 was over budget: flips %zu of %zu, max prob error %.4g; float step 1 kept)",
                    r.int8_step1.flips, r.int8_step1.decisions, r.int8_step1.max_probability_error);
    if (!quiet || !r.within)
      std::printf("tree %-10s %s (runtime, xnnpack) vs f32 expert on %zu %s layers: %s, "
                  "max prob error %.4g (max %.4g), min embedding cosine %.5f (min %.5f)%s%s\n",
                  trees[i].name.c_str(), quant_spec_name(spec).c_str(), c.layers, split.c_str(),
                  flips_verdict(c, budget).c_str(), c.max_probability_error, budget.max_probability_error,
                  c.min_embedding_cosine, budget.min_embedding_cosine, r.within ? "" : "  OVER BUDGET", note);
  }
  for (size_t i = 0; i < budget_check.zero_shot.size(); ++i) {
    const ZeroShotBudgetCheck& r = budget_check.zero_shot[i];
    if (r.checked && (!quiet || !r.within))
      std::printf("tree %-10s zero-shot %s (runtime) vs f32: in-distribution top-1 %.4f vs %.4f on %zu test models, "
                  "zero-shot top-1 %.4f vs %.4f on %zu test_holdout models (lost %zu and %zu; the max drop %.3f "
                  "allows %zu and %zu)%s%s\n",
                  trees[i].name.c_str(), quant_spec_name(spec).c_str(), r.seen.runtime_top1, r.seen.float_top1,
                  r.seen.layers, r.unseen.runtime_top1, r.unseen.float_top1, r.unseen.layers,
                  zero_shot_models_lost(r.seen), zero_shot_models_lost(r.unseen), budget.max_zero_shot_drop,
                  max_flips_within(r.seen.layers, budget.max_zero_shot_drop),
                  max_flips_within(r.unseen.layers, budget.max_zero_shot_drop),
                  r.within ? "" : "  OVER BUDGET", r.fell_back ? " (int8 step 1 was over budget; float step 1 kept)" : "");
  }
  // Trees over budget: the finer types that pass, named, or with --quant-fallback written.
  std::vector<FinerTypes> finer;
  if (!budget_check.within() && !find_finer_types(&trees, reference, budget, producer, router, spec, make_tree,
                                                  quant_fallback, &bytes, &budget_check, &finer, &error))
    return fail(error);
  std::vector<std::string> tree_types(trees.size(), quant_spec_name(spec));  // as written
  for (const FinerTypes& f : finer) {
    const FinerTypeCheck* passing = f.passing();
    if (f.applied) tree_types[f.tree] = quant_spec_name(passing->spec);
    std::printf("%s\n", finer_types_text(trees[f.tree].name, spec, f).c_str());
  }
  const bool over_budget = !budget_check.within();
  // Written even when over budget: the page shows which storage types would fit.
  if (!report_dir.empty() &&
      !report::write_quantization_report(report_dir, zoo, split, floats, classifier_paths, held_out, &error))
    return fail(error);
  if (over_budget) {
    std::fprintf(stderr, "probex-convert: %s\n", over_budget_text(trees, spec, finer).c_str());
    return 3;
  }
  // Self-test tolerances, from this machine's own difference (bundle_writer.h).
  double worst = 0;
  if (!measure_self_tests(bytes, &worst, &error)) return fail(error);
  const float int8_tolerance = set_self_test_tolerances(&trees, worst);
  if (!build_bundle(trees, producer, &bytes, &error, router)) return fail(error);

  const size_t unsigned_size = bytes.size();
  if (!sign_key.empty() && !sign_bundle(sign_key, &bytes, &error)) return fail(error);
  if (!write_file_atomically(out, bytes.data(), bytes.size(), &error)) return fail(error);
  if (!quiet && !sign_key.empty())
    std::printf("signed with %s: %zu bytes of signature trailer\n", sign_key.c_str(), bytes.size() - unsigned_size);
  if (!quiet) {
    std::printf("self-test worst difference on this machine %.3g; tolerance 1e-3, or %.3g for int8 step 1\n", worst,
                static_cast<double>(int8_tolerance));
    for (const BundleTree& t : trees)
      if (t.probe_output_ratio > 0) std::printf("tree %s: int8 step 1, probe output ratio %.4g\n", t.name.c_str(), static_cast<double>(t.probe_output_ratio));
  }

  if (!quiet) {
    std::printf("\n%-10s %-28s %-14s %-8s %12s\n", "tree", "tensor", "shape", "type", "bytes");
    size_t total = 0;
    for (const BundleTree& t : trees) {
      // An expert's matrices; a multi-view expert's views' probes and projections replace ProbeX's.
      const auto body = [](const std::vector<BundleView>& views, const QuantizedMatrix& probes,
                           const QuantizedMatrix& projection, std::vector<const QuantizedMatrix*>* list) {
        for (const BundleView& v : views) list->insert(list->end(), {&v.probes, &v.projection});
        if (views.empty()) list->insert(list->end(), {&probes, &projection});
      };
      std::vector<const QuantizedMatrix*> matrices;
      body(t.views, t.probes, t.projection, &matrices);
      matrices.insert(matrices.end(), {&t.encoder, &t.encoder_bias, &t.head, &t.head_bias});
      const size_t classifier_matrices = matrices.size();
      if (const BundleZeroShot* z = t.zero_shot.get()) {
        body(z->views, z->probes, z->projection, &matrices);
        matrices.insert(matrices.end(), {&z->encoder, &z->encoder_bias, &z->prototypes, &z->text_projection, &z->text_bias});
      }
      for (size_t k = 0; k < matrices.size(); ++k) {
        const QuantizedMatrix* m = matrices[k];
        const std::string name = (k >= classifier_matrices ? "zero-shot " : "") + m->name;
        std::printf("%-10s %-28s %-14s %-8s %12zu\n", t.name.c_str(), name.c_str(), shape_text(*m).c_str(),
                    probex::storage_type_name(m->type), m->bytes());
        total += m->bytes();
      }
    }
    std::string types = quant_spec_name(spec), fallbacks;
    for (size_t i = 0; i < trees.size(); ++i)
      if (tree_types[i] != types) add(&fallbacks, trees[i].name + " " + tree_types[i]);
    if (!fallbacks.empty()) types += " (" + fallbacks + ": --quant-fallback)";
    std::printf("tensors %zu bytes; bundle %s: %zu bytes, %zu tree(s), %s\n", total, out.c_str(), bytes.size(), trees.size(),
                types.c_str());
  }
  if (route_report) {
    std::vector<ZooFile> foreign_files;
    if (!foreign.empty() && !list_zoo_files(foreign, &foreign_files, &error)) return fail(error);
    if (!print_route_report(bytes, files, foreign_files, &error)) return fail(error);
  }
  return 0;
}
