#include "converter/zoo/zoo.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "converter/cli/parallel.h"
#include "converter/cli/progress.h"
#include "converter/io/safetensors_writer.h"
#include "converter/nn/blas.h"
#include "converter/nn/train.h"
#include "converter/zoo/layout.h"
#include "converter/zoo/model_writer.h"
#include "runtime/formats/json_writer.h"
#include "runtime/formats/python_literal.h"
#include "runtime/formats/safetensors.h"

namespace fs = std::filesystem;

namespace probex::convert {
namespace {

constexpr const char* kFormat = "probex-zoo/1";

// The training and test images, normalised once and indexed by class.
struct PreparedData {
  ImageTensor train, test;
  std::vector<int32_t> train_labels;
  std::vector<std::vector<uint32_t>> train_by_class, test_by_class;
};

PreparedData prepare(const FashionMnist& data) {
  PreparedData p;
  p.train = normalize_images(data.train);
  p.test = normalize_images(data.test);
  p.train_labels.assign(data.train.labels.begin(), data.train.labels.end());
  p.train_by_class.resize(kFashionMnistClasses);
  p.test_by_class.resize(kFashionMnistClasses);
  for (uint32_t i = 0; i < data.train.count; ++i) p.train_by_class[data.train.labels[i]].push_back(i);
  for (uint32_t i = 0; i < data.test.count; ++i) p.test_by_class[data.test.labels[i]].push_back(i);
  return p;
}

std::string fmt(double v) { return format_number(v); }

std::string class_list(const std::vector<int>& labels) {
  std::vector<std::string> names;
  for (int l : labels) names.push_back(label_name(l));
  return python_list_literal(names);
}

// The image class and quarter-turns of a label (config.h, label_rotations).
int label_class(int label) { return label % kFashionMnistClasses; }
uint8_t label_turns(int label) { return static_cast<uint8_t>(label / kFashionMnistClasses); }

// Masked share of pixels for the denoising root (RootObjective::kDenoise): half, so the root must learn
// what garments look like rather than copy its input; MAE masks 75% of patches, pixels are easier.
constexpr double kDenoiseMaskRatio = 0.5;

std::string int_list(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// Writes the model of folder `model_dir` (relative to `root_dir`) in the requested format and layout;
// *rel_path: its file, relative to root_dir.
bool write_model(const fs::path& root_dir, const std::string& model_dir, const Model& model,
                 const std::map<std::string, std::string>& metadata, const ZooBuildOptions& options,
                 std::string* rel_path, std::string* error) {
  std::vector<TensorView> tensors;
  for (const Param* p : model.params()) tensors.push_back({p->name, p->shape, p->value.data(), p->value.size()});
  std::vector<uint8_t> bytes;
  return encode_zoo_model(tensors, metadata, options.format, options.gguf_type, options.tflite_type, model_dir, &bytes,
                          error) &&
         place_zoo_model(root_dir, model_dir, bytes, options.layout, options.format, rel_path, error);
}

std::map<std::string, std::string> common_metadata(const ZooConfig& config, int tree) {
  return {{"format", kFormat},
          {"zoo", config.name},
          {"zoo_seed", std::to_string(config.seed)},
          {"tree", tree_name(config, tree)},
          {"root", tree < config.trees ? tree_name(config, tree) + "/root" : "withheld"},
          {"architecture", tree_architecture(config, tree)}};
}

struct TrainedModel {
  Model model;
  std::string rel_path;
  std::map<std::string, std::string> metadata;
  std::string error;
};

// The root's features come from its objective (config.h): supervised on the 10 classes, or label-free
// (rotation prediction, denoising); the label-free roots train a head of their own, which every child
// replaces.
void train_root(const ZooConfig& config, const PreparedData& data, int tree, TrainedModel* out) {
  std::string error;
  Model model;
  Model::from_spec(tree_architecture(config, tree), &model, &error);  // validated by the caller
  const uint64_t seed = derive_seed(config.seed, {static_cast<uint64_t>(tree), 0x600Du});
  Rng rng(seed);
  model.init(rng);
  const RootObjective objective = config.root_objective;
  if (objective == RootObjective::kRotation) model.replace_head(4, rng);
  if (objective == RootObjective::kDenoise) model.replace_head(kFashionMnistPixels, rng);
  TrainConfig tc;
  tc.epochs = config.root_epochs;
  tc.batch_size = static_cast<size_t>(config.root_batch);
  tc.lr = config.root_lr;
  tc.optimizer.kind = OptimizerKind::kAdam;
  TrainReport report;
  size_t train_examples = 0;
  std::vector<int> targets;  // what the root's head outputs, for dataset_chosen_targets
  std::vector<std::string> target_names;
  std::string metric = "accuracy";
  double test_score = 0.0, chance = 1.0 / kFashionMnistClasses;
  std::vector<uint32_t> test_idx;
  std::vector<int32_t> test_labels;
  for (int c = 0; c < kFashionMnistClasses; ++c) {
    for (uint32_t i : data.test_by_class[static_cast<size_t>(c)]) {
      test_idx.push_back(i);
      test_labels.push_back(c);
    }
  }
  auto accuracy = [](const std::vector<int32_t>& pred, const std::vector<int32_t>& truth) {
    size_t correct = 0;
    for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == truth[i];
    return static_cast<double>(correct) / static_cast<double>(pred.size());
  };
  if (objective == RootObjective::kDenoise) {
    std::vector<uint32_t> all(data.train.count);
    for (uint32_t i = 0; i < data.train.count; ++i) all[i] = i;
    report = train_denoiser(model, data.train, all, tc, kDenoiseMaskRatio, rng);
    train_examples = all.size();
    metric = "reconstruction_r2";
    chance = 0.0;
    Rng eval_rng(seed ^ 0xE7A1ull);
    test_score = denoise_r2(model, data.test, test_idx, kDenoiseMaskRatio, eval_rng);
  } else if (objective == RootObjective::kRotation) {
    // Every training image at each of its 4 quarter-turns, labelled with the turn: no class label is used.
    LabelledSubset turned;
    for (uint8_t t = 0; t < 4; ++t) {
      for (uint32_t i = 0; i < data.train.count; ++i) {
        turned.indices.push_back(i);
        turned.labels.push_back(t);
        turned.quarter_turns.push_back(t);
      }
    }
    report = train_classifier(model, data.train, turned, tc, rng);
    train_examples = turned.indices.size();
    std::vector<uint32_t> idx;
    std::vector<int32_t> truth;
    std::vector<uint8_t> turns;
    for (uint8_t t = 0; t < 4; ++t) {
      idx.insert(idx.end(), test_idx.begin(), test_idx.end());
      truth.insert(truth.end(), test_idx.size(), t);
      turns.insert(turns.end(), test_idx.size(), t);
    }
    test_score = accuracy(predict(model, data.test, idx, turns), truth);
    chance = 0.25;
    for (int t = 0; t < 4; ++t) target_names.push_back("rotated " + std::to_string(90 * t));
  } else {
    LabelledSubset all;
    for (uint32_t i = 0; i < data.train.count; ++i) {
      all.indices.push_back(i);
      all.labels.push_back(data.train_labels[i]);
    }
    report = train_classifier(model, data.train, all, tc, rng);
    train_examples = all.indices.size();
    test_score = accuracy(predict(model, data.test, test_idx), test_labels);
    for (int c = 0; c < kFashionMnistClasses; ++c) targets.push_back(c);
  }

  auto md = common_metadata(config, tree);
  md["task"] = task_name(TaskKind::kPretrain);
  md["split"] = "root";
  md["model"] = "root";
  md["seed"] = std::to_string(seed);
  if (objective == RootObjective::kClassify) {
    md["dataset_chosen_targets"] = class_list(targets);
    md["class_indices"] = int_list(targets);
  } else {
    // Label-free roots learned no class: their head's targets are turns or pixels.
    md["root_objective"] = root_objective_name(objective);
    md["dataset_chosen_targets"] = python_list_literal(target_names);
    md["class_indices"] = "[]";
  }
  md["head"] = "fresh";
  md["optimizer"] = optimizer_name(OptimizerKind::kAdam);
  md["learning_rate"] = fmt(config.root_lr);
  md["lr_schedule"] = schedule_name(Schedule::kConstant);
  md["epochs"] = std::to_string(config.root_epochs);
  md["batch_size"] = std::to_string(config.root_batch);
  md["train_examples"] = std::to_string(train_examples);
  md["steps"] = std::to_string(report.steps);
  md["final_train_loss"] = fmt(report.last_epoch_loss);
  md["test_metric"] = metric;
  md["test_accuracy"] = fmt(test_score);
  md["test_chance"] = fmt(chance);
  out->model = std::move(model);
  out->metadata = std::move(md);
}

// The images a detector of `positive` must reject: every class but itself and the holdout classes, so
// holdout classes stay unseen by the detectors of seen classes (they are zero-shot targets).
std::vector<uint32_t> detector_negatives(const ZooConfig& config, const std::vector<std::vector<uint32_t>>& by_class,
                                         int positive) {
  std::vector<uint32_t> negatives;
  for (int c = 0; c < kFashionMnistClasses; ++c) {
    const auto& holdout = config.holdout_classes;
    if (c != positive && std::find(holdout.begin(), holdout.end(), c) == holdout.end()) {
      const auto& pool = by_class[static_cast<size_t>(c)];
      negatives.insert(negatives.end(), pool.begin(), pool.end());
    }
  }
  return negatives;
}

// The training images of a child and their head labels.
LabelledSubset child_training_set(const ZooConfig& config, const PreparedData& data, const ChildPlan& p, Rng& rng) {
  LabelledSubset set;
  auto take = [&](const std::vector<uint32_t>& pool, size_t n, int32_t label) {
    std::vector<uint32_t> shuffled = pool;
    rng.shuffle(shuffled);
    n = std::min(n, shuffled.size());
    for (size_t i = 0; i < n; ++i) {
      set.indices.push_back(shuffled[i]);
      set.labels.push_back(label);
    }
  };
  if (p.task == TaskKind::kSubset) {
    for (size_t h = 0; h < p.classes.size(); ++h) {
      const int label = p.classes[h];
      const auto& pool = data.train_by_class[static_cast<size_t>(label_class(label))];
      const auto n = static_cast<size_t>(std::lround(p.data_fraction * static_cast<double>(pool.size())));
      take(pool, std::max<size_t>(n, 1), config.fresh_head ? static_cast<int32_t>(h) : label);
      // Rotated labels: the label's images turned (left empty otherwise, so plain zoos train as before).
      if (config.label_rotations > 1) set.quarter_turns.resize(set.indices.size(), label_turns(label));
    }
    return set;
  }
  // Detector: the class (label 1) against as many images of the other non-holdout classes (label 0).
  const auto& positives = data.train_by_class[static_cast<size_t>(p.classes[0])];
  const auto n = std::max<size_t>(
      static_cast<size_t>(std::lround(p.data_fraction * static_cast<double>(positives.size()))), 1);
  take(positives, n, 1);
  take(detector_negatives(config, data.train_by_class, p.classes[0]), n, 0);
  return set;
}

// The child's own test metric: accuracy over its classes (subset), balanced accuracy (detector).
void evaluate_child(const ZooConfig& config, const PreparedData& data, const ChildPlan& p, Model& model,
                    std::map<std::string, std::string>* md) {
  if (p.task == TaskKind::kSubset) {
    std::vector<uint32_t> idx;
    std::vector<int32_t> labels;
    std::vector<uint8_t> turns;
    for (size_t h = 0; h < p.classes.size(); ++h) {
      for (uint32_t i : data.test_by_class[static_cast<size_t>(label_class(p.classes[h]))]) {
        idx.push_back(i);
        labels.push_back(config.fresh_head ? static_cast<int32_t>(h) : p.classes[h]);
        if (config.label_rotations > 1) turns.push_back(label_turns(p.classes[h]));
      }
    }
    const auto pred = predict(model, data.test, idx, turns);
    size_t correct = 0;
    for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == labels[i];
    (*md)["test_metric"] = "accuracy";
    (*md)["test_accuracy"] = fmt(static_cast<double>(correct) / static_cast<double>(pred.size()));
    (*md)["test_chance"] = fmt(1.0 / static_cast<double>(p.classes.size()));
    return;
  }
  const std::vector<uint32_t>& pos = data.test_by_class[static_cast<size_t>(p.classes[0])];
  const std::vector<uint32_t> neg = detector_negatives(config, data.test_by_class, p.classes[0]);
  const auto pred_pos = predict(model, data.test, pos);
  const auto pred_neg = predict(model, data.test, neg);
  const double tpr = static_cast<double>(std::count(pred_pos.begin(), pred_pos.end(), 1)) /
                     static_cast<double>(pos.size());
  const double tnr = static_cast<double>(std::count(pred_neg.begin(), pred_neg.end(), 0)) /
                     static_cast<double>(neg.size());
  (*md)["test_metric"] = "balanced_accuracy";
  (*md)["test_accuracy"] = fmt(0.5 * (tpr + tnr));
  (*md)["test_chance"] = "0.5";
}

void train_child(const ZooConfig& config, const PreparedData& data, const Model& root, const ChildPlan& p,
                 TrainedModel* out) {
  Rng rng(p.seed ^ 0x5EEDull);  // the plan's own draws used p.seed; training gets a separate stream
  Model model = root.clone();
  if (config.fresh_head) {
    model.replace_head(p.task == TaskKind::kSubset ? p.classes.size() : 2, rng);
  }
  const LabelledSubset set = child_training_set(config, data, p, rng);
  TrainConfig tc;
  tc.epochs = p.epochs;
  tc.steps = p.steps;
  tc.batch_size = static_cast<size_t>(p.batch_size);
  tc.lr = p.lr;
  tc.schedule = p.schedule;
  tc.warmup_ratio = p.warmup_ratio;
  tc.optimizer.kind = p.optimizer;
  tc.optimizer.weight_decay = p.weight_decay;
  tc.augment_shift = p.augment_shift;
  tc.augment_flip = p.augment_flip;
  const TrainReport report = train_classifier(model, data.train, set, tc, rng);

  auto md = common_metadata(config, p.tree);
  md["task"] = task_name(p.task);
  md["split"] = split_name(p.split);
  md["seed"] = std::to_string(p.seed);
  md["dataset_chosen_targets"] = class_list(p.classes);
  md["class_indices"] = int_list(p.classes);
  md["head"] = config.fresh_head ? "fresh" : "root";
  md["optimizer"] = optimizer_name(p.optimizer);
  md["learning_rate"] = fmt(p.lr);
  md["lr_schedule"] = schedule_name(p.schedule);
  md["warmup_ratio"] = fmt(p.warmup_ratio);
  md["weight_decay"] = fmt(p.weight_decay);
  md["batch_size"] = std::to_string(p.batch_size);
  md["data_fraction"] = fmt(p.data_fraction);
  md["augment_shift"] = p.augment_shift ? "true" : "false";
  md["augment_flip"] = p.augment_flip ? "true" : "false";
  md["train_examples"] = std::to_string(set.indices.size());
  md["steps"] = std::to_string(report.steps);
  md["epochs"] = fmt(std::round(report.epochs * 100.0) / 100.0);
  md["final_train_loss"] = fmt(report.last_epoch_loss);
  evaluate_child(config, data, p, model, &md);
  out->model = std::move(model);
  out->metadata = std::move(md);
}

std::string manifest_line(const ZooModel& m) {
  std::string line = "{\"path\":";
  append_json_string(&line, m.path);
  for (const auto& [k, v] : m.metadata) {
    line += ",";
    append_json_string(&line, k);
    line += ":";
    append_json_string(&line, v);
  }
  return line + "}\n";
}

}  // namespace

const std::string& ZooModel::get(const std::string& key) const {
  static const std::string kEmpty;
  auto it = metadata.find(key);
  return it == metadata.end() ? kEmpty : it->second;
}

bool build_zoo(const ZooConfig& config, const FashionMnist& raw, const ZooBuildOptions& options,
               std::vector<ZooModel>* models, std::string* error) {
  if (!validate_zoo_config(config, error)) return false;
  for (int t = 0; t < config.trees + config.foreign_trees; ++t) {
    Model probe;
    const std::string& arch = tree_architecture(config, t);
    if (!Model::from_spec(arch, &probe, error)) return false;
    if (probe.input_size() != kFashionMnistPixels) {
      *error = "architecture '" + arch + "' does not take 784 inputs";
      return false;
    }
  }
  std::string out = options.out_dir;
  while (out.size() > 1 && out.back() == '/') out.pop_back();  // "zoo/" must not build in "zoo/.partial"
  const fs::path final_dir(out);
  const fs::path work_dir(out + ".partial");
  std::error_code ec;
  if (fs::exists(final_dir) && !options.overwrite) {
    *error = options.out_dir + ": already exists (pass --force to replace it)";
    return false;
  }
  fs::remove_all(work_dir, ec);
  fs::create_directories(work_dir, ec);
  if (ec) {
    *error = work_dir.string() + ": cannot create: " + ec.message();
    return false;
  }

  // One BLAS thread per model: the zoo runs models in parallel instead, which scales better for these
  // small GEMMs and keeps every model's arithmetic independent of the thread count.
  blas::set_threads(1);
  const PreparedData data = prepare(raw);
  std::vector<TrainedModel> roots(static_cast<size_t>(config.trees + config.foreign_trees));
  {
    Progress progress("roots   ", roots.size(), options.progress);
    parallel_for(roots.size(), options.threads, [&](size_t t) {
      TrainedModel& r = roots[t];
      train_root(config, data, static_cast<int>(t), &r);
      // A foreign tree's root stays in memory only: no bundle, router or user of the zoo may see it.
      if (static_cast<int>(t) < config.trees)
        write_model(work_dir, tree_name(config, static_cast<int>(t)) + "/root", r.model, r.metadata, options,
                    &r.rel_path, &r.error);
      progress.advance();
    });
  }

  for (const TrainedModel& r : roots) {
    if (!r.error.empty()) {
      *error = r.error;
      return false;
    }
  }

  const std::vector<ChildPlan> plans = plan_children(config);
  std::vector<TrainedModel> children(plans.size());
  {
    Progress progress("children", plans.size(), options.progress);
    parallel_for(plans.size(), options.threads, [&](size_t i) {
      const ChildPlan& p = plans[i];
      TrainedModel& c = children[i];
      train_child(config, data, roots[static_cast<size_t>(p.tree)].model, p, &c);
      char name[32];
      std::snprintf(name, sizeof name, "%s-%04d", task_name(p.task), p.index);
      c.metadata["model"] = name;
      const std::string dir = tree_name(config, p.tree) + "/" + split_name(p.split) + "/" + name;
      write_model(work_dir, dir, c.model, c.metadata, options, &c.rel_path, &c.error);
      c.model = Model();  // free the weights: only the metadata is needed from here on
      progress.advance();
    });
  }

  models->clear();
  for (auto* group : {&roots, &children}) {
    for (TrainedModel& t : *group) {
      if (!t.error.empty()) {
        *error = t.error;
        return false;
      }
      if (t.rel_path.empty()) continue;  // a withheld foreign root
      models->push_back({t.rel_path, std::move(t.metadata)});
    }
  }
  std::string manifest;
  for (const ZooModel& m : *models) manifest += manifest_line(m);
  if (!write_file_atomically((work_dir / "manifest.jsonl").string(), manifest.data(), manifest.size(), error)) {
    return false;
  }
  if (fs::exists(final_dir)) fs::remove_all(final_dir, ec);
  fs::rename(work_dir, final_dir, ec);
  if (ec) {
    *error = options.out_dir + ": cannot move the finished zoo into place: " + ec.message();
    return false;
  }
  return true;
}

bool scan_zoo(const std::string& dir, std::vector<ZooModel>* models, std::string* error) {
  std::vector<ZooFile> files;
  if (!list_zoo_files(dir, &files, error)) return false;
  models->clear();
  for (const ZooFile& f : files) {
    SafetensorsFile file;
    const SafetensorsStatus st = SafetensorsFile::open(f.path, &file);
    if (!st.ok()) {
      *error = st.message;
      return false;
    }
    ZooModel m;
    m.path = fs::relative(f.path, dir).string();
    for (const auto& [k, v] : file.metadata()) m.metadata[k] = v;
    models->push_back(std::move(m));
  }
  std::sort(models->begin(), models->end(), [](const ZooModel& a, const ZooModel& b) { return a.path < b.path; });
  return true;
}

std::string summarize_zoo(const std::vector<ZooModel>& models) {
  struct Group {
    std::map<std::string, int> per_split;
    std::vector<double> accuracy;
    double chance = 0.0;
    std::string metric;
  };
  std::map<std::string, std::string> root_accuracy;
  std::map<std::pair<std::string, std::string>, Group> groups;  // (tree, task)
  for (const ZooModel& m : models) {
    if (m.get("task") == "pretrain") {
      root_accuracy[m.get("tree")] = m.get("test_accuracy");
      continue;
    }
    Group& g = groups[{m.get("tree"), m.get("task")}];
    ++g.per_split[m.get("split")];
    g.accuracy.push_back(std::strtod(m.get("test_accuracy").c_str(), nullptr));
    g.chance = std::strtod(m.get("test_chance").c_str(), nullptr);
    g.metric = m.get("test_metric");
  }
  std::ostringstream out;
  char line[256];
  out << "tree     root acc  task       models  child metric       min    p10    median  max    chance\n";
  std::string split_lines;
  for (auto& [key, g] : groups) {
    std::sort(g.accuracy.begin(), g.accuracy.end());
    const std::vector<double>& sorted = g.accuracy;  // a lambda may not capture a structured binding (C++17)
    auto q = [&sorted](double f) { return sorted[static_cast<size_t>(f * static_cast<double>(sorted.size() - 1))]; };
    std::snprintf(line, sizeof line, "%-8s %-9s %-10s %6zu  %-17s  %.3f  %.3f  %.3f   %.3f  %.3f\n", key.first.c_str(),
                  root_accuracy[key.first].substr(0, 6).c_str(), key.second.c_str(), g.accuracy.size(),
                  g.metric.c_str(), g.accuracy.front(), q(0.1), q(0.5), g.accuracy.back(), g.chance);
    out << line;
    split_lines += "  " + key.first + " " + key.second + ":";
    for (Split s :
         {Split::kTrain, Split::kVal, Split::kTest, Split::kValHoldout, Split::kTestHoldout, Split::kForeign}) {
      auto it = g.per_split.find(split_name(s));
      if (it != g.per_split.end()) split_lines += " " + std::string(split_name(s)) + " " + std::to_string(it->second);
    }
    split_lines += "\n";
  }
  out << "children per split:\n" << split_lines;
  return out.str();
}

}  // namespace probex::convert
