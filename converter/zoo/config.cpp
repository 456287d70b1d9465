#include "converter/zoo/config.h"

#include <algorithm>
#include <cmath>

#include "converter/data/fashion_mnist.h"
#include "converter/nn/rng.h"

namespace probex::convert {

const char* task_name(TaskKind task) {
  switch (task) {
    case TaskKind::kPretrain: return "pretrain";
    case TaskKind::kSubset: return "subset";
    case TaskKind::kDetector: return "detector";
  }
  return "?";
}

const char* root_objective_name(RootObjective objective) {
  switch (objective) {
    case RootObjective::kClassify: return "classify";
    case RootObjective::kRotation: return "rotation";
    case RootObjective::kDenoise: return "denoise";
  }
  return "?";
}

int label_count(const ZooConfig& config) { return kFashionMnistClasses * config.label_rotations; }

std::string label_name(int label) {
  const std::string name = kFashionMnistClassNames[static_cast<size_t>(label % kFashionMnistClasses)];
  const int turns = label / kFashionMnistClasses;
  return turns == 0 ? name : name + " (rotated " + std::to_string(90 * turns) + ")";
}

const char* split_name(Split split) {
  switch (split) {
    case Split::kTrain: return "train";
    case Split::kVal: return "val";
    case Split::kTest: return "test";
    case Split::kValHoldout: return "val_holdout";
    case Split::kTestHoldout: return "test_holdout";
    case Split::kForeign: return "foreign";
  }
  return "?";
}

namespace {

// Model-J-like spread (its fine-tunes: AdamW, lr 3e-5..5e-4, constant/warm-up/linear/cosine
// schedules, 4-9 epochs, weight decay 0.005-0.03, augmentation on or off), scaled down so a child
// trains in about a second on one core: 5-25% of the task's images, 200-800 steps. Training by steps
// rather than epochs keeps low-lr children from stopping before their fresh head has learned.
HyperRanges model_j_like() {
  HyperRanges h;
  h.lr_min = 3e-5;
  h.lr_max = 5e-4;
  h.sgd_lr_factor = 30.0;
  h.schedules = {Schedule::kConstant, Schedule::kWarmupConstant, Schedule::kLinear, Schedule::kCosine};
  h.warmup_min = 0.0;
  h.warmup_max = 0.1;
  h.steps_min = 200;  // Model-J trains thousands of steps; fewer than ~200 leaves low-lr heads untrained
  h.steps_max = 800;
  h.weight_decay_min = 0.005;
  h.weight_decay_max = 0.03;
  h.batch_sizes = {32, 64, 128};
  h.fraction_min = 0.05;
  h.fraction_max = 0.25;
  h.optimizers = {OptimizerKind::kAdamW, OptimizerKind::kAdamW, OptimizerKind::kAdam, OptimizerKind::kSgd};
  h.p_shift = 0.5;
  h.p_flip = 0.5;
  return h;
}

// The sanity reference's fine-tunes (docs/accuracy.md): 1 epoch of Adam, batch 128, lr from
// {3e-4, 1e-3, 3e-3}, keeping the root's 10-way head.
void keep_root_head_children(ZooConfig* c) {
  c->fresh_head = false;
  c->child.lr_choices = {3e-4, 1e-3, 3e-3};
  c->child.optimizers = {OptimizerKind::kAdam};
}

SplitSizes sizes(int train, int val, int test, int val_holdout = 0, int test_holdout = 0) {
  SplitSizes s;
  s.count = {{Split::kTrain, train},
             {Split::kVal, val},
             {Split::kTest, test},
             {Split::kValHoldout, val_holdout},
             {Split::kTestHoldout, test_holdout}};
  return s;
}

// The "modelj" configuration (issue 21; every choice measured on pilot zoos: docs/accuracy.md, "The modelj
// zoo"):
// - a deeper MLP, 4 hidden layers of 256: the probed layer (fc2, [256, 256]) sits inside the body, not
//   under the head. Readable signal falls with depth: the layer under the children's fresh random heads
//   (fc4) reads at chance, fc2 best of the inner layers;
// - roots pre-trained without class labels, on rotation prediction (RotNet; Model-J's roots learned on
//   other data, some self-supervised). With 40 labels a denoising root read 0.02 better and a supervised
//   one 0.01 worse on fc2, within seed noise: a small lever;
// - 5 of the 10 classes per child, with its own head: 20 of 40 class x quarter-turn labels (closer to
//   Model-J's 50 of 100) read far worse on the same budget (fc2 ProbeX 0.65 vs 0.79 bit accuracy, 100
//   training models): each label is a twentieth of a child's fine-tune instead of a fifth. They stay
//   available (--label-rotations 4 --subset-k 20);
// - children are full fine-tunes long enough to learn their task: every parameter trains, lr 1e-4..1e-3
//   (model_j_like's range raised ~3x, for a fresh head on features that do not separate the classes yet;
//   the lower range was not tried), 500-1000 steps on 10-40% of each class's images.
// One child takes ~2.5 s on one core of the AMD EPYC this was measured on.
void modelj(ZooConfig* c) {
  c->architecture = "mlp-784-256-256-256-256-10";
  c->trees = 2;
  c->root_objective = RootObjective::kRotation;
  c->root_epochs = 2;
  c->subset = sizes(300, 50, 50);
  c->child = model_j_like();
  c->child.lr_min = 1e-4;
  c->child.lr_max = 1e-3;
  c->child.sgd_lr_factor = 10.0;  // SGD 1e-3..1e-2 with momentum 0.9, a usual SGD fine-tuning range (x30 not tried)
  c->child.steps_min = 500;
  c->child.steps_max = 1000;
  c->child.fraction_min = 0.1;
  c->child.fraction_max = 0.4;
}

}  // namespace

std::vector<std::string> named_zoo_config_names() { return {"small", "standard", "sanity", "demo", "modelj"}; }

bool named_zoo_config(const std::string& name, ZooConfig* out) {
  ZooConfig c;
  c.name = name;
  if (name == "small") {
    // The embedded default: what the demo and the tests use. Builds in under 2 minutes on 2 cores.
    c.seed = 20261127;
    c.trees = 3;
    c.root_epochs = 2;
    c.subset = sizes(20, 6, 6);
    c.detector = sizes(12, 4, 4, 4, 4);
    c.holdout_classes = {5, 8};  // Sandal, Bag
    c.child = model_j_like();
  } else if (name == "standard") {
    // For accuracy figures and benchmarks. Builds in about 35 minutes on 2 cores. Trees mlp-a..c share one
    // architecture (so only weights can tell them apart); mlp-d is a second architecture (its fc2 is
    // [64, 256]); foreign-a/b are trees whose roots the zoo withholds (the router must refuse them). Trees
    // are generated by index, so mlp-a..c are the same bytes as before mlp-d and the foreign trees existed.
    c.seed = 1;
    c.trees = 4;
    c.tree_architectures = {c.architecture, c.architecture, c.architecture, "mlp-784-256-64-10"};
    c.foreign_trees = 2;
    c.foreign_subset = 60;
    c.root_epochs = 4;
    c.subset = sizes(300, 50, 50);
    c.detector = sizes(160, 40, 40, 40, 40);
    c.holdout_classes = {5, 8};
    c.child = model_j_like();
  } else if (name == "sanity") {
    // A known reference: one 784-128-10 root, 2 epochs of Adam 1e-3 on all 60k images; 300 children
    // fine-tuned 1 epoch with Adam (batch 128) on all images of 5 random classes, keeping the root's
    // head, lr from {3e-4, 1e-3, 3e-3}.
    c.seed = 7;
    c.architecture = "mlp-784-128-10";
    c.trees = 1;
    c.root_epochs = 2;
    c.subset = sizes(200, 50, 50);
    keep_root_head_children(&c);
  } else if (name == "demo") {
    // The first-run demo (scripts/demo.sh): three trees of one architecture and one foreign tree, children
    // fine-tuned as in "sanity" (1 epoch of Adam on 5 classes, keeping the root's 10-way head), on a
    // quarter to half of those classes' images so it builds in about a minute on 2 cores. Keeping the head
    // leaves a clear trace in the weights: the method reads it almost perfectly, unlike the fresh heads
    // of "small" and "standard" (Model-J's practice), which are the honest test of accuracy.
    c.seed = 2026;
    c.trees = 3;
    c.foreign_trees = 1;
    c.foreign_subset = 8;
    c.root_epochs = 2;
    c.subset = sizes(60, 10, 20);
    keep_root_head_children(&c);
    c.child.fraction_min = 0.25;
    c.child.fraction_max = 0.5;
  } else if (name == "modelj") {
    // Closer to Model-J's trees (issue 21): roots that learned their features without class labels, children
    // that are full fine-tunes with their own heads, and a probed layer inside a deeper MLP. Values and the
    // reasons for each: modelj() above.
    c.seed = 21;
    modelj(&c);
  } else {
    return false;
  }
  *out = c;
  return true;
}

bool validate_zoo_config(const ZooConfig& c, std::string* error) {
  auto bad = [&](const std::string& what) {
    *error = "zoo configuration '" + c.name + "': " + what;
    return false;
  };
  if (c.trees < 1 || c.trees > 26) return bad("trees must be 1..26");
  if (!c.tree_architectures.empty() && static_cast<int>(c.tree_architectures.size()) != c.trees)
    return bad("tree_architectures must name one architecture per tree");
  if (c.foreign_trees < 0 || c.foreign_trees > 26 || c.foreign_subset < 0) return bad("foreign trees must be 0..26");
  if (c.foreign_trees > 0 && c.foreign_subset < 1) return bad("foreign trees need children");
  if (c.root_epochs < 1) return bad("root_epochs must be at least 1");
  if (c.label_rotations < 1 || c.label_rotations > 4) return bad("label_rotations must be 1..4");
  if (c.subset_k < 1 || c.subset_k >= label_count(c))
    return bad("subset_k must be 1.." + std::to_string(label_count(c) - 1));
  int detectors = 0;
  for (const auto& [split, count] : c.detector.count) detectors += count;
  if (c.label_rotations > 1 && detectors > 0)
    return bad("detector children take plain classes only (label_rotations 1)");
  for (int h : c.holdout_classes) {
    if (h < 0 || h >= kFashionMnistClasses) return bad("holdout class out of range");
  }
  if (static_cast<int>(c.holdout_classes.size()) >= kFashionMnistClasses - 1) return bad("too many holdout classes");
  const bool holdout_children = c.detector.get(Split::kValHoldout) + c.detector.get(Split::kTestHoldout) > 0;
  if (holdout_children && c.holdout_classes.empty()) return bad("holdout splits need holdout classes");
  if (c.subset.get(Split::kValHoldout) + c.subset.get(Split::kTestHoldout) > 0) {
    return bad("holdout splits hold detector children only");
  }
  const HyperRanges& h = c.child;
  if (h.lr_choices.empty() && !(h.lr_min > 0 && h.lr_max >= h.lr_min)) return bad("learning-rate range invalid");
  if (h.schedules.empty() || h.batch_sizes.empty() || h.optimizers.empty()) return bad("empty choice list");
  if (h.epochs_min < 1 || h.epochs_max < h.epochs_min) return bad("epoch range invalid");
  if (h.steps_min < 0 || h.steps_max < h.steps_min || (h.steps_max > 0 && h.steps_min < 1))
    return bad("step range invalid");
  if (!(h.fraction_min > 0 && h.fraction_max <= 1 && h.fraction_min <= h.fraction_max))
    return bad("data fraction range invalid");
  return true;
}

std::string tree_name(const ZooConfig& config, int tree) {
  if (tree >= config.trees) return std::string("foreign-") + static_cast<char>('a' + (tree - config.trees));
  const std::string& arch = tree_architecture(config, tree);
  return arch.substr(0, arch.find('-')) + "-" + static_cast<char>('a' + tree);
}

const std::string& tree_architecture(const ZooConfig& config, int tree) {
  if (tree < config.trees && static_cast<size_t>(tree) < config.tree_architectures.size())
    return config.tree_architectures[static_cast<size_t>(tree)];
  return config.architecture;
}

namespace {

template <class T>
const T& pick(Rng& rng, const std::vector<T>& v) {
  return v[static_cast<size_t>(rng.below(v.size()))];
}

void draw_hyperparameters(const HyperRanges& h, Rng& rng, ChildPlan* p) {
  p->optimizer = pick(rng, h.optimizers);
  p->lr = h.lr_choices.empty() ? rng.log_uniform(h.lr_min, h.lr_max) : pick(rng, h.lr_choices);
  if (p->optimizer == OptimizerKind::kSgd) p->lr *= h.sgd_lr_factor;
  p->schedule = pick(rng, h.schedules);
  p->warmup_ratio = p->schedule == Schedule::kConstant ? 0.0 : rng.uniform(h.warmup_min, h.warmup_max);
  p->epochs = h.epochs_min + static_cast<int>(rng.below(static_cast<uint64_t>(h.epochs_max - h.epochs_min + 1)));
  if (h.steps_max > 0) {
    p->steps = h.steps_min + static_cast<long>(rng.below(static_cast<uint64_t>(h.steps_max - h.steps_min + 1)));
  }
  p->weight_decay = rng.uniform(h.weight_decay_min, h.weight_decay_max);
  p->batch_size = pick(rng, h.batch_sizes);
  p->data_fraction = rng.uniform(h.fraction_min, h.fraction_max);
  p->augment_shift = rng.chance(h.p_shift);
  p->augment_flip = rng.chance(h.p_flip);
}

}  // namespace

namespace {

// k random labels of `n` in a random (head) order.
std::vector<int> random_classes(Rng& rng, int k, int n) {
  std::vector<int> all(static_cast<size_t>(n));
  for (int c = 0; c < n; ++c) all[static_cast<size_t>(c)] = c;
  rng.shuffle(all);
  all.resize(static_cast<size_t>(k));
  return all;
}

}  // namespace

std::vector<ChildPlan> plan_children(const ZooConfig& config) {
  std::vector<int> seen;
  for (int c = 0; c < kFashionMnistClasses; ++c) {
    if (std::find(config.holdout_classes.begin(), config.holdout_classes.end(), c) == config.holdout_classes.end()) {
      seen.push_back(c);
    }
  }
  std::vector<ChildPlan> plans;
  for (int tree = 0; tree < config.trees; ++tree) {
    for (TaskKind task : {TaskKind::kSubset, TaskKind::kDetector}) {
      const SplitSizes& sizes = task == TaskKind::kSubset ? config.subset : config.detector;
      for (Split split : kAllSplits) {
        const bool holdout = split == Split::kValHoldout || split == Split::kTestHoldout;
        const std::vector<int>& pool = holdout ? config.holdout_classes : seen;
        const int count = sizes.get(split);
        // Detector classes cycle through the pool from a random start, so each class gets an even
        // share of children in every split.
        Rng split_rng(derive_seed(config.seed, {static_cast<uint64_t>(tree), static_cast<uint64_t>(task),
                                                static_cast<uint64_t>(split)}));
        const size_t offset = pool.empty() ? 0 : static_cast<size_t>(split_rng.below(pool.size()));
        for (int i = 0; i < count; ++i) {
          ChildPlan p;
          p.tree = tree;
          p.task = task;
          p.split = split;
          p.index = i;
          p.seed = derive_seed(config.seed, {static_cast<uint64_t>(tree), static_cast<uint64_t>(task),
                                             static_cast<uint64_t>(split), static_cast<uint64_t>(i)});
          Rng rng(p.seed);
          if (task == TaskKind::kSubset) {
            p.classes = random_classes(rng, config.subset_k, label_count(config));
          } else {
            p.classes = {pool[(offset + static_cast<size_t>(i)) % pool.size()]};
          }
          draw_hyperparameters(config.child, rng, &p);
          plans.push_back(p);
        }
      }
    }
  }
  // Foreign trees: subset children only, all in split "foreign"; seeds from their own tree index.
  for (int tree = config.trees; tree < config.trees + config.foreign_trees; ++tree) {
    for (int i = 0; i < config.foreign_subset; ++i) {
      ChildPlan p;
      p.tree = tree;
      p.task = TaskKind::kSubset;
      p.split = Split::kForeign;
      p.index = i;
      p.seed = derive_seed(config.seed, {static_cast<uint64_t>(tree), static_cast<uint64_t>(p.task),
                                         static_cast<uint64_t>(p.split), static_cast<uint64_t>(i)});
      Rng rng(p.seed);
      p.classes = random_classes(rng, config.subset_k, label_count(config));
      draw_hyperparameters(config.child, rng, &p);
      plans.push_back(p);
    }
  }
  return plans;
}

void apply_zoo_overrides(const ZooOverrides& o, ZooConfig* config) {
  if (o.seed >= 0) config->seed = static_cast<uint64_t>(o.seed);
  if (!o.architecture.empty()) {
    config->architecture = o.architecture;
    config->tree_architectures.clear();
  }
  if (o.trees > 0) {
    config->trees = o.trees;
    if (!config->tree_architectures.empty()) config->tree_architectures.resize(config->trees, config->architecture);
  }
  if (!o.subset) {
    config->subset.count.clear();
    config->foreign_trees = 0;  // foreign trees hold subset children only
  }
  if (!o.detector) config->detector.count.clear();
  if (o.children > 0)
    for (SplitSizes* sizes : {&config->subset, &config->detector})
      for (auto& [split, count] : sizes->count) count = std::min(count, o.children);
  if (o.steps_scale > 0.0) {
    config->child.steps_min = static_cast<int>(std::lround(config->child.steps_min * o.steps_scale));
    config->child.steps_max = static_cast<int>(std::lround(config->child.steps_max * o.steps_scale));
  }
  if (!o.root_objective.empty()) {
    config->root_objective = o.root_objective == "rotation"  ? RootObjective::kRotation
                             : o.root_objective == "denoise" ? RootObjective::kDenoise
                                                             : RootObjective::kClassify;
  }
  if (o.label_rotations > 0) config->label_rotations = o.label_rotations;
  if (o.subset_k > 0) config->subset_k = o.subset_k;
  const bool custom = !o.architecture.empty() || o.trees > 0 || !o.subset || !o.detector || o.children > 0 ||
                      o.steps_scale > 0.0 || !o.root_objective.empty() || o.label_rotations > 0 || o.subset_k > 0;
  if (custom) config->name += "-custom";  // recorded in every file's metadata: not the named zoo
}

}  // namespace probex::convert
