#include "converter/pipeline/train.h"

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "converter/io/safetensors_writer.h"
#include "converter/zoo/sketch.h"
#include "runtime/cli/text.h"
#include "runtime/formats/json_writer.h"

namespace probex::convert {
namespace {

using cli::appendf;

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
    j += ":{\"parameters\":" + std::to_string(m.parameters) +
         ",\"bit_accuracy\":" + format_number(m.test.bit_accuracy) +
         ",\"exact_set\":" + format_number(m.test.exact_set) + ",\"mean_auc\":" + format_number(m.test.mean_auc) +
         ",\"best_epoch\":" + std::to_string(m.fit.best_epoch) +
         ",\"val_bit_accuracy\":" + format_number(m.fit.best_val.bit_accuracy) +
         ",\"seconds_per_epoch\":" + format_number(m.fit.seconds_per_epoch);
    if (r.heldout) {
      j += ",\"heldout\":{\"bit_accuracy\":" + format_number(m.heldout.bit_accuracy) +
           ",\"exact_set\":" + format_number(m.heldout.exact_set) +
           ",\"mean_auc\":" + format_number(m.heldout.mean_auc) + "}";
    }
    j += "}";
  }
  j += "}";
  if (!r.expert_choice.candidates.empty()) j += ",\"reader_choice\":" + expert_choice_json(r.expert_choice);
  return j + "}";
}

std::string zero_shot_json(const ZeroShotReport& r) {
  std::string j = "{\"tree\":";
  append_json_string(&j, r.tree);
  j += ",\"task\":\"detector\",\"layer\":";
  append_json_string(&j, r.layer);
  j += ",\"layer_shape\":[" + std::to_string(r.rows) + "," + std::to_string(r.cols) +
       "],\"models\":{\"train\":" + std::to_string(r.train) + ",\"val\":" + std::to_string(r.val) +
       ",\"test\":" + std::to_string(r.test) + ",\"val_holdout\":" + std::to_string(r.val_holdout) +
       ",\"test_holdout\":" + std::to_string(r.test_holdout) + "},\"seen\":[";
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

bool list_training_files(const std::string& zoo, const std::string& heldout_dir, std::vector<ZooFile>* files,
                         std::string* error) {
  if (!list_zoo_files(zoo, files, error)) return false;
  if (heldout_dir.empty()) return true;
  std::vector<ZooFile> heldout;
  if (!list_zoo_files(heldout_dir, &heldout, error)) return false;
  if (heldout.empty()) {
    *error = heldout_dir + ": no models found";
    return false;
  }
  for (const ZooFile& f : heldout) {
    if (f.split != "heldout") {
      *error = f.path + ": split '" + f.split + "', where --heldout takes split 'heldout' only";
      return false;
    }
  }
  files->insert(files->end(), heldout.begin(), heldout.end());
  return true;
}

bool train_zoo(const TrainOptions& options, const std::vector<ZooFile>& files, TrainObserver* observer,
               TrainResult* result, std::string* error) {
  EmbeddingTable table;
  if (options.zero_shot() && !load_embedding_table(options.text_table, options.text_names, &table, error)) return false;
  const TreeChoice choice = trees_to_train(files, options.trees);
  for (const std::string& t : choice.without_training) observer->no_training_models(t);
  if (choice.trees.empty()) {
    *error = "no models found";
    return false;
  }
  if (!options.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.out_dir, ec);
    if (ec) {
      *error = options.out_dir + ": cannot create: " + ec.message();
      return false;
    }
  }
  for (const std::string& tree : choice.trees) {
    TreeTrainOptions o = options.tree;
    o.load.layer = options.layer;
    if (options.layer == "auto") {
      LayerChoice chosen;
      if (!choose_layer(files, tree, options.tree, options.auto_epochs, &chosen, error)) return false;
      observer->layer_chosen(tree, chosen);
      o.load.layer = chosen.layer;
    }
    if (!options.out_dir.empty()) o.checkpoint_path = options.out_dir + "/" + tree + ".safetensors";
    if (options.zero_shot()) {
      ZeroShotReport report;
      if (!train_zero_shot_tree(files, tree, o, table, &report, error)) return false;
      observer->zero_shot_trained(report);
      result->zero_shot_reports.push_back(std::move(report));
    } else {
      TreeReport report;
      if (!train_tree(files, tree, o, &report, error)) return false;
      observer->classifier_trained(report, o);
      result->reports.push_back(std::move(report));
    }
  }
  return true;
}

std::string tree_report_text(const TreeReport& r) {
  std::string t;
  appendf(&t, "\ntree %s  layer %s [%zu, %zu] (%s)  models train %zu / val %zu / test %zu", r.tree.c_str(),
          r.layer.c_str(), r.rows, r.cols, r.rule.c_str(), r.train, r.val, r.test);
  if (r.heldout) appendf(&t, " / heldout %zu", r.heldout);
  appendf(&t, "  labels %zu\n", r.labels.size());
  appendf(&t, "  %-8s %12s %9s %9s %9s %11s %10s", "method", "parameters", "bit acc", "exact", "AUC", "best epoch",
          "s/epoch");
  if (r.heldout) appendf(&t, " | %12s %9s %9s", "heldout: bit", "exact", "AUC");
  appendf(&t, "\n");
  for (const MethodResult& m : r.methods) {
    appendf(&t, "  %-8s %12zu %9.4f %9.4f %9.4f %11d %10.3f", m.method.c_str(), m.parameters, m.test.bit_accuracy,
            m.test.exact_set, m.test.mean_auc, m.fit.best_epoch, m.fit.seconds_per_epoch);
    if (r.heldout)
      appendf(&t, " | %12.4f %9.4f %9.4f", m.heldout.bit_accuracy, m.heldout.exact_set, m.heldout.mean_auc);
    appendf(&t, "\n");
  }
  const ExpertChoice& c = r.expert_choice;
  if (!c.candidates.empty()) {
    appendf(&t, "  expert choice (budget %s, float32 bytes): %s\n", format_bytes(c.budget_bytes).c_str(),
            c.chosen.c_str());
    appendf(&t, "    %-9s %12s %10s %9s %9s  %s\n", "expert", "parameters", "bytes", "val bit", "test bit", "status");
    for (const ExpertCandidate& rc : c.candidates) {
      char val[16] = "-", test[16] = "-";
      if (rc.trained) {
        std::snprintf(val, sizeof val, "%.4f", rc.val_bit);
        std::snprintf(test, sizeof test, "%.4f", rc.test.bit_accuracy);
      }
      appendf(&t, "    %-9s %12zu %10s %9s %9s  %s\n", rc.expert.c_str(), rc.parameters, format_bytes(rc.bytes).c_str(),
              val, test, candidate_status(rc, c.chosen).c_str());
    }
    appendf(&t, "    %s\n", c.reason.c_str());
  }
  for (const std::string& s : r.skipped) appendf(&t, "  skipped: %s\n", s.c_str());
  return t;
}

std::string zero_shot_report_text(const ZeroShotReport& r) {
  std::string t;
  appendf(&t,
          "\ntree %s  layer %s [%zu, %zu] (%s)  zero-shot: models train %zu / val %zu / test %zu, "
          "val_holdout %zu / test_holdout %zu\n",
          r.tree.c_str(), r.layer.c_str(), r.rows, r.cols, r.rule.c_str(), r.train, r.val, r.test, r.val_holdout,
          r.test_holdout);
  const std::vector<std::string>* groups[] = {&r.seen, &r.unseen};
  size_t w = 0;
  for (int g = 0; g < 2; ++g) {
    appendf(&t, "  %s classes:", g == 0 ? "seen" : "unseen");
    for (const std::string& c : *groups[g]) appendf(&t, " '%s' = %s;", c.c_str(), r.text_words[w++].c_str());
    appendf(&t, "\n");
  }
  appendf(&t, "  %-8s %12s %10s %10s %9s %9s %9s %8s %10s\n", "method", "parameters", "in-dist@1", "zero-shot@1",
          "ret R@1", "ret R@5", "ret mAP", "epochs", "s/epoch");
  for (const ZeroShotMethod& m : r.methods) {
    appendf(&t, "  %-8s %12zu %10.4f %10.4f  %9.4f %9.4f %9.4f %3d/%-4d %10.3f\n", m.method.c_str(), m.parameters,
            m.in_distribution_top1, m.zero_shot_top1, m.retrieval.recall_at_1, m.retrieval.recall_at_5,
            m.retrieval.mean_ap, m.seen_epoch, m.unseen_epoch, m.seconds_per_epoch);
  }
  appendf(&t,
          "  (in-dist: parameters chosen on val; zero-shot and retrieval: chosen on val_holdout; retrieval: %zu "
          "text queries over the %zu test models)\n",
          r.methods.empty() ? 0 : r.methods.front().retrieval.queries, r.test + r.test_holdout);
  for (const std::string& s : r.skipped) appendf(&t, "  skipped: %s\n", s.c_str());
  return t;
}

std::string layer_sweep_text(const std::string& tree, int epochs, const LayerChoice& chosen) {
  std::string t;
  appendf(&t, "layer sweep for tree %s (%d epochs each, val bit accuracy):\n", tree.c_str(), epochs);
  for (const LayerSweepRow& row : chosen.sweep) {
    if (row.val_bit_accuracy >= 0) {
      appendf(&t, "  %-40s [%zu, %zu]  %.4f\n", row.layer.c_str(), row.rows, row.cols, row.val_bit_accuracy);
    } else {
      appendf(&t, "  %-40s not usable: %s\n", row.layer.c_str(), row.note.c_str());
    }
  }
  return t;
}

std::vector<std::string> training_notes(const TreeReport& report, const TreeTrainOptions& o) {
  std::vector<std::string> notes;
  for (const MethodResult& m : report.methods) {
    if (!best_at_last_evaluation(m.fit)) continue;
    const bool baseline = !is_expert_method(m.method);
    std::string t;
    appendf(&t,
            "note: tree %s: %s was best at its last evaluation (epoch %d of %d): it may still be improving; more "
            "epochs (%s) may raise it",
            report.tree.c_str(), m.method.c_str(), m.fit.best_epoch,
            baseline && o.baseline_epochs > 0 ? o.baseline_epochs : o.fit.epochs,
            baseline ? "--baseline-epochs" : "--epochs");
    notes.push_back(t);
  }
  if (!report.skipped.empty())
    notes.push_back("warning: tree " + report.tree + ": " + std::to_string(report.skipped.size()) +
                    " bad models skipped (listed above; --strict makes this an error)");
  return notes;
}

std::vector<std::string> training_notes(const ZeroShotReport& report) {
  // The authors keep only strictly better val_holdout scores: if epoch 1's never improved, the checkpoint
  // kept for zero-shot (and written) is the barely trained one.
  if (report.methods.empty() || report.methods.front().unseen_epoch > 1) return {};
  return {"warning: tree " + report.tree +
          ": val_holdout zero-shot top-1 never improved after epoch 1; the "
          "zero-shot checkpoint is epoch 1's"};
}

std::string discovered_trees_text(const TreeDiscovery& d, const std::string& layer) {
  std::string t;
  appendf(&t,
          "tree discovery on '%s': %zu models in %zu layer shape(s) (%zu without the layer skipped), Ward linkage "
          "on %ux%u sketches (%.2f s)\n",
          layer.c_str(), d.models, d.shapes, d.skipped, kDefaultSketch.rows, kDefaultSketch.cols, d.seconds);
  appendf(&t, "clusters found: %zu (the zoo's folders name %zu trees); adjusted Rand index vs the folders: %.4f\n",
          d.clusters.size(), d.folder_trees, d.adjusted_rand_index);
  for (size_t c = 0; c < d.clusters.size(); ++c) {
    appendf(&t, "  cluster %zu (layer [%zu, %zu]):", c, d.clusters[c].rows, d.clusters[c].cols);
    for (const auto& [folder, count] : d.clusters[c].folders) appendf(&t, " %s x%zu", folder.c_str(), count);
    appendf(&t, "\n");
  }
  return t;
}

std::string training_json(const std::string& zoo, const TrainResult& result) {
  std::string json = "{\"zoo\":";
  append_json_string(&json, zoo);
  json += ",\"trees\":[";
  for (size_t i = 0; i < result.reports.size(); ++i) json += (i ? "," : "") + report_json(result.reports[i]);
  for (size_t i = 0; i < result.zero_shot_reports.size(); ++i)
    json += (i ? "," : "") + zero_shot_json(result.zero_shot_reports[i]);
  return json + "]}\n";
}

}  // namespace probex::convert
