#include "train_tree.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "checkpoint.h"
#include "core/json_writer.h"
#include "core/python_literal.h"
#include "labels.h"
#include "weight_stats.h"

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

// The MVProbe reader's training: the baselines' settings with its own learning rate.
FitConfig mvprobe_fit(const TreeTrainOptions& o) {
  FitConfig f = o.fit;
  f.lr = o.mvprobe_lr;
  return f;
}

std::string view_list(unsigned views) {
  const char* names[] = {"xu", "xxtu", "xtu", "xtxu"};
  std::string out;
  for (unsigned k = 0; k < 4; ++k) {
    if ((views >> k) & 1u) out += (out.empty() ? "" : ",") + std::string(names[k]);
  }
  return out;
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
  Rng rng(options.fit.seed);
  FitConfig fit = options.fit;
  report->embedding_width = shape.r_t;
  report->test_targets = s.test.data.y;
  report->test_models = s.test.data.names;
  if (options.reader == Reader::kProbex) {
    ProbexExpert expert(shape);
    expert.init(rng);
    fit.label = tree + " probex";
    MethodResult probex = fitted("probex", expert, fit_multilabel(expert, s.train.data, s.val.data, fit));
    score(&probex, expert, s.test.data, s.heldout.data);
    report->methods.push_back(probex);
    report->test_embeddings = predict_embeddings(expert, s.test.data);
    if (options.embed_other_trees) {
      embed_other_trees(files, tree, options.load, [&](const ExpertData& d) { return predict_embeddings(expert, d); },
                        report);
    }
    if (!options.checkpoint_path.empty()) {
      std::map<std::string, std::string> md =
          checkpoint_metadata(tree, options, report->rule, shape, fit, s.space, probex.fit.best_epoch, report->train);
      md["val_bit_accuracy"] = fmt(probex.fit.best_val.bit_accuracy);
      md["test_bit_accuracy"] = fmt(probex.test.bit_accuracy);
      md["test_exact_set"] = fmt(probex.test.exact_set);
      md["test_mean_auc"] = fmt(probex.test.mean_auc);
      if (!save_probex_checkpoint(expert, md, options.checkpoint_path, error)) return false;
    }
  } else {
    MvProbeExpert expert(mvprobe_shape(options, shape.d_h, shape.d_w, shape.d_y));
    {
      Rng mv_rng(options.fit.seed);
      expert.init(mv_rng);
    }
    // The baselines below draw their initialisation from `rng` after the reader's: advance it by the draws
    // ProbeX's init makes (one per parameter), so that the baselines start from the same parameters (and
    // give the same figures) whichever reader runs.
    const size_t probex_draws = shape.d_w * shape.r_u + shape.r_v * shape.d_h + shape.r_t * shape.r_u * shape.r_v +
                                shape.r_t + shape.d_y * shape.r_t + shape.d_y;
    for (size_t i = 0; i < probex_draws; ++i) rng.next();
    FitConfig mfit = mvprobe_fit(options);
    mfit.label = tree + " mvprobe";
    MethodResult mv = fitted("mvprobe", expert, fit_multilabel(expert, s.train.data, s.val.data, mfit));
    score(&mv, expert, s.test.data, s.heldout.data);
    report->methods.push_back(mv);
    report->test_embeddings = predict_embeddings(expert, s.test.data);
    if (options.embed_other_trees) {
      embed_other_trees(files, tree, options.load, [&](const ExpertData& d) { return predict_embeddings(expert, d); },
                        report);
    }
    if (!options.checkpoint_path.empty()) {
      // save_mvprobe_checkpoint sets the format (probex-mvprobe-expert/1): ProbeX's loader refuses it.
      std::map<std::string, std::string> md =
          checkpoint_metadata(tree, options, report->rule, shape, mfit, s.space, mv.fit.best_epoch, report->train);
      md["expert"] = "mvprobe";
      md["r"] = std::to_string(expert.shape().r);
      md["p"] = std::to_string(expert.shape().p);
      md.erase("r_u");
      md.erase("r_v");
      md["views"] = view_list(expert.shape().views);
      md["val_bit_accuracy"] = fmt(mv.fit.best_val.bit_accuracy);
      md["test_bit_accuracy"] = fmt(mv.test.bit_accuracy);
      md["test_exact_set"] = fmt(mv.test.exact_set);
      md["test_mean_auc"] = fmt(mv.test.mean_auc);
      if (!save_mvprobe_checkpoint(expert, md, options.checkpoint_path, error)) return false;
    }
  }

  if (options.baseline_epochs > 0) fit.epochs = options.baseline_epochs;
  if (options.dense_baseline) {
    // The Dense expert: a linear map of the flattened layer to the embedding, then the head.
    LinearChain dense({"dense", "classification_head"}, {shape.d_h * shape.d_w, shape.r_t, shape.d_y});
    dense.init(rng);
    fit.label = tree + " dense ";
    MethodResult r = fitted("dense", dense, fit_multilabel(dense, s.train.data, s.val.data, fit));
    score(&r, dense, s.test.data, s.heldout.data);
    report->methods.push_back(r);
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
    Rng rng(o.fit.seed);
    if (o.reader == Reader::kProbex) {
      ProbexShape shape{s.train.rows, s.train.cols, o.r_u, o.r_v, o.r_t, s.space.size()};
      ProbexExpert expert(shape);
      expert.init(rng);
      row.val_bit_accuracy = fit_multilabel(expert, s.train.data, s.val.data, o.fit).best_val.bit_accuracy;
    } else {
      MvProbeExpert expert(mvprobe_shape(o, s.train.rows, s.train.cols, s.space.size()));
      expert.init(rng);
      row.val_bit_accuracy = fit_multilabel(expert, s.train.data, s.val.data, mvprobe_fit(o)).best_val.bit_accuracy;
    }
    rows.push_back(row);
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const LayerSweepRow& a, const LayerSweepRow& b) { return a.val_bit_accuracy > b.val_bit_accuracy; });
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
    const bool has_train =
        std::any_of(files.begin(), files.end(), [&](const ZooFile& f) { return f.tree == t && f.split == "train"; });
    (has_train ? c.trees : c.without_training).push_back(t);
  }
  return c;
}

}  // namespace probex::convert
