#include "converter/expert/mvprobe_expert.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "converter/nn/blas.h"

namespace probex::convert {
namespace {

int I(size_t v) { return static_cast<int>(v); }

using blas::Op;

// In place: s <- (s - mean) / (std + eps), one scalar mean and unbiased std over the n entries (in double).
void standardize(float* s, size_t n, double* sigma, double* denom) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(s[i]);
  const double mean = sum / static_cast<double>(n);
  double ss = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(s[i]) - mean;
    ss += d * d;
  }
  *sigma = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
  *denom = *sigma + MvProbeExpert::kStdEps;
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<float>((static_cast<double>(s[i]) - mean) / *denom);
}

// In place: g = dL/dZ -> dL/dS. With a = std + eps, Z = (S - mean)/a:
//   dL/dS_j = (g_j - mean(g)) / a - Z_j * sum_i(g_i Z_i) / ((n-1) std)
// (the second term is the path through the std; 0 when the std is 0).
void standardize_backward(float* g, const float* z, size_t n, double sigma, double denom) {
  double gsum = 0.0, gz = 0.0;
  for (size_t i = 0; i < n; ++i) {
    gsum += static_cast<double>(g[i]);
    gz += static_cast<double>(g[i]) * static_cast<double>(z[i]);
  }
  const double gmean = gsum / static_cast<double>(n);
  const double c = sigma > 0.0 && n > 1 ? gz / (static_cast<double>(n - 1) * sigma) : 0.0;
  for (size_t i = 0; i < n; ++i)
    g[i] = static_cast<float>((static_cast<double>(g[i]) - gmean) / denom - static_cast<double>(z[i]) * c);
}

const char* const kProbeNames[4] = {"probes_xu.weight", "probes_xxtu.weight", "probes_xtu.weight",
                                    "probes_xtxu.weight"};
const char* const kProjNames[4] = {"shared_probe_proj_row.weight", "shared_probe_proj_row2.weight",
                                   "shared_probe_proj_col.weight", "shared_probe_proj_col2.weight"};

}  // namespace

size_t mvprobe_parameter_count(const MvProbeShape& s) {
  const size_t probes = 2 * s.r * (s.d_w + s.d_h);
  const size_t projections = 2 * s.p * (s.d_h + s.d_w);
  const size_t encoder = s.r_t * 4 * s.r * s.p + s.r_t;
  const size_t head = s.d_y > 0 ? s.d_y * s.r_t + s.d_y : 0;
  return probes + projections + encoder + head;
}

size_t mvprobe_live_parameter_count(const MvProbeShape& s) {
  // View k's probe U_k has d_W rows for xu and xtxu, d_H for the others; its projection runs over d_H rows
  // for xu and xxtu, d_W for the others.
  const size_t probe_rows[4] = {s.d_w, s.d_h, s.d_h, s.d_w};
  const size_t proj_rows[4] = {s.d_h, s.d_h, s.d_w, s.d_w};
  size_t n = 0, views = 0;
  for (unsigned k = 0; k < 4; ++k) {
    if (((s.views >> k) & 1u) == 0) continue;
    ++views;
    n += s.r * probe_rows[k] + s.p * proj_rows[k];
  }
  const size_t head = s.d_y > 0 ? s.d_y * s.r_t + s.d_y : 0;
  return n + s.r_t * views * s.r * s.p + s.r_t + head;
}

namespace {
const char* const kViewNames[4] = {"xu", "xxtu", "xtu", "xtxu"};
}  // namespace

std::string mvprobe_view_list(unsigned views) {
  std::string out;
  for (unsigned k = 0; k < 4; ++k) {
    if ((views >> k) & 1u) out += (out.empty() ? "" : ",") + std::string(kViewNames[k]);
  }
  return out;
}

bool parse_mvprobe_views(const std::string& list, unsigned* views) {
  unsigned v = 0;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string name = list.substr(start, comma - start);
    unsigned k = 0;
    while (k < 4 && name != kViewNames[k]) ++k;
    if (k == 4 || ((v >> k) & 1u)) return false;
    v |= 1u << k;
    start = comma + 1;
  }
  if (v == 0) return false;
  *views = v;
  return true;
}

MvProbeExpert::MvProbeExpert(const MvProbeShape& s) : shape_(s) {
  // U_1 and U_4 multiply X (d_W rows), U_2 and U_3 multiply X^T (d_H rows); the xu/xxtu projections run over
  // d_H rows, the xtu/xtxu ones over d_W.
  const size_t probe_rows[4] = {s.d_w, s.d_h, s.d_h, s.d_w};
  for (unsigned k = 0; k < 4; ++k) {
    probes_[k] = make_param(kProbeNames[k], {probe_rows[k], s.r});
    proj_[k] = make_param(kProjNames[k], {s.p, view_rows(k)});
  }
  enc_w_ = make_param("concat_all4_encoder.weight", {s.r_t, 4 * s.r * s.p});
  enc_b_ = make_param("concat_all4_encoder.bias", {s.r_t});
  head_w_ = make_param("classification_head.weight", {s.d_y, s.r_t});
  head_b_ = make_param("classification_head.bias", {s.d_y});
}

void MvProbeExpert::init(Rng& rng) {
  const MvProbeShape& s = shape_;
  for (Param& p : probes_) uniform_init(p, s.r, rng);
  for (unsigned k = 0; k < 4; ++k) uniform_init(proj_[k], view_rows(k), rng);
  uniform_init(enc_w_, 4 * s.r * s.p, rng);
  uniform_init(enc_b_, 4 * s.r * s.p, rng);
  uniform_init(head_w_, s.r_t, rng);
  uniform_init(head_b_, s.r_t, rng);
}

void MvProbeExpert::reserve(size_t batch) {
  if (batch <= capacity_) return;
  const MvProbeShape& s = shape_;
  const size_t hr = batch * s.d_h * s.r, wr = batch * s.d_w * s.r, f = batch * 4 * s.r * s.p;
  z1_.assign(hr, 0.0f);
  t4_.assign(hr, 0.0f);
  z2_.assign(hr, 0.0f);
  t2_.assign(wr, 0.0f);
  z3_.assign(wr, 0.0f);
  z4_.assign(wr, 0.0f);
  f_.assign(f, 0.0f);
  e_.assign(batch * s.r_t, 0.0f);
  logits_.assign(batch * s.d_y, 0.0f);
  sigma_.assign(batch * 4, 0.0);
  denom_.assign(batch * 4, 1.0);
  de_.assign(batch * s.r_t, 0.0f);
  df_.assign(f, 0.0f);
  ds1_.assign(hr, 0.0f);
  dt4_.assign(hr, 0.0f);
  ds_.assign(std::max(s.d_h, s.d_w) * s.r, 0.0f);
  dt2_.assign(s.d_w * s.r, 0.0f);
  capacity_ = batch;
}

float* MvProbeExpert::view_z(unsigned k, size_t b) {
  const MvProbeShape& s = shape_;
  switch (k) {
    case kViewXU: return z1_.data() + b * s.d_h * s.r;
    case kViewXXtU: return z2_.data() + b * s.d_h * s.r;
    case kViewXtU: return z3_.data() + b * s.d_w * s.r;
    default: return z4_.data() + b * s.d_w * s.r;
  }
}

const float* MvProbeExpert::standardized(size_t b, MvView view) const {
  return const_cast<MvProbeExpert*>(this)->view_z(view, b);
}

const float* MvProbeExpert::forward(const float* x, size_t batch) {
  reserve(batch);
  x_ = x;
  batch_ = batch;
  const MvProbeShape& s = shape_;
  const size_t H = s.d_h, W = s.d_w, r = s.r, rp = s.r * s.p, f_size = 4 * rp;
  const auto on = [&](unsigned k) { return (s.views >> k) & 1u; };
  // S_1 = X U_1 and T_4 = X U_4 for all layers at once: [B*d_H, d_W] x [d_W, r].
  if (on(kViewXU)) {
    blas::sgemm(Op::kNone, Op::kNone, I(batch * H), I(r), I(W), 1.0f, x, I(W), probes_[0].value.data(), I(r), 0.0f,
                z1_.data(), I(r));
  }
  if (on(kViewXtXU)) {
    blas::sgemm(Op::kNone, Op::kNone, I(batch * H), I(r), I(W), 1.0f, x, I(W), probes_[3].value.data(), I(r), 0.0f,
                t4_.data(), I(r));
  }
  std::fill(f_.begin(), f_.begin() + static_cast<std::ptrdiff_t>(batch * f_size), 0.0f);
  for (size_t b = 0; b < batch; ++b) {
    const float* xb = x + b * H * W;
    if (on(kViewXXtU)) {
      // T_2 = X^T U_2 [d_W, r], then S_2 = X T_2 [d_H, r].
      float* t2 = t2_.data() + b * W * r;
      blas::sgemm(Op::kTranspose, Op::kNone, I(W), I(r), I(H), 1.0f, xb, I(W), probes_[1].value.data(), I(r), 0.0f, t2,
                  I(r));
      blas::sgemm(Op::kNone, Op::kNone, I(H), I(r), I(W), 1.0f, xb, I(W), t2, I(r), 0.0f, view_z(kViewXXtU, b), I(r));
    }
    if (on(kViewXtU)) {  // S_3 = X^T U_3 [d_W, r]
      blas::sgemm(Op::kTranspose, Op::kNone, I(W), I(r), I(H), 1.0f, xb, I(W), probes_[2].value.data(), I(r), 0.0f,
                  view_z(kViewXtU, b), I(r));
    }
    if (on(kViewXtXU)) {  // S_4 = X^T T_4 [d_W, r]
      blas::sgemm(Op::kTranspose, Op::kNone, I(W), I(r), I(H), 1.0f, xb, I(W), t4_.data() + b * H * r, I(r), 0.0f,
                  view_z(kViewXtXU, b), I(r));
    }
    for (unsigned k = 0; k < 4; ++k) {
      if (!on(k)) continue;
      const size_t n = view_rows(k);
      float* z = view_z(k, b);
      standardize(z, n * r, &sigma_[b * 4 + k], &denom_[b * 4 + k]);
      // F_k = relu(Z_k^T V_k) = relu(Z_k^T (V_k^T)^T): [r, N_k] x [N_k, p], written into its slot of f.
      float* fk = f_.data() + b * f_size + k * rp;
      blas::sgemm(Op::kTranspose, Op::kTranspose, I(r), I(s.p), I(n), 1.0f, z, I(r), proj_[k].value.data(), I(n), 0.0f,
                  fk, I(s.p));
      for (size_t i = 0; i < rp; ++i) fk[i] = std::max(fk[i], 0.0f);
    }
  }
  // e = f M^T + b_M: [B, 4rp] x [4rp, r_T].
  for (size_t b = 0; b < batch; ++b) std::memcpy(e_.data() + b * s.r_t, enc_b_.value.data(), s.r_t * sizeof(float));
  blas::sgemm(Op::kNone, Op::kTranspose, I(batch), I(s.r_t), I(f_size), 1.0f, f_.data(), I(f_size), enc_w_.value.data(),
              I(f_size), 1.0f, e_.data(), I(s.r_t));
  if (!has_head()) return e_.data();
  for (size_t b = 0; b < batch; ++b)
    std::memcpy(logits_.data() + b * s.d_y, head_b_.value.data(), s.d_y * sizeof(float));
  blas::sgemm(Op::kNone, Op::kTranspose, I(batch), I(s.d_y), I(s.r_t), 1.0f, e_.data(), I(s.r_t), head_w_.value.data(),
              I(s.r_t), 1.0f, logits_.data(), I(s.d_y));
  return logits_.data();
}

void MvProbeExpert::backward(const float* dlogits) {
  const MvProbeShape& s = shape_;
  const size_t batch = batch_, H = s.d_h, W = s.d_w, r = s.r, rp = s.r * s.p, f_size = 4 * rp;
  const auto on = [&](unsigned k) { return (s.views >> k) & 1u; };
  const float* de = dlogits;
  if (has_head()) {
    blas::sgemm(Op::kTranspose, Op::kNone, I(s.d_y), I(s.r_t), I(batch), 1.0f, dlogits, I(s.d_y), e_.data(), I(s.r_t),
                1.0f, head_w_.grad.data(), I(s.r_t));
    for (size_t b = 0; b < batch; ++b) {
      for (size_t j = 0; j < s.d_y; ++j) head_b_.grad[j] += dlogits[b * s.d_y + j];
    }
    blas::sgemm(Op::kNone, Op::kNone, I(batch), I(s.r_t), I(s.d_y), 1.0f, dlogits, I(s.d_y), head_w_.value.data(),
                I(s.r_t), 0.0f, de_.data(), I(s.r_t));
    de = de_.data();
  }
  // Encoder: dM += dE^T f, db_M += colsum(dE), df = dE M.
  blas::sgemm(Op::kTranspose, Op::kNone, I(s.r_t), I(f_size), I(batch), 1.0f, de, I(s.r_t), f_.data(), I(f_size), 1.0f,
              enc_w_.grad.data(), I(f_size));
  for (size_t b = 0; b < batch; ++b) {
    for (size_t j = 0; j < s.r_t; ++j) enc_b_.grad[j] += de[b * s.r_t + j];
  }
  blas::sgemm(Op::kNone, Op::kNone, I(batch), I(f_size), I(s.r_t), 1.0f, de, I(s.r_t), enc_w_.value.data(), I(f_size),
              0.0f, df_.data(), I(f_size));
  for (size_t b = 0; b < batch; ++b) {
    const float* xb = x_ + b * H * W;
    for (unsigned k = 0; k < 4; ++k) {
      if (!on(k)) continue;
      const size_t n = view_rows(k);
      const float* fk = f_.data() + b * f_size + k * rp;
      float* dfk = df_.data() + b * f_size + k * rp;
      for (size_t i = 0; i < rp; ++i) dfk[i] = fk[i] > 0.0f ? dfk[i] : 0.0f;
      const float* z = view_z(k, b);
      // F = Z^T V  =>  dV^T += dF^T Z^T [p, N], dZ = V dF^T = (V^T)^T dF^T [N, r].
      blas::sgemm(Op::kTranspose, Op::kTranspose, I(s.p), I(n), I(r), 1.0f, dfk, I(s.p), z, I(r), 1.0f,
                  proj_[k].grad.data(), I(n));
      // dS_1 is kept for one batched GEMM below; the other views use the scratch.
      float* ds = k == kViewXU ? ds1_.data() + b * H * r : ds_.data();
      blas::sgemm(Op::kTranspose, Op::kTranspose, I(n), I(r), I(s.p), 1.0f, proj_[k].value.data(), I(n), dfk, I(s.p),
                  0.0f, ds, I(r));
      standardize_backward(ds, z, n * r, sigma_[b * 4 + k], denom_[b * 4 + k]);
      switch (k) {
        case kViewXXtU:  // S_2 = X T_2, T_2 = X^T U_2: dT_2 = X^T dS_2, dU_2 += X dT_2.
          blas::sgemm(Op::kTranspose, Op::kNone, I(W), I(r), I(H), 1.0f, xb, I(W), ds, I(r), 0.0f, dt2_.data(), I(r));
          blas::sgemm(Op::kNone, Op::kNone, I(H), I(r), I(W), 1.0f, xb, I(W), dt2_.data(), I(r), 1.0f,
                      probes_[1].grad.data(), I(r));
          break;
        case kViewXtU:  // S_3 = X^T U_3: dU_3 += X dS_3.
          blas::sgemm(Op::kNone, Op::kNone, I(H), I(r), I(W), 1.0f, xb, I(W), ds, I(r), 1.0f, probes_[2].grad.data(),
                      I(r));
          break;
        case kViewXtXU:  // S_4 = X^T T_4: dT_4 = X dS_4 (dU_4 below, batched).
          blas::sgemm(Op::kNone, Op::kNone, I(H), I(r), I(W), 1.0f, xb, I(W), ds, I(r), 0.0f, dt4_.data() + b * H * r,
                      I(r));
          break;
        default: break;
      }
    }
  }
  // dU_1 += X^T dS_1 and dU_4 += X^T dT_4 over all layers at once: [d_W, B*d_H] x [B*d_H, r].
  if (on(kViewXU)) {
    blas::sgemm(Op::kTranspose, Op::kNone, I(W), I(r), I(batch * H), 1.0f, x_, I(W), ds1_.data(), I(r), 1.0f,
                probes_[0].grad.data(), I(r));
  }
  if (on(kViewXtXU)) {
    blas::sgemm(Op::kTranspose, Op::kNone, I(W), I(r), I(batch * H), 1.0f, x_, I(W), dt4_.data(), I(r), 1.0f,
                probes_[3].grad.data(), I(r));
  }
}

void MvProbeExpert::zero_grad() {
  for (Param* p : params()) std::fill(p->grad.begin(), p->grad.end(), 0.0f);
}

std::vector<Param*> MvProbeExpert::params() {
  std::vector<Param*> out;
  for (Param& p : probes_) out.push_back(&p);
  for (Param& p : proj_) out.push_back(&p);
  out.push_back(&enc_w_);
  out.push_back(&enc_b_);
  if (has_head()) {
    out.push_back(&head_w_);
    out.push_back(&head_b_);
  }
  return out;
}

std::vector<const Param*> MvProbeExpert::const_params() const {
  std::vector<const Param*> out;
  for (const Param* p : const_cast<MvProbeExpert*>(this)->params()) out.push_back(p);
  return out;
}

Param* MvProbeExpert::find_param(const std::string& name) {
  for (Param* p : params()) {
    if (p->name == name) return p;
  }
  return nullptr;
}

std::vector<float> predict_embeddings(MvProbeExpert& expert, const ExpertData& data, size_t batch_size) {
  return predict_batched(data, expert.shape().r_t, batch_size, [&](const float* x, size_t b) {
    expert.forward(x, b);
    return expert.embeddings();
  });
}

}  // namespace probex::convert
