// probex-convert's quantization budget enforced: the bundle is built, run with the real runtime on each
// tree's held-out layers and compared with the float experts (QuantBudget, bundle_writer.h). A tree
// whose int8 step 1 (fast, but it quantizes the layer and P) is over budget falls back to float
// arithmetic on the same int8 weights; the bundle is rebuilt and the tree checked again. A tree still
// over budget gets the finer storage types tried in its place (find_finer_types): the user is told
// which one passes, or, if allowed, the tree is written with it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "converter/bundle/bundle_writer.h"
#include "converter/bundle/zero_shot_bundle.h"
#include "converter/expert/layer_dataset.h"
#include "converter/text/embedding_table.h"
#include "converter/zoo/layout.h"

namespace probex::convert {

// One tree's classifier against its float expert.
struct TreeBudgetCheck {
  QuantComparison comparison;  // with the bundle as finally built
  bool within = false;         // comparison within the budget
  bool fell_back = false;      // its int8 step 1 was over budget: float step 1 kept
  QuantComparison int8_step1;  // the over-budget comparison, when it fell back
};

// One tree's zero-shot expert against the float zero-shot checkpoint (zero_shot_agreement).
struct ZeroShotBudgetCheck {
  bool checked = false;  // false: the tree has no zero-shot expert
  ZeroShotAgreement seen, unseen;
  bool within = true;
  bool fell_back = false;
};

struct BudgetCheck {
  std::vector<TreeBudgetCheck> trees;          // per tree
  std::vector<ZeroShotBudgetCheck> zero_shot;  // per tree
  bool within() const;                         // every tree, classifier and zero-shot
};

// What each tree i is compared with: the float classifier floats[i] on held_out[i]'s layers, and, if
// zero_shot[i].model is not null, that float zero-shot expert on the zoo `files` with label texts `table`.
struct BudgetReference {
  std::vector<MultiLabelModel*> floats;  // per tree: the float classifier (ProbeX or MVProbe)
  const std::vector<LoadedSplit>* held_out = nullptr;
  std::vector<ZeroShotFloat> zero_shot;  // per tree (ProbeX or MVProbe); model null: none
  const std::vector<ZooFile>* files = nullptr;
  const EmbeddingTable* table = nullptr;
};

// Builds the bundle of *trees (build_bundle with `producer` and `router`) into *bytes and checks every
// classifier, then every zero-shot expert, falling back from int8 to float step 1 where over budget
// (which changes *trees). *bytes is the bundle of the final trees. Returns false only on an error (the
// runtime or the build failing); over budget is out->within() == false.
bool check_quant_budget(std::vector<BundleTree>* trees, const BudgetReference& reference, const QuantBudget& budget,
                        const std::string& producer, const SketchSpec& router, std::vector<uint8_t>* bytes,
                        BudgetCheck* out, std::string* error);

// A storage type finer than the chosen one, tried for a tree over budget.
struct FinerTypeCheck {
  QuantSpec spec;
  TreeBudgetCheck classifier;
  ZeroShotBudgetCheck zero_shot;
  bool within() const { return classifier.within && zero_shot.within; }
};
struct FinerTypes {
  size_t tree = 0;
  std::vector<FinerTypeCheck> tried;  // in order (finer_quant_spec), up to the first that passes
  bool applied = false;               // the one that passes replaced the tree (fallback)
  const FinerTypeCheck* passing() const { return !tried.empty() && tried.back().within() ? &tried.back() : nullptr; }
};

// Makes tree `index` anew with storage type `spec`, as it was made with the chosen one: classifier,
// zero-shot part, self-tests (the router's root sketch is copied from the tree it replaces).
using MakeTree = std::function<bool(size_t index, const QuantSpec& spec, BundleTree* out, std::string* error)>;

// For each tree over budget in *check (made with `spec`): the types finer than `spec`, each made with
// `make`, put in the tree's place and checked as check_quant_budget checks (other trees' results do not
// depend on it), until one passes; one FinerTypes per such tree in *out. With `fallback`, the type that
// passes stays in *trees and its results replace the tree's in *check. *bytes is the bundle of the final
// *trees. Returns false only on an error.
bool find_finer_types(std::vector<BundleTree>* trees, const BudgetReference& reference, const QuantBudget& budget,
                      const std::string& producer, const SketchSpec& router, const QuantSpec& spec,
                      const MakeTree& make, bool fallback, std::vector<uint8_t>* bytes, BudgetCheck* check,
                      std::vector<FinerTypes>* out, std::string* error);

}  // namespace probex::convert
