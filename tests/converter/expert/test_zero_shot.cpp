// Zero-shot alignment (converter/expert/zero_shot.h): the loss and its gradients against a double
// reference, the metrics on hand-worked examples, and training that generalises to unseen classes.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>

#include "converter/expert/checkpoint.h"
#include "converter/expert/zero_shot.h"
#include "tests/converter/expert/probex_reference.h"
#include "tests/test_util.h"

using namespace probex::convert;

namespace {

// cos(e, W t_c + b) cross-entropy over c, in double, from the reference embedding.
double reference_loss(ProbexExpert& ex, const std::vector<float>& x, size_t batch, const std::vector<size_t>& classes,
                      const std::vector<float>& texts, size_t c,
                      const std::map<std::string, std::vector<double>>& params, const std::vector<double>& w,
                      const std::vector<double>& bias) {
  const ProbexShape& s = ex.shape();
  const size_t d = texts.size() / c;
  std::vector<std::vector<double>> z(c, std::vector<double>(s.r_t));
  for (size_t k = 0; k < c; ++k) {
    for (size_t t = 0; t < s.r_t; ++t) {
      z[k][t] = bias[t];
      for (size_t j = 0; j < d; ++j) z[k][t] += w[t * d + j] * static_cast<double>(texts[k * d + j]);
    }
  }
  auto norm = [](const std::vector<double>& v) {
    return std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0));
  };
  double total = 0.0;
  for (size_t b = 0; b < batch; ++b) {
    std::vector<double> e;
    reference_logits(ex, x.data() + b * s.d_h * s.d_w, &e, &params);
    std::vector<double> scores(c);
    for (size_t k = 0; k < c; ++k)
      scores[k] = std::inner_product(e.begin(), e.end(), z[k].begin(), 0.0) / (norm(e) * norm(z[k]));
    double sum = 0.0;
    for (double sc : scores) sum += std::exp(sc);
    total += std::log(sum) - scores[classes[b]];
  }
  return total / static_cast<double>(batch);
}

}  // namespace

TEST_CASE("zero-shot: gradients of the headless expert and the text projection agree with central differences") {
  const ProbexShape s{6, 5, 3, 4, 5, 0};
  ProbexExpert ex(s);
  TextProjection proj(4, s.r_t);
  Rng rng(3);
  ex.init(rng);
  proj.init(rng);
  CHECK(ex.params().size() == 4);  // no classification head
  const size_t batch = 4, c = 3;
  const auto x = random_layers(batch, s, 11);
  std::vector<float> texts(c * 4);
  for (float& v : texts) v = static_cast<float>(rng.uniform(-1, 1));
  const std::vector<size_t> classes = {0, 2, 1, 2};
  std::vector<float> de(batch * s.r_t), dz(c * s.r_t);
  for (Param* p : ex.params()) std::fill(p->grad.begin(), p->grad.end(), 0.0f);
  for (Param* p : proj.params()) std::fill(p->grad.begin(), p->grad.end(), 0.0f);
  const float* e = ex.forward(x.data(), batch);
  const std::vector<float> z = proj.project(texts.data(), c);
  const double loss = cosine_cross_entropy(e, batch, z.data(), c, s.r_t, classes.data(), de.data(), dz.data());
  ex.backward(de.data());
  proj.backward(texts.data(), c, dz.data());

  std::map<std::string, std::vector<double>> params;
  for (Param* p : ex.params()) params[p->name] = std::vector<double>(p->value.begin(), p->value.end());
  std::vector<double> w(proj.params()[0]->value.begin(), proj.params()[0]->value.end());
  std::vector<double> bias(proj.params()[1]->value.begin(), proj.params()[1]->value.end());
  CHECK(loss == doctest::Approx(reference_loss(ex, x, batch, classes, texts, c, params, w, bias)).epsilon(1e-5));

  auto central = [&](std::vector<double>& v, size_t i) {
    const double h = 1e-6, saved = v[i];
    v[i] = saved + h;
    const double up = reference_loss(ex, x, batch, classes, texts, c, params, w, bias);
    v[i] = saved - h;
    const double down = reference_loss(ex, x, batch, classes, texts, c, params, w, bias);
    v[i] = saved;
    return (up - down) / (2 * h);
  };
  size_t checked = 0;
  for (Param* p : ex.params()) {
    for (size_t i = 0; i < p->value.size(); ++i, ++checked) {
      CAPTURE(p->name);
      CAPTURE(i);
      CHECK(static_cast<double>(p->grad[i]) == doctest::Approx(central(params[p->name], i)).epsilon(1e-3).scale(1e-4));
    }
  }
  for (size_t i = 0; i < w.size(); ++i, ++checked) {
    CHECK(static_cast<double>(proj.params()[0]->grad[i]) == doctest::Approx(central(w, i)).epsilon(1e-3).scale(1e-4));
  }
  for (size_t i = 0; i < bias.size(); ++i, ++checked) {
    CHECK(static_cast<double>(proj.params()[1]->grad[i]) ==
          doctest::Approx(central(bias, i)).epsilon(1e-3).scale(1e-4));
  }
  CHECK(checked == 5 * 3 + 4 * 6 + 5 * 12 + 5 + 5 * 4 + 5);
}

TEST_CASE("zero-shot metrics: top-1 and retrieval on hand-worked rankings") {
  // Scores of 3 models against 2 classes.
  CHECK(top1_accuracy({0.9f, 0.1f, 0.2f, 0.3f, 0.5f, 0.4f}, 2, {0, 1, 1}) == doctest::Approx(2.0 / 3.0));
  // Embeddings along the axes; query 0 = (1, 0), query 1 = (0, 1). Model classes {0, 1, 0, 1}.
  const std::vector<float> e = {1.0f, 0.1f, 0.2f, 1.0f, 0.7f, 1.0f, 1.0f, 0.3f};
  const std::vector<float> z = {1.0f, 0.0f, 0.0f, 1.0f};
  const RetrievalMetrics m = retrieval_metrics(e.data(), 4, z.data(), 2, 2, {0, 1, 0, 1});
  // Query 0 ranks models 0 (0.995), 3 (0.958), 2 (0.573), 1 (0.196): relevant at ranks 1 and 3, AP = (1 + 2/3) / 2.
  // Query 1 ranks models 1 (0.981), 2 (0.819), 3 (0.287), 0 (0.0995): relevant at ranks 1 and 3, AP the same.
  CHECK(m.queries == 2);
  CHECK(m.recall_at_1 == doctest::Approx(1.0));
  CHECK(m.recall_at_5 == doctest::Approx(1.0));
  CHECK(m.mean_ap == doctest::Approx(5.0 / 6.0));
  // A class without models is not a query; a tie gives no credit.
  const RetrievalMetrics tie = retrieval_metrics(z.data(), 2, z.data(), 2, 2, {1, 1});
  CHECK(tie.queries == 1);
  CHECK(tie.recall_at_1 == doctest::Approx(1.0));
  const std::vector<float> same = {1.0f, 0.0f, 1.0f, 0.0f};
  CHECK(retrieval_metrics(same.data(), 2, z.data(), 2, 2, {0, 1}).recall_at_1 == doctest::Approx(0.0));
}

TEST_CASE("zero-shot training reaches classes it never saw when layers carry their class's text") {
  // Layers are a fixed random linear image of their class's text embedding plus noise, so a model can
  // only match unseen classes through the text projection: classes 0-5 train, 6-9 are held out.
  const ProbexShape s{8, 6, 16, 16, 16, 0};
  const size_t d_text = 12, classes = 10, seen = 6;
  Rng rng(5);
  std::vector<float> texts(classes * d_text), mix(s.d_h * s.d_w * d_text);
  for (float& v : texts) v = static_cast<float>(rng.uniform(-1, 1));
  for (float& v : mix) v = static_cast<float>(rng.uniform(-1, 1));
  auto split = [&](size_t first, size_t last, size_t per_class) {
    ZeroShotSplit out;
    out.data.features = s.d_h * s.d_w;
    out.texts.dimension = d_text;
    for (size_t c = first; c < last; ++c) {
      out.texts.names.push_back("class " + std::to_string(c));
      out.texts.vectors.insert(out.texts.vectors.end(), texts.begin() + static_cast<std::ptrdiff_t>(c * d_text),
                               texts.begin() + static_cast<std::ptrdiff_t>((c + 1) * d_text));
      for (size_t i = 0; i < per_class; ++i) {
        for (size_t f = 0; f < out.data.features; ++f) {
          double v = 0.3 * rng.uniform(-1, 1);
          for (size_t j = 0; j < d_text; ++j)
            v += static_cast<double>(mix[f * d_text + j] * texts[c * d_text + j]) / 4.0;
          out.data.x.push_back(static_cast<float>(v));
        }
        out.classes.push_back(c - first);
        ++out.data.count;
      }
    }
    return out;
  };
  const ZeroShotSplit train = split(0, seen, 20), val = split(0, seen, 5), test = split(0, seen, 5);
  const ZeroShotSplit val_unseen = split(seen, classes, 5), test_unseen = split(seen, classes, 10);
  ProbexExpert ex(s);
  TextProjection proj(d_text, s.r_t);
  ex.init(rng);
  proj.init(rng);
  FitConfig config;
  config.epochs = 150;
  config.lr = 2e-3;
  config.weight_decay = 0.0;
  config.eval_every = 10;
  config.progress = false;
  const ZeroShotFitResult fit = fit_zero_shot(ex, proj, train, val, val_unseen, config);
  CHECK(fit.best_seen_epoch > 0);
  CHECK(fit.best_unseen_epoch > 0);
  auto top1 = [&](const ZeroShotSplit& sp) {
    const std::vector<float> e = predict(ex, sp.data);
    const std::vector<float> z = proj.project(sp.texts.vectors.data(), sp.texts.names.size());
    return top1_accuracy(cosine_scores(e.data(), sp.data.count, z.data(), sp.texts.names.size(), s.r_t),
                         sp.texts.names.size(), sp.classes);
  };
  restore_zero_shot(ex, proj, fit.seen_params);
  const double in_distribution = top1(test);
  restore_zero_shot(ex, proj, fit.unseen_params);
  const double zero_shot = top1(test_unseen);
  MESSAGE("in-distribution top-1 " << in_distribution << ", zero-shot top-1 " << zero_shot);
  CHECK(in_distribution >= 0.9);  // chance 1/6
  CHECK(zero_shot >= 0.6);        // chance 1/4
}

TEST_CASE("zero-shot checkpoints: the headless expert and regression_head round-trip; bad ones are refused") {
  const ProbexShape s{5, 4, 3, 2, 4, 0};
  ProbexExpert ex(s);
  TextProjection proj(3, s.r_t);
  Rng rng(4);
  ex.init(rng);
  proj.init(rng);
  probex::test::TempDir dir;
  std::string error;
  const std::string path = dir.file("zs.safetensors");
  REQUIRE(save_probex_checkpoint(ex, {{"labels", "['coat', 'bag']"}}, path, &error, proj.params()));
  LoadedCheckpoint loaded;
  REQUIRE_MESSAGE(load_probex_checkpoint(path, &loaded, &error), error);
  CHECK_FALSE(loaded.expert->has_head());
  CHECK(loaded.labels == std::vector<std::string>{"coat", "bag"});
  CHECK(loaded.text_dimension == 3);
  CHECK(loaded.text_weight == proj.params()[0]->value);
  CHECK(loaded.text_bias == proj.params()[1]->value);
  const auto x = random_layers(1, s, 6);
  std::vector<double> e;
  reference_logits(ex, x.data(), &e);
  const float* got = loaded.expert->forward(x.data(), 1);
  for (size_t t = 0; t < s.r_t; ++t) CHECK(got[t] == doctest::Approx(e[t]).epsilon(1e-5));

  TextProjection wrong(3, s.r_t + 1);
  REQUIRE(save_probex_checkpoint(ex, {}, path, &error, wrong.params()));
  CHECK_FALSE(load_probex_checkpoint(path, &loaded, &error));
  CHECK(error ==
        path + ": regression_head.weight must be [r_T = 4, d_text] with regression_head.bias [r_T], both float");
  REQUIRE(save_probex_checkpoint(ex, {}, path, &error));  // neither a head nor a text projection
  CHECK_FALSE(load_probex_checkpoint(path, &loaded, &error));
  CHECK(error == path + ": no tensor named 'classification_head.weight'");
}
