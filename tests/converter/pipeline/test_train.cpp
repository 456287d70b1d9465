// The training pipeline (converter/pipeline/train.h) on the small zoo (the ctest fixture): the trees it
// trains and tells of, the checkpoints it writes, its JSON record, and a held-out folder that would leak.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "converter/expert/checkpoint.h"
#include "converter/pipeline/train.h"
#include "tests/test_util.h"

namespace probex::convert {
namespace {

struct Heard final : TrainObserver {
  std::vector<std::string> trees;
  void classifier_trained(const TreeReport& report, const TreeTrainOptions&) override { trees.push_back(report.tree); }
};

}  // namespace

TEST_CASE("train_zoo: one tree briefly, its checkpoint written and its record in the run's JSON") {
  test::TempDir dir;
  std::vector<ZooFile> files;
  std::string error;
  REQUIRE_MESSAGE(list_training_files(PROBEX_SMALL_ZOO, "", &files, &error), error);
  TrainOptions o;
  o.trees = {"mlp-b"};
  o.layer = "fc2.weight";
  o.out_dir = dir.file("experts");
  o.tree.fit.epochs = 2;
  o.tree.fit.progress = false;
  o.tree.dense_baseline = o.tree.stats_baseline = false;
  Heard heard;
  TrainResult result;
  REQUIRE_MESSAGE(train_zoo(o, files, &heard, &result, &error), error);
  CHECK(heard.trees == std::vector<std::string>{"mlp-b"});
  REQUIRE(result.reports.size() == 1);
  const TreeReport& r = result.reports[0];
  CHECK(r.rows == 128);
  CHECK(r.cols == 256);
  CHECK(r.methods.front().method == "probex");
  LoadedCheckpoint c;
  REQUIRE_MESSAGE(load_probex_checkpoint(o.out_dir + "/mlp-b.safetensors", &c, &error), error);
  CHECK(c.metadata["tree"] == "mlp-b");
  CHECK(c.labels.size() == r.labels.size());
  const std::string json = training_json(PROBEX_SMALL_ZOO, result);
  CHECK(json.find("\"trees\":[{\"tree\":\"mlp-b\",\"layer\":\"fc2.weight\",\"layer_shape\":[128,256]") !=
        std::string::npos);
  CHECK(tree_report_text(r).find("tree mlp-b  layer fc2.weight [128, 256] (matrix)") != std::string::npos);
}

TEST_CASE("list_training_files: a held-out folder may hold split 'heldout' only") {
  std::vector<ZooFile> files;
  std::string error;
  CHECK_FALSE(list_training_files(PROBEX_SMALL_ZOO, PROBEX_SMALL_ZOO, &files, &error));
  CHECK(error.find("where --heldout takes split 'heldout' only") != std::string::npos);
  test::TempDir empty;
  CHECK_FALSE(list_training_files(PROBEX_SMALL_ZOO, empty.path(), &files, &error));
  CHECK(error == empty.path() + ": no models found");
}

}  // namespace probex::convert
