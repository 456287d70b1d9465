// The training pipeline of probex-train: a zoo's files (with a held-out set's), then per tree the layer
// (swept when "auto"), the expert (ProbeX, MVProbe or the choice between them) and its baselines, or a
// zero-shot expert, each written as a checkpoint. The CLI parses arguments and prints what the observer
// hears, with the texts below.
#pragma once

#include <string>
#include <vector>

#include "converter/expert/train_tree.h"
#include "converter/expert/zero_shot_tree.h"
#include "converter/zoo/discover.h"
#include "converter/zoo/layout.h"

namespace probex::convert {

struct TrainOptions {
  std::vector<std::string> trees;      // only these (empty: every tree with training models)
  std::string layer;                   // a tensor name, or "auto" (a sweep per tree; the subset task only)
  int auto_epochs = 50;                // epochs per layer of the sweep
  std::string out_dir;                 // checkpoints, <tree>.safetensors ("" = none written)
  std::string text_table, text_names;  // the detector task's label texts
  TreeTrainOptions tree;               // the rest, per tree (tree.load.task: "subset" or "detector")
  bool zero_shot() const { return tree.load.task == "detector"; }
};

// The zoo's models, with those of `heldout` ("" = none), which may hold split "heldout" only: a training or
// test model from there would leak into selection. Errors name the folder or the file.
bool list_training_files(const std::string& zoo, const std::string& heldout, std::vector<ZooFile>* files,
                         std::string* error);

// What train_zoo tells as it goes, tree by tree (the defaults ignore it).
class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void no_training_models(const std::string& /*tree*/) {}
  virtual void layer_chosen(const std::string& /*tree*/, const LayerChoice& /*sweep*/) {}
  virtual void classifier_trained(const TreeReport& /*report*/, const TreeTrainOptions& /*options*/) {}
  virtual void zero_shot_trained(const ZeroShotReport& /*report*/) {}
};

struct TrainResult {
  std::vector<TreeReport> reports;                // the subset task's, in tree order
  std::vector<ZeroShotReport> zero_shot_reports;  // the detector task's
};

// Trains every tree of `files` (TrainOptions::trees); false with *error at the first tree that fails.
bool train_zoo(const TrainOptions& options, const std::vector<ZooFile>& files, TrainObserver* observer,
               TrainResult* result, std::string* error);

// The texts probex-train prints: a tree's metrics table, the layer sweep, the notes and warnings a
// tree's training leaves (one line each), the discovered trees, and the --json-out record of a run.
std::string tree_report_text(const TreeReport& report);
std::string zero_shot_report_text(const ZeroShotReport& report);
std::string layer_sweep_text(const std::string& tree, int epochs, const LayerChoice& sweep);
std::vector<std::string> training_notes(const TreeReport& report, const TreeTrainOptions& options);
std::vector<std::string> training_notes(const ZeroShotReport& report);
std::string discovered_trees_text(const TreeDiscovery& discovery, const std::string& layer);
std::string training_json(const std::string& zoo, const TrainResult& result);

}  // namespace probex::convert
