// What a backend computes: the probe GEMMs of one layer, streamed by row blocks, then the rest of the
// ProbeX forward pass (docs/method.md section 2). With U^T [r_U, d_W], V^T [r_V, d_H]:
//   for each block of rows h in [first, first + rows):   G += (X_blk U)^T  V_blk     [r_U, r_V]
//   finish:  G = relu(G);  e = M vec(G) + b_M;  logits = W e + b_W
// Summing G over row blocks is exact algebra (G = P^T V sums over rows of P and V), so memory does not
// grow with the layer. The executor (runtime/executor) owns the row stream and the output buffers;
// a backend owns its packed weights and scratch, all allocated in add_tree, none during an audit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "probex/probex.h"
#include "runtime/backends/kernels/multiview.h"

namespace probex {

// Float32 weights of one tree, [out, in] row-major; valid only during add_tree (backends copy or pack).
struct ExpertWeights {
  uint32_t d_h = 0, d_w = 0, r_u = 0, r_v = 0, r_t = 0, d_y = 0;
  const float* probes = nullptr;        // U^T [r_U, d_W]
  const float* projection = nullptr;    // V^T [r_V, d_H]
  const float* encoder = nullptr;       // M [r_T, r_U*r_V]
  const float* encoder_bias = nullptr;  // [r_T]
  const float* head = nullptr;          // W [d_Y, r_T]
  const float* head_bias = nullptr;     // [d_Y]
  // Optional int8 step 1 (bundles quantized per channel, with a calibrated ratio; see the schema's
  // Expert.probe_output_ratio): U^T as int8 [r_U, d_W] with one scale per row. Backends without an int8
  // path use `probes` above.
  const int8_t* probes_int8 = nullptr;
  const float* probes_scales = nullptr;  // [r_U]
  float probe_output_ratio = 0.0f;
  // Optional int8 encoder (int8 bundles, backends that accept_int8_encoder()): M as the bundle stores it,
  // int8 [r_T, r_U*r_V] with one scale per (row, block of encoder_block_size; 0: per row); `encoder` is
  // then null. These point into the bundle, valid while the auditor lives: they are not copied.
  const int8_t* encoder_int8 = nullptr;
  const float* encoder_scales = nullptr;
  uint32_t encoder_block_size = 0;
  // A multi-view expert (MVProbe) when view_count > 0: probes/projection are null, r_u = r, r_v = p, and
  // the encoder is [r_T, view_count * r * p] (backends/kernels/multiview.h computes its input).
  const MultiViewInput* views = nullptr;
  uint32_t view_count = 0;
  float std_eps = 0.0f;
  // The encoder's input width (the g passed to probe_block and finish).
  uint32_t feature_size() const { return r_u * r_v * (view_count ? view_count : 1); }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Whether add_tree takes an int8 encoder (ExpertWeights::encoder_int8) instead of a float32 one.
  virtual bool accepts_int8_encoder() const { return false; }
  // Trees are added once each, in bundle order (tree index = call order). Blocks passed later hold at
  // most `rows_per_block` rows and start at multiples of it.
  virtual probex_status add_tree(const ExpertWeights& weights, uint32_t rows_per_block, std::string* message) = 0;
  // x: `rows` rows of d_W floats followed by at least 16 readable bytes. g: feature_size() floats,
  // accumulated. A multi-view expert copies the rows and computes g after the layer's last block.
  virtual probex_status probe_block(uint32_t tree, const float* x, uint32_t first_row, uint32_t rows, float* g,
                                    std::string* message) = 0;
  // g is consumed (ReLU in place); writes embedding [r_T] and logits [d_Y].
  virtual probex_status finish(uint32_t tree, float* g, float* embedding, float* logits, std::string* message) = 0;

  // A plain linear map outside the expert (the router's sketch, X R): weights [out, in], at most
  // `max_rows` rows per call; *id names it in project(). y must hold rows * out floats.
  virtual probex_status add_projection(uint32_t in, uint32_t out, uint32_t max_rows, const float* weights, uint32_t* id,
                                       std::string* message) = 0;
  virtual probex_status project(uint32_t id, const float* x, uint32_t rows, float* y, std::string* message) = 0;
};

std::unique_ptr<Backend> make_reference_backend();

// How the XNNPACK backend runs an int8 step 1: with the CPU's integer dot product where it has one
// (backends/kernels/int8_probe.h), or always with XNNPACK's qc8 operator, the path of CPUs without one,
// which also requantizes P to int8. A device may take either, so the converter checks bundles on both.
enum class Int8Step1 { kFastest, kXnnpackQc8 };

// threads: 0 or 1 runs on the calling thread; more creates a pthreadpool owned by the backend.
probex_status make_xnnpack_backend(uint32_t threads, Int8Step1 int8_step1, std::unique_ptr<Backend>* out,
                                   std::string* message);

}  // namespace probex
