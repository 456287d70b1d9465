// The XNNPACK backend (f32). Every GEMM of the forward pass is an XNNPACK fully-connected operator,
// created once per tree in add_tree (XNNPACK packs the weights then) and only set up and run during an
// audit. This XNNPACK (Debian's 2022 snapshot) has no batch matmul, and its operators take constant
// weights only, so the second probe GEMM runs on P^T with V as the weights:
//   step 1   P_blk = X_blk U            per row block, weights U^T [r_U, d_W]; P_blk^T is written into
//                                       a P^T buffer [r_U, d_H] (r_U * d_H floats: it grows with the
//                                       layer's height only, never with the layer)
//   step 2   G = P^T V                  after the last block, one operator, weights V^T [r_V, d_H]
//   step 3   e = M relu(G) + b_M        batch 1
//   step 4   logits = W e + b_W         batch 1
// One step-2 operator over all rows measured faster than one per row block plus the additions.
#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/backend.h"

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
  explicit XnnpackBackend(pthreadpool_t pool) : pool_(pool) {}
  ~XnnpackBackend() override {
    trees_.clear();  // operators before the library
    xnn_deinitialize();
  }
  const char* name() const override { return "xnnpack"; }

  probex_status add_tree(const ExpertWeights& w, uint32_t rows_per_block, std::string* message) override {
    Tree t;
    t.d_w = w.d_w;
    t.r_u = w.r_u;
    t.r_v = w.r_v;
    t.rows_per_block = rows_per_block;
    const size_t g_size = static_cast<size_t>(w.r_u) * w.r_v;
    if (!create(w.d_w, w.r_u, w.probes, nullptr, &t.probe, message) ||
        !create(g_size, w.r_t, w.encoder, w.encoder_bias, &t.encoder, message) ||
        !create(w.r_t, w.d_y, w.head, w.head_bias, &t.head, message))
      return PROBEX_BACKEND_ERROR;
    if (!create(w.d_h, w.r_v, w.projection, nullptr, &t.project, message)) return PROBEX_BACKEND_ERROR;
    t.d_h = w.d_h;
    // Scratch: inputs of XNNPACK operators need XNN_EXTRA_BYTES of readable slack.
    const size_t slack = XNN_EXTRA_BYTES / sizeof(float);
    grow(&p_, static_cast<size_t>(rows_per_block) * w.r_u + slack);
    grow(&p_t_, static_cast<size_t>(w.d_h) * w.r_u + slack);
    grow(&g_block_, g_size + slack);
    grow(&g_relu_, g_size + slack);
    trees_.push_back(std::move(t));
    return PROBEX_OK;
  }

  probex_status probe_block(uint32_t tree, const float* x, uint32_t first_row, uint32_t rows, float* g,
                            std::string* message) override {
    const Tree& t = trees_[tree];
    if (!run(t.probe.get(), rows, x, p_.data(), message)) return PROBEX_BACKEND_ERROR;
    transpose_into(p_.data(), rows, t.r_u, p_t_.data() + first_row, t.d_h);
    if (first_row + rows < t.d_h) return PROBEX_OK;
    // The last block: G = P^T V over all rows, added to the caller's accumulator.
    if (!run(t.project.get(), t.r_u, p_t_.data(), g_block_.data(), message)) return PROBEX_BACKEND_ERROR;
    const size_t g_size = static_cast<size_t>(t.r_u) * t.r_v;
    for (size_t i = 0; i < g_size; ++i) g[i] += g_block_[i];
    return PROBEX_OK;
  }

  probex_status finish(uint32_t tree, float* g, float* embedding, float* logits, std::string* message) override {
    const Tree& t = trees_[tree];
    const size_t g_size = static_cast<size_t>(t.r_u) * t.r_v;
    // The ReLU goes into a scratch copy: g is caller memory without XNN_EXTRA_BYTES slack.
    for (size_t i = 0; i < g_size; ++i) g_relu_[i] = g[i] > 0.0f ? g[i] : 0.0f;
    if (!run(t.encoder.get(), 1, g_relu_.data(), embedding, message) ||
        !run(t.head.get(), 1, embedding, logits, message))
      return PROBEX_BACKEND_ERROR;
    return PROBEX_OK;
  }

 private:
  struct Tree {
    uint32_t d_h = 0, d_w = 0, r_u = 0, r_v = 0, rows_per_block = 0;
    Operator probe, project, encoder, head;
  };

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
    const xnn_status s =
        xnn_create_fully_connected_nc_f32(in, out, in, out, kernel, bias, -INFINITY, INFINITY, 0, &raw);
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
      *message = "XNNPACK: running a fully-connected operator failed (status " + std::to_string(static_cast<int>(s)) + ")";
      return false;
    }
    return true;
  }

  std::unique_ptr<pthreadpool, PoolDeleter> pool_;
  std::vector<Tree> trees_;
  std::vector<float> p_, p_t_, g_block_, g_relu_;
};

}  // namespace

probex_status make_xnnpack_backend(uint32_t threads, std::unique_ptr<Backend>* out, std::string* message) {
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
  *out = std::make_unique<XnnpackBackend>(pool);
  return PROBEX_OK;
}

}  // namespace probex
