#include "runtime/tools/audit_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "runtime/cli/text.h"
#include "runtime/tools/cli_common.h"

namespace probex::tools {
namespace {

using cli::appendf;

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

bool same_model_name(const std::string& declared, const std::string& root) {
  if (declared.empty() || root.empty()) return false;
  const auto ends_with = [](const std::string& a, const std::string& b) {
    return a.size() > b.size() && a.compare(a.size() - b.size(), b.size(), b) == 0 && a[a.size() - b.size() - 1] == '/';
  };
  return declared == root || ends_with(declared, root) || ends_with(root, declared);
}

AuditedModel audited_model(const api::Bundle& bundle, const std::string& path, const probex_audit_result& r,
                           const std::vector<std::string>* truth) {
  AuditedModel m;
  m.path = path;
  m.result = &r;
  bundle.tree_info(r.tree, &m.tree);
  m.labels.resize(r.label_count);
  for (uint32_t k = 0; k < r.label_count; ++k) bundle.label(r.tree, k, &m.labels[k]);
  m.zero_shot.resize(r.zero_shot_count);
  for (uint32_t k = 0; k < r.zero_shot_count; ++k)
    bundle.zero_shot_label(r.tree, k, &m.zero_shot[k].name, &m.zero_shot[k].trained);
  m.zero_shot_order.resize(r.zero_shot_count);
  for (uint32_t k = 0; k < r.zero_shot_count; ++k) m.zero_shot_order[k] = k;
  std::stable_sort(m.zero_shot_order.begin(), m.zero_shot_order.end(),
                   [&](uint32_t a, uint32_t b) { return r.zero_shot_scores[a] > r.zero_shot_scores[b]; });
  m.truth = truth;
  if (truth)
    for (uint32_t k = 0; k < r.label_count; ++k) m.right += contains(*truth, m.labels[k]) == r.predicted[k];
  return m;
}

std::string root_distances_text(const probex_audit_result& r, const std::vector<std::string>& tree_names) {
  std::string text;
  if (!r.routed) return text;
  for (uint32_t k = 0; k < r.root_distance_count && k < tree_names.size(); ++k) {
    if (std::isnan(r.root_distances[k])) continue;
    appendf(&text, "%s%s %.3f", text.empty() ? "" : ", ", tree_names[k].c_str(),
            static_cast<double>(r.root_distances[k]));
  }
  return text;
}

std::string unknown_tree_text(const std::string& path, const probex_audit_result& r,
                              const std::vector<std::string>& tree_names) {
  std::string text;
  appendf(&text, "model  %s (%s)\n", path.c_str(), r.model_format);
  if (*r.declared_base_model) appendf(&text, "claims base model %s\n", r.declared_base_model);
  appendf(&text, "tree   unknown tree: %s\n       root distances: %s\n\n", r.unknown_reason,
          root_distances_text(r, tree_names).c_str());
  return text;
}

std::string report_text(const AuditedModel& m, const std::vector<std::string>& tree_names,
                        const std::string& truth_key) {
  const probex_audit_result& r = *m.result;
  const probex_tree_info& info = m.tree;
  std::string text;
  appendf(&text, "model  %s (%s)\n", m.path.c_str(), r.model_format);
  if (*r.declared_base_model)  // the file's claim beside the weights' answer
    appendf(&text, "claims base model %s%s\n", r.declared_base_model,
            same_model_name(r.declared_base_model, info.root) ? "" : ": differs from the router's tree root");
  appendf(&text, "tree   %s (root %s), layer %s [%u, %u]\n", info.name, info.root, info.layer_name, info.d_h, info.d_w);
  if (r.routed) {
    appendf(&text, "route  distance %.3f (accepted up to %.3f), margin %.1fx; root distances: %s\n",
            static_cast<double>(r.route_distance), static_cast<double>(r.route_accept),
            static_cast<double>(r.route_margin), root_distances_text(r, tree_names).c_str());
    if (r.route_outcome == PROBEX_ROUTE_NEAR_BOUNDARY)
      appendf(&text,
              "       near the boundary: the file's rounding (%.3f of its layer's norm) leaves its original on\n"
              "       either side of the acceptance distance (%.3f-%.3f for this file): the lineage is uncertain\n",
              static_cast<double>(r.layer_rounding), static_cast<double>(r.route_band_low),
              static_cast<double>(r.route_band_high));
  }
  text += "fine-tuned on:";
  for (uint32_t k = 0; k < r.label_count; ++k)
    if (r.predicted[k]) appendf(&text, " %s (%.2f)", m.labels[k].c_str(), static_cast<double>(r.probabilities[k]));
  text += "\n";
  std::vector<uint32_t> order(r.label_count);
  for (uint32_t k = 0; k < r.label_count; ++k) order[k] = k;
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return r.probabilities[a] > r.probabilities[b]; });
  for (const uint32_t k : order) {
    const char* trained = m.truth ? (contains(*m.truth, m.labels[k]) ? "   (trained on it)" : "") : "";
    appendf(&text, "  %-24s %.3f %s%s\n", m.labels[k].c_str(), static_cast<double>(r.probabilities[k]),
            r.predicted[k] ? "yes" : "no ", trained);
  }
  if (m.truth) appendf(&text, "bit accuracy against %s: %u / %u\n", truth_key.c_str(), m.right, r.label_count);
  if (!m.zero_shot_order.empty()) {
    appendf(&text, "zero-shot: label texts its weights match best (cosine; of %u):\n", r.zero_shot_count);
    for (size_t k = 0; k < std::min<size_t>(5, m.zero_shot_order.size()); ++k) {
      const ZeroShotLabel& l = m.zero_shot[m.zero_shot_order[k]];
      appendf(&text, "  %-24s %6.3f %s\n", l.name.c_str(),
              static_cast<double>(r.zero_shot_scores[m.zero_shot_order[k]]), l.trained ? "" : "(never trained on)");
    }
  }
  const double seconds = r.seconds_route + r.seconds_read + r.seconds_probe + r.seconds_rest + r.seconds_zero_shot;
  appendf(&text, "time   %.3f ms (route %.3f, read %.3f, probe %.3f, rest %.3f, zero-shot %.3f)\n\n", seconds * 1e3,
          r.seconds_route * 1e3, r.seconds_read * 1e3, r.seconds_probe * 1e3, r.seconds_rest * 1e3,
          r.seconds_zero_shot * 1e3);
  return text;
}

std::string json_record(const api::Bundle& bundle, const std::string& path, const api::Error& audit,
                        const probex_audit_result& result, const AuditedModel* model) {
  std::string record;
  if (bundle.audit_json(path, audit, &result, &record))
    return "{\"schema_version\":" + std::to_string(PROBEX_AUDIT_JSON_SCHEMA_VERSION) +
           ",\"model\":" + cli::json_string(path) + ",\"status\":\"out_of_memory\"}";
  if (model && model->truth) {  // the one field only probex-audit has: the record ends with '}'
    record.pop_back();
    record += ",\"bit_accuracy\":" + cli::json_number(static_cast<double>(model->right) / result.label_count) + "}";
  }
  return record;
}

void AuditTally::add(const AuditedModel& m) {
  const probex_audit_result& r = *m.result;
  ++audited_;
  near_boundary_ += r.route_outcome == PROBEX_ROUTE_NEAR_BOUNDARY;
  seconds_ += r.seconds_route + r.seconds_read + r.seconds_probe + r.seconds_rest + r.seconds_zero_shot;
  if (!m.truth) return;
  ++compared_;
  bits_total_ += r.label_count;
  bits_right_ += m.right;
  exact_right_ += m.right == r.label_count;
  if (m.truth->size() == 1 && !m.zero_shot_order.empty()) {
    ++zero_shot_compared_;
    zero_shot_right_ += m.zero_shot[m.zero_shot_order[0]].name == (*m.truth)[0];
  }
}

std::string AuditTally::summary(size_t models, bool routed, probex_backend backend,
                                const std::string& truth_key) const {
  std::string text;
  char near[64] = "";
  if (near_boundary_) std::snprintf(near, sizeof(near), ", %zu near the boundary", near_boundary_);
  appendf(&text, "audited %zu of %zu models (%s%zu of unknown tree%s; %s backend), mean %.3f ms", audited_, models,
          routed ? "routed, " : "", unknown_, near, backend == PROBEX_BACKEND_XNNPACK ? "xnnpack" : "reference",
          audited_ ? seconds_ * 1e3 / static_cast<double>(audited_) : 0.0);
  if (compared_)
    appendf(&text, "; against %s: bit accuracy %.4f, exact set %.4f over %zu models", truth_key.c_str(),
            static_cast<double>(bits_right_) / static_cast<double>(bits_total_),
            static_cast<double>(exact_right_) / static_cast<double>(compared_), compared_);
  if (zero_shot_compared_)
    appendf(&text, "; zero-shot top-1 over all zero-shot labels %.4f over %zu one-class models",
            static_cast<double>(zero_shot_right_) / static_cast<double>(zero_shot_compared_), zero_shot_compared_);
  return text + "\n";
}

void QueryRanking::add(const AuditedModel& m) {
  const auto it = std::find_if(m.zero_shot.begin(), m.zero_shot.end(),
                               [&](const ZeroShotLabel& l) { return l.name == query_; });
  if (it == m.zero_shot.end()) {
    not_comparable_.push_back(m.path + " (tree " + m.tree.name + ")");
    return;
  }
  hits_.push_back({static_cast<double>(m.result->zero_shot_scores[it - m.zero_shot.begin()]), m.path, m.tree.name});
}

std::string QueryRanking::text(bool json) const {
  std::vector<Hit> hits = hits_;  // in audit order, so equal cosines keep it
  std::stable_sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) { return a.cosine > b.cosine; });
  std::string text;
  if (!json) appendf(&text, "models ranked by cosine with '%s':\n", query_.c_str());
  for (size_t k = 0; k < hits.size(); ++k) {
    if (json)
      text += "{\"schema_version\":" + std::to_string(PROBEX_AUDIT_JSON_SCHEMA_VERSION) +
              ",\"query\":" + cli::json_string(query_) + ",\"rank\":" + std::to_string(k + 1) +
              ",\"cosine\":" + cli::json_number(hits[k].cosine) + ",\"tree\":" + cli::json_string(hits[k].tree) +
              ",\"model\":" + cli::json_string(hits[k].model) + "}\n";
    else
      appendf(&text, "  %4zu  %6.3f  %-8s %s\n", k + 1, hits[k].cosine, hits[k].tree.c_str(), hits[k].model.c_str());
  }
  return text;
}

std::vector<std::string> QueryRanking::not_comparable() const {
  std::vector<std::string> messages;
  for (const std::string& m : not_comparable_)
    messages.push_back(m + ": the tree has no zero-shot label '" + query_ +
                       "' (add it with probex-convert --add-labels)");
  return messages;
}

}  // namespace probex::tools
