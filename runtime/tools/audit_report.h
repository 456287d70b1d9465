// What probex-audit reports, on the public C++ API (probex/probex.hpp): one model's readable report, the
// tally of a run (its summary line) and the ranking of models by a zero-shot label (--query). The CLI
// parses arguments, audits, and prints these texts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "probex/probex.hpp"

namespace probex::tools {

// A declared base model names the tree's root when they are equal or one is a path ending in the other
// ("org/model" and "model"): hubs and zoos name the same model with and without its owner.
bool same_model_name(const std::string& declared, const std::string& root);

struct ZeroShotLabel {
  std::string name;
  bool trained = false;
};

// One model audited into a tree (result.tree != PROBEX_NO_TREE), with the bundle's names for what the
// result indexes, and its comparison with the model's own labels when --truth read them.
struct AuditedModel {
  std::string path;
  const probex_audit_result* result = nullptr;  // valid until the auditor's next audit
  probex_tree_info tree{};
  std::vector<std::string> labels;                  // the classifier's, in result order
  std::vector<ZeroShotLabel> zero_shot;             // the tree's zero-shot labels, in result order
  std::vector<uint32_t> zero_shot_order;            // indices into zero_shot, best cosine first
  const std::vector<std::string>* truth = nullptr;  // the model's own labels (--truth), or none
  uint32_t right = 0;                               // with truth: labels whose decision matches it
};
AuditedModel audited_model(const api::Bundle& bundle, const std::string& path, const probex_audit_result& result,
                           const std::vector<std::string>* truth);

// "mlp-a 0.123, mlp-b 1.400": the root distances the router measured ("" when it did not run).
std::string root_distances_text(const probex_audit_result& result, const std::vector<std::string>& tree_names);

// The readable report of one model, audited into a tree or of no known tree (ends with an empty line).
std::string report_text(const AuditedModel& model, const std::vector<std::string>& tree_names,
                        const std::string& truth_key);
std::string unknown_tree_text(const std::string& path, const probex_audit_result& result,
                              const std::vector<std::string>& tree_names);

// The model's record of the JSON result schema (docs/audit-json.md), with bit_accuracy when the truth was
// read; a record with status out_of_memory when it cannot be formatted.
std::string json_record(const api::Bundle& bundle, const std::string& path, const api::Error& audit,
                        const probex_audit_result& result, const AuditedModel* model);

// The run's counts, and its summary line.
class AuditTally {
 public:
  void add_unknown_tree() { ++audited_, ++unknown_; }
  void add(const AuditedModel& model);
  std::string summary(size_t models, bool routed, probex_backend backend, const std::string& truth_key) const;

 private:
  size_t audited_ = 0, unknown_ = 0, near_boundary_ = 0;
  size_t compared_ = 0, bits_right_ = 0, bits_total_ = 0, exact_right_ = 0;
  size_t zero_shot_compared_ = 0, zero_shot_right_ = 0;  // one-class models: zero-shot top-1
  double seconds_ = 0;                                   // of the models audited into a tree
};

// --query: the models ranked by the cosine of their zero-shot embedding with one label text.
class QueryRanking {
 public:
  explicit QueryRanking(std::string query) : query_(std::move(query)) {}
  void add(const AuditedModel& model);
  bool empty() const { return hits_.empty(); }
  // The ranking, best first: readable, or one JSON record per model.
  std::string text(bool json) const;
  // One message per model whose tree has no such zero-shot label.
  std::vector<std::string> not_comparable() const;

 private:
  struct Hit {
    double cosine;
    std::string model, tree;
  };
  std::string query_;
  std::vector<Hit> hits_;
  std::vector<std::string> not_comparable_;  // "path (tree name)"
};

}  // namespace probex::tools
