// probex-train: trains one expert per tree of a zoo (and the baselines it is measured against), writes the
// experts as checkpoints and prints test metrics. The pipeline is converter/pipeline/train.h's; this file
// parses arguments and prints what it reports.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "converter/io/safetensors_writer.h"
#include "converter/nn/blas.h"
#include "converter/pipeline/train.h"
#include "converter/report/training_report.h"
#include "runtime/cli/args.h"

namespace {

using namespace probex;
using namespace probex::convert;
using probex::cli::ArgParser;

const char* const kHelp =
    "usage: probex-train --zoo DIR --layer NAME|auto [options]\n"
    "\n"
    "Trains one ProbeX expert (or, with --expert mvprobe, an MVProbe expert; with --expert auto, the best on\n"
    "val of the experts devices can run) per tree on the 'subset' task\n"
    "(multi-hot labels from each model's dataset_chosen_targets, BCE), selecting on the val split, and\n"
    "evaluates it on the test split against the Dense expert, a weight-statistics baseline and chance. Zoo\n"
    "layouts: probex (<tree>/<split>/<model>/model.safetensors) and the Hugging Face cache layout Model-J\n"
    "uses (refs/main + snapshots/<ref>/).\n"
    "\n"
    "options:\n"
    "  --zoo DIR              the zoo\n"
    "  --layer NAME           the probed tensor (or LoRA base name); 'auto' sweeps every tensor of the first\n"
    "                         training model for --auto-epochs and keeps the best on val\n"
    "  --tree NAME            only this tree (repeatable; default: every tree)\n"
    "  --out DIR              write <DIR>/<tree>.safetensors checkpoints (default: none)\n"
    "  --epochs N             500     --batch N        128    --lr X        1e-3\n"
    "  --weight-decay X       1e-5    --eval-every N   25     --seed N      0\n"
    "  --r-u N --r-v N --r-t N  128 each (probes, projection width, embedding width)\n"
    "  --expert NAME          probex (default), mvprobe or auto. mvprobe: MVProbe (ICML 2026; four views XU,\n"
    "                         XX^TU, X^TU, X^TXU, each standardised per layer), r = --r-u probes per view,\n"
    "                         p = --r-v, trained with the authors' lr 3e-4 unless --lr is given (the\n"
    "                         baselines keep --lr / 1e-3). auto: per tree, trains ProbeX, MVProbe and\n"
    "                         mvprobe2 (MVProbe with the views xxtu,xtxu only) where they fit\n"
    "                         --max-expert-bytes, keeps the best bit accuracy on val (a tie: fewer bytes),\n"
    "                         and --out writes only that one, with its reasons in the metadata. The Dense\n"
    "                         expert is listed too but never kept: devices cannot run it. --layer auto\n"
    "                         sweeps with ProbeX\n"
    "  --max-expert-bytes B   auto: the largest expert kept, as its parameters x 4 bytes (float32, the\n"
    "                         largest a bundle stores); B in bytes or with K, M, G (powers of 1024).\n"
    "                         Default 64M: a quarter of the runtime's default bundle limit (256 MiB), so\n"
    "                         four trees fit at f32; at a 768x768 layer it admits ProbeX (8.8 MiB), MVProbe\n"
    "                         (35 MiB) and mvprobe2 (17.5 MiB) and refuses Dense (288 MiB). No expert fits:\n"
    "                         exit 1\n"
    "  --mv-views LIST        mvprobe: the views computed, xu,xxtu,xtu,xtxu (default: all; fewer is the\n"
    "                         authors' ablation: the others' features are 0)\n"
    "  --auto-epochs N        50 (epochs per candidate layer for --layer auto)\n"
    "  --baselines LIST       dense,stats (default), dense, stats or none\n"
    "  --baseline-epochs N    epochs for the baselines (default: --epochs)\n"
    "  --max-train N          use only the first N training models of each tree (learning curves)\n"
    "  --stats-groups LIST    statistics the stats baseline sees: whole,rows,cols (default: all three)\n"
    "  --task NAME            subset (default; models whose metadata names another task are left out), or\n"
    "                         detector: the zero-shot expert on one-class models (see below)\n"
    "  --text-table FILE      detector: the text-embedding table (scripts/fetch-glove.sh makes GloVe's)\n"
    "  --text-names FILE      its names list (default: FILE with .names.txt for .safetensors)\n"
    "  --strict               a bad model (missing layer, wrong shape, NaN/Inf, bad labels) is an error;\n"
    "                         default: a warning listing it, and it is skipped (error above 10% bad)\n"
    "  --threads N            BLAS threads (default 1; auto: every processor online; results depend on it)\n"
    "  --json-out FILE        write the metrics as JSON to FILE\n"
    "  --heldout DIR          also score every method on DIR's models of split 'heldout' (children of the same\n"
    "                         trees fine-tuned by another recipe: scripts/heldout_finetune.py); never trained\n"
    "                         or selected on\n"
    "  --report DIR           write an HTML report with charts to DIR/index.html (docs/report.md)\n"
    "  --discover-trees       do not train: cluster every model of the zoo by a sketch of --layer (Ward\n"
    "                         linkage, as MoTHer) into trees, and score the clusters against the folders\n"
    "                         (adjusted Rand index), for zoos whose roots are unknown\n"
    "  --quiet                no progress output\n"
    "  --help, --version\n"
    "\n"
    "Zero-shot (--task detector): trains the expert without a head plus the text projection\n"
    "(regression_head) with cross-entropy over cosine scores; defaults become the authors' zero-shot\n"
    "ones (200 epochs, lr 2e-3, weight decay 0, eval every 10) unless given. Reports in-distribution\n"
    "top-1 (test, seen classes), zero-shot top-1 (test_holdout, unseen classes only) and text-to-model\n"
    "retrieval (recall@1/@5, mAP) for the expert (ProbeX, or with --expert mvprobe MVProbe at its lr 3e-4\n"
    "unless --lr is given), the Dense expert and chance; --out writes the checkpoint chosen on\n"
    "val_holdout, with regression_head.*.\n"
    "\n"
    "exit codes: 0 success, 1 failure (message on stderr), 2 bad command line\n";

int fail(const std::string& what) {
  std::fprintf(stderr, "probex-train: %s\n", what.c_str());
  return 1;
}

// Prints each tree's results as it is trained; notes and warnings go to stderr.
class Printer final : public TrainObserver {
 public:
  Printer(bool progress, int auto_epochs) : progress_(progress), auto_epochs_(auto_epochs) {}
  void no_training_models(const std::string& tree) override {
    if (progress_) fail("tree " + tree + " has no training models (a foreign set?): skipped");
  }
  void layer_chosen(const std::string& tree, const LayerChoice& sweep) override {
    std::fputs(layer_sweep_text(tree, auto_epochs_, sweep).c_str(), stdout);
  }
  void classifier_trained(const TreeReport& report, const TreeTrainOptions& options) override {
    std::fputs(tree_report_text(report).c_str(), stdout);
    for (const std::string& note : training_notes(report, options)) fail(note);
  }
  void zero_shot_trained(const ZeroShotReport& report) override {
    std::fputs(zero_shot_report_text(report).c_str(), stdout);
    for (const std::string& note : training_notes(report)) fail(note);
  }

 private:
  bool progress_;
  int auto_epochs_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string zoo, layer, out_dir, json_path, text_table, text_names, report_dir, heldout_dir;
  bool discover = false, quiet = false;
  std::vector<std::string> only_trees, baselines = {"dense", "stats"}, stat_groups = {"whole", "rows", "cols"},
                                       mv_views = {"xu", "xxtu", "xtu", "xtxu"};
  std::string expert = "probex", max_expert_bytes;
  TreeTrainOptions options;
  long auto_epochs = 50, epochs = options.fit.epochs, batch = static_cast<long>(options.fit.batch_size),
       eval_every = options.fit.eval_every, r_u = static_cast<long>(options.r_u), r_v = static_cast<long>(options.r_v),
       r_t = static_cast<long>(options.r_t), baseline_epochs = 0, max_train = 0,
       seed = static_cast<long>(options.fit.seed);
  uint32_t threads = 1;
  const std::string positive = "a positive integer";
  ArgParser args("probex-train", kHelp);
  args.text("--zoo", "a folder", &zoo);
  args.text("--layer", "a tensor name or auto", &layer);
  args.texts("--tree", "a name", &only_trees);
  args.text("--out", "a folder", &out_dir);
  args.text("--json-out", "a file", &json_path);
  args.text("--heldout", "a folder", &heldout_dir);
  args.text("--report", "a folder", &report_dir);
  args.choice("--task", {"subset", "detector"}, &options.load.task);
  args.choice("--expert", {"probex", "mvprobe", "auto"}, &expert);
  args.text("--max-expert-bytes", "a size", &max_expert_bytes);
  args.alias("--reader", "--expert");  // the names before issue 30
  args.alias("--max-reader-bytes", "--max-expert-bytes");
  args.list("--mv-views", {"xu", "xxtu", "xtu", "xtxu"}, &mv_views);
  args.text("--text-table", "a file", &text_table);
  args.text("--text-names", "a file", &text_names);
  args.integer("--epochs", 1, 1000000, &epochs, positive);
  args.integer("--batch", 1, 1000000, &batch, positive);
  args.integer("--eval-every", 1, 1000000, &eval_every, positive);
  args.integer("--r-u", 1, 1000000, &r_u, positive);
  args.integer("--r-v", 1, 1000000, &r_v, positive);
  args.integer("--r-t", 1, 1000000, &r_t, positive);
  args.integer("--auto-epochs", 1, 1000000, &auto_epochs, positive);
  args.integer("--baseline-epochs", 1, 1000000, &baseline_epochs, positive);
  args.integer("--max-train", 1, 1000000, &max_train, positive);
  args.threads(&threads);
  args.integer("--seed", 0, 0x7FFFFFFFFFFFFFFFL, &seed, "a non-negative integer");
  args.number("--lr", 0.0, 10.0, &options.fit.lr);
  args.number("--weight-decay", 0.0, 10.0, &options.fit.weight_decay);
  args.list("--baselines", {"dense", "stats"}, &baselines, "none");
  args.list("--stats-groups", {"whole", "rows", "cols"}, &stat_groups);
  args.flag("--discover-trees", &discover);
  args.flag("--strict", &options.load.strict);
  args.flag("--quiet", &quiet);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  const auto has = [](const std::vector<std::string>& list, const char* name) {
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  options.fit.epochs = static_cast<int>(epochs);
  options.fit.batch_size = static_cast<size_t>(batch);
  options.fit.eval_every = static_cast<int>(eval_every);
  options.fit.seed = static_cast<uint64_t>(seed);
  options.fit.progress = !quiet;
  options.r_u = static_cast<size_t>(r_u);
  options.r_v = static_cast<size_t>(r_v);
  options.r_t = static_cast<size_t>(r_t);
  options.baseline_epochs = static_cast<int>(baseline_epochs);
  options.max_train = static_cast<size_t>(max_train);
  options.dense_baseline = has(baselines, "dense");
  options.stats_baseline = has(baselines, "stats");
  options.stat_groups = {has(stat_groups, "whole"), has(stat_groups, "rows"), has(stat_groups, "cols")};
  options.expert = expert == "mvprobe" ? ExpertKind::kMvProbe
                   : expert == "auto"  ? ExpertKind::kAuto
                                       : ExpertKind::kProbex;
  if (args.given("--lr")) options.mvprobe_lr = options.fit.lr;
  const char* const view_names[] = {"xu", "xxtu", "xtu", "xtxu"};
  options.mvprobe_views = 0;
  for (unsigned k = 0; k < 4; ++k) {
    if (has(mv_views, view_names[k])) options.mvprobe_views |= 1u << k;
  }
  const auto usage_error = [&](const std::string& what) { return args.usage_error(what); };
  if (args.given("--mv-views") && options.expert != ExpertKind::kMvProbe)
    return usage_error("--mv-views is for --expert mvprobe");
  if (options.mvprobe_views == 0) return usage_error("--mv-views needs at least one view");
  if (args.given("--max-expert-bytes")) {
    if (options.expert != ExpertKind::kAuto) return usage_error("--max-expert-bytes is for --expert auto");
    if (!parse_byte_size(max_expert_bytes, &options.max_expert_bytes)) {
      return usage_error("--max-expert-bytes needs a size such as 67108864, 512K or 64M, not '" + max_expert_bytes +
                         "'");
    }
  }
  if (zoo.empty() || layer.empty()) return usage_error("--zoo and --layer are required");
  const bool zero_shot = options.load.task == "detector";
  if (zero_shot && text_table.empty()) return usage_error("--task detector needs --text-table");
  if (!zero_shot && !text_table.empty()) return usage_error("--text-table is for --task detector");
  if (zero_shot && layer == "auto") return usage_error("--layer auto is for the subset task");
  if (!heldout_dir.empty() && zero_shot) return usage_error("--heldout is for the subset task");
  if (zero_shot && options.expert == ExpertKind::kAuto) {
    return usage_error("--expert auto is for the subset task; a zero-shot expert is probex or mvprobe");
  }
  if (zero_shot) {
    apply_zero_shot_defaults({args.given("--epochs"), args.given("--lr"), args.given("--weight-decay"),
                              args.given("--eval-every")},
                             &options.fit);
  }
  options.embed_other_trees = !report_dir.empty();
  blas::set_threads(static_cast<int>(threads));
  if (const std::string warning = blas::generic_kernel_warning(); !warning.empty())
    std::fprintf(stderr, "%s\n", warning.c_str());

  std::string error;
  std::vector<ZooFile> files;
  if (!list_training_files(zoo, heldout_dir, &files, &error)) return fail(error);
  if (discover) {
    if (files.empty()) return fail(zoo + ": no models found");
    TreeDiscovery d;
    std::function<void(size_t, size_t)> progress;
    if (!quiet)
      progress = [](size_t done, size_t total) { std::fprintf(stderr, "\rsketched %zu / %zu models", done, total); };
    const bool ok = discover_zoo_trees(files, layer, &d, &error, progress);
    if (!quiet) std::fprintf(stderr, "\r");
    if (!ok) return fail(error);
    std::fputs(discovered_trees_text(d, layer).c_str(), stdout);
    return 0;
  }
  TrainOptions run;
  run.trees = only_trees;
  run.layer = layer;
  run.auto_epochs = static_cast<int>(auto_epochs);
  run.out_dir = out_dir;
  run.text_table = text_table;
  run.text_names = text_names;
  run.tree = options;
  Printer printer(options.fit.progress, run.auto_epochs);
  TrainResult result;
  if (!train_zoo(run, files, &printer, &result, &error))
    return fail(error == "no models found" ? zoo + ": " + error : error);
  const std::string json = training_json(zoo, result);
  if (!json_path.empty() && !write_file_atomically(json_path, json.data(), json.size(), &error)) return fail(error);
  if (!report_dir.empty() &&
      !report::write_training_report(report_dir, zoo, options, result.reports, result.zero_shot_reports, &error))
    return fail(error);
  return 0;
}
