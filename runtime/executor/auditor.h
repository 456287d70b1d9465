// The audit pipeline: a layer's rows stream from their source (executor/rows.h) block by block, each block
// read once and handed to every consumer of the pass: the router's sketch (executor/router.h) and the
// experts of the tree, classifier and zero-shot, each accumulating its own G on the backend. Then steps
// 3-4 of each expert, probabilities, a predicted label set and the zero-shot cosines.
//
// One pass per audit when the tree is known before reading: a named tree, a bundle of one tree, or a
// routed audit where the model's layer fits one router site that a single tree uses (the experts then run
// on speculation while the router sketches, and the router confirms or refuses the tree). Otherwise (a
// site shared by several trees) the router's pass comes first and the chosen tree's experts read the
// layer once more.
//
// Memory: everything an audit touches is allocated in Auditor::create (one arena for the row block and
// the outputs, sized for the largest tree; backends allocate their own in add_tree). Opening a model
// file builds its header index (bounded by the model-file limits) and a LoRA layer's down matrix; the
// compute path itself does not allocate.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "probex/probex.h"
#include "runtime/backends/backend.h"
#include "runtime/bundle/bundle.h"
#include "runtime/executor/router.h"
#include "runtime/executor/rows.h"
#include "runtime/formats/model_file.h"
#include "runtime/formats/probed_layer.h"

namespace probex {

// Caller-owned memory through the C API's optional allocator (malloc when none).
class ArenaBuffer {
 public:
  ArenaBuffer() = default;
  ~ArenaBuffer() { release(); }
  ArenaBuffer(const ArenaBuffer&) = delete;
  ArenaBuffer& operator=(const ArenaBuffer&) = delete;
  bool allocate(size_t bytes, const probex_allocator* allocator);
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void release();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  probex_allocator allocator_{};
};

class Auditor {
 public:
  // int8_step1 is for the converter's checks (backend.h); the C API always takes the fastest.
  static probex_status create(const Bundle& bundle, const probex_auditor_options& options,
                              const probex_allocator* allocator, std::unique_ptr<Auditor>* out, std::string* message,
                              Int8Step1 int8_step1 = Int8Step1::kFastest);

  probex_status audit_file(uint32_t tree, const std::string& path, probex_audit_result* result, std::string* message);
  probex_status audit_matrix(uint32_t tree, const float* x, uint32_t rows, uint32_t cols, probex_audit_result* result,
                             std::string* message);
  probex_status self_test(double* worst, std::string* message);
  // Only the router's decision (no expert runs): result->tree, distances, margin, reason.
  probex_status route_only(const std::string& path, probex_audit_result* result, std::string* message);

  const Bundle& bundle() const { return bundle_; }
  const char* backend_name() const { return backend_->name(); }

 private:
  Auditor(const Bundle& bundle, uint32_t rows_per_block) : bundle_(bundle), rows_per_block_(rows_per_block) {}
  static constexpr size_t kNoSite = ~size_t{0};
  // Streams `rows` ([d_h, d_w], the layer `layer_name`) once: into the router's sketch of `site` (kNoSite:
  // none) and into tree `tree`'s experts (PROBEX_NO_TREE: none). Adds the stages' times to *result.
  probex_status pass(RowSource& rows, uint32_t d_h, uint32_t d_w, const char* layer_name, size_t site, uint32_t tree,
                     probex_audit_result* result, std::string* message);
  // After the experts' pass: steps 3-4 of tree `tree`'s experts, probabilities, predictions, cosines.
  probex_status finish(uint32_t tree, probex_audit_result* result, std::string* message);
  // A pass with the experts of `tree`, then finish.
  probex_status run(uint32_t tree, RowSource& rows, probex_audit_result* result, std::string* message);
  // The zero-shot expert's cosines to every label prototype of tree `t` into zero_shot_scores_.
  void score_zero_shot(const TreeView& t);
  // Opens a model file or folder (any format, model_file.h) within the configured limits; notes its format
  // and declared base model in *result.
  probex_status open_model(const std::string& path, std::unique_ptr<ModelFile>* file, probex_audit_result* result,
                           std::string* message);
  // Sketches every site `file` has a layer for; with `speculate`, a site used by a single tree also feeds
  // that tree's experts, and *speculated names it. Then the router's decision into *tree.
  probex_status route(const ModelFile& file, bool speculate, uint32_t* tree, uint32_t* speculated,
                      probex_audit_result* result, std::string* message);
  // `tree`'s probed layer in `file`, checked against the tree's name, shape and rule.
  probex_status tree_layer(const ModelFile& file, const std::string& path, uint32_t tree, ProbedLayer* layer,
                           std::string* message);

  Router router_;
  char declared_base_[256] = "";  // the audited model's declared base model (result->declared_base_model)

  const Bundle& bundle_;
  uint32_t rows_per_block_;
  ModelLimits model_limits_;
  uint64_t max_lora_rank_ = kDefaultMaxLoraRank;
  std::unique_ptr<Backend> backend_;
  ArenaBuffer arena_;
  float* x_ = nullptr;            // rows_per_block * max d_W (+ slack)
  float* g_ = nullptr;            // max r_U * r_V
  float* zero_shot_g_ = nullptr;  // max zero-shot r_U * r_V
  float* embedding_ = nullptr;
  float* logits_ = nullptr;
  float* probabilities_ = nullptr;
  bool* predicted_ = nullptr;
  float* zero_shot_embedding_ = nullptr;  // max zero-shot r_T
  float* zero_shot_scores_ = nullptr;     // max zero-shot labels
  float* prototype_row_ = nullptr;        // one dequantized prototype, max zero-shot r_T
  // Per tree: the backend slot of its zero-shot expert (after the trees' own slots), or kNoSlot.
  static constexpr uint32_t kNoSlot = 0xFFFFFFFFu;
  std::vector<uint32_t> zero_shot_slot_;
  std::vector<float> lora_scratch_;  // storage of a LoRA layer's down matrix (ProbedRowReader), reused
};

}  // namespace probex
