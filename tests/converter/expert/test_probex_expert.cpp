// The ProbeX expert against an independent plain-loop double-precision implementation of docs/method.md
// section 2 (golden test), its gradients against finite differences of that reference, determinism,
// and loading a checkpoint saved from the authors' PyTorch model.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "converter/expert/checkpoint.h"
#include "converter/expert/multilabel.h"
#include "converter/expert/probex_expert.h"
#include "converter/io/safetensors_writer.h"
#include "tests/converter/expert/probex_reference.h"
#include "tests/test_util.h"

using namespace probex::convert;

namespace {

// `count` random layers whose labels are a fixed function of their first weights (learnable).
ExpertData synthetic_data(const ProbexShape& s, size_t count, uint64_t seed) {
  ExpertData d;
  d.count = count;
  d.features = s.d_h * s.d_w;
  d.labels = s.d_y;
  d.x = random_layers(count, s, seed);
  d.y.resize(count * s.d_y);
  for (size_t i = 0; i < d.y.size(); ++i) d.y[i] = static_cast<float>(d.x[i] > 0);
  return d;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double d : v) m = std::max(m, std::fabs(d));
  return m;
}

}  // namespace

TEST_CASE("forward equals a plain-loop double computation within 1e-5 (relative to the largest value)") {
  const ProbexShape shapes[] = {
      {1, 1, 1, 1, 1, 1},   {3, 5, 2, 4, 3, 2},       {7, 2, 5, 3, 6, 4},
      {16, 9, 8, 8, 8, 10}, {64, 40, 16, 12, 20, 10}, {128, 96, 32, 32, 32, 5},
  };
  for (const ProbexShape& s : shapes) {
    CAPTURE(s.d_h);
    CAPTURE(s.d_w);
    ProbexExpert ex(s);
    Rng rng(11);
    ex.init(rng);
    const size_t batch = 3;
    const auto x = random_layers(batch, s, 5);
    const float* logits = ex.forward(x.data(), batch);
    std::vector<float> e(ex.embeddings(), ex.embeddings() + batch * s.r_t);
    for (size_t b = 0; b < batch; ++b) {
      std::vector<double> ref_e;
      const auto ref = reference_logits(ex, x.data() + b * s.d_h * s.d_w, &ref_e);
      const double scale = std::max(max_abs(ref), 1e-30), escale = std::max(max_abs(ref_e), 1e-30);
      for (size_t y = 0; y < s.d_y; ++y)
        CHECK(std::fabs(static_cast<double>(logits[b * s.d_y + y]) - ref[y]) <= 1e-5 * scale);
      for (size_t t = 0; t < s.r_t; ++t)
        CHECK(std::fabs(static_cast<double>(e[b * s.r_t + t]) - ref_e[t]) <= 1e-5 * escale);
    }
  }
}

TEST_CASE("the authors' parameter count at d=768, r=128, r_T=128, d_Y=100") {
  ProbexExpert ex({768, 768, 128, 128, 128, 100});
  size_t n = 0;
  for (const Param* p : ex.params()) n += p->value.size();
  CHECK(n == 2306788);
}

TEST_CASE("every parameter's gradient agrees with central differences of the double reference") {
  const ProbexShape s{6, 5, 3, 4, 5, 3};
  ProbexExpert ex(s);
  Rng rng(2);
  ex.init(rng);
  const size_t batch = 4;
  const auto x = random_layers(batch, s, 9);
  std::vector<float> y(batch * s.d_y);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>((i * 7) % 3 == 0);
  std::vector<float> dlogits(batch * s.d_y);
  bce_with_logits(ex.forward(x.data(), batch), y.data(), batch, s.d_y, dlogits.data());
  ex.zero_grad();
  ex.backward(dlogits.data());

  auto loss = [&](const std::map<std::string, std::vector<double>>& params) {
    double total = 0;
    for (size_t b = 0; b < batch; ++b) {
      const auto z = reference_logits(ex, x.data() + b * s.d_h * s.d_w, nullptr, &params);
      for (size_t j = 0; j < s.d_y; ++j) {
        const double t = y[b * s.d_y + j];
        total += std::max(z[j], 0.0) - z[j] * t + std::log1p(std::exp(-std::fabs(z[j])));
      }
    }
    return total / static_cast<double>(batch * s.d_y);
  };
  size_t checked = 0;
  for (Param* p : ex.params()) {
    std::map<std::string, std::vector<double>> params;
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
    }
  }
  CHECK(checked == 5 * 3 + 4 * 6 + 5 * 12 + 5 + 3 * 5 + 3);
}

TEST_CASE("same seed and thread count give the same checkpoint bytes") {
  const ProbexShape s{8, 6, 4, 4, 8, 3};
  const ExpertData train = synthetic_data(s, 20, 1), val = synthetic_data(s, 6, 2);
  probex::test::TempDir dir;
  std::vector<std::vector<uint8_t>> bytes;
  for (int run = 0; run < 2; ++run) {
    ProbexExpert ex(s);
    Rng rng(4);
    ex.init(rng);
    FitConfig fit;
    fit.epochs = 6;
    fit.batch_size = 8;
    fit.eval_every = 2;
    fit.seed = 3;
    fit.progress = false;
    fit_multilabel(ex, train, val, fit);
    std::string error;
    const std::string path = dir.file("e" + std::to_string(run) + ".safetensors");
    REQUIRE(save_probex_checkpoint(ex, {{"tree", "t"}}, path, &error));
    bytes.push_back(probex::test::read_bytes(path));
  }
  CHECK(bytes[0] == bytes[1]);
  CHECK(bytes[0].size() > 1000);
}

TEST_CASE("validation runs on the authors' schedule and keeps the strictly best parameters") {
  const ProbexShape s{4, 3, 2, 2, 4, 2};
  const ExpertData train = synthetic_data(s, 10, 5), val = synthetic_data(s, 10, 6);
  ProbexExpert ex(s);
  Rng rng(1);
  ex.init(rng);
  FitConfig fit;
  fit.epochs = 60;
  fit.eval_every = 25;
  fit.progress = false;
  const FitResult r = fit_multilabel(ex, train, val, fit);
  REQUIRE(r.evals.size() == 3);
  CHECK(r.evals[0].epoch == 1);  // `epoch % 25 == 0` on 0-based epochs
  CHECK(r.evals[1].epoch == 26);
  CHECK(r.evals[2].epoch == 51);
  double best = 0;
  int best_epoch = 0;
  for (const FitEval& e : r.evals) {
    if (e.val.bit_accuracy > best) {
      best = e.val.bit_accuracy;
      best_epoch = e.epoch;
    }
  }
  CHECK(r.best_epoch == best_epoch);
  // The returned parameters are the best epoch's: they reproduce its val accuracy.
  const auto logits = predict(ex, val);
  CHECK(multilabel_metrics(logits.data(), val.y.data(), val.count, s.d_y).bit_accuracy == doctest::Approx(best));
  CHECK(best_at_last_evaluation(r) == (best_epoch == 51));
}

TEST_CASE("a fit whose best val is its last evaluation is flagged as possibly still improving") {
  FitResult r;
  r.evals = {FitEval{1, 0.7, {}}, FitEval{26, 0.5, {}}, FitEval{51, 0.4, {}}};
  r.best_epoch = 51;
  CHECK(best_at_last_evaluation(r));
  r.best_epoch = 26;
  CHECK_FALSE(best_at_last_evaluation(r));
  r.evals.resize(1);  // one evaluation: nothing to compare with
  r.best_epoch = 1;
  CHECK_FALSE(best_at_last_evaluation(r));
  r.evals.clear();  // never evaluated (chance)
  r.best_epoch = 0;
  CHECK_FALSE(best_at_last_evaluation(r));
}

TEST_CASE("a state dict saved from the authors' model loads and computes the same logits") {
  // What safetensors.torch.save_file(model.state_dict()) writes for the authors' ProbeX module: the six
  // tensors by name, no metadata, plus the zero-shot regression_head (nn.Linear(d_text, r_T), kept aside).
  const ProbexShape s{5, 4, 3, 2, 4, 3};
  ProbexExpert source(s);
  Rng rng(8);
  source.init(rng);
  SafetensorsWriter w;
  std::string error;
  for (const Param* p : source.const_params())
    REQUIRE(w.add_f32(p->name, probex::Dtype::kF32, p->shape, p->value.data(), &error));
  const float reg[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  REQUIRE(w.add_f32("regression_head.weight", probex::Dtype::kF32, {4, 2}, reg, &error));
  REQUIRE(w.add_f32("regression_head.bias", probex::Dtype::kF32, {4}, reg + 4, &error));
  probex::test::TempDir dir;
  const std::string path = dir.file("authors.safetensors");
  REQUIRE(w.write_file(path, &error));

  LoadedCheckpoint loaded;
  REQUIRE_MESSAGE(load_probex_checkpoint(path, &loaded, &error), error);
  CHECK(loaded.expert->shape().d_h == 5);
  CHECK(loaded.expert->shape().d_w == 4);
  CHECK(loaded.expert->shape().r_u == 3);
  CHECK(loaded.expert->shape().r_v == 2);
  CHECK(loaded.expert->shape().r_t == 4);
  CHECK(loaded.labels == std::vector<std::string>{"label_0", "label_1", "label_2"});
  CHECK(loaded.text_dimension == 2);
  CHECK(loaded.text_weight == std::vector<float>(reg, reg + 8));
  CHECK(loaded.text_bias == std::vector<float>(reg + 4, reg + 8));
  const auto x = random_layers(1, s, 12);
  const auto ref = reference_logits(source, x.data());
  const float* got = loaded.expert->forward(x.data(), 1);
  for (size_t y = 0; y < s.d_y; ++y) CHECK(got[y] == doctest::Approx(ref[y]).epsilon(1e-5));
}

TEST_CASE("malformed checkpoints are refused naming the file and tensor") {
  probex::test::TempDir dir;
  std::string error;
  const ProbexShape s{5, 4, 3, 2, 4, 3};
  ProbexExpert ex(s);
  auto write_without = [&](const std::string& skip, const std::string& reshape) {
    SafetensorsWriter w;
    std::string e;
    for (const Param* p : ex.const_params()) {
      if (p->name == skip) continue;
      std::vector<uint64_t> shape = p->shape;
      if (p->name == reshape) shape = {shape[1], shape[0]};
      REQUIRE(w.add_f32(p->name, probex::Dtype::kF32, shape, p->value.data(), &e));
    }
    if (skip.empty() && reshape.empty()) w.set_metadata("labels", "['a', 'b']");  // 2 names, head of 3
    const std::string path = dir.file("bad.safetensors");
    REQUIRE(w.write_file(path, &e));
    return path;
  };
  LoadedCheckpoint loaded;
  std::string path = write_without("per_probe_encoders.bias", "");
  CHECK_FALSE(load_probex_checkpoint(path, &loaded, &error));
  CHECK(error == path + ": no tensor named 'per_probe_encoders.bias'");
  path = write_without("", "classification_head.weight");
  CHECK_FALSE(load_probex_checkpoint(path, &loaded, &error));
  CHECK(error.find("tensor shapes disagree") != std::string::npos);
  path = write_without("", "");
  CHECK_FALSE(load_probex_checkpoint(path, &loaded, &error));
  CHECK(error.find("2 labels for a head of 3") != std::string::npos);
  CHECK_FALSE(load_probex_checkpoint(dir.file("missing.safetensors"), &loaded, &error));
  CHECK(error.find("cannot open") != std::string::npos);
}
