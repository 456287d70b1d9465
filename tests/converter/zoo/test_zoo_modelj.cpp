// The "modelj" zoo's parts (issue 21): labels over class x quarter-turn, roots pre-trained without class
// labels (rotation prediction, denoising), and the named configuration. Tiny models, real Fashion-MNIST:
// seconds.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "converter/nn/train.h"
#include "converter/zoo/zoo.h"
#include "runtime/formats/python_literal.h"
#include "runtime/formats/safetensors.h"
#include "tests/test_util.h"

using namespace probex;
using namespace probex::convert;

namespace {

const FashionMnist& data() {
  static const FashionMnist d = [] {
    FashionMnist loaded;
    const auto st = load_fashion_mnist(kFashionMnistDefaultDir, &loaded);
    REQUIRE_MESSAGE(st.ok(), st.message);
    return loaded;
  }();
  return d;
}

// A "model" that returns its input: one 784x784 identity head. predict() then names the brightest pixel,
// which shows where a transform moved it.
Model identity_model() {
  Model m;
  std::string error;
  REQUIRE(Model::from_spec("mlp-784-784", &m, &error));
  Param* w = m.find_param("head.weight");
  REQUIRE(w != nullptr);
  std::fill(w->value.begin(), w->value.end(), 0.0f);
  for (size_t i = 0; i < 784; ++i) w->value[i * 784 + i] = 1.0f;
  return m;
}

ZooConfig tiny_modelj(RootObjective objective) {
  ZooConfig c;
  REQUIRE(named_zoo_config("modelj", &c));
  c.name = "tiny-modelj";
  c.architecture = "mlp-784-32-16-16-10";
  c.trees = 1;
  c.root_epochs = 1;
  c.root_objective = objective;
  c.label_rotations = 4;
  c.subset_k = 20;
  c.subset.count = {{Split::kTrain, 2}, {Split::kTest, 1}};
  // Enough steps at one good rate for a 20-way head on 32 units to learn (the configuration's low rates
  // need the full model's steps): the test is that children train and are tested on the same turns.
  c.child.steps_min = 250;
  c.child.steps_max = 300;
  c.child.lr_choices = {3e-3};
  c.child.optimizers = {OptimizerKind::kAdam};
  return c;
}

}  // namespace

TEST_CASE("quarter-turns rotate images counter-clockwise, as numpy.rot90") {
  Model m = identity_model();
  ImageTensor images;
  images.count = 1;
  images.height = images.width = 28;
  images.pixels.assign(784, 0.0f);
  const int r = 3, c = 5;  // one bright pixel at row 3, column 5
  images.pixels[r * 28 + c] = 1.0f;
  const std::vector<uint32_t> idx = {0, 0, 0, 0};
  const auto pred = predict(m, images, idx, {0, 1, 2, 3});
  // rot90 moves (r, c) to (W-1-c, r); twice to (H-1-r, W-1-c); three times to (c, H-1-r).
  CHECK(pred[0] == r * 28 + c);
  CHECK(pred[1] == (27 - c) * 28 + r);
  CHECK(pred[2] == (27 - r) * 28 + (27 - c));
  CHECK(pred[3] == c * 28 + (27 - r));
  // No turns: as before (the plain zoos' path).
  CHECK(predict(m, images, {0})[0] == r * 28 + c);
}

TEST_CASE("the modelj configuration: a label-free root and a deeper MLP, plain classes") {
  ZooConfig c;
  REQUIRE(named_zoo_config("modelj", &c));
  std::string error;
  CHECK(validate_zoo_config(c, &error));
  CHECK(c.root_objective == RootObjective::kRotation);
  CHECK(c.architecture == "mlp-784-256-256-256-256-10");
  CHECK(label_count(c) == 10);
  const auto plans = plan_children(c);
  CHECK(plans.size() == 2u * 400);
  for (const ChildPlan& p : plans) {
    CHECK(p.task == TaskKind::kSubset);
    CHECK(p.classes.size() == 5);
    CHECK(p.steps >= 500);
    CHECK(p.steps <= 1000);
  }
}

TEST_CASE("labels over class x rotation: names, counts and validation") {
  ZooConfig c;
  REQUIRE(named_zoo_config("modelj", &c));
  c.label_rotations = 4;
  c.subset_k = 20;
  CHECK(label_count(c) == 40);
  CHECK(label_name(6) == "Shirt");
  CHECK(label_name(16) == "Shirt (rotated 90)");
  CHECK(label_name(39) == "Ankle boot (rotated 270)");
  std::string error;
  CHECK(validate_zoo_config(c, &error));
  const auto plans = plan_children(c);
  CHECK(!plans.empty());
  std::set<int> seen;
  for (const ChildPlan& p : plans) {
    REQUIRE(p.task == TaskKind::kSubset);  // no detectors (they take plain classes only)
    REQUIRE(static_cast<int>(p.classes.size()) == c.subset_k);
    CHECK(std::set<int>(p.classes.begin(), p.classes.end()).size() == p.classes.size());
    for (int l : p.classes) {
      CHECK(l >= 0);
      CHECK(l < 40);
      seen.insert(l);
    }
  }
  CHECK(seen.size() == 40);  // every label is somebody's

  // The other named zoos keep their plain 10 classes and supervised roots.
  for (const char* name : {"small", "standard", "sanity", "demo"}) {
    ZooConfig other;
    REQUIRE(named_zoo_config(name, &other));
    CHECK(other.label_rotations == 1);
    CHECK(other.root_objective == RootObjective::kClassify);
  }

  ZooConfig bad = c;
  bad.subset_k = 40;
  CHECK_FALSE(validate_zoo_config(bad, &error));
  CHECK(error.find("subset_k must be 1..39") != std::string::npos);
  bad = c;
  bad.label_rotations = 5;
  CHECK_FALSE(validate_zoo_config(bad, &error));
  bad = c;
  bad.detector.count = {{Split::kTrain, 1}};
  CHECK_FALSE(validate_zoo_config(bad, &error));
  CHECK(error.find("detector") != std::string::npos);
}

TEST_CASE("denoising training lowers the reconstruction error") {
  Model m;
  std::string error;
  REQUIRE(Model::from_spec("mlp-784-32-784", &m, &error));
  Rng rng(5);
  m.init(rng);
  const ImageTensor images = normalize_images(data().test);
  std::vector<uint32_t> train, held;
  for (uint32_t i = 0; i < 2000; ++i) train.push_back(i);
  for (uint32_t i = 2000; i < 2500; ++i) held.push_back(i);
  Rng eval(9);
  const double before = denoise_r2(m, images, held, 0.5, eval);
  TrainConfig tc;
  tc.epochs = 3;
  tc.batch_size = 64;
  tc.optimizer.kind = OptimizerKind::kAdam;
  const TrainReport report = train_denoiser(m, images, train, tc, 0.5, rng);
  CHECK(report.steps == 3 * 32);
  Rng eval2(9);
  const double after = denoise_r2(m, images, held, 0.5, eval2);
  CHECK(before < 0.0);  // a random decoder is worse than the mean image
  CHECK(after > 0.3);   // a 32-unit bottleneck already recovers much of a garment
}

TEST_CASE("tiny modelj zoos: label-free roots and children of rotated labels") {
  probex::test::TempDir dir;
  for (RootObjective objective : {RootObjective::kRotation, RootObjective::kDenoise}) {
    CAPTURE(root_objective_name(objective));
    const std::string out = dir.file(root_objective_name(objective));
    ZooBuildOptions options;
    options.progress = false;
    options.threads = 1;
    options.out_dir = out;
    std::vector<ZooModel> models;
    std::string error;
    REQUIRE_MESSAGE(build_zoo(tiny_modelj(objective), data(), options, &models, &error), error);
    REQUIRE(models.size() == 4);  // root + 3 children
    for (const ZooModel& m : models) {
      CAPTURE(m.path);
      SafetensorsFile f;
      REQUIRE(SafetensorsFile::open(out + "/" + m.path, &f).ok());
      CHECK(f.find("fc2.weight")->shape == std::vector<uint64_t>{16, 32});
      const double acc = std::stod(m.get("test_accuracy"));
      if (m.get("task") == "pretrain") {
        CHECK(m.get("root_objective") == root_objective_name(objective));
        CHECK(m.get("class_indices") == "[]");
        if (objective == RootObjective::kRotation) {
          CHECK(f.find("head.weight")->shape == std::vector<uint64_t>{4, 16});
          CHECK(m.get("dataset_chosen_targets") == "['rotated 0', 'rotated 90', 'rotated 180', 'rotated 270']");
          CHECK(acc > 0.8);  // chance 0.25; which way up a garment is, is easy
        } else {
          CHECK(f.find("head.weight")->shape == std::vector<uint64_t>{784, 16});
          CHECK(m.get("test_metric") == "reconstruction_r2");
          CHECK(acc > 0.2);
        }
        continue;
      }
      CHECK(f.find("head.weight")->shape == std::vector<uint64_t>{20, 16});
      std::vector<std::string> names;
      std::string why;
      REQUIRE(parse_python_string_list(m.get("dataset_chosen_targets"), &names, &why));
      CHECK(names.size() == 20);
      CHECK(std::count_if(names.begin(), names.end(),
                          [](const std::string& n) { return n.find("(rotated ") != std::string::npos; }) > 0);
      CHECK(std::stod(m.get("test_chance")) == doctest::Approx(0.05));
      CHECK(acc > 0.3);  // a 20-way task: well above chance (0.05)
    }
  }
}
