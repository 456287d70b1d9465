// probex-train's pipeline on real fine-tuned models: a reduced `sanity` zoo (one 784-128-10 root,
// children fine-tuned on 5 of 10 Fashion-MNIST classes keeping the root's head), where the authors'
// code reads the class set almost perfectly (0.996 bit accuracy on the full configuration).
#include <doctest/doctest.h>

#include <filesystem>

#include <cmath>

#include "converter/bundle/bundle_writer.h"
#include "converter/expert/checkpoint.h"
#include "converter/expert/layer_dataset.h"
#include "converter/expert/train_tree.h"
#include "converter/zoo/zoo.h"
#include "probex/probex.h"
#include "tests/test_util.h"

using namespace probex::convert;

TEST_CASE("ProbeX reads the fine-tuning classes of real models far above chance") {
  FashionMnist data;
  const auto st = load_fashion_mnist(kFashionMnistDefaultDir, &data);
  REQUIRE_MESSAGE(st.ok(), st.message);
  ZooConfig config;
  REQUIRE(named_zoo_config("sanity", &config));
  config.subset.count = {{Split::kTrain, 80}, {Split::kVal, 20}, {Split::kTest, 40}};
  probex::test::TempDir dir;
  ZooBuildOptions build;
  build.out_dir = dir.file("zoo");
  build.progress = false;
  std::vector<ZooModel> models;
  std::string error;
  REQUIRE_MESSAGE(build_zoo(config, data, build, &models, &error), error);

  std::vector<ZooFile> files;
  REQUIRE(list_zoo_files(build.out_dir, &files, &error));
  TreeTrainOptions options;
  options.load.layer = "fc1.weight";
  options.fit.epochs = 100;
  options.fit.seed = 1;
  options.fit.progress = false;
  options.checkpoint_path = dir.file("mlp-a.safetensors");
  TreeReport report;
  REQUIRE_MESSAGE(train_tree(files, "mlp-a", options, &report, &error), error);
  CHECK(report.train == 80);
  CHECK(report.test == 40);
  CHECK(report.rows == 128);
  CHECK(report.cols == 784);
  REQUIRE(report.methods.size() == 4);
  const MethodResult& probex = report.methods[0];
  const MethodResult& dense = report.methods[1];
  const MethodResult& stats = report.methods[2];
  const MethodResult& chance = report.methods[3];
  MESSAGE("bit accuracy: probex " << probex.test.bit_accuracy << ", dense " << dense.test.bit_accuracy << ", stats "
                                  << stats.test.bit_accuracy << ", chance " << chance.test.bit_accuracy);
  CHECK(probex.test.bit_accuracy >= 0.95);
  CHECK(probex.test.mean_auc >= 0.98);
  // This zoo is easy for every method (children keep the root's head, so the rows of their classes move
  // predictably): the baselines only have to beat chance here. The standard zoo tells methods apart.
  CHECK(chance.test.bit_accuracy < 0.65);
  CHECK(dense.test.bit_accuracy > chance.test.bit_accuracy + 0.2);
  CHECK(stats.test.bit_accuracy > chance.test.bit_accuracy + 0.2);

  // The checkpoint reproduces the reported test logits' decisions.
  LoadedCheckpoint loaded;
  REQUIRE(load_probex_checkpoint(options.checkpoint_path, &loaded, &error));
  CHECK(loaded.metadata.at("tree") == "mlp-a");
  CHECK(loaded.metadata.at("layer") == "fc1.weight");
  CHECK(loaded.labels.size() == 10);
  CHECK(std::stod(loaded.metadata.at("test_bit_accuracy")) == doctest::Approx(probex.test.bit_accuracy));

  // End to end on the device side: convert, load, audit every test model from its file through the C API.
  // f32 must reproduce the trainer's test bit accuracy (up to one decision at p ~ 0.5, float sums in another
  // order); int8 must stay within 0.5 points of it.
  std::vector<std::string> space = loaded.labels;
  LoadOptions load;
  load.layer = "fc1.weight";
  LoadedSplit test_split;
  REQUIRE(load_split(files, "mlp-a", "test", load, &space, 128, 784, &test_split, &error));
  REQUIRE(test_split.data.count == 40);
  LoadedSplit val_split;
  REQUIRE(load_split(files, "mlp-a", "val", load, &space, 128, 784, &val_split, &error));
  for (const char* quant : {"f32", "int8"}) {
    CAPTURE(quant);
    QuantSpec spec;
    REQUIRE(parse_quant_spec(quant, &spec, &error));
    BundleTree tree;
    REQUIRE(make_bundle_tree(loaded, options.checkpoint_path, spec, &tree, &error));
    // As probex-convert does: the int8 step 1's output scale is calibrated on held-out (val) layers.
    calibrate_probe_output(&tree, val_split.data.x.data(), val_split.data.count);
    CHECK((tree.probe_output_ratio > 0.0f) == (std::string(quant) == "int8"));
    std::vector<uint8_t> bytes;
    REQUIRE(build_bundle({&tree}, "test", &bytes, &error));
    REQUIRE(probex::test::write_bytes(dir.file("b.probex"), bytes));
    probex_bundle* bundle = nullptr;
    probex_auditor* auditor = nullptr;
    probex_error e{};
    REQUIRE(probex_bundle_open(dir.file("b.probex").c_str(), nullptr, &bundle, &e) == PROBEX_OK);
    REQUIRE(probex_auditor_create(bundle, nullptr, nullptr, &auditor, &e) == PROBEX_OK);
    size_t right = 0;
    for (size_t i = 0; i < test_split.data.count; ++i) {
      probex_audit_result r;
      probex_audit_result_init(&r, sizeof r);
      REQUIRE_MESSAGE(probex_audit_file(auditor, 0, test_split.data.names[i].c_str(), &r, &e) == PROBEX_OK, e.message);
      for (size_t k = 0; k < 10; ++k) right += r.predicted[k] == (test_split.data.y[i * 10 + k] > 0.5f);
    }
    const double bit_accuracy = static_cast<double>(right) / 400.0;
    MESSAGE(std::string(quant), " bundle, audited from the model files: bit accuracy ", bit_accuracy, " (trainer ",
            probex.test.bit_accuracy, ")");
    CHECK(std::fabs(bit_accuracy - probex.test.bit_accuracy) <= (std::string(quant) == "f32" ? 1.0 / 400 : 0.005));
    probex_auditor_free(auditor);
    probex_bundle_free(bundle);
  }
}
