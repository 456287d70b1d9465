// The MVProbe expert against an independent plain-loop double-precision implementation of the authors'
// forward pass (mvprobe_reference.h: golden test), its gradients against central differences of that
// reference, the facts the method implies (standardised responses, invariance to the scale of X and of a
// view's probes, the ablation mask), the authors' parameter names, shapes and counts, determinism, and
// checkpoints (an authors' state dict loads; ProbeX's loader refuses an MVProbe checkpoint).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "converter/expert/checkpoint.h"
#include "converter/expert/multilabel.h"
#include "converter/expert/mvprobe_expert.h"
#include "converter/io/safetensors_writer.h"
#include "tests/converter/expert/mvprobe_reference.h"
#include "tests/test_util.h"

using namespace probex::convert;

namespace {

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double d : v) m = std::max(m, std::fabs(d));
  return m;
}

MvProbeExpert initialised(const MvProbeShape& s, uint64_t seed) {
  MvProbeExpert ex(s);
  Rng rng(seed);
  ex.init(rng);
  return ex;
}

// Logits of `batch` layers through the float expert, as doubles.
std::vector<double> float_logits(MvProbeExpert& ex, const std::vector<float>& x, size_t batch) {
  const float* z = ex.forward(x.data(), batch);
  return std::vector<double>(z, z + batch * ex.outputs());
}

ExpertData synthetic_data(const MvProbeShape& s, size_t count, uint64_t seed) {
  ExpertData d;
  d.count = count;
  d.features = s.d_h * s.d_w;
  d.labels = s.d_y;
  d.x = mv_random_layers(count, s, seed);
  d.y.resize(count * s.d_y);
  for (size_t i = 0; i < d.y.size(); ++i) d.y[i] = static_cast<float>(d.x[i] > 0);
  return d;
}

const char* const kNames[] = {"probes_xu.weight",
                              "probes_xxtu.weight",
                              "probes_xtu.weight",
                              "probes_xtxu.weight",
                              "shared_probe_proj_row.weight",
                              "shared_probe_proj_row2.weight",
                              "shared_probe_proj_col.weight",
                              "shared_probe_proj_col2.weight",
                              "concat_all4_encoder.weight",
                              "concat_all4_encoder.bias",
                              "classification_head.weight",
                              "classification_head.bias"};

}  // namespace

// float32 vs double: every logit, embedding entry and feature within 2e-5 of the largest magnitude of its
// vector (ProbeX's test uses 1e-5; the Gram views square X's magnitudes and the standardisation divides by
// a std computed from float sums, so the budget is doubled).
TEST_CASE("MVProbe forward equals a plain-loop double computation within 2e-5 (relative to the largest value)") {
  const MvProbeShape shapes[] = {
      {2, 1, 1, 1, 1, 1},   {3, 5, 2, 4, 3, 2},       {7, 2, 5, 3, 6, 4},
      {16, 9, 8, 8, 8, 10}, {40, 64, 16, 12, 20, 10}, {96, 72, 24, 16, 32, 5},
  };
  for (const MvProbeShape& s : shapes) {
    CAPTURE(s.d_h);
    CAPTURE(s.d_w);
    MvProbeExpert ex = initialised(s, 11);
    const size_t batch = 3;
    const auto x = mv_random_layers(batch, s, 5);
    const auto logits = float_logits(ex, x, batch);
    const size_t fs = 4 * s.r * s.p;
    for (size_t b = 0; b < batch; ++b) {
      std::vector<double> ref_e, ref_f;
      const auto ref = mv_reference_logits(ex, x.data() + b * s.d_h * s.d_w, &ref_e, nullptr, &ref_f);
      const double scale = std::max(max_abs(ref), 1e-30), escale = std::max(max_abs(ref_e), 1e-30),
                   fscale = std::max(max_abs(ref_f), 1e-30);
      for (size_t y = 0; y < s.d_y; ++y) CHECK(std::fabs(logits[b * s.d_y + y] - ref[y]) <= 2e-5 * scale);
      for (size_t t = 0; t < s.r_t; ++t)
        CHECK(std::fabs(static_cast<double>(ex.embeddings()[b * s.r_t + t]) - ref_e[t]) <= 2e-5 * escale);
      for (size_t i = 0; i < fs; ++i)
        CHECK(std::fabs(static_cast<double>(ex.features()[b * fs + i]) - ref_f[i]) <= 2e-5 * fscale);
    }
  }
}

TEST_CASE("each view's responses are standardised with one scalar mean and the unbiased std, eps on the std") {
  const MvProbeShape s{5, 3, 2, 2, 3, 2};  // N = 10 (d_H views) and 6 (d_W views): N-1 vs N differ by 5-9%
  MvProbeExpert ex = initialised(s, 3);
  const auto x = mv_random_layers(2, s, 4);
  ex.forward(x.data(), 2);
  for (size_t b = 0; b < 2; ++b) {
    for (MvView v : {kViewXU, kViewXXtU, kViewXtU, kViewXtXU}) {
      CAPTURE(v);
      const size_t n = (v < 2 ? s.d_h : s.d_w) * s.r;
      const std::vector<double> z(ex.standardized(b, v), ex.standardized(b, v) + n);
      double mean = 0, ss = 0;
      for (size_t i = 0; i < n; ++i) mean += z[i];
      mean /= static_cast<double>(n);
      for (size_t i = 0; i < n; ++i) ss += (z[i] - mean) * (z[i] - mean);
      CHECK(std::fabs(mean) < 1e-6);
      CHECK(std::sqrt(ss / static_cast<double>(n - 1)) == doctest::Approx(1.0).epsilon(1e-6));
    }
  }
}

TEST_CASE("MVProbe parameters: the authors' names, shapes, creation order and counts") {
  const MvProbeShape s{5, 7, 3, 2, 4, 6};  // d_H != d_W, so every shape tells rows from columns
  MvProbeExpert ex(s);
  const std::vector<std::vector<uint64_t>> shapes = {{7, 3}, {5, 3}, {5, 3},  {7, 3}, {2, 5}, {2, 5},
                                                     {2, 7}, {2, 7}, {4, 24}, {4},    {6, 4}, {6}};
  const auto params = ex.params();
  REQUIRE(params.size() == 12);
  size_t n = 0;
  for (size_t i = 0; i < 12; ++i) {
    CHECK(params[i]->name == kNames[i]);
    CHECK(params[i]->shape == shapes[i]);
    n += params[i]->value.size();
  }
  CHECK(n == mvprobe_parameter_count(s));
  // The note's figures (docs/design/mvprobe.md section 5(e)), without allocating 34 M floats.
  CHECK(mvprobe_parameter_count({768, 768, 128, 128, 512, 100}) == 34392676);
  CHECK(mvprobe_parameter_count({768, 768, 128, 128, 128, 100}) == 9188068);
  // Without a head (zero-shot): the head's parameters are absent.
  MvProbeExpert headless({5, 7, 3, 2, 4, 0});
  CHECK(headless.params().size() == 10);
  CHECK(headless.outputs() == 4);
}

TEST_CASE("MVProbe initialisation is torch's nn.Linear default, drawn in the authors' creation order") {
  const MvProbeShape s{5, 7, 3, 2, 4, 6};
  MvProbeExpert ex = initialised(s, 21);
  const size_t fan_in[] = {3, 3, 3, 3, 5, 5, 7, 7, 24, 24, 4, 4};
  Rng rng(21);
  const auto params = ex.params();
  for (size_t i = 0; i < 12; ++i) {
    CAPTURE(params[i]->name);
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in[i]));
    for (float v : params[i]->value) CHECK(v == static_cast<float>(rng.uniform(-bound, bound)));
  }
}

TEST_CASE("every MVProbe parameter's gradient agrees with central differences of the double reference") {
  // views: all four, and the authors' ablation with two views masked out (their parameters get no gradient).
  for (unsigned views : {kAllViews, 0b0101u}) {
    CAPTURE(views);
    MvProbeShape s{5, 4, 3, 2, 4, 3};
    s.views = views;
    MvProbeExpert ex = initialised(s, 2);
    const size_t batch = 3;
    const auto x = mv_random_layers(batch, s, 9);
    std::vector<float> y(batch * s.d_y);
    for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>((i * 7) % 3 == 0);
    std::vector<float> dlogits(batch * s.d_y);
    bce_with_logits(ex.forward(x.data(), batch), y.data(), batch, s.d_y, dlogits.data());
    ex.zero_grad();
    ex.backward(dlogits.data());

    auto loss = [&](const Params& params) {
      double total = 0;
      for (size_t b = 0; b < batch; ++b) {
        const auto z = mv_reference_logits(ex, x.data() + b * s.d_h * s.d_w, nullptr, &params);
        for (size_t j = 0; j < s.d_y; ++j) {
          const double t = y[b * s.d_y + j];
          total += std::max(z[j], 0.0) - z[j] * t + std::log1p(std::exp(-std::fabs(z[j])));
        }
      }
      return total / static_cast<double>(batch * s.d_y);
    };
    size_t checked = 0, nonzero = 0;
    for (Param* p : ex.params()) {
      Params params;
      params[p->name] = std::vector<double>(p->value.begin(), p->value.end());
      for (size_t i = 0; i < p->value.size(); ++i) {
        const double h = 1e-6, saved = params[p->name][i];
        params[p->name][i] = saved + h;
        const double up = loss(params);
        params[p->name][i] = saved - h;
        const double down = loss(params);
        params[p->name][i] = saved;
        CAPTURE(p->name);
        CAPTURE(i);
        CHECK(static_cast<double>(p->grad[i]) == doctest::Approx((up - down) / (2 * h)).epsilon(1e-3).scale(1e-4));
        ++checked;
        nonzero += p->grad[i] != 0.0f;
      }
    }
    CHECK(checked == mvprobe_parameter_count(s));
    CHECK(nonzero > checked / 2);  // the check is not vacuous
    if (views != kAllViews) {
      for (const char* masked : {"probes_xxtu.weight", "probes_xtxu.weight", "shared_probe_proj_row2.weight",
                                 "shared_probe_proj_col2.weight"}) {
        for (float g : ex.find_param(masked)->grad) CHECK(g == 0.0f);
      }
    }
  }
}

TEST_CASE("MVProbe is invariant to the scale of X and of each view's probes (the standardisation)") {
  const MvProbeShape s{9, 6, 4, 3, 5, 4};
  MvProbeExpert ex = initialised(s, 7);
  const size_t batch = 2;
  const auto x = mv_random_layers(batch, s, 8);
  const auto base = float_logits(ex, x, batch);
  const double tol = 2e-5 * max_abs(base);
  // X -> a X: S_1, S_3 scale by a, S_2, S_4 by a^2; the standardised responses do not change (up to the eps).
  for (float a : {0.05f, 3.0f, 40.0f}) {
    CAPTURE(a);
    std::vector<float> scaled = x;
    for (float& v : scaled) v *= a;
    const auto got = float_logits(ex, scaled, batch);
    for (size_t i = 0; i < got.size(); ++i) CHECK(std::fabs(got[i] - base[i]) <= tol);
  }
  // U_k -> c U_k (c > 0) scales view k's response only; c < 0 flips its sign and does change the logits.
  for (const char* name : {"probes_xu.weight", "probes_xxtu.weight", "probes_xtu.weight", "probes_xtxu.weight"}) {
    CAPTURE(name);
    Param* u = ex.find_param(name);
    const std::vector<float> saved = u->value;
    for (float& v : u->value) v *= 7.0f;
    auto got = float_logits(ex, x, batch);
    for (size_t i = 0; i < got.size(); ++i) CHECK(std::fabs(got[i] - base[i]) <= tol);
    for (size_t i = 0; i < saved.size(); ++i) u->value[i] = -saved[i];
    got = float_logits(ex, x, batch);
    double diff = 0;
    for (size_t i = 0; i < got.size(); ++i) diff = std::max(diff, std::fabs(got[i] - base[i]));
    CHECK(diff > 100 * tol);
    u->value = saved;
  }
  // Adding a constant to every weight of X is not an invariance (X X^T changes non-uniformly): a cheap check
  // that the tolerance above can tell a change.
  std::vector<float> shifted = x;
  for (float& v : shifted) v += 0.5f;
  const auto got = float_logits(ex, shifted, batch);
  double diff = 0;
  for (size_t i = 0; i < got.size(); ++i) diff = std::max(diff, std::fabs(got[i] - base[i]));
  CHECK(diff > 100 * tol);
}

TEST_CASE("a masked view equals zeroing its columns of the encoder (the authors' ablation)") {
  MvProbeShape s{6, 5, 3, 2, 4, 3};
  MvProbeExpert full = initialised(s, 5);
  s.views = 0b1010;  // xxtu and xtxu only (the second-order views)
  MvProbeExpert masked = initialised(s, 5);
  const size_t rp = s.r * s.p, width = 4 * rp;
  Param* m = full.find_param("concat_all4_encoder.weight");
  for (size_t t = 0; t < s.r_t; ++t)
    for (unsigned k : {0u, 2u})
      for (size_t i = 0; i < rp; ++i) m->value[t * width + k * rp + i] = 0.0f;
  const auto x = mv_random_layers(3, s, 6);
  const auto a = float_logits(full, x, 3), b = float_logits(masked, x, 3);
  for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == doctest::Approx(a[i]).epsilon(1e-6));
}

TEST_CASE("MVProbe: same seed and thread count give the same checkpoint bytes, and training learns") {
  const MvProbeShape s{8, 6, 4, 4, 8, 3};
  const ExpertData train = synthetic_data(s, 40, 1), val = synthetic_data(s, 12, 2);
  probex::test::TempDir dir;
  std::vector<std::vector<uint8_t>> bytes;
  for (int run = 0; run < 2; ++run) {
    MvProbeExpert ex = initialised(s, 4);
    FitConfig fit;
    fit.epochs = 30;
    fit.batch_size = 8;
    fit.lr = 3e-3;
    fit.eval_every = 5;
    fit.seed = 3;
    fit.progress = false;
    const FitResult r = fit_multilabel(ex, train, val, fit);
    CHECK(r.evals.back().train_loss < 0.8 * r.evals.front().train_loss);
    std::string error;
    const std::string path = dir.file("e" + std::to_string(run) + ".safetensors");
    REQUIRE(save_mvprobe_checkpoint(ex, {{"tree", "t"}}, path, &error));
    bytes.push_back(probex::test::read_bytes(path));
  }
  CHECK(bytes[0] == bytes[1]);
  CHECK(bytes[0].size() > 1000);
}

TEST_CASE("an MVProbe state dict loads and computes the same logits; ProbeX's loader refuses it") {
  const MvProbeShape s{5, 4, 3, 2, 4, 3};
  MvProbeExpert source = initialised(s, 8);
  probex::test::TempDir dir;
  std::string error;
  // What safetensors.torch.save_file(model.state_dict()) writes for the authors' model: tensors, no metadata.
  SafetensorsWriter w;
  for (const Param* p : source.const_params())
    REQUIRE(w.add_f32(p->name, probex::Dtype::kF32, p->shape, p->value.data(), &error));
  const std::string authors = dir.file("authors.safetensors");
  REQUIRE(w.write_file(authors, &error));
  const std::string ours = dir.file("ours.safetensors");
  REQUIRE(save_mvprobe_checkpoint(source, {{"labels", "['a', 'b', 'c']"}}, ours, &error));

  const auto x = mv_random_layers(1, s, 12);
  const auto ref = mv_reference_logits(source, x.data());
  for (const std::string& path : {authors, ours}) {
    CAPTURE(path);
    LoadedMvProbeCheckpoint loaded;
    REQUIRE_MESSAGE(load_mvprobe_checkpoint(path, &loaded, &error), error);
    CHECK(loaded.expert->shape().d_h == 5);
    CHECK(loaded.expert->shape().d_w == 4);
    CHECK(loaded.expert->shape().r == 3);
    CHECK(loaded.expert->shape().p == 2);
    CHECK(loaded.expert->shape().r_t == 4);
    CHECK(loaded.labels.size() == 3);
    const float* got = loaded.expert->forward(x.data(), 1);
    for (size_t y = 0; y < s.d_y; ++y) CHECK(got[y] == doctest::Approx(ref[y]).epsilon(1e-5));
    CHECK(is_mvprobe_checkpoint(path));

    LoadedCheckpoint probex;
    CHECK_FALSE(load_probex_checkpoint(path, &probex, &error));
    CHECK(error == path + ": an MVProbe expert checkpoint (probex-train --expert mvprobe), not a ProbeX one: "
                          "probex-convert makes bundles of both, but ONNX export takes ProbeX checkpoints only");
  }
  LoadedMvProbeCheckpoint loaded;
  CHECK(load_mvprobe_checkpoint(ours, &loaded, &error));
  CHECK(loaded.labels == std::vector<std::string>{"a", "b", "c"});
  CHECK(loaded.metadata.at("format") == kMvProbeCheckpointFormat);

  // A tensor of the wrong shape is named.
  SafetensorsWriter bad;
  for (const Param* p : source.const_params()) {
    std::vector<uint64_t> shape = p->shape;
    if (p->name == "shared_probe_proj_col.weight") shape = {shape[1], shape[0]};
    REQUIRE(bad.add_f32(p->name, probex::Dtype::kF32, shape, p->value.data(), &error));
  }
  const std::string bad_path = dir.file("bad.safetensors");
  REQUIRE(bad.write_file(bad_path, &error));
  CHECK_FALSE(load_mvprobe_checkpoint(bad_path, &loaded, &error));
  CHECK(error.find("'shared_probe_proj_col.weight' is [4, 2]") != std::string::npos);
}
