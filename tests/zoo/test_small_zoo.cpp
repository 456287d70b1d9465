// Checks on the real small zoo that `probex-zoo --config small` built (the ctest fixture): every
// model is readable by the strict reader, the counts match the configuration, and every child learned
// its task: test accuracy clearly above chance.
#include <doctest/doctest.h>

#include <map>

#include "zoo/zoo.h"

using namespace probex::convert;

namespace {
const std::vector<ZooModel>& small_zoo() {
  static const std::vector<ZooModel> models = [] {
    std::vector<ZooModel> m;
    std::string error;
    REQUIRE_MESSAGE(scan_zoo(PROBEX_SMALL_ZOO, &m, &error), error);
    return m;
  }();
  return models;
}
}  // namespace

TEST_CASE("the small zoo has the configured trees, tasks and splits") {
  ZooConfig config;
  REQUIRE(named_zoo_config("small", &config));
  std::map<std::string, int> count;  // "tree/task/split"
  for (const ZooModel& m : small_zoo()) ++count[m.get("tree") + "/" + m.get("task") + "/" + m.get("split")];
  for (int t = 0; t < config.trees; ++t) {
    const std::string tree = tree_name(config, t);
    CHECK(count[tree + "/pretrain/root"] == 1);
    for (Split s : kAllSplits) {
      CHECK(count[tree + "/subset/" + split_name(s)] == config.subset.get(s));
      CHECK(count[tree + "/detector/" + split_name(s)] == config.detector.get(s));
    }
  }
}

TEST_CASE("roots are strong and every child is clearly above chance on its own task") {
  size_t children = 0;
  for (const ZooModel& m : small_zoo()) {
    CAPTURE(m.path);
    const double acc = std::stod(m.get("test_accuracy"));
    const double chance = std::stod(m.get("test_chance"));
    if (m.get("task") == "pretrain") {
      CHECK(acc > 0.84);  // 10-way Fashion-MNIST; an MLP reaches ~0.85-0.89
      continue;
    }
    ++children;
    // Halfway from chance to perfect: 0.6 for 5-way subsets, 0.75 balanced accuracy for detectors.
    CHECK(acc >= chance + 0.5 * (1.0 - chance));
  }
  CHECK(children == 180);
}
