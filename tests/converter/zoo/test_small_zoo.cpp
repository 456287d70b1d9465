// Checks on the real small zoo that `probex-zoo --config small` built (the ctest fixture): every
// model is readable by the strict reader, the counts match the configuration, and every child learned
// its task: test accuracy clearly above chance.
#include <doctest/doctest.h>

#include <algorithm>

#include <map>

#include "converter/zoo/zoo.h"

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

TEST_CASE("roots are strong and children are clearly above chance on their own task") {
  // Bounds with their margins, measured on Intel Xeon under the OpenBLAS kernels SandyBridge, Haswell, Zen,
  // SkylakeX and Cooperlake with the configuration's seed, and Haswell and SkylakeX with seeds 1 and 2
  // (scripts/test.sh --kernels; the figures are the MESSAGE below): roots 0.8553-0.8699 (means
  // 0.860-0.868), the weakest child's share of the way from chance to perfect 0.584-0.642 (none below
  // halfway). A root 0.01 under the old bar of 0.84 each, or one child under halfway, is a zoo
  // another CPU may make: the test bounds the roots' mean (each above 0.80) and allows one child of 180
  // below halfway (never below a quarter of the way).
  size_t children = 0, below_half = 0;
  double root_sum = 0.0, root_min = 1.0, weakest = 1.0;
  int roots = 0;
  for (const ZooModel& m : small_zoo()) {
    CAPTURE(m.path);
    const double acc = std::stod(m.get("test_accuracy"));
    const double chance = std::stod(m.get("test_chance"));
    if (m.get("task") == "pretrain") {
      root_sum += acc;
      root_min = std::min(root_min, acc);
      ++roots;
      CHECK(acc > 0.80);  // 10-way Fashion-MNIST; an MLP reaches ~0.85-0.89
      continue;
    }
    ++children;
    // The share of the way from chance to perfect: 0.5 is 0.6 for 5-way subsets, 0.75 balanced accuracy
    // for detectors.
    const double share = (acc - chance) / (1.0 - chance);
    weakest = std::min(weakest, share);
    below_half += share < 0.5;
    CHECK(share > 0.25);
  }
  MESSAGE("roots: mean accuracy " << root_sum / roots << ", lowest " << root_min << "; weakest child " << weakest
                                  << " of the way from chance; below halfway " << below_half << " of " << children);
  CHECK(root_sum / roots > 0.84);
  CHECK(below_half <= 1);
  CHECK(children == 180);
}
