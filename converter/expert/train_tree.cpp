#include "converter/expert/train_tree.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <utility>

#include "converter/expert/checkpoint.h"
#include "converter/expert/labels.h"
#include "converter/expert/weight_stats.h"
#include "runtime/formats/json_writer.h"
#include "runtime/formats/python_literal.h"

namespace probex::convert {
namespace {

size_t count_params(MultiLabelModel& m) {
  size_t n = 0;
  for (const Param* p : m.params()) n += p->value.size();
  return n;
}

// Member by member: GCC 12 takes `MethodResult{name, n, {}, fit}` for a read of the empty metrics'
// vector before it is built (-Wmaybe-uninitialized).
MethodResult fitted(const std::string& method, MultiLabelModel& model, FitResult fit) {
  MethodResult r;
  r.method = method;
  r.parameters = count_params(model);
  r.fit = std::move(fit);
  return r;
}

struct Splits {
  LoadedSplit train, val, test, heldout;
  std::vector<std::string> space;
};

bool has_split(const std::vector<ZooFile>& files, const std::string& tree, const std::string& split) {
  for (const ZooFile& f : files)
    if (f.tree == tree && f.split == split) return true;
  return false;
}

bool load_splits(const std::vector<ZooFile>& files, const std::string& tree, const LoadOptions& load, bool with_test,
                 Splits* s, std::string* error) {
  if (!load_split(files, tree, "train", load, &s->space, 0, 0, &s->train, error)) return false;
  if (!load_split(files, tree, "val", load, &s->space, s->train.rows, s->train.cols, &s->val, error)) return false;
  if (with_test && !load_split(files, tree, "test", load, &s->space, s->train.rows, s->train.cols, &s->test, error)) {
    return false;
  }
  // Held-out models are labelled in the training space; one whose labels are not all in it is skipped.
  if (with_test && has_split(files, tree, "heldout") &&
      !load_split(files, tree, "heldout", load, &s->space, s->train.rows, s->train.cols, &s->heldout, error)) {
    return false;
  }
  return true;
}

std::string fmt(double v) { return format_number(v); }

// The test models of every other tree whose layer has this tree's shape, through this tree's expert. A
// tree that cannot be loaded so (another shape, too many bad models) is left out: the map is a picture,
// not a check.
void embed_other_trees(const std::vector<ZooFile>& files, const std::string& tree, const LoadOptions& load,
                       const std::function<std::vector<float>(const ExpertData&)>& embed, TreeReport* report) {
  for (const std::string& other : zoo_trees(files)) {
    if (other == tree) continue;
    std::vector<std::string> space;  // the other tree's own labels: not used here
    LoadedSplit test;
    std::string ignored;
    if (!load_split(files, other, "test", load, &space, report->rows, report->cols, &test, &ignored)) continue;
    const std::vector<float> e = embed(test.data);
    report->other_embeddings.insert(report->other_embeddings.end(), e.begin(), e.end());
    report->other_trees.insert(report->other_trees.end(), test.data.count, other);
  }
}

// One expert train_tree trains: ProbeX, or MVProbe with its views.
struct ExpertSpec {
  std::string name;  // the method's name: probex, mvprobe, mvprobe2
  bool mvprobe = false;
  unsigned views = kAllViews;
};

std::vector<ExpertSpec> expert_specs(const TreeTrainOptions& o) {
  switch (o.expert) {
    case ExpertKind::kProbex: return {{kExpertProbex, false, kAllViews}};
    case ExpertKind::kMvProbe: return {{kExpertMvProbe, true, o.mvprobe_views}};
    case ExpertKind::kAuto: break;
  }
  return {{kExpertProbex, false, kAllViews},
          {kExpertMvProbe, true, kAllViews},
          {kExpertMvProbe2, true, (1u << kViewXXtU) | (1u << kViewXtXU)}};
}

// A expert: exactly one of the two is set.
struct AnyExpert {
  std::unique_ptr<ProbexExpert> probex;
  std::unique_ptr<MvProbeExpert> mvprobe;

  MultiLabelModel& model() { return probex ? static_cast<MultiLabelModel&>(*probex) : *mvprobe; }
  std::vector<float> embed(const ExpertData& d) {
    return probex ? predict_embeddings(*probex, d) : predict_embeddings(*mvprobe, d);
  }
};

// The expert of `spec`, initialised from the seed alone (so a expert starts from the same parameters
// whichever others are trained beside it).
AnyExpert make_expert(const ExpertSpec& spec, const TreeTrainOptions& o, size_t rows, size_t cols, size_t labels) {
  AnyExpert r;
  Rng rng(o.fit.seed);
  if (spec.mvprobe) {
    MvProbeShape m = mvprobe_shape(o, rows, cols, labels);
    m.views = spec.views;
    r.mvprobe = std::make_unique<MvProbeExpert>(m);
    r.mvprobe->init(rng);
  } else {
    r.probex = std::make_unique<ProbexExpert>(ProbexShape{rows, cols, o.r_u, o.r_v, o.r_t, labels});
    r.probex->init(rng);
  }
  return r;
}

// What a bundle stores for the expert of `spec` (an MVProbe with masked views: its live views only).
size_t expert_parameters(const ExpertSpec& spec, const TreeTrainOptions& o, const ProbexShape& shape) {
  if (!spec.mvprobe) return probex_parameter_count(shape);
  MvProbeShape m = mvprobe_shape(o, shape.d_h, shape.d_w, shape.d_y);
  m.views = spec.views;
  return mvprobe_live_parameter_count(m);
}

FitConfig expert_fit(const ExpertSpec& spec, const TreeTrainOptions& o) {
  return spec.mvprobe ? mvprobe_fit(o) : o.fit;
}

// A trained expert's parameter values, so that only one expert (and its training buffers) is alive at a time.
std::vector<std::vector<float>> snapshot(MultiLabelModel& model) {
  std::vector<std::vector<float>> values;
  for (const Param* p : model.params()) values.push_back(p->value);
  return values;
}

void restore(MultiLabelModel& model, const std::vector<std::vector<float>>& values) {
  const std::vector<Param*> params = model.params();
  for (size_t i = 0; i < params.size(); ++i) params[i]->value = values[i];
}

// --expert auto's record in a checkpoint: which expert and why, the budget, and every candidate's size and
// figures. The figures' keys start with "val_" or "test_", so probex-convert copies them into the bundle's
// metrics; a candidate that was not trained has no figures.
void add_expert_choice_metadata(const ExpertChoice& choice, const std::string& format,
                                std::map<std::string, std::string>* md) {
  (*md)["reader"] = format;
  (*md)["reader_candidate"] = choice.chosen;
  for (const ExpertCandidate& c : choice.candidates) {
    if (c.expert == choice.chosen && !c.views.empty()) (*md)["reader_views"] = c.views;
  }
  (*md)["reader_reason"] = choice.reason;
  (*md)["reader_budget_bytes"] = std::to_string(choice.budget_bytes);
  for (const ExpertCandidate& c : choice.candidates) {
    (*md)["reader_" + c.expert + "_bytes"] = std::to_string(c.bytes);
    if (!c.trained) continue;
    (*md)["val_reader_" + c.expert + "_bit"] = fmt(c.val_bit);
    (*md)["test_reader_" + c.expert + "_bit"] = fmt(c.test.bit_accuracy);
    (*md)["test_reader_" + c.expert + "_exact"] = fmt(c.test.exact_set);
    (*md)["test_reader_" + c.expert + "_auc"] = fmt(c.test.mean_auc);
  }
}

}  // namespace

std::map<std::string, std::string> checkpoint_metadata(const std::string& tree, const TreeTrainOptions& options,
                                                       const std::string& rule, const ProbexShape& shape,
                                                       const FitConfig& fit, const std::vector<std::string>& labels,
                                                       int best_epoch, size_t train_models) {
  return {
      {"format", "probex-expert/1"},
      {"tree", tree},
      {"layer", options.load.layer},
      {"layer_shape", "[" + std::to_string(shape.d_h) + ", " + std::to_string(shape.d_w) + "]"},
      {"layer_rule", rule},
      {"task", options.load.task},
      {"labels", python_list_literal(labels)},
      {"r_u", std::to_string(shape.r_u)},
      {"r_v", std::to_string(shape.r_v)},
      {"r_t", std::to_string(shape.r_t)},
      {"epochs", std::to_string(fit.epochs)},
      {"batch_size", std::to_string(fit.batch_size)},
      {"learning_rate", fmt(fit.lr)},
      {"weight_decay", fmt(fit.weight_decay)},
      {"eval_every", std::to_string(fit.eval_every)},
      {"seed", std::to_string(fit.seed)},
      {"best_epoch", std::to_string(best_epoch)},
      {"train_models", std::to_string(train_models)},
  };
}

MvProbeShape mvprobe_shape(const TreeTrainOptions& o, size_t rows, size_t cols, size_t labels) {
  MvProbeShape m;
  m.d_h = rows;
  m.d_w = cols;
  m.r = o.r_u;
  m.p = o.r_v;
  m.r_t = o.r_t;
  m.d_y = labels;
  m.views = o.mvprobe_views;
  return m;
}

FitConfig mvprobe_fit(const TreeTrainOptions& o) {
  FitConfig f = o.fit;
  f.lr = o.mvprobe_lr;
  return f;
}

void set_mvprobe_metadata(const MvProbeShape& shape, std::map<std::string, std::string>* md) {
  // save_mvprobe_checkpoint sets the format (probex-mvprobe-expert/1): ProbeX's loader refuses it.
  (*md)["expert"] = "mvprobe";
  (*md)["r"] = std::to_string(shape.r);
  (*md)["p"] = std::to_string(shape.p);
  md->erase("r_u");
  md->erase("r_v");
  (*md)["views"] = mvprobe_view_list(shape.views);
}

bool is_expert_method(const std::string& method) {
  return method == kExpertProbex || method == kExpertMvProbe || method == kExpertMvProbe2;
}

bool train_tree(const std::vector<ZooFile>& files, const std::string& tree, const TreeTrainOptions& options,
                TreeReport* report, std::string* error) {
  Splits s;
  if (!load_splits(files, tree, options.load, true, &s, error)) return false;
  if (options.max_train > 0 && options.max_train < s.train.data.count) {
    ExpertData& d = s.train.data;
    d.count = options.max_train;
    d.x.resize(d.count * d.features);
    d.y.resize(d.count * d.labels);
    d.names.resize(d.count);
  }
  *report = TreeReport();
  report->tree = tree;
  report->layer = options.load.layer;
  report->rule = layer_rule_name(s.train.rule);
  report->rows = s.train.rows;
  report->cols = s.train.cols;
  report->train = s.train.data.count;
  report->val = s.val.data.count;
  report->test = s.test.data.count;
  report->heldout = s.heldout.data.count;
  report->labels = s.space;
  // Scores a method on the test and held-out models (features: what the method reads of each split).
  const auto score = [&](MethodResult* r, MultiLabelModel& model, const ExpertData& test, const ExpertData& heldout) {
    std::vector<float> out = predict(model, test);
    r->test = multilabel_metrics(out.data(), test.y.data(), test.count, s.space.size());
    if (heldout.count > 0) {
      out = predict(model, heldout);
      r->heldout = multilabel_metrics(out.data(), heldout.y.data(), heldout.count, s.space.size());
    }
  };
  for (const LoadedSplit* l : {&s.train, &s.val, &s.test, &s.heldout}) {
    report->skipped.insert(report->skipped.end(), l->skipped.begin(), l->skipped.end());
  }

  ProbexShape shape;
  shape.d_h = s.train.rows;
  shape.d_w = s.train.cols;
  shape.r_u = options.r_u;
  shape.r_v = options.r_v;
  shape.r_t = options.r_t;
  shape.d_y = s.space.size();
  report->embedding_width = shape.r_t;
  report->test_targets = s.test.data.y;
  report->test_models = s.test.data.names;
  const bool progress = options.fit.progress;

  // The experts: with kAuto, every candidate is sized against the budget first, and only those that fit are
  // trained (the Dense expert is sized for the record; it runs below as a baseline when asked for).
  const std::vector<ExpertSpec> specs = expert_specs(options);
  const bool automatic = options.expert == ExpertKind::kAuto;
  ExpertChoice& choice = report->expert_choice;
  std::vector<bool> to_train(specs.size(), true);
  if (automatic) {
    choice.budget_bytes = options.max_expert_bytes;
    for (size_t i = 0; i < specs.size(); ++i) {
      ExpertCandidate c = sized_candidate(specs[i].name, expert_parameters(specs[i], options, shape), true,
                                          options.max_expert_bytes);
      if (specs[i].mvprobe) c.views = mvprobe_view_list(specs[i].views);
      to_train[i] = c.fits;
      choice.candidates.push_back(c);
    }
    choice.candidates.push_back(sized_candidate(kExpertDense,
                                                dense_parameter_count(shape.d_h * shape.d_w, shape.r_t, shape.d_y),
                                                false, options.max_expert_bytes));
    if (!some_expert_fits(choice, tree, error)) return false;
    if (progress) {
      std::string line;
      for (const ExpertCandidate& c : choice.candidates) {
        line += (line.empty() ? "" : ", ") + c.expert + " " + format_bytes(c.bytes) +
                (c.fits ? (c.runnable ? "" : " (not runnable on devices)") : " (refused)");
      }
      std::fprintf(stderr, "probex-train: tree %s: experts against the %s budget: %s\n", tree.c_str(),
                   format_bytes(choice.budget_bytes).c_str(), line.c_str());
    }
  }
  // Trained experts: their results and parameter values, in spec order. One expert (and its training
  // buffers) is alive at a time.
  std::vector<MethodResult> results(specs.size());
  std::vector<std::vector<std::vector<float>>> values(specs.size());
  const size_t count = static_cast<size_t>(std::count(to_train.begin(), to_train.end(), true));
  for (size_t i = 0, done = 0; i < specs.size(); ++i) {
    if (!to_train[i]) continue;
    FitConfig f = expert_fit(specs[i], options);
    f.label = tree + " " + specs[i].name;
    if (progress && automatic) {
      std::fprintf(stderr, "probex-train: tree %s: expert %zu of %zu: %s\n", tree.c_str(), ++done, count,
                   specs[i].name.c_str());
    }
    AnyExpert expert = make_expert(specs[i], options, shape.d_h, shape.d_w, shape.d_y);
    MultiLabelModel& model = expert.model();
    results[i] = fitted(specs[i].name, model, fit_multilabel(model, s.train.data, s.val.data, f));
    score(&results[i], model, s.test.data, s.heldout.data);
    report->methods.push_back(results[i]);
    if (automatic) {
      ExpertCandidate& c = choice.candidates[i];
      c.trained = true;
      c.val_bit = results[i].fit.best_val.bit_accuracy;
      c.test = results[i].test;
    }
    values[i] = snapshot(model);
  }

  // The baselines draw their initialisation from one stream, advanced by the draws ProbeX's init makes (one
  // per parameter): they start from the same parameters (and give the same figures) whichever expert runs.
  Rng rng(options.fit.seed);
  for (size_t i = 0, n = probex_parameter_count(shape); i < n; ++i) rng.next();
  FitConfig fit = options.fit;
  if (options.baseline_epochs > 0) fit.epochs = options.baseline_epochs;
  if (options.dense_baseline) {
    // The Dense expert: a linear map of the flattened layer to the embedding, then the head.
    LinearChain dense({"dense", "classification_head"}, {shape.d_h * shape.d_w, shape.r_t, shape.d_y});
    dense.init(rng);
    fit.label = tree + " dense ";
    MethodResult r = fitted("dense", dense, fit_multilabel(dense, s.train.data, s.val.data, fit));
    score(&r, dense, s.test.data, s.heldout.data);
    report->methods.push_back(r);
    if (automatic) {
      ExpertCandidate& c = choice.candidates.back();
      c.trained = true;
      c.val_bit = r.fit.best_val.bit_accuracy;
      c.test = r.test;
    }
  }
  if (options.stats_baseline) {
    ExpertData train = weight_stat_features(s.train.data, shape.d_h, shape.d_w, options.stat_groups);
    ExpertData val = weight_stat_features(s.val.data, shape.d_h, shape.d_w, options.stat_groups);
    ExpertData test = weight_stat_features(s.test.data, shape.d_h, shape.d_w, options.stat_groups);
    ExpertData heldout = weight_stat_features(s.heldout.data, shape.d_h, shape.d_w, options.stat_groups);
    standardize_features(&train, {&val, &test, &heldout});
    LinearChain logistic({"classifier"}, {train.features, shape.d_y});
    logistic.init(rng);
    fit.label = tree + " stats ";
    MethodResult r = fitted("stats", logistic, fit_multilabel(logistic, train, val, fit));
    score(&r, logistic, test, heldout);
    report->methods.push_back(r);
  }

  // The kept expert: the only one, or the choice among the candidates.
  size_t kept = 0;
  if (automatic) {
    if (!choose_expert(&choice, tree, error)) return false;
    while (specs[kept].name != choice.chosen) ++kept;
    if (progress) std::fprintf(stderr, "probex-train: tree %s: %s\n", tree.c_str(), choice.reason.c_str());
  }
  const ExpertSpec& spec = specs[kept];
  const MethodResult& result = results[kept];
  AnyExpert expert = make_expert(spec, options, shape.d_h, shape.d_w, shape.d_y);
  restore(expert.model(), values[kept]);
  values.clear();
  report->test_embeddings = expert.embed(s.test.data);
  if (options.embed_other_trees) {
    embed_other_trees(
        files, tree, options.load, [&](const ExpertData& d) { return expert.embed(d); }, report);
  }
  if (!options.checkpoint_path.empty()) {
    std::map<std::string, std::string> md = checkpoint_metadata(tree, options, report->rule, shape,
                                                                expert_fit(spec, options), s.space,
                                                                result.fit.best_epoch, report->train);
    if (spec.mvprobe) set_mvprobe_metadata(expert.mvprobe->shape(), &md);
    md["val_bit_accuracy"] = fmt(result.fit.best_val.bit_accuracy);
    md["test_bit_accuracy"] = fmt(result.test.bit_accuracy);
    md["test_exact_set"] = fmt(result.test.exact_set);
    md["test_mean_auc"] = fmt(result.test.mean_auc);
    if (automatic) add_expert_choice_metadata(choice, spec.mvprobe ? "mvprobe" : "probex", &md);
    const bool saved = spec.mvprobe ? save_mvprobe_checkpoint(*expert.mvprobe, md, options.checkpoint_path, error)
                                    : save_probex_checkpoint(*expert.probex, md, options.checkpoint_path, error);
    if (!saved) return false;
  }

  MethodResult chance;
  chance.method = "chance";
  chance.test = chance_metrics(s.train.data.y.data(), s.train.data.count, s.test.data.y.data(), s.test.data.count,
                               shape.d_y);
  if (s.heldout.data.count > 0) {
    chance.heldout = chance_metrics(s.train.data.y.data(), s.train.data.count, s.heldout.data.y.data(),
                                    s.heldout.data.count, shape.d_y);
  }
  report->methods.push_back(chance);
  return true;
}

std::vector<LayerSweepRow> sweep_layers(const std::vector<ZooFile>& files, const std::string& tree,
                                        const TreeTrainOptions& options, std::string* error) {
  std::vector<LayerSweepRow> rows;
  const ZooFile* first = nullptr;
  for (const ZooFile& f : files) {
    if (f.tree == tree && f.split == "train") {
      first = &f;
      break;
    }
  }
  if (first == nullptr) {
    *error = "tree '" + tree + "' has no training models";
    return rows;
  }
  std::unique_ptr<ModelFile> file;
  const ModelStatus st = open_model_file(first->path, &file);
  if (!st.ok()) {
    *error = st.message;
    return rows;
  }
  for (const ModelTensor& t : file->tensors()) {
    LayerSweepRow row;
    row.layer = t.name;
    TreeTrainOptions o = options;
    o.load.layer = t.name;
    Splits s;
    std::string why;
    if (!load_splits(files, tree, o.load, false, &s, &why)) {
      row.note = why;
      rows.push_back(row);
      continue;
    }
    row.rows = s.train.rows;
    row.cols = s.train.cols;
    o.fit.label = tree + " sweep " + t.name;
    // kAuto sweeps with ProbeX, the first and cheapest candidate.
    const ExpertSpec spec = expert_specs(o).front();
    AnyExpert expert = make_expert(spec, o, s.train.rows, s.train.cols, s.space.size());
    row.val_bit_accuracy =
        fit_multilabel(expert.model(), s.train.data, s.val.data, expert_fit(spec, o)).best_val.bit_accuracy;
    rows.push_back(row);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const LayerSweepRow& a, const LayerSweepRow& b) {
    return a.val_bit_accuracy > b.val_bit_accuracy;
  });
  return rows;
}

bool choose_layer(const std::vector<ZooFile>& files, const std::string& tree, const TreeTrainOptions& options,
                  int sweep_epochs, LayerChoice* out, std::string* error) {
  TreeTrainOptions brief = options;
  brief.fit.epochs = sweep_epochs;
  brief.fit.eval_every = std::min(brief.fit.eval_every, sweep_epochs);
  std::string why;
  LayerChoice c;
  c.sweep = sweep_layers(files, tree, brief, &why);
  if (c.sweep.empty() || c.sweep.front().val_bit_accuracy < 0) {
    *error = "tree " + tree + ": no usable layer" + (why.empty() ? "" : ": " + why);
    return false;
  }
  c.layer = c.sweep.front().layer;
  *out = std::move(c);
  return true;
}

TreeChoice trees_to_train(const std::vector<ZooFile>& files, const std::vector<std::string>& only) {
  TreeChoice c;
  if (!only.empty()) {
    c.trees = only;
    return c;
  }
  for (const std::string& t : zoo_trees(files)) {
    const bool has_train = std::any_of(files.begin(), files.end(),
                                       [&](const ZooFile& f) { return f.tree == t && f.split == "train"; });
    (has_train ? c.trees : c.without_training).push_back(t);
  }
  return c;
}

}  // namespace probex::convert
