// The audit pipeline: a layer's rows stream from their source (a model file, a matrix in memory, a
// self-test generator) block by block through a backend's probe GEMMs, then through the rest of the
// expert, then into probabilities and a predicted label set.
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

#include "backends/backend.h"
#include "bundle/bundle.h"
#include "core/model_file.h"
#include "core/probed_layer.h"
#include "probex/probex.h"

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

// The C API status of a model-file error.
probex_status status_of(ModelError e);

// Fills rows [first, first + count) of X (count * d_w floats).
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual probex_status read(uint32_t first, uint32_t count, float* out, std::string* message) = 0;
};

class Auditor {
 public:
  static probex_status create(const Bundle& bundle, const probex_auditor_options& options,
                              const probex_allocator* allocator, std::unique_ptr<Auditor>* out, std::string* message);

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
  probex_status run(uint32_t tree, RowSource& rows, probex_audit_result* result, std::string* message);
  // Streams the layer through backend expert `slot` (accumulating G in g_), then finishes it.
  probex_status run_expert(uint32_t slot, const TreeView& t, uint32_t r_u, uint32_t r_v, RowSource& rows,
                           float* embedding, float* logits, double* read_s, double* probe_s, double* rest_s,
                           std::string* message);
  // The zero-shot expert's cosines to every label prototype of tree `t` into zero_shot_scores_.
  void score_zero_shot(const TreeView& t);
  probex_status prepare_router(std::string* message);
  // Opens a model file or folder (any format, model_file.h) within the configured limits; notes its format
  // and declared base model in *result.
  probex_status open_model(const std::string& path, std::unique_ptr<ModelFile>* file, probex_audit_result* result,
                           std::string* message);
  // Streams `rows` through the sketch of site `site` into sketch_.
  probex_status sketch_site(size_t site, RowSource& rows, std::string* message);
  // Chooses the tree of an open model file; *tree is PROBEX_NO_TREE (reason in reason_) when none fits.
  probex_status route_file(const ModelFile& file, uint32_t* tree, probex_audit_result* result, std::string* message);

  // One probed layer (name, rule, shape) shared by one or more trees: the router sketches it once.
  struct Site {
    const char* layer_name;
    LayerRule rule;
    uint32_t d_h, d_w;
    uint32_t projection;       // the backend's X R operator
    std::vector<float> left;   // L [k_r, d_H]
    std::vector<uint32_t> trees;
  };
  std::vector<Site> sites_;
  std::vector<float> sketch_, y_, distances_;
  char reason_[512] = "";
  char declared_base_[256] = "";  // the audited model's declared base model (result->declared_base_model)

  const Bundle& bundle_;
  uint32_t rows_per_block_;
  ModelLimits model_limits_;
  uint64_t max_lora_rank_ = kDefaultMaxLoraRank;
  std::unique_ptr<Backend> backend_;
  ArenaBuffer arena_;
  float* x_ = nullptr;  // rows_per_block * max d_W (+ slack)
  float* g_ = nullptr;  // max r_U * r_V
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
