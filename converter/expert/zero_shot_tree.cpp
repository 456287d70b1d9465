#include "converter/expert/zero_shot_tree.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "converter/expert/checkpoint.h"
#include "converter/expert/expert_choice.h"
#include "converter/expert/layer_dataset.h"
#include "converter/expert/mvprobe_expert.h"
#include "runtime/formats/json_writer.h"
#include "runtime/formats/python_literal.h"

namespace probex::convert {
namespace {

size_t count_params(const std::vector<Param*>& params) {
  size_t n = 0;
  for (const Param* p : params) n += p->value.size();
  return n;
}

// One class per model: the index of the single 1 of its label row.
bool one_class_split(LoadedSplit&& loaded, const ClassTexts& texts, ZeroShotSplit* out, std::string* error) {
  out->data = std::move(loaded.data);
  out->texts = texts;
  out->classes.clear();
  const size_t labels = out->data.labels;
  for (size_t i = 0; i < out->data.count; ++i) {
    const float* y = out->data.y.data() + i * labels;
    if (std::count(y, y + labels, 1.0f) != 1) {
      *error = out->data.names[i] + ": a zero-shot model needs exactly one class in dataset_chosen_targets";
      return false;
    }
    out->classes.push_back(static_cast<size_t>(std::find(y, y + labels, 1.0f) - y));
  }
  return true;
}

bool class_texts(const EmbeddingTable& table, const std::vector<std::string>& names, ClassTexts* out,
                 std::vector<std::string>* words, std::string* error) {
  out->names = names;
  out->dimension = table.dimension;
  out->vectors.clear();
  for (const std::string& name : names) {
    LabelEmbedding e;
    if (!embed_label(table, name, &e, error)) return false;
    out->vectors.insert(out->vectors.end(), e.vector.begin(), e.vector.end());
    std::string used;
    for (const std::string& w : e.words) used += (used.empty() ? "" : " + ") + w;
    for (const std::string& w : e.unknown_words) used += " (not in the table: " + w + ")";
    words->push_back(used);
  }
  return true;
}

ClassTexts concat(const ClassTexts& a, const ClassTexts& b) {
  ClassTexts out = a;
  out.names.insert(out.names.end(), b.names.begin(), b.names.end());
  out.vectors.insert(out.vectors.end(), b.vectors.begin(), b.vectors.end());
  return out;
}

// The test models of both test splits, with classes indexed into seen ++ unseen.
ZeroShotSplit retrieval_split(const ZeroShotSplit& test, const ZeroShotSplit& test_unseen) {
  ZeroShotSplit all;
  all.texts = concat(test.texts, test_unseen.texts);
  all.data.features = test.data.features;
  all.data.count = test.data.count + test_unseen.data.count;
  all.data.x = test.data.x;
  all.data.x.insert(all.data.x.end(), test_unseen.data.x.begin(), test_unseen.data.x.end());
  all.classes = test.classes;
  for (size_t c : test_unseen.classes) all.classes.push_back(c + test.texts.names.size());
  return all;
}

struct Splits {
  ZeroShotSplit train, val, test, val_unseen, test_unseen;
};

ZeroShotMethod evaluate(const std::string& name, MultiLabelModel& embedder, TextProjection& projection,
                        const ZeroShotFitResult& fit, const Splits& s) {
  ZeroShotMethod m;
  m.method = name;
  std::vector<Param*> params = embedder.params();
  m.parameters = count_params(params) + count_params(projection.params());
  m.seen_epoch = fit.best_seen_epoch;
  m.unseen_epoch = fit.best_unseen_epoch;
  m.seconds_per_epoch = fit.seconds_per_epoch;
  const size_t r = projection.embedding_size();
  restore_zero_shot(embedder, projection, fit.seen_params);
  m.in_distribution_top1 = split_top1(embedder, projection, s.test);
  restore_zero_shot(embedder, projection, fit.unseen_params);  // the checkpoint that is written
  m.zero_shot_top1 = split_top1(embedder, projection, s.test_unseen);
  const ZeroShotSplit all = retrieval_split(s.test, s.test_unseen);
  const std::vector<float> e = predict(embedder, all.data);
  const std::vector<float> z = projection.project(all.texts.vectors.data(), all.texts.names.size());
  m.retrieval = retrieval_metrics(e.data(), all.data.count, z.data(), all.texts.names.size(), r, all.classes);
  m.evals = fit.evals;
  return m;
}

// What a random ranking and a uniform guess give.
ZeroShotMethod chance(const Splits& s) {
  ZeroShotMethod m;
  m.method = "chance";
  m.in_distribution_top1 = 1.0 / static_cast<double>(s.test.texts.names.size());
  m.zero_shot_top1 = 1.0 / static_cast<double>(s.test_unseen.texts.names.size());
  const ZeroShotSplit all = retrieval_split(s.test, s.test_unseen);
  const double n = static_cast<double>(all.classes.size());
  for (size_t k = 0; k < all.texts.names.size(); ++k) {
    const double rel = static_cast<double>(std::count(all.classes.begin(), all.classes.end(), k));
    if (rel == 0.0) continue;
    ++m.retrieval.queries;
    m.retrieval.recall_at_1 += rel / n;
    double none = 1.0;  // P(no relevant model in the top 5)
    for (int i = 0; i < 5 && i < static_cast<int>(n); ++i) none *= std::max(0.0, (n - rel - i) / (n - i));
    m.retrieval.recall_at_5 += 1.0 - none;
    m.retrieval.mean_ap += rel / n;  // the expected AP of a random ranking is about the prevalence
  }
  const double q = static_cast<double>(std::max<size_t>(m.retrieval.queries, 1));
  m.retrieval.recall_at_1 /= q;
  m.retrieval.recall_at_5 /= q;
  m.retrieval.mean_ap /= q;
  return m;
}

}  // namespace

bool train_zero_shot_tree(const std::vector<ZooFile>& files, const std::string& tree, const TreeTrainOptions& options,
                          const EmbeddingTable& table, ZeroShotReport* report, std::string* error) {
  *report = ZeroShotReport();
  std::vector<std::string> seen, unseen;
  LoadedSplit train, val, test, val_unseen, test_unseen;
  const LoadOptions& load = options.load;
  if (!load_split(files, tree, "train", load, &seen, 0, 0, &train, error) ||
      !load_split(files, tree, "val", load, &seen, train.rows, train.cols, &val, error) ||
      !load_split(files, tree, "test", load, &seen, train.rows, train.cols, &test, error) ||
      !load_split(files, tree, "val_holdout", load, &unseen, train.rows, train.cols, &val_unseen, error) ||
      !load_split(files, tree, "test_holdout", load, &unseen, train.rows, train.cols, &test_unseen, error)) {
    return false;
  }
  for (const std::string& u : unseen) {
    if (std::find(seen.begin(), seen.end(), u) != seen.end()) {
      *error = "tree '" + tree + "': class '" + u +
               "' is in the holdout splits and in training; zero-shot needs "
               "classes never trained on";
      return false;
    }
  }
  report->tree = tree;
  report->layer = load.layer;
  report->rule = layer_rule_name(train.rule);
  report->rows = train.rows;
  report->cols = train.cols;
  report->seen = seen;
  report->unseen = unseen;
  for (const LoadedSplit* l : {&train, &val, &test, &val_unseen, &test_unseen}) {
    report->skipped.insert(report->skipped.end(), l->skipped.begin(), l->skipped.end());
  }
  ClassTexts seen_texts, unseen_texts;
  if (!class_texts(table, seen, &seen_texts, &report->text_words, error) ||
      !class_texts(table, unseen, &unseen_texts, &report->text_words, error)) {
    return false;
  }
  Splits s;
  if (!one_class_split(std::move(train), seen_texts, &s.train, error) ||
      !one_class_split(std::move(val), seen_texts, &s.val, error) ||
      !one_class_split(std::move(test), seen_texts, &s.test, error) ||
      !one_class_split(std::move(val_unseen), unseen_texts, &s.val_unseen, error) ||
      !one_class_split(std::move(test_unseen), unseen_texts, &s.test_unseen, error)) {
    return false;
  }
  report->train = s.train.data.count;
  report->val = s.val.data.count;
  report->test = s.test.data.count;
  report->val_holdout = s.val_unseen.data.count;
  report->test_holdout = s.test_unseen.data.count;

  // The expert: ProbeX, or MVProbe (options.expert) with its views and learning rate; both without a head.
  const bool mv = options.expert == ExpertKind::kMvProbe;
  const ProbexShape shape{report->rows, report->cols, options.r_u, options.r_v, options.r_t, 0};
  std::unique_ptr<ProbexExpert> probex_expert;
  std::unique_ptr<MvProbeExpert> mv_expert;
  TextProjection projection(table.dimension, options.r_t);
  Rng rng(options.fit.seed);
  if (mv) {
    mv_expert = std::make_unique<MvProbeExpert>(mvprobe_shape(options, report->rows, report->cols, 0));
    mv_expert->init(rng);
  } else {
    probex_expert = std::make_unique<ProbexExpert>(shape);
    probex_expert->init(rng);
  }
  MultiLabelModel& expert = mv ? static_cast<MultiLabelModel&>(*mv_expert) : *probex_expert;
  projection.init(rng);
  FitConfig fit = mv ? mvprobe_fit(options) : options.fit;
  const std::string name = mv ? kExpertMvProbe : kExpertProbex;
  fit.label = tree + " " + name;
  const ZeroShotFitResult expert_fit = fit_zero_shot(expert, projection, s.train, s.val, s.val_unseen, fit);
  report->methods.push_back(evaluate(name, expert, projection, expert_fit, s));
  const ZeroShotMethod& kept = report->methods.back();
  const ZeroShotSplit all = retrieval_split(s.test, s.test_unseen);  // evaluate() left the written parameters
  report->embedding_width = shape.r_t;
  report->test_embeddings = predict(expert, all.data);
  report->test_classes = all.classes;

  if (!options.checkpoint_path.empty()) {  // the val_holdout choice, restored by evaluate()
    const auto fmt = [](double v) { return format_number(v); };
    std::map<std::string, std::string> md = checkpoint_metadata(tree, options, report->rule, shape, fit, seen,
                                                                kept.unseen_epoch, report->train);
    if (mv) set_mvprobe_metadata(mv_expert->shape(), &md);
    md["holdout_labels"] = python_list_literal(unseen);
    md["text_table"] = table.source;
    md["text_dimension"] = std::to_string(table.dimension);
    md["selected_on"] = "val_holdout zero-shot top-1";
    md["val_holdout_top1"] = fmt(expert_fit.best_unseen_val);
    md["test_in_distribution_top1"] = fmt(kept.in_distribution_top1);
    md["test_zero_shot_top1"] = fmt(kept.zero_shot_top1);
    md["test_retrieval_map"] = fmt(kept.retrieval.mean_ap);
    const bool saved = mv ? save_mvprobe_checkpoint(*mv_expert, md, options.checkpoint_path, error, projection.params())
                          : save_probex_checkpoint(*probex_expert, md, options.checkpoint_path, error,
                                                   projection.params());
    if (!saved) return false;
  }

  if (options.dense_baseline) {
    LinearChain dense({"dense"}, {shape.d_h * shape.d_w, shape.r_t});
    TextProjection dense_projection(table.dimension, options.r_t);
    dense.init(rng);
    dense_projection.init(rng);
    fit = options.fit;
    if (options.baseline_epochs > 0) fit.epochs = options.baseline_epochs;
    fit.label = tree + " dense ";
    const ZeroShotFitResult dense_fit = fit_zero_shot(dense, dense_projection, s.train, s.val, s.val_unseen, fit);
    report->methods.push_back(evaluate("dense", dense, dense_projection, dense_fit, s));
  }
  report->methods.push_back(chance(s));
  return true;
}

void apply_zero_shot_defaults(const GivenFitSettings& given, FitConfig* fit) {
  if (!given.epochs) fit->epochs = 200;
  if (!given.lr) fit->lr = 2e-3;
  if (!given.weight_decay) fit->weight_decay = 0.0;
  if (!given.eval_every) fit->eval_every = 10;
}

}  // namespace probex::convert
