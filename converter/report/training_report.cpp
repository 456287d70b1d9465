#include "converter/report/training_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "converter/report/pca.h"
#include "converter/report/svg.h"
#include "runtime/formats/json_writer.h"

namespace probex::convert::report {
namespace {

// One colour per method on every chart of the page.
std::string method_color(const std::string& method) {
  if (method == "chance") return "#8c8c8c";
  const char* const known[] = {"probex", "dense", "stats", "mvprobe", "mvprobe2"};
  for (size_t i = 0; i < 5; ++i) {
    if (method == known[i]) return palette_color(i);
  }
  return palette_color(5);
}

std::string percent_axis(int axis, double share) {
  char buf[48];
  // Small shares keep a decimal: "0%" would read as no variance at all.
  std::snprintf(buf, sizeof buf, "PC%d (%.*f%% of variance)", axis, share < 0.1 ? 1 : 0, 100.0 * share);
  return buf;
}

std::string header(const std::string& tree, const std::string& layer, size_t rows, size_t cols, const std::string& rule,
                   const std::string& models) {
  return "<section class=\"tree\"><h2>tree " + escape_xml(tree) + "</h2><p class=\"note\">layer " + escape_xml(layer) +
         " [" + std::to_string(rows) + ", " + std::to_string(cols) + "] (" + escape_xml(rule) + "); models " +
         escape_xml(models) + "</p>";
}

// Points of a PCA map; `groups[i]` is point i's group.
std::vector<ScatterPoint> map_points(const Pca2& pca, const std::vector<size_t>& groups,
                                     const std::vector<std::string>& tooltips) {
  std::vector<ScatterPoint> points;
  for (size_t i = 0; i < pca.count; ++i) {
    points.push_back({pca.points[i * 2], pca.points[i * 2 + 1], groups[i], i < tooltips.size() ? tooltips[i] : ""});
  }
  return points;
}

ChartFrame map_frame(const std::string& title, const Pca2& pca) {
  return ChartFrame(title, percent_axis(1, pca.explained[0]), percent_axis(2, pca.explained[1]), 480, 340);
}

// The map of this tree's test models and the other trees' (same layer shape) through this tree's expert.
std::string map_by_tree(const TreeReport& r) {
  std::vector<float> e = r.test_embeddings;
  e.insert(e.end(), r.other_embeddings.begin(), r.other_embeddings.end());
  const size_t n = e.size() / std::max<size_t>(r.embedding_width, 1);
  const Pca2 pca = pca_2d(e.data(), n, r.embedding_width);
  std::vector<ScatterGroup> groups{{r.tree + " (this expert's tree)", palette_color(0)}};
  std::vector<size_t> member(r.test_models.size(), 0);
  std::vector<std::string> tips = r.test_models;
  for (const std::string& t : r.other_trees) {
    size_t g = 1;
    while (g < groups.size() && groups[g].name != t) ++g;
    if (g == groups.size()) groups.push_back({t, palette_color(g)});
    member.push_back(g);
    tips.push_back("a test model of tree " + t);
  }
  return scatter_chart(map_frame("Expert embeddings of test models, by tree", pca), map_points(pca, member, tips),
                       groups);
}

// Small multiples: one map of this tree's test models per label, the models with the label coloured.
std::vector<std::string> maps_by_label(const TreeReport& r) {
  const size_t n = r.test_models.size(), labels = r.labels.size();
  const Pca2 pca = pca_2d(r.test_embeddings.data(), n, r.embedding_width);
  std::vector<std::string> charts;
  for (size_t j = 0; j < labels; ++j) {
    std::vector<size_t> member(n);
    size_t with = 0;
    for (size_t i = 0; i < n; ++i) {
      member[i] = r.test_targets[i * labels + j] > 0.5f ? 1 : 0;
      with += member[i];
    }
    ChartFrame f = map_frame(r.labels[j] + " (" + std::to_string(with) + " of " + std::to_string(n) + ")", pca);
    f.x_label = "PC1";
    f.y_label = "PC2";
    f.width = 230;
    f.height = 200;
    f.legend = false;  // the title names the label, and grey is the models without it
    charts.push_back(
        scatter_chart(f, map_points(pca, member, r.test_models),
                      {{"without " + r.labels[j], kMutedColor}, {"with " + r.labels[j], palette_color(j)}}));
  }
  return charts;
}

std::string subset_section(const TreeReport& r) {
  std::string s = header(r.tree, r.layer, r.rows, r.cols, r.rule,
                         "train " + std::to_string(r.train) + " / val " + std::to_string(r.val) + " / test " +
                             std::to_string(r.test) + "; " + std::to_string(r.labels.size()) + " labels");
  std::vector<std::vector<std::string>> rows;
  std::vector<Series> loss, val;
  std::vector<BarGroup> auc;
  for (const MethodResult& m : r.methods) {
    const bool trained = !m.fit.evals.empty();
    rows.push_back({m.method, std::to_string(m.parameters), cell(m.test.bit_accuracy), cell(m.test.exact_set),
                    cell(m.test.mean_auc), trained ? std::to_string(m.fit.best_epoch) : "",
                    trained ? cell(m.fit.best_val.bit_accuracy) : ""});
    if (!trained) continue;  // chance: no curve, and its AUC is the reference line
    Series l{m.method, {}, {}, method_color(m.method), false}, v = l;
    for (const FitEval& e : m.fit.evals) {
      l.x.push_back(e.epoch);
      l.y.push_back(e.train_loss);
      v.x.push_back(e.epoch);
      v.y.push_back(e.val.bit_accuracy);
    }
    loss.push_back(l);
    val.push_back(v);
    BarGroup b{m.method, {}, method_color(m.method)};
    for (double a : m.test.label_auc) b.values.push_back(a >= 0 ? a : std::nan(""));
    auc.push_back(b);
  }
  s += html_table({"method", "parameters", "test bit accuracy", "test exact set", "test mean AUC", "best epoch",
                   "val bit accuracy there"},
                  rows);
  ChartFrame lf("Training loss", "epoch", "training loss (BCE, mean)");
  ChartFrame vf("Validation bit accuracy", "epoch", "val bit accuracy");
  s += "<h3>Training curves</h3>" +
       html_figures({line_chart(lf, loss), line_chart(vf, val)},
                    "Evaluated after epoch 1 and every --eval-every epochs after it; each method keeps the parameters "
                    "of its best val bit accuracy (the table's best epoch).");
  ChartFrame af("Per-label test AUC", "label", "ROC AUC on the test models",
                std::max(480.0, 150.0 + static_cast<double>(r.labels.size() * std::max<size_t>(auc.size(), 1)) * 16.0),
                320);
  af.y_min = 0.0;
  af.y_max = 1.0;
  s += "<h3>Per-label AUC</h3>" +
       html_figures({bar_chart(af, r.labels, auc, 0.5, "chance (0.5)")},
                    "n/a: the label is on every test model or on none, so its AUC is undefined.");
  if (r.test_models.size() < 2 || r.embedding_width == 0) {
    return s + "<p class=\"note\">Fewer than 2 test models: no embedding map.</p></section>";
  }
  s += "<h3>Expert embeddings</h3>" +
       html_figures({map_by_tree(r)},
                    "PCA (2 axes) of the kept expert's embedding e of each test model, with the test models of the "
                    "other trees whose layer has this shape, through the same expert (each tree's expert has its own "
                    "space, so the map is per expert).");
  s += html_figures(maps_by_label(r), "The same expert's test models only (its own PCA), one map per label: the "
                                      "models fine-tuned on the label are coloured, the others grey.");
  return s + "</section>";
}

std::string zero_shot_section(const ZeroShotReport& r) {
  std::string s = header(
      r.tree, r.layer, r.rows, r.cols, r.rule,
      "train " + std::to_string(r.train) + " / val " + std::to_string(r.val) + " / test " + std::to_string(r.test) +
          ", val_holdout " + std::to_string(r.val_holdout) + " / test_holdout " + std::to_string(r.test_holdout) +
          "; " + std::to_string(r.seen.size()) + " seen and " + std::to_string(r.unseen.size()) + " unseen classes");
  std::vector<std::vector<std::string>> rows;
  std::vector<Series> loss, val;
  const std::vector<std::string> scores{"in-dist top-1", "zero-shot top-1", "retrieval R@1", "retrieval R@5",
                                        "retrieval mAP"};
  std::vector<BarGroup> bars;
  for (const ZeroShotMethod& m : r.methods) {
    rows.push_back({m.method, std::to_string(m.parameters), cell(m.in_distribution_top1), cell(m.zero_shot_top1),
                    cell(m.retrieval.recall_at_1), cell(m.retrieval.recall_at_5), cell(m.retrieval.mean_ap),
                    m.evals.empty() ? "" : std::to_string(m.seen_epoch) + " / " + std::to_string(m.unseen_epoch)});
    bars.push_back({m.method,
                    {m.in_distribution_top1, m.zero_shot_top1, m.retrieval.recall_at_1, m.retrieval.recall_at_5,
                     m.retrieval.mean_ap},
                    method_color(m.method)});
    if (m.evals.empty()) continue;
    Series l{m.method, {}, {}, method_color(m.method), false}, seen = l, unseen = l;
    seen.name = m.method + " val (seen)";
    unseen.name = m.method + " val_holdout (unseen)";
    unseen.dashed = true;
    for (const ZeroShotEval& e : m.evals) {
      for (Series* ser : {&l, &seen, &unseen}) ser->x.push_back(e.epoch);
      l.y.push_back(e.train_loss);
      seen.y.push_back(e.val_top1);
      unseen.y.push_back(e.val_holdout_top1);
    }
    loss.push_back(l);
    val.push_back(seen);
    val.push_back(unseen);
  }
  s += html_table({"method", "parameters", "in-dist top-1", "zero-shot top-1", "retrieval R@1", "retrieval R@5",
                   "retrieval mAP", "epochs (val / val_holdout)"},
                  rows);
  ChartFrame lf("Training loss", "epoch", "cross-entropy over cosines");
  ChartFrame vf("Validation top-1", "epoch", "top-1 accuracy", 560);
  vf.y_min = 0.0;
  vf.y_max = 1.0;
  s += "<h3>Training curves</h3>" +
       html_figures({line_chart(lf, loss), line_chart(vf, val)},
                    "val: seen classes (in-distribution); val_holdout: unseen classes only (zero-shot), on which the "
                    "written checkpoint is chosen.");
  ChartFrame bf("Test scores", "score", "share", 560);
  bf.y_min = 0.0;
  bf.y_max = 1.0;
  s += "<h3>Scores</h3>" +
       html_figures({bar_chart(bf, scores, bars, std::nan(""), "")},
                    "Per-label AUC is a subset-task score: a detector model has one class, so the zero-shot expert is "
                    "scored by top-1 and by text-to-model retrieval.");
  const size_t n = r.test_classes.size();
  if (n < 2 || r.embedding_width == 0) {
    return s + "<p class=\"note\">Fewer than 2 test models: no embedding map.</p></section>";
  }
  const Pca2 pca = pca_2d(r.test_embeddings.data(), n, r.embedding_width);
  std::vector<ScatterGroup> groups;
  for (const std::string& c : r.seen) groups.push_back({c, palette_color(groups.size())});
  for (const std::string& c : r.unseen) groups.push_back({c + " (unseen)", palette_color(groups.size())});
  std::vector<std::string> tips;
  for (size_t c : r.test_classes) tips.push_back(c < groups.size() ? groups[c].name : "");
  s += "<h3>Expert embeddings</h3>" +
       html_figures({scatter_chart(map_frame("Expert embeddings, by class", pca), map_points(pca, r.test_classes, tips),
                                   groups)},
                    "PCA (2 axes) of the written expert's embedding e of each test (seen class) and test_holdout "
                    "(unseen class) model.");
  return s + "</section>";
}

}  // namespace

Facts training_facts(const std::string& zoo, const TreeTrainOptions& options) {
  const FitConfig& f = options.fit;
  std::string baselines = options.dense_baseline ? "dense" : "";
  if (options.stats_baseline && options.load.task != "detector") baselines += baselines.empty() ? "stats" : ", stats";
  return {
      {"zoo", zoo},
      {"layer", options.load.layer},
      {"task", options.load.task},
      {"seed", std::to_string(f.seed)},
      {"epochs",
       std::to_string(f.epochs) +
           (options.baseline_epochs > 0 ? " (baselines " + std::to_string(options.baseline_epochs) + ")" : "")},
      {"batch, lr, weight decay",
       std::to_string(f.batch_size) + ", " + format_number(f.lr) + ", " + format_number(f.weight_decay)},
      {"evaluated every", std::to_string(f.eval_every) + " epochs"},
      {"r_U, r_V, r_T",
       std::to_string(options.r_u) + ", " + std::to_string(options.r_v) + ", " + std::to_string(options.r_t)},
      {"baselines", baselines.empty() ? "none" : baselines},
  };
}

std::string training_report_html(const Facts& facts, const std::vector<TreeReport>& trees) {
  std::string body;
  for (const TreeReport& r : trees) body += subset_section(r);
  return html_page("probex-train report", facts, body);
}

std::string zero_shot_report_html(const Facts& facts, const std::vector<ZeroShotReport>& trees) {
  std::string body;
  for (const ZeroShotReport& r : trees) body += zero_shot_section(r);
  return html_page("probex-train zero-shot report", facts, body);
}

bool write_training_report(const std::string& dir, const std::string& zoo, const TreeTrainOptions& options,
                           const std::vector<TreeReport>& trees, const std::vector<ZeroShotReport>& zero_shot,
                           std::string* error) {
  // The layer is chosen per tree (--layer auto): the page names the ones the trees used.
  TreeTrainOptions shown = options;
  std::vector<std::string> layers;
  for (const TreeReport& r : trees) layers.push_back(r.layer);
  for (const ZeroShotReport& r : zero_shot) layers.push_back(r.layer);
  std::sort(layers.begin(), layers.end());
  layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
  shown.load.layer.clear();
  for (const std::string& l : layers) shown.load.layer += (shown.load.layer.empty() ? "" : ", ") + l;
  const Facts facts = training_facts(zoo, shown);
  return write_report_page(
      dir, zero_shot.empty() ? training_report_html(facts, trees) : zero_shot_report_html(facts, zero_shot), error);
}

}  // namespace probex::convert::report
