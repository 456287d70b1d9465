#include "converter/expert/probex_expert.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "converter/nn/blas.h"

namespace probex::convert {
namespace {

int I(size_t v) { return static_cast<int>(v); }

}  // namespace

ProbexExpert::ProbexExpert(const ProbexShape& s) : shape_(s) {
  probes_ = make_param("probes.weight", {s.d_w, s.r_u});
  proj_ = make_param("shared_probe_proj.weight", {s.r_v, s.d_h});
  enc_w_ = make_param("per_probe_encoders.weight", {s.r_t, s.r_u * s.r_v});
  enc_b_ = make_param("per_probe_encoders.bias", {s.r_t});
  head_w_ = make_param("classification_head.weight", {s.d_y, s.r_t});
  head_b_ = make_param("classification_head.bias", {s.d_y});
}

size_t probex_parameter_count(const ProbexShape& s) {
  const size_t head = s.d_y > 0 ? s.d_y * s.r_t + s.d_y : 0;
  return s.d_w * s.r_u + s.r_v * s.d_h + s.r_t * s.r_u * s.r_v + s.r_t + head;
}

void ProbexExpert::init(Rng& rng) {
  // The order matches the module order of the authors' model, so a seed means the same everywhere.
  uniform_init(probes_, shape_.r_u, rng);
  uniform_init(proj_, shape_.d_h, rng);
  uniform_init(enc_w_, shape_.r_u * shape_.r_v, rng);
  uniform_init(enc_b_, shape_.r_u * shape_.r_v, rng);
  uniform_init(head_w_, shape_.r_t, rng);
  uniform_init(head_b_, shape_.r_t, rng);
}

void ProbexExpert::reserve(size_t batch) {
  if (batch <= capacity_) return;
  const ProbexShape& s = shape_;
  p_.assign(batch * s.d_h * s.r_u, 0.0f);
  g_.assign(batch * s.r_u * s.r_v, 0.0f);
  e_.assign(batch * s.r_t, 0.0f);
  logits_.assign(batch * s.d_y, 0.0f);
  de_.assign(batch * s.r_t, 0.0f);
  dg_.assign(batch * s.r_u * s.r_v, 0.0f);
  dp_.assign(batch * s.d_h * s.r_u, 0.0f);
  capacity_ = batch;
}

const float* ProbexExpert::forward(const float* x, size_t batch) {
  reserve(batch);
  x_ = x;
  batch_ = batch;
  const ProbexShape& s = shape_;
  const size_t g_size = s.r_u * s.r_v;
  // 1. P = X U for all layers at once: [B*d_H, d_W] x [d_W, r_U].
  blas::sgemm(blas::Op::kNone, blas::Op::kNone, I(batch * s.d_h), I(s.r_u), I(s.d_w), 1.0f, x, I(s.d_w),
              probes_.value.data(), I(s.r_u), 0.0f, p_.data(), I(s.r_u));
  // 2. G_b = relu(P_b^T V) = relu(P_b^T (V^T)^T): [r_U, d_H] x [d_H, r_V].
  for (size_t b = 0; b < batch; ++b) {
    float* g = g_.data() + b * g_size;
    blas::sgemm(blas::Op::kTranspose, blas::Op::kTranspose, I(s.r_u), I(s.r_v), I(s.d_h), 1.0f,
                p_.data() + b * s.d_h * s.r_u, I(s.r_u), proj_.value.data(), I(s.d_h), 0.0f, g, I(s.r_v));
    for (size_t i = 0; i < g_size; ++i) g[i] = std::max(g[i], 0.0f);
  }
  // 3. E = vec(G) M^T + b_M: [B, r_U*r_V] x [r_U*r_V, r_T].
  for (size_t b = 0; b < batch; ++b) std::memcpy(e_.data() + b * s.r_t, enc_b_.value.data(), s.r_t * sizeof(float));
  blas::sgemm(blas::Op::kNone, blas::Op::kTranspose, I(batch), I(s.r_t), I(g_size), 1.0f, g_.data(), I(g_size),
              enc_w_.value.data(), I(g_size), 1.0f, e_.data(), I(s.r_t));
  if (!has_head()) return e_.data();
  // 4. logits = E W^T + b_W.
  for (size_t b = 0; b < batch; ++b) {
    std::memcpy(logits_.data() + b * s.d_y, head_b_.value.data(), s.d_y * sizeof(float));
  }
  blas::sgemm(blas::Op::kNone, blas::Op::kTranspose, I(batch), I(s.d_y), I(s.r_t), 1.0f, e_.data(), I(s.r_t),
              head_w_.value.data(), I(s.r_t), 1.0f, logits_.data(), I(s.d_y));
  return logits_.data();
}

void ProbexExpert::backward(const float* dlogits) {
  const ProbexShape& s = shape_;
  const size_t batch = batch_;
  const size_t g_size = s.r_u * s.r_v;
  // Head: dW += dlogits^T E, db += colsum(dlogits), dE = dlogits W. Without a head, the input is dE.
  const float* de = dlogits;
  if (has_head()) {
    blas::sgemm(blas::Op::kTranspose, blas::Op::kNone, I(s.d_y), I(s.r_t), I(batch), 1.0f, dlogits, I(s.d_y), e_.data(),
                I(s.r_t), 1.0f, head_w_.grad.data(), I(s.r_t));
    for (size_t b = 0; b < batch; ++b) {
      for (size_t j = 0; j < s.d_y; ++j) head_b_.grad[j] += dlogits[b * s.d_y + j];
    }
    blas::sgemm(blas::Op::kNone, blas::Op::kNone, I(batch), I(s.r_t), I(s.d_y), 1.0f, dlogits, I(s.d_y),
                head_w_.value.data(), I(s.r_t), 0.0f, de_.data(), I(s.r_t));
    de = de_.data();
  }
  // Encoders: dM += dE^T vec(G), db_M += colsum(dE), dvec(G) = dE M.
  blas::sgemm(blas::Op::kTranspose, blas::Op::kNone, I(s.r_t), I(g_size), I(batch), 1.0f, de, I(s.r_t), g_.data(),
              I(g_size), 1.0f, enc_w_.grad.data(), I(g_size));
  for (size_t b = 0; b < batch; ++b) {
    for (size_t j = 0; j < s.r_t; ++j) enc_b_.grad[j] += de[b * s.r_t + j];
  }
  blas::sgemm(blas::Op::kNone, blas::Op::kNone, I(batch), I(g_size), I(s.r_t), 1.0f, de, I(s.r_t), enc_w_.value.data(),
              I(g_size), 0.0f, dg_.data(), I(g_size));
  // ReLU, then per layer: G = P^T V  =>  dV^T += dG^T P^T, dP = V dG^T = (V^T)^T dG^T.
  for (size_t b = 0; b < batch; ++b) {
    const float* g = g_.data() + b * g_size;
    float* dg = dg_.data() + b * g_size;
    for (size_t i = 0; i < g_size; ++i) dg[i] = g[i] > 0.0f ? dg[i] : 0.0f;
    const float* p = p_.data() + b * s.d_h * s.r_u;
    blas::sgemm(blas::Op::kTranspose, blas::Op::kTranspose, I(s.r_v), I(s.d_h), I(s.r_u), 1.0f, dg, I(s.r_v), p,
                I(s.r_u), 1.0f, proj_.grad.data(), I(s.d_h));
    blas::sgemm(blas::Op::kTranspose, blas::Op::kTranspose, I(s.d_h), I(s.r_u), I(s.r_v), 1.0f, proj_.value.data(),
                I(s.d_h), dg, I(s.r_v), 0.0f, dp_.data() + b * s.d_h * s.r_u, I(s.r_u));
  }
  // Probes: dU += X^T dP over all layers at once: [d_W, B*d_H] x [B*d_H, r_U].
  blas::sgemm(blas::Op::kTranspose, blas::Op::kNone, I(s.d_w), I(s.r_u), I(batch * s.d_h), 1.0f, x_, I(s.d_w),
              dp_.data(), I(s.r_u), 1.0f, probes_.grad.data(), I(s.r_u));
}

void ProbexExpert::zero_grad() {
  for (Param* p : params()) std::fill(p->grad.begin(), p->grad.end(), 0.0f);
}

std::vector<Param*> ProbexExpert::params() {
  if (!has_head()) return {&probes_, &proj_, &enc_w_, &enc_b_};
  return {&probes_, &proj_, &enc_w_, &enc_b_, &head_w_, &head_b_};
}

std::vector<const Param*> ProbexExpert::const_params() const {
  if (!has_head()) return {&probes_, &proj_, &enc_w_, &enc_b_};
  return {&probes_, &proj_, &enc_w_, &enc_b_, &head_w_, &head_b_};
}

Param* ProbexExpert::find_param(const std::string& name) {
  for (Param* p : params()) {
    if (p->name == name) return p;
  }
  return nullptr;
}

std::vector<float> predict_embeddings(ProbexExpert& expert, const ExpertData& data, size_t batch_size) {
  return predict_batched(data, expert.shape().r_t, batch_size, [&](const float* x, size_t b) {
    expert.forward(x, b);
    return expert.embeddings();
  });
}

}  // namespace probex::convert
