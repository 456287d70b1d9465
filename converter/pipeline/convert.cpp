#include "converter/pipeline/convert.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <utility>

#include "converter/bundle/flip_bound.h"
#include "converter/bundle/signing.h"
#include "converter/bundle/zero_shot_bundle.h"
#include "converter/expert/checkpoint.h"
#include "converter/expert/layer_dataset.h"
#include "converter/report/quant_report.h"
#include "probex/platform/mapped_file.h"
#include "runtime/cli/text.h"

namespace probex::convert {
namespace {

// The flip count against its budget, with the sample size and the bound the verdict is made on
// (bundle/flip_bound.h), e.g. "label flips 3 of 500 (0.0060; 95% lower bound 0.0016; the budget 0.0050
// allows up to 5 of 500)".
std::string flips_verdict(const QuantComparison& c, const QuantBudget& budget) {
  char text[200];
  std::snprintf(text, sizeof(text),
                "label flips %zu of %zu (%.4f; %.0f%% lower bound %.4f; the budget %.4f allows up to %zu of %zu)",
                c.flips, c.decisions, c.label_flip_rate, 100.0 * kFlipBudgetConfidence,
                flip_rate_lower_bound(c.flips, c.decisions), budget.max_flip_rate,
                max_flips_within(c.decisions, budget.max_flip_rate), c.decisions);
  return text;
}

// Appends to a comma-separated list.
void add(std::string* list, const std::string& item) { *list += (list->empty() ? "" : ", ") + item; }

// A finer type's result in brief, e.g. "label flips 0 of 500, max prob error 0.0031, min embedding cosine
// 0.99998", with the zero-shot top-1 where the tree has a zero-shot expert.
std::string finer_result_text(const FinerTypeCheck& f) {
  const QuantComparison& c = f.classifier.comparison;
  char text[160];
  std::snprintf(text, sizeof(text), "label flips %zu of %zu, max prob error %.4g, min embedding cosine %.5f", c.flips,
                c.decisions, c.max_probability_error, c.min_embedding_cosine);
  std::string result = text;
  if (f.zero_shot.checked) {
    std::snprintf(text, sizeof(text), ", zero-shot top-1 %.4f vs %.4f (seen), %.4f vs %.4f (unseen)",
                  f.zero_shot.seen.runtime_top1, f.zero_shot.seen.float_top1, f.zero_shot.unseen.runtime_top1,
                  f.zero_shot.unseen.float_top1);
    result += text;
  }
  return result;
}

// What was tried for a tree over budget with `spec`, e.g. "tree mlp-a: int8 over budget; int8-b32 passes
// (label flips 0 of 500, ...): use --quant int8-b32, or --quant-fallback to let probex-convert choose it".
std::string finer_types_text(const std::string& tree, const QuantSpec& spec, const FinerTypes& f) {
  std::string text = "tree " + tree + ": " + quant_spec_name(spec) + " over budget";
  for (const FinerTypeCheck& t : f.tried)
    text += "; " + quant_spec_name(t.spec) + (t.within() ? " passes (" : " over budget too (") + finer_result_text(t) +
            ")";
  const FinerTypeCheck* passing = f.passing();
  if (passing == nullptr) return text + (f.tried.empty() ? "; there is no finer type" : "; no finer type passes");
  const std::string name = quant_spec_name(passing->spec);
  if (f.applied) return text + ": written as " + name + " (--quant-fallback)";
  return text + ": use --quant " + name + ", or --quant-fallback to let probex-convert choose it";
}

// The refusal, naming the trees over budget and, when each has a finer type that passes, the type that
// passes for all of them (the finest of theirs), e.g. "quantization int8 is over budget for tree mlp-a;
// no bundle written; int8-b32 passes for mlp-a: use --quant int8-b32, or --quant-fallback".
std::string over_budget_text(const std::vector<BundleTree>& trees, const QuantSpec& spec,
                             const std::vector<FinerTypes>& finer) {
  std::string names, passes, none;
  size_t finest_steps = 0;
  QuantSpec finest;
  for (const FinerTypes& f : finer) {
    if (f.applied) continue;
    const std::string& tree = trees[f.tree].name;
    add(&names, tree);
    const FinerTypeCheck* passing = f.passing();
    if (passing == nullptr) {
      add(&none, tree);
      continue;
    }
    add(&passes, quant_spec_name(passing->spec) + (passes.empty() ? " passes for " : " for ") + tree);
    // f.tried holds every type from spec's next one to the passing one: its length is how much finer.
    if (f.tried.size() > finest_steps) {
      finest_steps = f.tried.size();
      finest = passing->spec;
    }
  }
  const std::string text = "quantization " + quant_spec_name(spec) + " is over budget for " +
                           (names.find(',') == std::string::npos ? "tree " : "trees ") + names;
  if (!none.empty()) return text + "; no finer type passes for " + none + "; no bundle written";
  return text + "; no bundle written; " + passes + ": use --quant " + quant_spec_name(finest) + ", or --quant-fallback";
}

std::string shape_text(const QuantizedMatrix& m) {
  return "[" + std::to_string(m.rows) + ", " + std::to_string(m.cols) + "]";
}

using cli::appendf;

}  // namespace

ConvertOutcome convert_bundle(const ConvertOptions& o, ConvertReport* report, std::string* error) {
  ConvertReport& r = *report;
  const auto bad = [&](const std::string& what) {
    *error = what;
    return ConvertOutcome::kBadRequest;
  };
  const auto failed = [&](const std::string& what) {
    *error = what;
    return ConvertOutcome::kFailed;
  };
  constexpr ConvertOutcome kFailed = ConvertOutcome::kFailed;  // error set by the step that failed
  if (!o.zoo.empty() && !list_zoo_files(o.zoo, &r.files, error)) return kFailed;

  // Classification checkpoints make the trees (in the order given); zero-shot ones join their tree.
  std::vector<LoadedCheckpoint> floats, zero_shot_floats;
  std::vector<std::string> classifier_paths, zero_shot_paths;
  // MVProbe experts (probex-train --expert mvprobe|auto), by index into floats or zero_shot_floats, whose
  // entry there is an empty slot.
  std::map<size_t, LoadedMvProbeCheckpoint> mv_floats, mv_zero_shot;
  for (const std::string& path : o.checkpoints) {
    if (is_mvprobe_checkpoint(path)) {
      LoadedMvProbeCheckpoint m;
      if (!load_mvprobe_checkpoint(path, &m, error)) return kFailed;
      const bool zs = is_zero_shot_checkpoint(m);
      (zs ? mv_zero_shot : mv_floats).emplace((zs ? zero_shot_paths : classifier_paths).size(), std::move(m));
      (zs ? zero_shot_floats : floats).emplace_back();
      (zs ? zero_shot_paths : classifier_paths).push_back(path);
      continue;
    }
    LoadedCheckpoint c;
    if (!load_probex_checkpoint(path, &c, error)) return kFailed;
    const bool zs = is_zero_shot_checkpoint(c);
    (zs ? zero_shot_floats : floats).push_back(std::move(c));
    (zs ? zero_shot_paths : classifier_paths).push_back(path);
  }
  if (!mv_floats.empty() && !o.report_dir.empty())
    return bad("--report compares quantizations of ProbeX experts only; " + mv_floats.begin()->second.metadata["tree"] +
               " is an MVProbe expert");
  if (floats.empty()) return bad("no classification checkpoint: every tree needs one (zero-shot ones join it)");
  if (!zero_shot_floats.empty() && o.text_table.empty()) return bad("zero-shot checkpoints need --text-table");
  if (zero_shot_floats.empty() && !o.extra_labels.empty()) return bad("--label needs a zero-shot checkpoint");
  EmbeddingTable table;
  if (!o.text_table.empty() && !load_embedding_table(o.text_table, o.text_names, &table, error)) return kFailed;
  // A tree from its checkpoints with storage type `s`: its classification expert, then its zero-shot
  // expert, if it has one (zero_shot_of[tree], known once the trees have their names), then its int8 step
  // 1 calibrated on its held-out layers and its self-tests (their tolerance is set below, once the
  // runtime's own difference on these inputs is known). Also for the finer types tried for a tree over
  // budget (find_finer_types).
  std::vector<size_t> zero_shot_of(floats.size(), SIZE_MAX);  // tree -> index into zero_shot_floats
  std::vector<LoadedSplit> held_out(floats.size());
  std::vector<float> amplitudes(floats.size(), 0.1f);  // without a zoo: a typical weight scale
  const auto make_classifier = [&](size_t i, const QuantSpec& s, BundleTree* t, std::string* e) {
    const auto mv = mv_floats.find(i);
    return mv != mv_floats.end() ? make_bundle_tree(mv->second, classifier_paths[i], s, t, e)
                                 : make_bundle_tree(floats[i], classifier_paths[i], s, t, e);
  };
  const auto attach = [&](size_t k, const QuantSpec& s, BundleTree* t, std::string* e) {
    const auto mv = mv_zero_shot.find(k);
    return mv != mv_zero_shot.end()
               ? attach_zero_shot(mv->second, zero_shot_paths[k], s, table, o.extra_labels, t, e)
               : attach_zero_shot(zero_shot_floats[k], zero_shot_paths[k], s, table, o.extra_labels, t, e);
  };
  const auto finish_tree = [&](size_t i, BundleTree* t) {
    if (!o.zoo.empty()) {
      if (t->root.empty()) t->root = t->name + "/root";
      calibrate_probe_output(t, held_out[i].data.x.data(), held_out[i].data.count);
    }
    add_self_tests(t, static_cast<size_t>(o.self_tests), amplitudes[i], 0x5e1f7e57ull + i * 1000, 1e30f);
  };
  const MakeTree make_tree = [&](size_t i, const QuantSpec& s, BundleTree* t, std::string* e) {
    if (!make_classifier(i, s, t, e) || (zero_shot_of[i] != SIZE_MAX && !attach(zero_shot_of[i], s, t, e)))
      return false;
    finish_tree(i, t);
    return true;
  };
  std::vector<BundleTree>& trees = r.trees;
  trees.resize(floats.size());
  for (size_t i = 0; i < floats.size(); ++i)
    if (!make_classifier(i, o.spec, &trees[i], error)) return kFailed;
  for (size_t k = 0; k < zero_shot_floats.size(); ++k) {
    const auto mv = mv_zero_shot.find(k);
    const auto& md = mv != mv_zero_shot.end() ? mv->second.metadata : zero_shot_floats[k].metadata;
    const auto it = md.find("tree");
    const std::string name = it == md.end() ? "" : it->second;
    size_t i = 0;
    while (i < trees.size() && trees[i].name != name) ++i;
    if (i == trees.size())
      return failed(zero_shot_paths[k] + ": zero-shot expert for tree '" + name +
                    "', but no classification checkpoint of that tree was given");
    if (!attach(k, o.spec, &trees[i], error)) return kFailed;
    zero_shot_of[i] = k;
  }
  for (size_t i = 0; i < trees.size(); ++i) {
    BundleTree& t = trees[i];
    if (!o.zoo.empty()) {
      LoadOptions load;
      load.layer = t.layer_name;
      std::vector<std::string> space = t.labels;
      if (!load_split(r.files, t.name, o.split, load, &space, t.shape.d_h, t.shape.d_w, &held_out[i], error))
        return kFailed;
      const ExpertData& d = held_out[i].data;
      if (d.count == 0) return failed(o.zoo + ": tree '" + t.name + "' has no models in split '" + o.split + "'");
      double sum_sq = 0;
      for (const double x : d.x) sum_sq += x * x;
      amplitudes[i] = static_cast<float>(std::sqrt(3.0 * sum_sq / static_cast<double>(d.x.size())));
    }
    finish_tree(i, &t);
  }
  r.with_router = !o.zoo.empty() && o.router;
  if (r.with_router && !fit_router(r.files, o.sketch, &trees, &r.calibration, error)) return kFailed;
  const SketchSpec router = r.with_router ? o.sketch : SketchSpec{};

  BudgetReference reference;
  if (o.zoo.empty()) {
    if (!build_bundle(trees, o.producer, &r.bytes, error, router)) return kFailed;
  } else {
    for (size_t i = 0; i < trees.size(); ++i) {
      const auto mv = mv_floats.find(i);
      reference.floats.push_back(mv != mv_floats.end() ? static_cast<MultiLabelModel*>(mv->second.expert.get())
                                                       : floats[i].expert.get());
    }
    reference.held_out = &held_out;
    for (const size_t k : zero_shot_of) {
      ZeroShotFloat z;
      if (k != SIZE_MAX) {
        const auto mv = mv_zero_shot.find(k);
        z.model = mv != mv_zero_shot.end() ? static_cast<MultiLabelModel*>(mv->second.expert.get())
                                           : zero_shot_floats[k].expert.get();
        z.text = mv != mv_zero_shot.end() ? static_cast<const TextProjectionWeights*>(&mv->second)
                                          : &zero_shot_floats[k];
      }
      reference.zero_shot.push_back(z);
    }
    reference.files = &r.files;
    reference.table = &table;
    if (!check_quant_budget(&trees, reference, o.budget, o.producer, router, &r.bytes, &r.budget_check, error))
      return kFailed;
  }
  // Trees over budget: the finer types that pass, named, or with --quant-fallback written.
  if (!r.budget_check.within() && !find_finer_types(&trees, reference, o.budget, o.producer, router, o.spec, make_tree,
                                                    o.quant_fallback, &r.bytes, &r.budget_check, &r.finer, error))
    return kFailed;
  r.tree_types.assign(trees.size(), quant_spec_name(o.spec));
  for (const FinerTypes& f : r.finer)
    if (f.applied) r.tree_types[f.tree] = quant_spec_name(f.passing()->spec);
  // Written even when over budget: the page shows which storage types would fit.
  if (!o.report_dir.empty() &&
      !report::write_quantization_report(o.report_dir, o.zoo, o.split, floats, classifier_paths, held_out, error))
    return kFailed;
  if (!r.budget_check.within()) {
    r.over_budget = over_budget_text(trees, o.spec, r.finer);
    return ConvertOutcome::kOverBudget;
  }
  // Self-test tolerances, from this machine's own difference (bundle_writer.h).
  if (!measure_self_tests(r.bytes, &r.worst_self_test, error)) return kFailed;
  r.int8_tolerance = set_self_test_tolerances(&trees, r.worst_self_test);
  if (!build_bundle(trees, o.producer, &r.bytes, error, router)) return kFailed;
  r.unsigned_size = r.bytes.size();
  if (!o.sign_key.empty() && !sign_bundle(o.sign_key, &r.bytes, error)) return kFailed;
  return ConvertOutcome::kWritten;
}

std::string router_text(const ConvertOptions& o, const ConvertReport& r) {
  if (!r.with_router) return "";
  std::string text;
  appendf(&text, "router: sketch %ux%u (%zu bytes per tree); direction distance to the root:\n", o.sketch.rows,
          o.sketch.cols, static_cast<size_t>(o.sketch.rows) * o.sketch.cols * sizeof(float));
  for (const TreeCalibration& c : r.calibration)
    appendf(&text,
            "  tree %-10s own training models %zu: median %.3f, max %.3f; other trees' models %zu: min %.3f; "
            "accept <= %.3f%s\n",
            c.tree.c_str(), c.own, c.own_median, c.own_max, c.others, c.others_min, c.accept,
            c.others_min > c.own_max ? "" : "  (no gap: trees overlap)");
  return text;
}

std::string budget_text(const ConvertOptions& o, const ConvertReport& r, bool quiet) {
  std::string text;
  const QuantBudget& budget = o.budget;
  const std::string type = quant_spec_name(o.spec);
  for (size_t i = 0; i < r.budget_check.trees.size(); ++i) {
    const TreeBudgetCheck& t = r.budget_check.trees[i];
    const QuantComparison& c = t.comparison;
    char note[160] = "";
    if (t.fell_back)
      std::snprintf(note, sizeof(note),
                    " (int8 step 1 was over budget: flips %zu of %zu, max prob error %.4g; float step 1 kept)",
                    t.int8_step1.flips, t.int8_step1.decisions, t.int8_step1.max_probability_error);
    if (!quiet || !t.within)
      appendf(&text,
              "tree %-10s %s (runtime, xnnpack) vs f32 expert on %zu %s layers: %s, "
              "max prob error %.4g (max %.4g), min embedding cosine %.5f (min %.5f)%s%s\n",
              r.trees[i].name.c_str(), type.c_str(), c.layers, o.split.c_str(), flips_verdict(c, budget).c_str(),
              c.max_probability_error, budget.max_probability_error, c.min_embedding_cosine,
              budget.min_embedding_cosine, t.within ? "" : "  OVER BUDGET", note);
  }
  for (size_t i = 0; i < r.budget_check.zero_shot.size(); ++i) {
    const ZeroShotBudgetCheck& z = r.budget_check.zero_shot[i];
    if (z.checked && (!quiet || !z.within))
      appendf(&text,
              "tree %-10s zero-shot %s (runtime) vs f32: in-distribution top-1 %.4f vs %.4f on %zu test models, "
              "zero-shot top-1 %.4f vs %.4f on %zu test_holdout models (lost %zu and %zu; the max drop %.3f "
              "allows %zu and %zu)%s%s\n",
              r.trees[i].name.c_str(), type.c_str(), z.seen.runtime_top1, z.seen.float_top1, z.seen.layers,
              z.unseen.runtime_top1, z.unseen.float_top1, z.unseen.layers, zero_shot_models_lost(z.seen),
              zero_shot_models_lost(z.unseen), budget.max_zero_shot_drop,
              max_flips_within(z.seen.layers, budget.max_zero_shot_drop),
              max_flips_within(z.unseen.layers, budget.max_zero_shot_drop), z.within ? "" : "  OVER BUDGET",
              z.fell_back ? " (int8 step 1 was over budget; float step 1 kept)" : "");
  }
  for (const FinerTypes& f : r.finer) text += finer_types_text(r.trees[f.tree].name, o.spec, f) + "\n";
  return text;
}

std::string written_text(const ConvertOptions& o, const ConvertReport& r, const std::string& out) {
  std::string text;
  if (!o.sign_key.empty())
    appendf(&text, "signed with %s: %zu bytes of signature trailer\n", o.sign_key.c_str(),
            r.bytes.size() - r.unsigned_size);
  appendf(&text, "self-test worst difference on this machine %.3g; tolerance 1e-3, or %.3g for int8 step 1\n",
          r.worst_self_test, static_cast<double>(r.int8_tolerance));
  for (const BundleTree& t : r.trees)
    if (t.probe_output_ratio > 0)
      appendf(&text, "tree %s: int8 step 1, probe output ratio %.4g\n", t.name.c_str(),
              static_cast<double>(t.probe_output_ratio));
  appendf(&text, "\n%-10s %-28s %-14s %-8s %12s\n", "tree", "tensor", "shape", "type", "bytes");
  size_t total = 0;
  for (const BundleTree& t : r.trees) {
    // An expert's matrices; a multi-view expert's views' probes and projections replace ProbeX's.
    const auto body = [](const std::vector<BundleView>& views, const QuantizedMatrix& probes,
                         const QuantizedMatrix& projection, std::vector<const QuantizedMatrix*>* list) {
      for (const BundleView& v : views) list->insert(list->end(), {&v.probes, &v.projection});
      if (views.empty()) list->insert(list->end(), {&probes, &projection});
    };
    std::vector<const QuantizedMatrix*> matrices;
    body(t.views, t.probes, t.projection, &matrices);
    matrices.insert(matrices.end(), {&t.encoder, &t.encoder_bias, &t.head, &t.head_bias});
    const size_t classifier_matrices = matrices.size();
    if (const BundleZeroShot* z = t.zero_shot.get()) {
      body(z->views, z->probes, z->projection, &matrices);
      matrices.insert(matrices.end(),
                      {&z->encoder, &z->encoder_bias, &z->prototypes, &z->text_projection, &z->text_bias});
    }
    for (size_t k = 0; k < matrices.size(); ++k) {
      const QuantizedMatrix* m = matrices[k];
      const std::string name = (k >= classifier_matrices ? "zero-shot " : "") + m->name;
      appendf(&text, "%-10s %-28s %-14s %-8s %12zu\n", t.name.c_str(), name.c_str(), shape_text(*m).c_str(),
              probex::storage_type_name(m->type), m->bytes());
      total += m->bytes();
    }
  }
  std::string types = quant_spec_name(o.spec), fallbacks;
  for (size_t i = 0; i < r.trees.size(); ++i)
    if (r.tree_types[i] != types) add(&fallbacks, r.trees[i].name + " " + r.tree_types[i]);
  if (!fallbacks.empty()) types += " (" + fallbacks + ": --quant-fallback)";
  appendf(&text, "tensors %zu bytes; bundle %s: %zu bytes, %zu tree(s), %s\n", total, out.c_str(), r.bytes.size(),
          r.trees.size(), types.c_str());
  return text;
}

bool add_labels_to_bundle(const std::string& in, const std::string& only_tree, const std::string& text_table,
                          const std::string& text_names, const std::vector<std::string>& labels,
                          const std::string& sign_key, const std::string& producer, AddLabelsReport* report,
                          std::string* error) {
  EmbeddingTable table;
  if (!load_embedding_table(text_table, text_names, &table, error)) return false;
  std::vector<uint8_t>& bytes = report->bytes;
  {
    probex::platform::MappedFile file;
    if (!file.open(in, error)) return false;
    bytes.assign(file.data(), file.data() + file.size());
  }
  std::vector<BundleTree> trees;
  SketchSpec router;
  if (!unpack_bundle(bytes, &trees, &router, error)) {
    *error = in + ": " + *error;
    return false;
  }
  size_t changed = 0;
  for (BundleTree& t : trees) {
    if (!only_tree.empty() && t.name != only_tree) continue;
    if (!t.zero_shot) {
      if (!only_tree.empty()) {
        *error = in + ": tree '" + t.name + "' has no zero-shot expert";
        return false;
      }
      continue;
    }
    const std::string source = table.source.substr(table.source.find_last_of('/') + 1);
    if (source != t.zero_shot->text_source)
      report->warnings.push_back("tree " + t.name + "'s labels were embedded with " + t.zero_shot->text_source +
                                 ", the new ones with " + source);
    if (!add_zero_shot_labels(t.zero_shot.get(), table, labels, error)) {
      *error = "tree '" + t.name + "': " + *error;
      return false;
    }
    ++changed;
    report->lines.push_back("tree " + t.name + ": " + std::to_string(t.zero_shot->labels.size()) + " zero-shot labels");
  }
  if (changed == 0) {
    *error = in + ": no tree has a zero-shot expert" + (only_tree.empty() ? "" : " named " + only_tree);
    return false;
  }
  return build_bundle(trees, producer, &bytes, error, router) &&
         measure_self_tests(bytes, &report->worst_self_test, error) &&
         (sign_key.empty() || sign_bundle(sign_key, &bytes, error));
}

}  // namespace probex::convert
