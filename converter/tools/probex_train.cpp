// probex-train: trains one ProbeX expert per tree of a zoo (and the baselines it is measured against),
// writes the experts as checkpoints and prints test metrics.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "converter/bundle/router.h"
#include "runtime/cli/args.h"
#include "runtime/formats/json_writer.h"
#include "converter/expert/train_tree.h"
#include "converter/expert/zero_shot_tree.h"
#include "converter/io/safetensors_writer.h"
#include "converter/nn/blas.h"
#include "converter/report/training_report.h"
#include "converter/zoo/discover.h"

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

void print_report(const TreeReport& r) {
  std::printf("\ntree %s  layer %s [%zu, %zu] (%s)  models train %zu / val %zu / test %zu", r.tree.c_str(),
              r.layer.c_str(), r.rows, r.cols, r.rule.c_str(), r.train, r.val, r.test);
  if (r.heldout) std::printf(" / heldout %zu", r.heldout);
  std::printf("  labels %zu\n", r.labels.size());
  std::printf("  %-8s %12s %9s %9s %9s %11s %10s", "method", "parameters", "bit acc", "exact", "AUC", "best epoch",
              "s/epoch");
  if (r.heldout) std::printf(" | %12s %9s %9s", "heldout: bit", "exact", "AUC");
  std::printf("\n");
  for (const MethodResult& m : r.methods) {
    std::printf("  %-8s %12zu %9.4f %9.4f %9.4f %11d %10.3f", m.method.c_str(), m.parameters, m.test.bit_accuracy,
                m.test.exact_set, m.test.mean_auc, m.fit.best_epoch, m.fit.seconds_per_epoch);
    if (r.heldout) std::printf(" | %12.4f %9.4f %9.4f", m.heldout.bit_accuracy, m.heldout.exact_set, m.heldout.mean_auc);
    std::printf("\n");
  }
  const ExpertChoice& c = r.expert_choice;
  if (!c.candidates.empty()) {
    std::printf("  expert choice (budget %s, float32 bytes): %s\n", format_bytes(c.budget_bytes).c_str(),
                c.chosen.c_str());
    std::printf("    %-9s %12s %10s %9s %9s  %s\n", "expert", "parameters", "bytes", "val bit", "test bit", "status");
    for (const ExpertCandidate& rc : c.candidates) {
      char val[16] = "-", test[16] = "-";
      if (rc.trained) {
        std::snprintf(val, sizeof val, "%.4f", rc.val_bit);
        std::snprintf(test, sizeof test, "%.4f", rc.test.bit_accuracy);
      }
      std::printf("    %-9s %12zu %10s %9s %9s  %s\n", rc.expert.c_str(), rc.parameters, format_bytes(rc.bytes).c_str(),
                  val, test, candidate_status(rc, c.chosen).c_str());
    }
    std::printf("    %s\n", c.reason.c_str());
  }
  for (const std::string& s : r.skipped) std::printf("  skipped: %s\n", s.c_str());
}

// --expert auto's record of one tree: the choice and every candidate (figures null where not trained).
std::string expert_choice_json(const ExpertChoice& c) {
  std::string j = "{\"chosen\":";
  append_json_string(&j, c.chosen);
  j += ",\"reason\":";
  append_json_string(&j, c.reason);
  j += ",\"budget_bytes\":" + std::to_string(c.budget_bytes) + ",\"candidates\":[";
  for (size_t i = 0; i < c.candidates.size(); ++i) {
    const ExpertCandidate& rc = c.candidates[i];
    const auto figure = [&](double v) { return rc.trained ? format_number(v) : std::string("null"); };
    j += (i ? ",{" : "{") + std::string("\"reader\":");
    append_json_string(&j, rc.expert);
    if (!rc.views.empty()) {
      j += ",\"views\":";
      append_json_string(&j, rc.views);
    }
    j += ",\"parameters\":" + std::to_string(rc.parameters) + ",\"bytes\":" + std::to_string(rc.bytes) +
         ",\"fits\":" + (rc.fits ? "true" : "false") + ",\"runnable\":" + (rc.runnable ? "true" : "false") +
         ",\"trained\":" + (rc.trained ? "true" : "false") + ",\"status\":";
    append_json_string(&j, candidate_status(rc, c.chosen));
    j += ",\"val_bit\":" + figure(rc.val_bit) + ",\"test_bit\":" + figure(rc.test.bit_accuracy) +
         ",\"test_exact\":" + figure(rc.test.exact_set) + ",\"test_auc\":" + figure(rc.test.mean_auc) + "}";
  }
  return j + "]}";
}

std::string report_json(const TreeReport& r) {
  std::string j = "{\"tree\":";
  append_json_string(&j, r.tree);
  j += ",\"layer\":";
  append_json_string(&j, r.layer);
  j += ",\"layer_shape\":[" + std::to_string(r.rows) + "," + std::to_string(r.cols) + "],\"rule\":";
  append_json_string(&j, r.rule);
  j += ",\"models\":{\"train\":" + std::to_string(r.train) + ",\"val\":" + std::to_string(r.val) +
       ",\"test\":" + std::to_string(r.test) + (r.heldout ? ",\"heldout\":" + std::to_string(r.heldout) : "") +
       "},\"skipped\":" + std::to_string(r.skipped.size()) + ",\"methods\":{";
  for (size_t i = 0; i < r.methods.size(); ++i) {
    const MethodResult& m = r.methods[i];
    if (i) j += ",";
    append_json_string(&j, m.method);
    j += ":{\"parameters\":" + std::to_string(m.parameters) + ",\"bit_accuracy\":" + format_number(m.test.bit_accuracy) +
         ",\"exact_set\":" + format_number(m.test.exact_set) + ",\"mean_auc\":" + format_number(m.test.mean_auc) +
         ",\"best_epoch\":" + std::to_string(m.fit.best_epoch) +
         ",\"val_bit_accuracy\":" + format_number(m.fit.best_val.bit_accuracy) +
         ",\"seconds_per_epoch\":" + format_number(m.fit.seconds_per_epoch);
    if (r.heldout) {
      j += ",\"heldout\":{\"bit_accuracy\":" + format_number(m.heldout.bit_accuracy) +
           ",\"exact_set\":" + format_number(m.heldout.exact_set) + ",\"mean_auc\":" + format_number(m.heldout.mean_auc) +
           "}";
    }
    j += "}";
  }
  j += "}";
  if (!r.expert_choice.candidates.empty()) j += ",\"reader_choice\":" + expert_choice_json(r.expert_choice);
  return j + "}";
}

void print_zero_shot_report(const ZeroShotReport& r) {
  std::printf("\ntree %s  layer %s [%zu, %zu] (%s)  zero-shot: models train %zu / val %zu / test %zu, "
              "val_holdout %zu / test_holdout %zu\n", r.tree.c_str(), r.layer.c_str(), r.rows, r.cols, r.rule.c_str(),
              r.train, r.val, r.test, r.val_holdout, r.test_holdout);
  const std::vector<std::string>* groups[] = {&r.seen, &r.unseen};
  size_t w = 0;
  for (int g = 0; g < 2; ++g) {
    std::printf("  %s classes:", g == 0 ? "seen" : "unseen");
    for (const std::string& c : *groups[g]) std::printf(" '%s' = %s;", c.c_str(), r.text_words[w++].c_str());
    std::printf("\n");
  }
  std::printf("  %-8s %12s %10s %10s %9s %9s %9s %8s %10s\n", "method", "parameters", "in-dist@1", "zero-shot@1",
              "ret R@1", "ret R@5", "ret mAP", "epochs", "s/epoch");
  for (const ZeroShotMethod& m : r.methods) {
    std::printf("  %-8s %12zu %10.4f %10.4f  %9.4f %9.4f %9.4f %3d/%-4d %10.3f\n", m.method.c_str(), m.parameters,
                m.in_distribution_top1, m.zero_shot_top1, m.retrieval.recall_at_1, m.retrieval.recall_at_5,
                m.retrieval.mean_ap, m.seen_epoch, m.unseen_epoch, m.seconds_per_epoch);
  }
  std::printf("  (in-dist: parameters chosen on val; zero-shot and retrieval: chosen on val_holdout; retrieval: %zu "
              "text queries over the %zu test models)\n",
              r.methods.empty() ? 0 : r.methods.front().retrieval.queries, r.test + r.test_holdout);
  for (const std::string& s : r.skipped) std::printf("  skipped: %s\n", s.c_str());
}

std::string zero_shot_json(const ZeroShotReport& r) {
  std::string j = "{\"tree\":";
  append_json_string(&j, r.tree);
  j += ",\"task\":\"detector\",\"layer\":";
  append_json_string(&j, r.layer);
  j += ",\"layer_shape\":[" + std::to_string(r.rows) + "," + std::to_string(r.cols) + "],\"models\":{\"train\":" +
       std::to_string(r.train) + ",\"val\":" + std::to_string(r.val) + ",\"test\":" + std::to_string(r.test) +
       ",\"val_holdout\":" + std::to_string(r.val_holdout) + ",\"test_holdout\":" + std::to_string(r.test_holdout) +
       "},\"seen\":[";
  for (size_t i = 0; i < r.seen.size(); ++i) {
    if (i) j += ",";
    append_json_string(&j, r.seen[i]);
  }
  j += "],\"unseen\":[";
  for (size_t i = 0; i < r.unseen.size(); ++i) {
    if (i) j += ",";
    append_json_string(&j, r.unseen[i]);
  }
  j += "],\"methods\":{";
  for (size_t i = 0; i < r.methods.size(); ++i) {
    const ZeroShotMethod& m = r.methods[i];
    if (i) j += ",";
    append_json_string(&j, m.method);
    j += ":{\"parameters\":" + std::to_string(m.parameters) +
         ",\"in_distribution_top1\":" + format_number(m.in_distribution_top1) +
         ",\"zero_shot_top1\":" + format_number(m.zero_shot_top1) +
         ",\"retrieval_recall_at_1\":" + format_number(m.retrieval.recall_at_1) +
         ",\"retrieval_recall_at_5\":" + format_number(m.retrieval.recall_at_5) +
         ",\"retrieval_map\":" + format_number(m.retrieval.mean_ap) + "}";
  }
  return j + "}}";
}

}  // namespace

// --discover-trees: the clusters (zoo/discover.h) printed, with how well they match the zoo's folders.
int print_discovered_trees(const std::vector<ZooFile>& files, const std::string& layer, bool quiet) {
  TreeDiscovery d;
  std::string error;
  std::function<void(size_t, size_t)> progress;
  if (!quiet) progress = [](size_t done, size_t total) { std::fprintf(stderr, "\rsketched %zu / %zu models", done, total); };
  const bool ok = discover_zoo_trees(files, layer, &d, &error, progress);
  if (!quiet) std::fprintf(stderr, "\r");
  if (!ok) {
    std::fprintf(stderr, "probex-train: %s\n", error.c_str());
    return 1;
  }
  std::printf("tree discovery on '%s': %zu models in %zu layer shape(s) (%zu without the layer skipped), Ward linkage "
              "on %ux%u sketches (%.2f s)\n", layer.c_str(), d.models, d.shapes, d.skipped, kDefaultSketch.rows,
              kDefaultSketch.cols, d.seconds);
  std::printf("clusters found: %zu (the zoo's folders name %zu trees); adjusted Rand index vs the folders: %.4f\n",
              d.clusters.size(), d.folder_trees, d.adjusted_rand_index);
  for (size_t c = 0; c < d.clusters.size(); ++c) {
    std::printf("  cluster %zu (layer [%zu, %zu]):", c, d.clusters[c].rows, d.clusters[c].cols);
    for (const auto& [folder, count] : d.clusters[c].folders) std::printf(" %s x%zu", folder.c_str(), count);
    std::printf("\n");
  }
  return 0;
}

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
  options.expert = expert == "mvprobe" ? ExpertKind::kMvProbe : expert == "auto" ? ExpertKind::kAuto : ExpertKind::kProbex;
  if (args.given("--lr")) options.mvprobe_lr = options.fit.lr;
  const char* const view_names[] = {"xu", "xxtu", "xtu", "xtxu"};
  options.mvprobe_views = 0;
  for (unsigned k = 0; k < 4; ++k) {
    if (has(mv_views, view_names[k])) options.mvprobe_views |= 1u << k;
  }
  const auto usage_error = [&](const std::string& what) { return args.usage_error(what); };
  if (args.given("--mv-views") && options.expert != ExpertKind::kMvProbe) return usage_error("--mv-views is for --expert mvprobe");
  if (options.mvprobe_views == 0) return usage_error("--mv-views needs at least one view");
  if (args.given("--max-expert-bytes")) {
    if (options.expert != ExpertKind::kAuto) return usage_error("--max-expert-bytes is for --expert auto");
    if (!parse_byte_size(max_expert_bytes, &options.max_expert_bytes)) {
      return usage_error("--max-expert-bytes needs a size such as 67108864, 512K or 64M, not '" + max_expert_bytes + "'");
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
                              args.given("--eval-every")}, &options.fit);
  }
  options.embed_other_trees = !report_dir.empty();
  std::vector<TreeReport> reports;
  std::vector<ZeroShotReport> zero_shot_reports;
  EmbeddingTable table;
  blas::set_threads(static_cast<int>(threads));
  if (const std::string warning = blas::generic_kernel_warning(); !warning.empty()) {
    std::fprintf(stderr, "%s\n", warning.c_str());
  }

  std::string error;
  std::vector<ZooFile> files;
  if (!list_zoo_files(zoo, &files, &error)) {
    std::fprintf(stderr, "probex-train: %s\n", error.c_str());
    return 1;
  }
  if (!heldout_dir.empty()) {
    // Only split "heldout" may come from there: a training or test model in it would leak into selection.
    std::vector<ZooFile> heldout;
    if (!list_zoo_files(heldout_dir, &heldout, &error)) {
      std::fprintf(stderr, "probex-train: %s\n", error.c_str());
      return 1;
    }
    if (heldout.empty()) {
      std::fprintf(stderr, "probex-train: %s: no models found\n", heldout_dir.c_str());
      return 1;
    }
    for (const ZooFile& f : heldout) {
      if (f.split != "heldout") {
        std::fprintf(stderr, "probex-train: %s: split '%s', where --heldout takes split 'heldout' only\n",
                     f.path.c_str(), f.split.c_str());
        return 1;
      }
    }
    files.insert(files.end(), heldout.begin(), heldout.end());
  }
  if (discover) {
    if (files.empty()) {
      std::fprintf(stderr, "probex-train: %s: no models found\n", zoo.c_str());
      return 1;
    }
    return print_discovered_trees(files, layer, !options.fit.progress);
  }
  if (zero_shot && !load_embedding_table(text_table, text_names, &table, &error)) {
    std::fprintf(stderr, "probex-train: %s\n", error.c_str());
    return 1;
  }
  const TreeChoice choice = trees_to_train(files, only_trees);
  if (options.fit.progress) {
    for (const std::string& t : choice.without_training)
      std::fprintf(stderr, "probex-train: tree %s has no training models (a foreign set?): skipped\n", t.c_str());
  }
  const std::vector<std::string>& trees = choice.trees;
  if (trees.empty()) {
    std::fprintf(stderr, "probex-train: %s: no models found\n", zoo.c_str());
    return 1;
  }
  if (!out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) {
      std::fprintf(stderr, "probex-train: %s: cannot create: %s\n", out_dir.c_str(), ec.message().c_str());
      return 1;
    }
  }
  std::string json = "{\"zoo\":";
  append_json_string(&json, zoo);
  json += ",\"trees\":[";
  for (size_t t = 0; t < trees.size(); ++t) {
    TreeTrainOptions o = options;
    o.load.layer = layer;
    if (layer == "auto") {
      LayerChoice chosen;
      if (!choose_layer(files, trees[t], options, static_cast<int>(auto_epochs), &chosen, &error)) {
        std::fprintf(stderr, "probex-train: %s\n", error.c_str());
        return 1;
      }
      std::printf("layer sweep for tree %s (%ld epochs each, val bit accuracy):\n", trees[t].c_str(), auto_epochs);
      for (const LayerSweepRow& row : chosen.sweep) {
        if (row.val_bit_accuracy >= 0) {
          std::printf("  %-40s [%zu, %zu]  %.4f\n", row.layer.c_str(), row.rows, row.cols, row.val_bit_accuracy);
        } else {
          std::printf("  %-40s not usable: %s\n", row.layer.c_str(), row.note.c_str());
        }
      }
      o.load.layer = chosen.layer;
    }
    if (!out_dir.empty()) o.checkpoint_path = out_dir + "/" + trees[t] + ".safetensors";
    if (zero_shot) {
      ZeroShotReport report;
      if (!train_zero_shot_tree(files, trees[t], o, table, &report, &error)) {
        std::fprintf(stderr, "probex-train: %s\n", error.c_str());
        return 1;
      }
      print_zero_shot_report(report);
      if (!report.methods.empty() && report.methods.front().unseen_epoch <= 1) {
        // The authors keep only strictly better val_holdout scores: if epoch 1's never improved, the
        // checkpoint kept for zero-shot (and written) is the barely trained one.
        std::fprintf(stderr, "probex-train: warning: tree %s: val_holdout zero-shot top-1 never improved after epoch 1; "
                     "the zero-shot checkpoint is epoch 1's\n", report.tree.c_str());
      }
      json += (t ? "," : "") + zero_shot_json(report);
      zero_shot_reports.push_back(std::move(report));
      continue;
    }
    TreeReport report;
    if (!train_tree(files, trees[t], o, &report, &error)) {
      std::fprintf(stderr, "probex-train: %s\n", error.c_str());
      return 1;
    }
    print_report(report);
    for (const MethodResult& m : report.methods) {
      if (!best_at_last_evaluation(m.fit)) continue;
      const bool baseline = !is_expert_method(m.method);
      std::fprintf(stderr, "probex-train: note: tree %s: %s was best at its last evaluation (epoch %d of %d): it may "
                   "still be improving; more epochs (%s) may raise it\n", report.tree.c_str(), m.method.c_str(),
                   m.fit.best_epoch, baseline && o.baseline_epochs > 0 ? o.baseline_epochs : o.fit.epochs,
                   baseline ? "--baseline-epochs" : "--epochs");
    }
    if (!report.skipped.empty()) {
      std::fprintf(stderr, "probex-train: warning: tree %s: %zu bad models skipped (listed above; --strict makes this an error)\n",
                   report.tree.c_str(), report.skipped.size());
    }
    json += (t ? "," : "") + report_json(report);
    reports.push_back(std::move(report));
  }
  json += "]}\n";
  if (!json_path.empty() && !write_file_atomically(json_path, json.data(), json.size(), &error)) {
    std::fprintf(stderr, "probex-train: %s\n", error.c_str());
    return 1;
  }
  if (!report_dir.empty() &&
      !report::write_training_report(report_dir, zoo, options, reports, zero_shot_reports, &error)) {
    std::fprintf(stderr, "probex-train: %s\n", error.c_str());
    return 1;
  }
  return 0;
}
