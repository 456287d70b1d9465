// probex-convert's quantization budget enforced: the bundle is built, run with the real runtime on each
// tree's held-out layers and compared with the float experts (QuantBudget, bundle_writer.h). A tree
// whose int8 step 1 (fast, but it quantizes the layer and P) is over budget falls back to float
// arithmetic on the same int8 weights; the bundle is rebuilt and the tree checked again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bundle_writer.h"
#include "expert/layer_dataset.h"
#include "text/embedding_table.h"
#include "zero_shot_bundle.h"
#include "zoo/layout.h"

namespace probex::convert {

// One tree's classifier against its float expert.
struct TreeBudgetCheck {
  QuantComparison comparison;   // with the bundle as finally built
  bool within = false;          // comparison within the budget
  bool fell_back = false;       // its int8 step 1 was over budget: float step 1 kept
  QuantComparison int8_step1;   // the over-budget comparison, when it fell back
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

}  // namespace probex::convert
