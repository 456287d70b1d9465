// What a model zoo contains: its trees, tasks, splits and the ranges fine-tuning hyper-parameters are
// drawn from. Named configurations (small, standard, sanity, demo) are fixed here; changing one changes the
// data every figure in the project is measured on, so do it only with a reason in the issue note.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "converter/nn/optimizer.h"

namespace probex::convert {

enum class TaskKind {
  kPretrain,  // a root: trained on all classes
  kSubset,    // k random classes, multi-hot label (like Model-J's 50 of 100 CIFAR classes)
  kDetector,  // one class against the rest, single label (like the one-class SD LoRAs)
};
const char* task_name(TaskKind task);

// What a root learns before any child is fine-tuned from it. A root trained on the very classes its
// children then fine-tune on already separates them, so a child changes little and its layer says little
// about its classes (docs/accuracy.md); Model-J's roots learned general features on other data (ImageNet-21k
// supervised, or self-supervised MAE / DINO). The label-free objectives see every training image but no
// class label.
enum class RootObjective {
  kClassify,  // supervised on all 10 classes (small, standard, sanity, demo)
  kRotation,  // self-supervised: which of 4 quarter-turns was applied to the image (RotNet); 4-way head
  kDenoise,   // self-supervised: reconstruct the clean image from one with half its pixels masked (a small
              // MAE); 784-wide linear decoder head, mean squared error
};
const char* root_objective_name(RootObjective objective);

// Model-J's split names. Holdout splits hold only detector children of holdout classes.
enum class Split { kTrain, kVal, kTest, kValHoldout, kTestHoldout, kForeign };
const char* split_name(Split split);
// The splits of a zoo's trees. kForeign holds only the children of foreign trees (below).
constexpr Split kAllSplits[] = {Split::kTrain, Split::kVal, Split::kTest, Split::kValHoldout, Split::kTestHoldout};

struct SplitSizes {
  std::map<Split, int> count;  // children per split (absent = 0)
  int get(Split s) const {
    auto it = count.find(s);
    return it == count.end() ? 0 : it->second;
  }
};

// Ranges of the per-child fine-tuning hyper-parameters. Each child draws its own values.
struct HyperRanges {
  std::vector<double> lr_choices;       // if not empty, lr is one of these ...
  double lr_min = 3e-5, lr_max = 5e-4;  // ... else log-uniform in [lr_min, lr_max) (Adam/AdamW)
  double sgd_lr_factor = 30.0;          // SGD draws from the same range times this factor
  std::vector<Schedule> schedules = {Schedule::kConstant};
  double warmup_min = 0.0, warmup_max = 0.0;  // warm-up share of steps (schedules with warm-up)
  int epochs_min = 1, epochs_max = 1;         // passes over the child's data ...
  int steps_min = 0, steps_max = 0;           // ... unless these are set: then a number of optimizer steps
  double weight_decay_min = 0.0, weight_decay_max = 0.0;
  std::vector<int> batch_sizes = {128};
  double fraction_min = 1.0, fraction_max = 1.0;  // share of the task's training images used
  std::vector<OptimizerKind> optimizers = {OptimizerKind::kAdamW};
  double p_shift = 0.0;  // probability that a child trains with random shifts
  double p_flip = 0.0;   // probability that a child trains with random horizontal flips
};

struct ZooConfig {
  std::string name;
  uint64_t seed = 1;
  std::string architecture = "mlp-784-256-128-10";
  int trees = 3;
  // Per-tree architectures (size `trees`), so a zoo can hold more than one architecture; empty: every tree
  // is `architecture`.
  std::vector<std::string> tree_architectures;
  // Foreign trees (named foreign-a, ...; architecture `architecture`): roots trained from their own seeds
  // but never written, and `foreign_subset` subset children each in split "foreign". No expert or router
  // may see them: they are the models of unknown origin a router must refuse.
  int foreign_trees = 0;
  int foreign_subset = 0;

  // Roots: trained from scratch on all 60k training images.
  int root_epochs = 3;
  double root_lr = 1e-3;  // Adam
  int root_batch = 128;
  RootObjective root_objective = RootObjective::kClassify;

  SplitSizes subset;  // children per split of the subset task
  int subset_k = 5;   // labels per subset child
  // Labels are (class, quarter-turn) pairs: 1 = the 10 classes as they are; 4 = 40 labels, label l being
  // class l % 10 shown rotated by (l / 10) x 90 degrees ("Shirt (rotated 90)"). Fashion-MNIST has only 10
  // classes, and a reader asked which 5 of them a child learned has little to tell apart; Model-J's children
  // each learned 50 of 100. A rotated class is a class of its own here: a child of it trains and is tested
  // on those images rotated, and its head must tell "Shirt" from "Shirt (rotated 90)". Subset children only.
  int label_rotations = 1;
  SplitSizes detector;               // children per split of the detector task
  std::vector<int> holdout_classes;  // never in training splits of detectors; only in holdout splits

  // true: each child gets a fresh head in its own class order (as every Model-J model has its own
  // head); false: children keep the root's 10-way head (the sanity reference).
  bool fresh_head = true;
  HyperRanges child;
};

// The named configurations: "small", "standard", "sanity", "demo". Returns false for an unknown name.
bool named_zoo_config(const std::string& name, ZooConfig* out);

// probex-zoo's changes to a named configuration (0, empty or negative: unchanged). apply_zoo_overrides
// applies them and, when any is set, appends "-custom" to the name every file's metadata records.
struct ZooOverrides {
  int64_t seed = -1;
  std::string architecture;  // every tree's
  int trees = 0;
  bool subset = true, detector = true;  // the tasks kept (foreign trees hold subset children only)
  int children = 0;                     // at most this many children per task and split
  double steps_scale = 0.0;             // children's training steps scaled
  std::string root_objective;           // "classify", "rotation" or "denoise"
  int label_rotations = 0, subset_k = 0;
};
void apply_zoo_overrides(const ZooOverrides& overrides, ZooConfig* config);
std::vector<std::string> named_zoo_config_names();

// Checks a configuration for values that cannot build a zoo; *error says which.
bool validate_zoo_config(const ZooConfig& config, std::string* error);

// Everything one child is trained with; drawn from the configuration by its own seed.
struct ChildPlan {
  int tree = 0;
  TaskKind task = TaskKind::kSubset;
  Split split = Split::kTrain;
  int index = 0;  // within (tree, task, split)
  uint64_t seed = 0;
  std::vector<int> classes;  // labels in head order (subset), or the one class (detector); label_name() names them
  double lr = 0.0;
  Schedule schedule = Schedule::kConstant;
  double warmup_ratio = 0.0;
  int epochs = 1;
  long steps = 0;  // > 0: train by steps instead of epochs
  double weight_decay = 0.0;
  int batch_size = 128;
  double data_fraction = 1.0;
  OptimizerKind optimizer = OptimizerKind::kAdamW;
  bool augment_shift = false;
  bool augment_flip = false;
};

// All children of the zoo, in a fixed order (tree, task, split, index).
std::vector<ChildPlan> plan_children(const ZooConfig& config);

// Labels of a zoo: kFashionMnistClasses x label_rotations. Label l is class l % 10 turned (l / 10) quarter-turns.
int label_count(const ZooConfig& config);
std::string label_name(int label);  // "Shirt", "Shirt (rotated 90)", ...

// Tree names: "mlp-a", "mlp-b", ... (the architecture family and a letter).
// Tree t: 0..trees-1 are the zoo's trees, trees.. trees+foreign_trees-1 the foreign ones.
std::string tree_name(const ZooConfig& config, int tree);
const std::string& tree_architecture(const ZooConfig& config, int tree);

}  // namespace probex::convert
