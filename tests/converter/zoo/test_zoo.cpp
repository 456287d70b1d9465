// The zoo builder on a tiny configuration with real Fashion-MNIST training: reproducibility across
// thread counts, both layouts, metadata, manifest, and the child plans.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "converter/zoo/zoo.h"
#include "runtime/formats/python_literal.h"
#include "runtime/formats/safetensors.h"
#include "tests/test_util.h"

using namespace probex;
using namespace probex::convert;
namespace fs = std::filesystem;

namespace {

ZooConfig tiny_config() {
  ZooConfig c;
  named_zoo_config("small", &c);
  c.name = "tiny";
  c.architecture = "mlp-784-32-16-10";
  c.trees = 2;
  c.root_epochs = 1;
  c.subset.count = {{Split::kTrain, 2}, {Split::kTest, 1}};
  c.detector.count = {{Split::kTrain, 1}, {Split::kTestHoldout, 1}};
  c.child.steps_min = 20;
  c.child.steps_max = 40;
  return c;
}

const FashionMnist& data() {
  static const FashionMnist d = [] {
    FashionMnist loaded;
    const auto st = load_fashion_mnist(kFashionMnistDefaultDir, &loaded);
    REQUIRE_MESSAGE(st.ok(), st.message);
    return loaded;
  }();
  return d;
}

std::map<std::string, std::vector<uint8_t>> all_files(const std::string& dir) {
  std::map<std::string, std::vector<uint8_t>> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = probex::test::read_bytes(e.path().string());
  }
  return files;
}

}  // namespace

TEST_CASE("same configuration and seed give the same bytes with 1 and 2 threads") {
  probex::test::TempDir dir;
  std::vector<ZooModel> a, b;
  std::string error;
  ZooBuildOptions options;
  options.progress = false;
  options.threads = 1;
  options.out_dir = dir.file("one");
  REQUIRE_MESSAGE(build_zoo(tiny_config(), data(), options, &a, &error), error);
  options.threads = 2;
  options.out_dir = dir.file("two");
  REQUIRE_MESSAGE(build_zoo(tiny_config(), data(), options, &b, &error), error);
  const auto files_a = all_files(dir.file("one"));
  CHECK(files_a.size() == 2 + 2 * 5 + 1);  // 2 roots, 5 children per tree, the manifest
  CHECK(files_a == all_files(dir.file("two")));
  CHECK_FALSE(fs::exists(dir.file("one.partial")));

  // Another seed gives other weights.
  ZooConfig other = tiny_config();
  other.seed += 1;
  options.out_dir = dir.file("other");
  REQUIRE(build_zoo(other, data(), options, &b, &error));
  CHECK(all_files(dir.file("other")).at("mlp-a/root/model.safetensors") != files_a.at("mlp-a/root/model.safetensors"));
}

TEST_CASE("layout, metadata and manifest") {
  probex::test::TempDir dir;
  std::vector<ZooModel> built;
  std::string error;
  ZooBuildOptions options;
  options.progress = false;
  options.out_dir = dir.file("zoo");
  REQUIRE_MESSAGE(build_zoo(tiny_config(), data(), options, &built, &error), error);

  std::set<std::string> paths;
  for (const ZooModel& m : built) paths.insert(m.path);
  CHECK(paths.count("mlp-a/root/model.safetensors"));
  CHECK(paths.count("mlp-b/train/subset-0001/model.safetensors"));
  CHECK(paths.count("mlp-b/test/subset-0000/model.safetensors"));
  CHECK(paths.count("mlp-a/train/detector-0000/model.safetensors"));
  CHECK(paths.count("mlp-a/test_holdout/detector-0000/model.safetensors"));

  // The files hold what the builder reported, read back by the strict reader.
  std::vector<ZooModel> scanned;
  REQUIRE(scan_zoo(dir.file("zoo"), &scanned, &error));
  REQUIRE(scanned.size() == built.size());
  std::map<std::string, ZooModel> by_path;
  for (const ZooModel& m : scanned) by_path[m.path] = m;
  for (const ZooModel& m : built) CHECK(by_path[m.path].metadata == m.metadata);

  for (const ZooModel& m : scanned) {
    CAPTURE(m.path);
    for (const char* key : {"tree", "root", "architecture", "task", "split", "dataset_chosen_targets", "class_indices",
                            "optimizer", "learning_rate", "lr_schedule", "batch_size", "steps", "epochs",
                            "test_accuracy", "test_chance", "test_metric", "seed"}) {
      CHECK_MESSAGE(!m.get(key).empty(), key);
    }
    probex::SafetensorsFile f;
    REQUIRE(probex::SafetensorsFile::open(dir.file("zoo/" + m.path), &f).ok());
    CHECK(f.find("fc1.weight")->shape == std::vector<uint64_t>{32, 784});
    if (m.get("task") == "subset") {
      CHECK(m.get("head") == "fresh");
      CHECK(f.find("head.weight")->shape == std::vector<uint64_t>{5, 16});
      const std::string& targets = m.get("dataset_chosen_targets");
      CHECK(std::count(targets.begin(), targets.end(), '\'') == 10);  // 5 quoted names
      CHECK(m.get("weight_decay") != "");
    } else if (m.get("task") == "detector") {
      CHECK(f.find("head.weight")->shape == std::vector<uint64_t>{2, 16});
    } else {
      CHECK(m.get("task") == "pretrain");
      CHECK(f.find("head.weight")->shape == std::vector<uint64_t>{10, 16});
      CHECK(m.get("dataset_chosen_targets").rfind("['T-shirt/top', 'Trouser', ", 0) == 0);
    }
  }
  // Holdout detectors are of holdout classes (Sandal, Bag) only.
  for (const ZooModel& m : scanned) {
    if (m.get("split") == "test_holdout") {
      CHECK((m.get("dataset_chosen_targets") == "['Sandal']" || m.get("dataset_chosen_targets") == "['Bag']"));
    }
  }

  std::ifstream manifest(dir.file("zoo/manifest.jsonl"));
  std::string line;
  size_t lines = 0;
  while (std::getline(manifest, line)) {
    ++lines;
    CHECK(line.rfind("{\"path\":\"mlp-", 0) == 0);
    CHECK(line.back() == '}');
  }
  CHECK(lines == built.size());

  // An existing zoo is never replaced without being asked to.
  CHECK_FALSE(build_zoo(tiny_config(), data(), options, &built, &error));
  CHECK(error.find("already exists") != std::string::npos);
}

TEST_CASE("the Hugging Face cache layout holds the same files under refs/main and snapshots") {
  probex::test::TempDir dir;
  ZooConfig c = tiny_config();
  c.trees = 1;
  std::vector<ZooModel> probex_models, hf_models;
  std::string error;
  ZooBuildOptions options;
  options.progress = false;
  options.out_dir = dir.file("probex");
  REQUIRE(build_zoo(c, data(), options, &probex_models, &error));
  options.layout = ZooLayout::kHuggingFace;
  options.out_dir = dir.file("hf");
  REQUIRE(build_zoo(c, data(), options, &hf_models, &error));
  REQUIRE(hf_models.size() == probex_models.size());
  for (size_t i = 0; i < hf_models.size(); ++i) {
    const std::string model_dir = fs::path(probex_models[i].path).parent_path().string();
    std::ifstream ref_file(dir.file("hf/" + model_dir + "/refs/main"));
    std::string ref;
    std::getline(ref_file, ref);
    CHECK(ref.size() == 40);
    CHECK(hf_models[i].path == model_dir + "/snapshots/" + ref + "/model.safetensors");
    CHECK(probex::test::read_bytes(dir.file("hf/" + hf_models[i].path)) ==
          probex::test::read_bytes(dir.file("probex/" + probex_models[i].path)));
  }
}

TEST_CASE("child plans: counts, classes, holdout discipline and hyper-parameter ranges") {
  ZooConfig c;
  REQUIRE(named_zoo_config("standard", &c));
  const auto plans = plan_children(c);
  // 4 trees x (400 subset + 320 detector), and 2 foreign trees x 60 subset children in split "foreign" only.
  CHECK(plans.size() == 4u * (400 + 320) + 2u * 60);
  CHECK(std::count_if(plans.begin(), plans.end(), [](const ChildPlan& p) { return p.split == Split::kForeign; }) ==
        120);
  for (const ChildPlan& p : plans) CHECK((p.split == Split::kForeign) == (p.tree >= 4));
  std::set<double> lrs;
  std::set<std::string> schedules, optimizers;
  for (const ChildPlan& p : plans) {
    const bool holdout_split = p.split == Split::kValHoldout || p.split == Split::kTestHoldout;
    if (p.task == TaskKind::kSubset) {
      REQUIRE(p.classes.size() == 5);
      CHECK(std::set<int>(p.classes.begin(), p.classes.end()).size() == 5);
    } else {
      REQUIRE(p.classes.size() == 1);
      const bool holdout_class = p.classes[0] == 5 || p.classes[0] == 8;
      CHECK(holdout_class == holdout_split);
    }
    CHECK(p.steps >= 200);
    CHECK(p.steps <= 800);
    CHECK(p.data_fraction >= 0.05);
    CHECK(p.data_fraction <= 0.25);
    if (p.optimizer != OptimizerKind::kSgd) {
      CHECK(p.lr >= 3e-5);
      CHECK(p.lr <= 5e-4);
    }
    lrs.insert(p.lr);
    schedules.insert(schedule_name(p.schedule));
    optimizers.insert(optimizer_name(p.optimizer));
  }
  CHECK(lrs.size() == plans.size());  // every child has its own learning rate
  CHECK(schedules.size() == 4);
  CHECK(optimizers.size() == 3);
  // Planning is a pure function of the configuration.
  const auto again = plan_children(c);
  CHECK(again[1234].seed == plans[1234].seed);
  CHECK(again[1234].classes == plans[1234].classes);

  ZooConfig sanity;
  REQUIRE(named_zoo_config("sanity", &sanity));
  const auto sp = plan_children(sanity);
  CHECK(sp.size() == 300);
  for (const ChildPlan& p : sp) {
    CHECK((p.lr == 3e-4 || p.lr == 1e-3 || p.lr == 3e-3));
    CHECK(p.epochs == 1);
    CHECK(p.steps == 0);
    CHECK(p.data_fraction == 1.0);
    CHECK(p.batch_size == 128);
    CHECK(p.optimizer == OptimizerKind::kAdam);
  }
}

TEST_CASE("invalid configurations are refused with a reason") {
  ZooConfig c = tiny_config();
  std::string error;
  c.holdout_classes = {12};
  CHECK_FALSE(validate_zoo_config(c, &error));
  CHECK(error.find("holdout class out of range") != std::string::npos);
  c = tiny_config();
  c.architecture = "mlp-100-10";
  std::vector<ZooModel> models;
  ZooBuildOptions options;
  options.out_dir = "/tmp/probex-never-created";
  CHECK_FALSE(build_zoo(c, data(), options, &models, &error));
  CHECK(error.find("784 inputs") != std::string::npos);
  CHECK_FALSE(fs::exists(options.out_dir));
}

TEST_CASE("python_list_literal escapes quotes and backslashes") {
  CHECK(python_list_literal({"Bag", "T-shirt/top"}) == "['Bag', 'T-shirt/top']");
  CHECK(python_list_literal({"it's", "a\\b"}) == "['it\\'s', 'a\\\\b']");
  CHECK(python_list_literal({}) == "[]");
}

TEST_CASE("a zoo with two architectures and a foreign tree: the foreign root is withheld, the trees unchanged") {
  probex::test::TempDir dir;
  ZooConfig plain = tiny_config();
  ZooConfig mixed = tiny_config();
  mixed.trees = 3;
  mixed.tree_architectures = {mixed.architecture, mixed.architecture, "mlp-784-24-10"};
  mixed.foreign_trees = 1;
  mixed.foreign_subset = 2;
  ZooBuildOptions options;
  options.progress = false;
  std::vector<ZooModel> models;
  std::string error;
  options.out_dir = dir.file("plain");
  REQUIRE_MESSAGE(build_zoo(plain, data(), options, &models, &error), error);
  options.out_dir = dir.file("mixed");
  REQUIRE_MESSAGE(build_zoo(mixed, data(), options, &models, &error), error);

  const auto plain_files = all_files(dir.file("plain")), mixed_files = all_files(dir.file("mixed"));
  // Trees are generated by index: the first two trees are the same bytes in both zoos.
  for (const auto& [path, bytes] : plain_files)
    if (path.rfind("mlp-a/", 0) == 0 || path.rfind("mlp-b/", 0) == 0)
      CHECK_MESSAGE(mixed_files.at(path) == bytes, path);
  // The third tree has its own architecture; the foreign tree has children in split "foreign" and no root.
  probex::SafetensorsFile c_root;
  REQUIRE(probex::SafetensorsFile::open(dir.file("mixed/mlp-c/root/model.safetensors"), &c_root).ok());
  CHECK(*c_root.metadata_value("architecture") == "mlp-784-24-10");
  REQUIRE(c_root.find("fc1.weight") != nullptr);
  CHECK(c_root.find("fc1.weight")->shape == std::vector<uint64_t>{24, 784});
  CHECK_FALSE(fs::exists(dir.file("mixed/foreign-a/root")));
  size_t foreign = 0;
  for (const auto& [path, bytes] : mixed_files)
    if (path.rfind("foreign-a/foreign/", 0) == 0 && path.find("model.safetensors") != std::string::npos) ++foreign;
  CHECK(foreign == 2);
  probex::SafetensorsFile child;
  REQUIRE(
      probex::SafetensorsFile::open(dir.file("mixed/foreign-a/foreign/subset-0000/model.safetensors"), &child).ok());
  CHECK(*child.metadata_value("root") == "withheld");
  CHECK(*child.metadata_value("split") == "foreign");
}
