// Training one tree's ProbeX expert and its baselines on a zoo, and choosing the probed layer.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "converter/expert/expert_choice.h"
#include "converter/expert/layer_dataset.h"
#include "converter/expert/multilabel.h"
#include "converter/expert/mvprobe_expert.h"
#include "converter/expert/probex_expert.h"
#include "converter/expert/weight_stats.h"

namespace probex::convert {

// The expert trained and measured against the baselines: ProbeX (docs/method.md), MVProbe
// (mvprobe_expert.h), or kAuto: ProbeX, MVProbe and MVProbe with its second-order views only (mvprobe2) are
// each trained when they fit max_expert_bytes, and the best on val is kept (expert_choice.h).
enum class ExpertKind { kProbex, kMvProbe, kAuto };

struct TreeTrainOptions {
  LoadOptions load;
  FitConfig fit;
  // ProbeX: r_U probes, r_V projection width; MVProbe: r = r_u probes per view, p = r_v.
  size_t r_u = 128, r_v = 128, r_t = 128;
  ExpertKind expert = ExpertKind::kProbex;
  // MVProbe only: its learning rate (the authors' recipe: 3e-4, where the baselines keep fit.lr) and the views
  // computed (kAllViews; fewer is the authors' ablation). kAuto trains both kAllViews and xxtu,xtxu.
  double mvprobe_lr = 3e-4;
  unsigned mvprobe_views = kAllViews;
  // kAuto only: the largest expert kept, in float32 bytes (parameters x 4).
  uint64_t max_expert_bytes = kDefaultExpertBudget;
  bool dense_baseline = true;
  bool stats_baseline = true;
  int baseline_epochs = 0;      // 0: the same as fit.epochs
  StatGroups stat_groups;       // which statistics the statistics baseline sees
  size_t max_train = 0;         // > 0: use only the first N training models (learning curves)
  std::string checkpoint_path;  // where the (chosen) expert goes ("" = not saved)
  // Also embed the test models of the other trees whose layer has this tree's shape with this tree's
  // expert (TreeReport::other_*; for the HTML report's map: does the expert's space tell trees apart?).
  bool embed_other_trees = false;
};

struct MethodResult {
  // "probex", "mvprobe" or (ExpertKind::kAuto) "mvprobe2": the experts; "dense", "stats", "chance"
  std::string method;
  size_t parameters = 0;  // trained (an MVProbe with masked views: all four views' tensors)
  MultiLabelMetrics test;
  MultiLabelMetrics heldout;  // on the tree's "heldout" models, when the files hold some (TreeReport::heldout)
  FitResult fit;
};

struct TreeReport {
  std::string tree, layer, rule;
  size_t rows = 0, cols = 0;
  size_t train = 0, val = 0, test = 0;
  // Models of split "heldout": children fine-tuned by another recipe and code (scripts/heldout_finetune.py,
  // probex-train --heldout), never trained or selected on; every method is also scored on them.
  size_t heldout = 0;
  std::vector<std::string> labels;
  std::vector<MethodResult> methods;
  std::vector<std::string> skipped;  // bad models left out, with reasons
  // ExpertKind::kAuto: every candidate (the Dense expert's figures when the dense baseline ran) and the choice;
  // otherwise empty.
  ExpertChoice expert_choice;
  // The kept (chosen) expert's embedding e [r_T] of each test model, [test, embedding_width], with the
  // models' names and multi-hot targets [test, labels.size()]; and, with embed_other_trees, the other
  // trees' test models in the same space, each with its tree's name.
  size_t embedding_width = 0;
  std::vector<float> test_embeddings, test_targets;
  std::vector<std::string> test_models;
  std::vector<float> other_embeddings;
  std::vector<std::string> other_trees;
};

// True for a expert's method name (probex, mvprobe, mvprobe2), false for the baselines and chance.
bool is_expert_method(const std::string& method);

bool train_tree(const std::vector<ZooFile>& files, const std::string& tree, const TreeTrainOptions& options,
                TreeReport* report, std::string* error);

// The metadata every expert checkpoint carries: format, tree, layer (name, shape, rule), task, labels in
// output order, sizes, training settings, the chosen epoch and the training set size.
std::map<std::string, std::string> checkpoint_metadata(const std::string& tree, const TreeTrainOptions& options,
                                                       const std::string& rule, const ProbexShape& shape,
                                                       const FitConfig& fit, const std::vector<std::string>& labels,
                                                       int best_epoch, size_t train_models);
// An MVProbe expert's checkpoint: checkpoint_metadata with "expert", "r", "p" and "views" in place of r_u, r_v.
void set_mvprobe_metadata(const MvProbeShape& shape, std::map<std::string, std::string>* metadata);

// The MVProbe expert of `options` (r = r_u, p = r_v, r_T, views) on a [rows, cols] layer with `labels`
// outputs (0: the zero-shot expert), and its training settings: options.fit with options.mvprobe_lr.
MvProbeShape mvprobe_shape(const TreeTrainOptions& options, size_t rows, size_t cols, size_t labels);
FitConfig mvprobe_fit(const TreeTrainOptions& options);

struct LayerSweepRow {
  std::string layer;
  size_t rows = 0, cols = 0;
  double val_bit_accuracy = -1.0;  // -1: the layer could not be used
  std::string note;                // why not, when it could not
};

// Trains the expert (ProbeX or MVProbe, options.expert; ProbeX for kAuto) briefly (options.fit.epochs) on every candidate layer (the tensors of the tree's
// first training model) and returns the sweep, best first.
std::vector<LayerSweepRow> sweep_layers(const std::vector<ZooFile>& files, const std::string& tree,
                                        const TreeTrainOptions& options, std::string* error);

// --layer auto: sweep_layers with `sweep_epochs` epochs per candidate (evaluated at least at the last one)
// and the best layer on val. Error: no candidate layer could be used.
struct LayerChoice {
  std::vector<LayerSweepRow> sweep;  // best first, as sweep_layers
  std::string layer;
};
bool choose_layer(const std::vector<ZooFile>& files, const std::string& tree, const TreeTrainOptions& options,
                  int sweep_epochs, LayerChoice* out, std::string* error);

// The trees to train: `only` as given (a named tree without training models is an error when it is
// loaded), else every tree of the zoo with training models: one without them (a zoo's foreign set) has
// nothing to train on and is listed as left out.
struct TreeChoice {
  std::vector<std::string> trees;
  std::vector<std::string> without_training;
};
TreeChoice trees_to_train(const std::vector<ZooFile>& files, const std::vector<std::string>& only);

}  // namespace probex::convert
