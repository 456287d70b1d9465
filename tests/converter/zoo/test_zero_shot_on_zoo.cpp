// Zero-shot on real fine-tuned models: one tree of the standard zoo's one-class (detector) children
// (160 train / 40 val / 40 test of 8 classes; 40 + 40 of the held-out Bag and Sandal), GloVe label
// texts, the authors' zero-shot training; then the same expert in an int8 bundle, run by the runtime.
#include <doctest/doctest.h>

#include "converter/bundle/bundle_writer.h"
#include "converter/bundle/zero_shot_bundle.h"
#include "converter/expert/layer_dataset.h"
#include "converter/expert/zero_shot_tree.h"
#include "converter/zoo/layout.h"
#include "tests/test_util.h"

using namespace probex::convert;

TEST_CASE("zero-shot on the standard zoo's detectors: far above chance in-distribution and in retrieval") {
  std::vector<ZooFile> files;
  std::string error;
  REQUIRE_MESSAGE(list_zoo_files(PROBEX_ZERO_SHOT_ZOO, &files, &error), error);
  EmbeddingTable table;
  REQUIRE_MESSAGE(load_embedding_table(PROBEX_TEXT_TABLE, "", &table, &error), error);
  probex::test::TempDir dir;
  TreeTrainOptions options;  // the authors' zero-shot settings, as probex-train --task detector sets them
  options.load.layer = "fc2.weight";
  options.load.task = "detector";
  options.fit.epochs = 200;
  options.fit.lr = 2e-3;
  options.fit.weight_decay = 0.0;
  options.fit.eval_every = 10;
  options.fit.progress = false;
  options.checkpoint_path = dir.file("mlp-a-zs.safetensors");
  ZeroShotReport report;
  REQUIRE_MESSAGE(train_zero_shot_tree(files, "mlp-a", options, table, &report, &error), error);
  CHECK(report.train == 160);
  CHECK(report.test == 40);
  CHECK(report.test_holdout == 40);
  CHECK(report.seen.size() == 8);
  CHECK(report.unseen == std::vector<std::string>{"Bag", "Sandal"});
  REQUIRE(report.methods.size() == 3);
  const ZeroShotMethod& probex = report.methods[0];
  const ZeroShotMethod& dense = report.methods[1];
  const ZeroShotMethod& chance = report.methods[2];
  MESSAGE("in-distribution top-1: probex " << probex.in_distribution_top1 << ", dense " << dense.in_distribution_top1
                                           << ", chance " << chance.in_distribution_top1);
  MESSAGE("zero-shot top-1: probex " << probex.zero_shot_top1 << ", dense " << dense.zero_shot_top1 << ", chance "
                                     << chance.zero_shot_top1);
  MESSAGE("retrieval mAP: probex " << probex.retrieval.mean_ap << ", dense " << dense.retrieval.mean_ap << ", chance "
                                   << chance.retrieval.mean_ap);
  CHECK(chance.in_distribution_top1 == doctest::Approx(0.125));
  CHECK(chance.zero_shot_top1 == doctest::Approx(0.5));
  // Thresholds from every measurement so far, not from one run. This tree (ProbeX in-distribution top-1 /
  // retrieval mAP): 0.85 / 0.71 (AMD EPYC, OpenBLAS Cooperlake kernel), 0.775 / 0.53 (SkylakeX), 0.825 /
  // 0.43 (Haswell), seed 2: 0.625 / 0.45 (SkylakeX); an Intel Xeon on the generic Prescott kernel gave mAP
  // 0.215. Other trees and layers of the standard zoo: 0.525-0.85 / 0.29-0.76. Dense: 0.625-0.85. Chance
  // is 0.125 / ~0.10: the thresholds claim "clearly above chance" with a margin below the lowest figure
  // seen (0.35 is 2.8x chance, 0.15 is 1.5x). Zero-shot top-1 is a 2-way choice on 40 models with GloVe
  // texts, measured 0.425-0.75: at chance, so it is reported, not asserted.
  CHECK(probex.in_distribution_top1 >= 0.35);
  CHECK(dense.in_distribution_top1 >= 0.35);
  CHECK(probex.retrieval.mean_ap >= 0.15);

  // The written checkpoint in an int8 bundle, on the device: zero-shot top-1 within one model of 40.
  LoadedCheckpoint zs;
  REQUIRE_MESSAGE(load_probex_checkpoint(options.checkpoint_path, &zs, &error), error);
  ProbexShape shape = zs.expert->shape();
  shape.d_y = 2;
  LoadedCheckpoint classifier;
  classifier.expert = std::make_unique<ProbexExpert>(shape);
  Rng rng(3);
  classifier.expert->init(rng);
  classifier.metadata = zs.metadata;
  classifier.labels = {"Bag", "Coat"};
  QuantSpec spec;
  REQUIRE(parse_quant_spec("int8", &spec, &error));
  BundleTree tree;
  REQUIRE_MESSAGE(make_bundle_tree(classifier, "classifier", spec, &tree, &error), error);
  REQUIRE_MESSAGE(attach_zero_shot(zs, options.checkpoint_path, spec, table, {}, &tree, &error), error);
  LoadOptions load = options.load;
  std::vector<std::string> unseen;
  LoadedSplit holdout;
  REQUIRE_MESSAGE(load_split(files, "mlp-a", "test_holdout", load, &unseen, 128, 256, &holdout, &error), error);
  calibrate_probe_output(&tree, holdout.data.x.data(), holdout.data.count);
  std::vector<uint8_t> bytes;
  REQUIRE(build_bundle({&tree}, "test", &bytes, &error));
  std::vector<float> prototypes;
  REQUIRE(label_prototypes(zs.text_weight, zs.text_bias, table, tree.zero_shot->labels, &prototypes, &error));
  std::vector<size_t> candidates, classes;
  for (const std::string& u : unseen) {
    candidates.push_back(static_cast<size_t>(
        std::find(tree.zero_shot->labels.begin(), tree.zero_shot->labels.end(), u) - tree.zero_shot->labels.begin()));
  }
  for (size_t m = 0; m < holdout.data.count; ++m) classes.push_back(holdout.data.y[m * 2] == 1.0f ? 0 : 1);
  ZeroShotAgreement agreement;
  REQUIRE_MESSAGE(compare_zero_shot(bytes, 0, *zs.expert, 128, 256, prototypes, holdout.data, candidates, classes,
                                    &agreement, &error),
                  error);
  MESSAGE("zero-shot top-1, int8 runtime " << agreement.runtime_top1 << " vs float " << agreement.float_top1);
  CHECK(agreement.float_top1 == doctest::Approx(probex.zero_shot_top1));
  CHECK(agreement.runtime_top1 >= agreement.float_top1 - 0.025);
}
