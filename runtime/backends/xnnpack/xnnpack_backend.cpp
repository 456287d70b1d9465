// The XNNPACK backend (f32). Every GEMM of the forward pass is an XNNPACK fully-connected operator,
// created once per tree in add_tree (XNNPACK packs the weights then) and only set up and run during an
// audit. This XNNPACK (Debian's 2022 snapshot) has no batch matmul, and its operators take constant
// weights only, so the second probe GEMM runs on P^T with V as the weights:
//   step 1   P_blk = X_blk U            per row block, weights U^T [r_U, d_W]; P_blk^T is written into
//                                       the expert's P^T buffer [r_U, d_H] (r_U * d_H floats: it grows
//                                       with the layer's height only, never with the layer; one per
//                                       expert, since the experts of a tree consume each row block in
//                                       the same pass)
//   step 2   G = P^T V                  after the last block, one operator, weights V^T [r_V, d_H]
//   step 3   e = M relu(G) + b_M        batch 1; an int8 M (int8 bundles) runs from the bundle's bytes
//                                       in backends/kernels/int8_gemv.h instead, never widened
//   step 4   logits = W e + b_W         batch 1
// One step-2 operator over all rows measured faster than one per row block plus the additions.
//
// The int8 path (int8 bundles quantized per channel that carry a probe output ratio rho > 0, which says
// the converter checked step 1 in int8 against its budget): where the CPU has an integer dot product
// (AVX512-VNNI, aarch64 SDOT), step 1 runs in backends/kernels/int8_probe.h, row tiles spread over the
// thread pool, each tile quantizing its rows, multiplying and writing its columns of P^T while they are in
// cache. Elsewhere (older x86, armv7) it runs as a per-channel int8 1x1 convolution, XNNPACK's only
// per-channel int8 GEMM here, which needs an int8 output scale: each row h of X is
// quantized on the fly with its own scale s_h = max|X[h, :]| / 127; the operator is created once with
// input scale 1 and output scale rho, so its int8 output is P[h, l] / (rho * s_h), and the row's
// scale is folded back when P is dequantized into P^T. rho = max |P[h, l]| / max|X[h, :]| over the
// converter's held-out layers, so a row's P spans the int8 range; larger values saturate.
#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "runtime/backends/backend.h"
#include "runtime/backends/kernels/int8_gemv.h"
#include "runtime/backends/kernels/int8_probe.h"

namespace probex {
namespace {

struct OperatorDeleter {
  void operator()(xnn_operator_t op) const { xnn_delete_operator(op); }
};
using Operator = std::unique_ptr<xnn_operator, OperatorDeleter>;

struct PoolDeleter {
  void operator()(pthreadpool_t pool) const { pthreadpool_destroy(pool); }
};

class XnnpackBackend final : public Backend {
 public:
  XnnpackBackend(pthreadpool_t pool, Int8Step1 int8_step1) : pool_(pool), int8_step1_(int8_step1) {}
  ~XnnpackBackend() override {
    trees_.clear();  // operators before the library
    projections_.clear();
    xnn_deinitialize();
  }
  const char* name() const override { return "xnnpack"; }
  bool accepts_int8_encoder() const override { return true; }

  probex_status add_tree(const ExpertWeights& w, uint32_t rows_per_block, std::string* message) override {
    Tree t;
    t.d_w = w.d_w;
    t.r_u = w.r_u;
    t.r_v = w.r_v;
    t.rows_per_block = rows_per_block;
    t.d_h = w.d_h;
    const size_t g_size = w.feature_size();
    t.g_size = g_size;
    if (w.view_count > 0) {
      // A multi-view expert: its views stage is the portable kernel (multiview.h); the encoder and the
      // head below run as ProbeX's.
      t.views = std::make_unique<MultiViewProbe>();
      t.views->init(w.d_h, w.d_w, w.r_u, w.r_v, w.std_eps, w.views, w.view_count);
    } else if (w.probes_int8 && int8_step1_ == Int8Step1::kFastest &&
               Int8Probe::best_path() != Int8Probe::Path::kScalar &&
               t.dot.init(w.probes_int8, w.probes_scales, w.r_u, w.d_w, Int8Probe::best_path())) {
      t.use_dot = true;
    } else if (w.probes_int8 ? !create_int8_probe(w, &t, message)
                             : !create(w.d_w, w.r_u, w.probes, nullptr, &t.probe, message)) {
      return PROBEX_BACKEND_ERROR;
    }
    if (w.encoder_int8) {
      t.encoder_int8 = w.encoder_int8;
      t.encoder_scales = w.encoder_scales;
      t.encoder_block_size = w.encoder_block_size;
      t.encoder_bias.assign(w.encoder_bias, w.encoder_bias + w.r_t);
      t.r_t = w.r_t;
    }
    if ((!w.encoder_int8 && !create(g_size, w.r_t, w.encoder, w.encoder_bias, &t.encoder, message)) ||
        (w.d_y > 0 && !create(w.r_t, w.d_y, w.head, w.head_bias, &t.head, message)))  // d_Y = 0: zero-shot
      return PROBEX_BACKEND_ERROR;
    if (!t.views && !create(w.d_h, w.r_v, w.projection, nullptr, &t.project, message)) return PROBEX_BACKEND_ERROR;
    // Scratch: inputs of XNNPACK operators need XNN_EXTRA_BYTES of readable slack.
    const size_t slack = XNN_EXTRA_BYTES / sizeof(float);
    grow(&p_, static_cast<size_t>(rows_per_block) * w.r_u + slack);
    if (t.use_dot) {
      x_q_.resize(std::max(x_q_.size(), static_cast<size_t>(rows_per_block) * t.dot.row_stride()));
      row_scale_.resize(std::max<size_t>(row_scale_.size(), rows_per_block));
    } else if (t.probe_int8) {
      x_q_.resize(std::max(x_q_.size(), static_cast<size_t>(rows_per_block) * w.d_w + XNN_EXTRA_BYTES));
      p_q_.resize(std::max(p_q_.size(), static_cast<size_t>(rows_per_block) * w.r_u));
      row_scale_.resize(std::max<size_t>(row_scale_.size(), rows_per_block));
    }
    if (!t.views) t.p_t.assign(static_cast<size_t>(w.d_h) * w.r_u + slack, 0.0f);
    grow(&g_block_, g_size + slack);
    grow(&g_relu_, g_size + slack);
    trees_.push_back(std::move(t));
    return PROBEX_OK;
  }

  probex_status probe_block(uint32_t tree, const float* x, uint32_t first_row, uint32_t rows, float* g,
                            std::string* message) override {
    Tree& t = trees_[tree];
    if (t.views) {  // a multi-view expert reads the layer whole
      std::memcpy(t.views->layer() + static_cast<size_t>(first_row) * t.d_w, x, sizeof(float) * rows * t.d_w);
      if (first_row + rows == t.d_h) t.views->compute(g);
      return PROBEX_OK;
    }
    if (t.use_dot) {
      probe_dot(t, x, first_row, rows);
    } else if (t.probe_int8) {
      if (!probe_int8(t, x, first_row, rows, message)) return PROBEX_BACKEND_ERROR;
    } else {
      if (!run(t.probe.get(), rows, x, p_.data(), message)) return PROBEX_BACKEND_ERROR;
      transpose_into(p_.data(), rows, t.r_u, t.p_t.data() + first_row, t.d_h);
    }
    if (first_row + rows < t.d_h) return PROBEX_OK;
    // The last block: G = P^T V over all rows, added to the caller's accumulator.
    if (!run(t.project.get(), t.r_u, t.p_t.data(), g_block_.data(), message)) return PROBEX_BACKEND_ERROR;
    const size_t g_size = static_cast<size_t>(t.r_u) * t.r_v;
    for (size_t i = 0; i < g_size; ++i) g[i] += g_block_[i];
    return PROBEX_OK;
  }

  probex_status add_projection(uint32_t in, uint32_t out, uint32_t, const float* weights, uint32_t* id,
                               std::string* message) override {
    Operator op;
    if (!create(in, out, weights, nullptr, &op, message)) return PROBEX_BACKEND_ERROR;
    projections_.push_back(std::move(op));
    *id = static_cast<uint32_t>(projections_.size() - 1);
    return PROBEX_OK;
  }

  probex_status project(uint32_t id, const float* x, uint32_t rows, float* y, std::string* message) override {
    return run(projections_[id].get(), rows, x, y, message) ? PROBEX_OK : PROBEX_BACKEND_ERROR;
  }

  probex_status finish(uint32_t tree, float* g, float* embedding, float* logits, std::string* message) override {
    const Tree& t = trees_[tree];
    const size_t g_size = t.g_size;
    // The ReLU goes into a scratch copy: g is caller memory without XNN_EXTRA_BYTES slack.
    for (size_t i = 0; i < g_size; ++i) g_relu_[i] = g[i] > 0.0f ? g[i] : 0.0f;
    if (t.encoder_int8) {
      gemv_int8(t.encoder_int8, t.encoder_scales, t.encoder_block_size, t.encoder_bias.data(), g_relu_.data(), t.r_t,
                g_size, embedding);
    } else if (!run(t.encoder.get(), 1, g_relu_.data(), embedding, message)) {
      return PROBEX_BACKEND_ERROR;
    }
    if (t.head && !run(t.head.get(), 1, embedding, logits, message)) return PROBEX_BACKEND_ERROR;
    return PROBEX_OK;
  }

 private:
  struct Tree {
    uint32_t d_h = 0, d_w = 0, r_u = 0, r_v = 0, rows_per_block = 0;
    size_t g_size = 0;  // the encoder's input width
    Operator probe, project, encoder, head;
    std::unique_ptr<MultiViewProbe> views;  // a multi-view expert's views stage (then no probe/project)
    bool use_dot = false;                   // step 1 in int8 with the CPU's integer dot product (int8_probe.h) ...
    Int8Probe dot;
    Operator probe_int8;  // ... or with XNNPACK's qc8 operator
    float probe_output_ratio = 0.0f;
    std::vector<float> p_t;  // P^T [r_U, d_H] (+ slack), filled block by block during a pass
    // An int8 encoder (instead of the `encoder` operator): the bundle's bytes, and a copy of the bias.
    const int8_t* encoder_int8 = nullptr;
    const float* encoder_scales = nullptr;
    uint32_t encoder_block_size = 0, r_t = 0;
    std::vector<float> encoder_bias;
  };

  bool create_int8_probe(const ExpertWeights& w, Tree* t, std::string* message) {
    xnn_operator_t raw = nullptr;
    const xnn_status s = xnn_create_convolution2d_nhwc_qc8(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, /*groups=*/1, w.d_w, w.r_u,
                                                           w.d_w, w.r_u, /*input_zero_point=*/0,
                                                           /*input_scale=*/1.0f, w.probes_scales, w.probes_int8,
                                                           /*bias=*/nullptr, /*output_zero_point=*/0,
                                                           w.probe_output_ratio, -127, 127, 0, &raw);
    if (s != xnn_status_success) {
      *message = "XNNPACK: creating the int8 probe operator failed (status " + std::to_string(static_cast<int>(s)) +
                 ")";
      return false;
    }
    t->probe_int8.reset(raw);
    t->probe_output_ratio = w.probe_output_ratio;
    return true;
  }

  // Step 1 with the integer dot-product kernel for one block, in tiles of kDotTileRows rows over the pool.
  static constexpr size_t kDotTileRows = 16;
  struct DotTask {
    XnnpackBackend* self;
    Tree* tree;
    const float* x;
    uint32_t first_row, rows;
  };
  static void dot_tile(void* context, size_t tile) {
    const DotTask& task = *static_cast<const DotTask*>(context);
    XnnpackBackend& b = *task.self;
    Tree& t = *task.tree;
    const size_t first = tile * kDotTileRows, n = std::min<size_t>(kDotTileRows, task.rows - first);
    const size_t stride = t.dot.row_stride();
    int8_t* q = b.x_q_.data() + first * stride;
    float* scales = b.row_scale_.data() + first;
    for (size_t i = 0; i < n; ++i) scales[i] = t.dot.quantize_row(task.x + (first + i) * t.d_w, q + i * stride);
    float* p = b.p_.data() + first * t.r_u;
    t.dot.run(q, scales, n, p, t.r_u);
    transpose_into(p, n, t.r_u, t.p_t.data() + task.first_row + first, t.d_h);
  }
  void probe_dot(Tree& t, const float* x, uint32_t first_row, uint32_t rows) {
    DotTask task{this, &t, x, first_row, rows};
    pthreadpool_parallelize_1d(pool_.get(), dot_tile, &task, (rows + kDotTileRows - 1) / kDotTileRows, 0);
  }

  // Step 1 in int8 with XNNPACK for one block; writes the block's columns of P^T.
  bool probe_int8(Tree& t, const float* x, uint32_t first_row, uint32_t rows, std::string* message) {
    for (size_t i = 0; i < rows; ++i) row_scale_[i] = quantize_row_int8(x + i * t.d_w, t.d_w, x_q_.data() + i * t.d_w);
    xnn_status s = xnn_setup_convolution2d_nhwc_qc8(t.probe_int8.get(), 1, 1, rows, x_q_.data(), p_q_.data(),
                                                    pool_.get());
    if (s == xnn_status_success) s = xnn_run_operator(t.probe_int8.get(), pool_.get());
    if (s != xnn_status_success) {
      *message = "XNNPACK: running the int8 probe operator failed (status " + std::to_string(static_cast<int>(s)) + ")";
      return false;
    }
    float* dst = t.p_t.data() + first_row;
    for (size_t i = 0; i < rows; ++i) {
      const float scale = t.probe_output_ratio * row_scale_[i];
      const int8_t* q = p_q_.data() + i * t.r_u;
      for (size_t l = 0; l < t.r_u; ++l) dst[l * t.d_h + i] = static_cast<float>(q[l]) * scale;
    }
    return true;
  }

  // dst[c * dst_stride + r] = src[r * cols + c], in tiles so that both sides stay in cache.
  static void transpose_into(const float* src, size_t rows, size_t cols, float* dst, size_t dst_stride) {
    constexpr size_t kTile = 16;
    for (size_t r0 = 0; r0 < rows; r0 += kTile) {
      const size_t r1 = std::min(rows, r0 + kTile);
      for (size_t c0 = 0; c0 < cols; c0 += kTile) {
        const size_t c1 = std::min(cols, c0 + kTile);
        for (size_t r = r0; r < r1; ++r)
          for (size_t c = c0; c < c1; ++c) dst[c * dst_stride + r] = src[r * cols + c];
      }
    }
  }

  static void grow(std::vector<float>* v, size_t n) {
    if (v->size() < n) v->resize(n);
  }

  bool create(size_t in, size_t out, const float* kernel, const float* bias, Operator* op, std::string* message) {
    xnn_operator_t raw = nullptr;
    const xnn_status s = xnn_create_fully_connected_nc_f32(in, out, in, out, kernel, bias, -INFINITY, INFINITY, 0,
                                                           &raw);
    if (s != xnn_status_success) {
      *message = "XNNPACK: creating a fully-connected operator [" + std::to_string(out) + " x " + std::to_string(in) +
                 "] failed (status " + std::to_string(static_cast<int>(s)) + ")";
      return false;
    }
    op->reset(raw);
    return true;
  }

  bool run(xnn_operator_t op, size_t batch, const float* in, float* out, std::string* message) {
    xnn_status s = xnn_setup_fully_connected_nc_f32(op, batch, in, out, pool_.get());
    if (s == xnn_status_success) s = xnn_run_operator(op, pool_.get());
    if (s != xnn_status_success) {
      *message = "XNNPACK: running a fully-connected operator failed (status " + std::to_string(static_cast<int>(s)) +
                 ")";
      return false;
    }
    return true;
  }

  std::unique_ptr<pthreadpool, PoolDeleter> pool_;
  Int8Step1 int8_step1_;
  std::vector<Tree> trees_;
  std::vector<Operator> projections_;
  std::vector<float> p_, g_block_, g_relu_, row_scale_;
  std::vector<int8_t> x_q_, p_q_;
};

}  // namespace

probex_status make_xnnpack_backend(uint32_t threads, Int8Step1 int8_step1, std::unique_ptr<Backend>* out,
                                   std::string* message) {
  if (xnn_initialize(nullptr) != xnn_status_success) {
    *message = "XNNPACK cannot initialize on this CPU";
    return PROBEX_UNSUPPORTED;
  }
  pthreadpool_t pool = nullptr;
  if (threads > 1) {
    pool = pthreadpool_create(threads);
    if (!pool) {
      xnn_deinitialize();
      *message = "cannot create a pool of " + std::to_string(threads) + " threads";
      return PROBEX_BACKEND_ERROR;
    }
  }
  *out = std::make_unique<XnnpackBackend>(pool, int8_step1);
  return PROBEX_OK;
}

}  // namespace probex
