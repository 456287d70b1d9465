// The zoo's trainer: gradients against finite differences, optimizers and schedules against the
// PyTorch / Hugging Face formulas, architecture specs.
#include <doctest/doctest.h>

#include <cmath>

#include "converter/nn/model.h"
#include "converter/nn/optimizer.h"

using namespace probex::convert;

namespace {

double loss_of(Model& m, const std::vector<float>& x, const std::vector<int32_t>& y, size_t batch) {
  std::vector<float> d(batch * m.output_size());
  return softmax_cross_entropy(m.forward(x.data(), batch), y.data(), batch, m.output_size(), d.data());
}

}  // namespace

TEST_CASE("backward matches central finite differences for every parameter") {
  Model m;
  std::string error;
  REQUIRE(Model::from_spec("mlp-7-6-5-4", &m, &error));
  Rng rng(3);
  m.init(rng);
  const size_t batch = 5;
  std::vector<float> x(batch * 7);
  for (float& v : x) v = static_cast<float>(rng.uniform(-2, 2));
  const std::vector<int32_t> y = {0, 3, 1, 2, 3};

  std::vector<float> dlogits(batch * 4);
  softmax_cross_entropy(m.forward(x.data(), batch), y.data(), batch, 4, dlogits.data());
  m.zero_grad();
  m.backward(dlogits.data(), batch);

  size_t checked = 0;
  for (Param* p : m.params()) {
    for (size_t i = 0; i < p->value.size(); ++i) {
      const float saved = p->value[i];
      const float h = 1e-3f;
      p->value[i] = saved + h;
      const double up = loss_of(m, x, y, batch);
      p->value[i] = saved - h;
      const double down = loss_of(m, x, y, batch);
      p->value[i] = saved;
      const double numeric = (up - down) / (2.0 * static_cast<double>(h));
      CAPTURE(p->name);
      CAPTURE(i);
      CHECK(static_cast<double>(p->grad[i]) == doctest::Approx(numeric).epsilon(2e-2).scale(1e-3));
      ++checked;
    }
  }
  CHECK(checked == 7 * 6 + 6 + 6 * 5 + 5 + 5 * 4 + 4);
}

TEST_CASE("architecture specs name layers as PyTorch would and reject nonsense") {
  Model m;
  std::string error;
  REQUIRE(Model::from_spec("mlp-784-256-128-10", &m, &error));
  std::vector<std::string> names;
  for (const Param* p : m.params()) names.push_back(p->name);
  CHECK(names ==
        std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "head.weight", "head.bias"});
  CHECK(m.find_param("fc1.weight")->shape == std::vector<uint64_t>{256, 784});
  CHECK(m.input_size() == 784);
  CHECK(m.output_size() == 10);
  for (const char* bad : {"cnn-1-2", "mlp-784", "mlp-784-x-10", "mlp-784--10", "mlp-0-10", "mlp-10-70000"}) {
    CAPTURE(bad);
    CHECK_FALSE(Model::from_spec(bad, &m, &error));
  }
}

TEST_CASE("init follows torch.nn.Linear bounds and replace_head and clone keep the body") {
  Model m;
  std::string error;
  REQUIRE(Model::from_spec("mlp-100-16-3", &m, &error));
  Rng rng(1);
  m.init(rng);
  for (float w : m.find_param("fc1.weight")->value) CHECK(std::fabs(w) <= 0.1f);    // 1/sqrt(100)
  for (float w : m.find_param("head.weight")->value) CHECK(std::fabs(w) <= 0.25f);  // 1/sqrt(16)
  Model c = m.clone();
  CHECK(c.find_param("fc1.weight")->value == m.find_param("fc1.weight")->value);
  c.replace_head(5, rng);
  CHECK(c.output_size() == 5);
  CHECK(c.find_param("head.weight")->shape == std::vector<uint64_t>{5, 16});
  CHECK(c.find_param("fc1.weight")->value == m.find_param("fc1.weight")->value);
  Model cc = c.clone();
  CHECK(cc.output_size() == 5);
  CHECK(cc.find_param("head.weight")->value == c.find_param("head.weight")->value);
}

TEST_CASE("optimizers follow PyTorch's update rules") {
  auto one_param = [](float w, float g) {
    Param p{"w", {1}, {w}, {g}};
    return p;
  };
  SUBCASE("adam: first step moves by lr * sign(g); weight decay enters the gradient") {
    Param p = one_param(1.0f, 0.5f);
    Optimizer opt({OptimizerKind::kAdam, 0.1}, {&p});
    opt.step(0.01);
    CHECK(p.value[0] == doctest::Approx(1.0 - 0.01).epsilon(1e-6));
    Param q = one_param(1.0f, -0.05f);  // g + wd*w = 0.05 > 0: moves down
    Optimizer opt2({OptimizerKind::kAdam, 0.1}, {&q});
    opt2.step(0.01);
    CHECK(q.value[0] == doctest::Approx(0.99).epsilon(1e-6));
  }
  SUBCASE("adamw: decoupled decay w *= 1 - lr*wd before the Adam step") {
    Param p = one_param(2.0f, -0.5f);
    Optimizer opt({OptimizerKind::kAdamW, 0.1}, {&p});
    opt.step(0.01);
    CHECK(p.value[0] == doctest::Approx(2.0 * (1 - 0.001) + 0.01).epsilon(1e-6));
  }
  SUBCASE("sgd with momentum 0.9") {
    Param p = one_param(1.0f, 1.0f);
    OptimizerConfig cfg;
    cfg.kind = OptimizerKind::kSgd;
    Optimizer opt(cfg, {&p});
    opt.step(0.1);  // buf = 1, w = 0.9
    CHECK(p.value[0] == doctest::Approx(0.9));
    opt.step(0.1);  // buf = 0.9 + 1 = 1.9, w = 0.9 - 0.19
    CHECK(p.value[0] == doctest::Approx(0.71));
  }
}

TEST_CASE("schedules: warm-up, linear and cosine decay as in Hugging Face transformers") {
  CHECK(scheduled_lr(Schedule::kConstant, 1.0, 5, 10, 3) == 1.0);
  CHECK(scheduled_lr(Schedule::kWarmupConstant, 1.0, 0, 10, 4) == doctest::Approx(0.25));
  CHECK(scheduled_lr(Schedule::kWarmupConstant, 1.0, 9, 10, 4) == 1.0);
  CHECK(scheduled_lr(Schedule::kLinear, 1.0, 2, 12, 2) == doctest::Approx(1.0));
  CHECK(scheduled_lr(Schedule::kLinear, 1.0, 7, 12, 2) == doctest::Approx(0.5));
  CHECK(scheduled_lr(Schedule::kCosine, 1.0, 7, 12, 2) == doctest::Approx(0.5));
  CHECK(scheduled_lr(Schedule::kCosine, 1.0, 2, 12, 2) == doctest::Approx(1.0));
  CHECK(scheduled_lr(Schedule::kCosine, 1.0, 11, 12, 2) == doctest::Approx(0.5 * (1 + std::cos(M_PI * 0.9))));
  Schedule s{};
  CHECK(schedule_from_name("cosine", &s));
  CHECK(s == Schedule::kCosine);
  CHECK_FALSE(schedule_from_name("exponential", &s));
}

TEST_CASE("softmax cross-entropy of uniform logits is log(classes)") {
  const float logits[6] = {0, 0, 0, 5, 5, 5};
  const int32_t labels[2] = {1, 2};
  float d[6];
  CHECK(softmax_cross_entropy(logits, labels, 2, 3, d) == doctest::Approx(std::log(3.0)));
  CHECK(d[1] == doctest::Approx((1.0 / 3 - 1) / 2));
  CHECK(d[0] == doctest::Approx(1.0 / 6));
}
