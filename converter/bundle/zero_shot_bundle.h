// Zero-shot experts in bundles: a zero-shot checkpoint (probex-train --task detector) is attached to
// the tree of the same name, on the same layer, with the prototype of every label text it is given:
// the classes it was trained on, its held-out classes and any further texts (docs/method.md section 2, step 6:
// prototype = normalize(W_txt t + b_txt), t the label's text embedding). Texts can be added to a bundle
// later without retraining, since the bundle keeps W_txt and b_txt (probex-convert --add-labels).
#pragma once

#include <string>
#include <vector>

#include "converter/bundle/bundle_writer.h"
#include "converter/expert/zero_shot.h"
#include "converter/text/embedding_table.h"
#include "converter/zoo/layout.h"

namespace probex::convert {

// True for a checkpoint of a zero-shot expert (no classification head, a text projection).
bool is_zero_shot_checkpoint(const LoadedCheckpoint& checkpoint);
bool is_zero_shot_checkpoint(const LoadedMvProbeCheckpoint& checkpoint);

// Unit prototypes [labels, r_T] of label texts: normalize(weight t + bias), weight [r_T, d_text].
bool label_prototypes(const std::vector<float>& weight, const std::vector<float>& bias, const EmbeddingTable& table,
                      const std::vector<std::string>& labels, std::vector<float>* out, std::string* error);

// Attaches the zero-shot expert of `checkpoint` (read from `path`) to `tree`, with the prototypes of its
// trained labels, its metadata's holdout_labels and `extra_labels` embedded with `table`. Errors: another
// tree or layer, a layer shape or text dimension that disagrees, a repeated label, a label with no word in
// the table.
// An MVProbe zero-shot expert (probex-train --task detector --expert mvprobe) ships its computed views, as
// make_bundle_tree does for an MVProbe classifier.
bool attach_zero_shot(const LoadedCheckpoint& checkpoint, const std::string& path, const QuantSpec& spec,
                      const EmbeddingTable& table, const std::vector<std::string>& extra_labels, BundleTree* tree,
                      std::string* error);
bool attach_zero_shot(const LoadedMvProbeCheckpoint& checkpoint, const std::string& path, const QuantSpec& spec,
                      const EmbeddingTable& table, const std::vector<std::string>& extra_labels, BundleTree* tree,
                      std::string* error);

// Appends label texts (never trained on) to a tree's zero-shot labels, with the bundle's own text
// projection. The table's dimension must be the projection's; a label already there is an error.
bool add_zero_shot_labels(BundleZeroShot* zero_shot, const EmbeddingTable& table,
                          const std::vector<std::string>& labels, std::string* error);

// Zero-shot top-1 of the runtime (XNNPACK, on the serialized bundle) and of the float expert on the same
// layers, each over `candidates` (indices into the tree's zero-shot labels); classes[i] indexes candidates.
struct ZeroShotAgreement {
  size_t layers = 0;
  double runtime_top1 = 0.0, float_top1 = 0.0;
};
// The models whose top-1 the runtime lost against the float expert (net, never negative).
size_t zero_shot_models_lost(const ZeroShotAgreement& a);
// Whether the runtime's zero-shot top-1 is within budget.max_zero_shot_drop of the float expert's, on the
// seen-class and the unseen-class models both: as for label flips (flip_bound.h), the models lost must not
// show, at 95%, a drop rate above the budget (at 0.01: none of 4 models, 2 of 40, 5 of 200).
bool within_zero_shot_budget(const ZeroShotAgreement& seen, const ZeroShotAgreement& unseen, const QuantBudget& budget);
// `float_expert` has no head (its outputs are the embedding); the layers are [d_h, d_w].
bool compare_zero_shot(const std::vector<uint8_t>& bundle_bytes, size_t tree_index, MultiLabelModel& float_expert,
                       size_t d_h, size_t d_w, const std::vector<float>& float_prototypes, const ExpertData& layers,
                       const std::vector<size_t>& candidates, const std::vector<size_t>& classes,
                       ZeroShotAgreement* out, std::string* error);

// The float zero-shot expert a tree's zero-shot part was made from (either expert kind's checkpoint).
struct ZeroShotFloat {
  MultiLabelModel* model = nullptr;
  const TextProjectionWeights* text = nullptr;
};

// compare_zero_shot on a zoo's detector models of `tree`: `seen` on its test split (candidates = the
// trained labels), `unseen` on test_holdout (candidates = that split's labels).
bool zero_shot_agreement(const std::vector<uint8_t>& bytes, size_t tree_index, const ZeroShotFloat& zs,
                         const BundleTree& tree, const std::vector<ZooFile>& files, const EmbeddingTable& table,
                         ZeroShotAgreement* seen, ZeroShotAgreement* unseen, std::string* error);

}  // namespace probex::convert
