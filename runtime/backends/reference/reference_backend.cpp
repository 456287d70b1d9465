// The portable backend: plain loops in float32, no dependency. It is the yardstick other backends are
// tested against, so it favours obviousness over speed.
#include <algorithm>
#include <memory>
#include <vector>

#include "runtime/backends/backend.h"

namespace probex {
namespace {

class ReferenceBackend final : public Backend {
 public:
  const char* name() const override { return "reference"; }

  probex_status add_tree(const ExpertWeights& w, uint32_t rows_per_block, std::string*) override {
    Tree t;
    t.w = w;
    const size_t g_size = w.feature_size();
    if (w.view_count > 0) {
      t.views = std::make_unique<MultiViewProbe>();
      t.views->init(w.d_h, w.d_w, w.r_u, w.r_v, w.std_eps, w.views, w.view_count);
    } else {
      t.probes.assign(w.probes, w.probes + static_cast<size_t>(w.r_u) * w.d_w);
      // V stored [d_H, r_V] so that the accumulation's inner loop runs over contiguous memory.
      t.projection.resize(static_cast<size_t>(w.d_h) * w.r_v);
      for (size_t v = 0; v < w.r_v; ++v)
        for (size_t h = 0; h < w.d_h; ++h) t.projection[h * w.r_v + v] = w.projection[v * w.d_h + h];
    }
    t.encoder.assign(w.encoder, w.encoder + static_cast<size_t>(w.r_t) * g_size);
    t.encoder_bias.assign(w.encoder_bias, w.encoder_bias + w.r_t);
    if (w.d_y > 0) {  // d_Y = 0: a zero-shot expert has no head
      t.head.assign(w.head, w.head + static_cast<size_t>(w.d_y) * w.r_t);
      t.head_bias.assign(w.head_bias, w.head_bias + w.d_y);
    }
    t.w.probes = t.w.projection = t.w.encoder = t.w.encoder_bias = t.w.head = t.w.head_bias = nullptr;
    t.w.views = nullptr;
    p_row_.resize(std::max<size_t>(p_row_.size(), w.r_u));
    (void)rows_per_block;
    trees_.push_back(std::move(t));
    return PROBEX_OK;
  }

  probex_status probe_block(uint32_t tree, const float* x, uint32_t first_row, uint32_t rows, float* g,
                            std::string*) override {
    const Tree& t = trees_[tree];
    const size_t d_w = t.w.d_w, r_u = t.w.r_u, r_v = t.w.r_v;
    if (t.views) {  // a multi-view expert reads the layer whole (backends/kernels/multiview.h)
      std::copy(x, x + rows * d_w, t.views->layer() + first_row * d_w);
      if (first_row + rows == t.w.d_h) t.views->compute(g);
      return PROBEX_OK;
    }
    for (size_t i = 0; i < rows; ++i) {
      const float* xr = x + i * d_w;
      for (size_t l = 0; l < r_u; ++l) {  // P[h, l] = X[h, :] . U[:, l]
        const float* ur = t.probes.data() + l * d_w;
        float acc = 0.0f;
        for (size_t k = 0; k < d_w; ++k) acc += xr[k] * ur[k];
        p_row_[l] = acc;
      }
      const float* vr = t.projection.data() + (first_row + i) * r_v;
      for (size_t l = 0; l < r_u; ++l) {  // G[l, :] += P[h, l] V[h, :]
        float* gr = g + l * r_v;
        for (size_t v = 0; v < r_v; ++v) gr[v] += p_row_[l] * vr[v];
      }
    }
    return PROBEX_OK;
  }

  probex_status finish(uint32_t tree, float* g, float* embedding, float* logits, std::string*) override {
    const Tree& t = trees_[tree];
    const size_t g_size = t.w.feature_size();
    for (size_t i = 0; i < g_size; ++i) g[i] = std::max(g[i], 0.0f);
    for (size_t j = 0; j < t.w.r_t; ++j) {
      const float* m = t.encoder.data() + j * g_size;
      float acc = 0.0f;
      for (size_t i = 0; i < g_size; ++i) acc += m[i] * g[i];
      embedding[j] = acc + t.encoder_bias[j];
    }
    for (size_t k = 0; k < t.w.d_y; ++k) {
      const float* w = t.head.data() + k * t.w.r_t;
      float acc = 0.0f;
      for (size_t j = 0; j < t.w.r_t; ++j) acc += w[j] * embedding[j];
      logits[k] = acc + t.head_bias[k];
    }
    return PROBEX_OK;
  }

  probex_status add_projection(uint32_t in, uint32_t out, uint32_t, const float* weights, uint32_t* id,
                               std::string*) override {
    projections_.push_back({in, out, std::vector<float>(weights, weights + static_cast<size_t>(in) * out)});
    *id = static_cast<uint32_t>(projections_.size() - 1);
    return PROBEX_OK;
  }

  probex_status project(uint32_t id, const float* x, uint32_t rows, float* y, std::string*) override {
    const Projection& p = projections_[id];
    for (size_t r = 0; r < rows; ++r)
      for (size_t o = 0; o < p.out; ++o) {
        const float* w = p.weights.data() + o * p.in;
        float acc = 0.0f;
        for (size_t k = 0; k < p.in; ++k) acc += x[r * p.in + k] * w[k];
        y[r * p.out + o] = acc;
      }
    return PROBEX_OK;
  }

 private:
  struct Projection {
    size_t in, out;
    std::vector<float> weights;
  };
  std::vector<Projection> projections_;
  struct Tree {
    ExpertWeights w;  // dimensions only
    std::vector<float> probes, projection, encoder, encoder_bias, head, head_bias;
    std::unique_ptr<MultiViewProbe> views;  // a multi-view expert's views stage
  };
  std::vector<Tree> trees_;
  std::vector<float> p_row_;
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<ReferenceBackend>(); }

}  // namespace probex
