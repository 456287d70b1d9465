// Tree discovery: Ward linkage finds well-separated groups, the natural cluster count is the number of
// groups, the adjusted Rand index scores partitions as the standard definition does, and a zoo's models
// are clustered into its trees (probex-train --discover-trees).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "converter/io/safetensors_writer.h"
#include "converter/nn/rng.h"
#include "converter/zoo/discover.h"
#include "tests/test_util.h"

using namespace probex::convert;

TEST_CASE("adjusted Rand index: identical partitions 1, relabelled 1, known value for a small case") {
  CHECK(adjusted_rand_index({0, 0, 1, 1}, {0, 0, 1, 1}) == doctest::Approx(1.0));
  CHECK(adjusted_rand_index({0, 0, 1, 1}, {1, 1, 0, 0}) == doctest::Approx(1.0));
  // Worked example: a = {0,0,0,1,1,1}, b = {0,0,1,1,2,2}: index 2, sums 6 and 3, total 15 -> ARI 0.2424...
  CHECK(adjusted_rand_index({0, 0, 0, 1, 1, 1}, {0, 0, 1, 1, 2, 2}) ==
        doctest::Approx((2.0 - 18.0 / 15.0) / (4.5 - 18.0 / 15.0)));
}

TEST_CASE("Ward linkage recovers separated groups and their number") {
  Rng rng(3);
  std::vector<std::vector<float>> points;
  std::vector<int> truth;
  const int groups = 4, per_group = 25, dims = 12;
  std::vector<std::vector<float>> centres(groups, std::vector<float>(dims));
  for (auto& c : centres)
    for (float& v : c) v = static_cast<float>(rng.uniform(-5.0, 5.0));
  for (int g = 0; g < groups; ++g)
    for (int i = 0; i < per_group; ++i) {
      std::vector<float> p(dims);
      for (int d = 0; d < dims; ++d) p[d] = centres[g][d] + static_cast<float>(rng.uniform(-0.3, 0.3));
      points.push_back(p);
      truth.push_back(g);
    }
  const std::vector<WardMerge> merges = ward_linkage(points);
  REQUIRE(merges.size() == points.size() - 1);
  for (size_t i = 1; i < merges.size(); ++i) CHECK(merges[i].height >= merges[i - 1].height);
  CHECK(natural_cluster_count(merges, 10) == 4);
  CHECK(adjusted_rand_index(cut_tree(merges, points.size(), 4), truth) == doctest::Approx(1.0));
  // Too few clusters merge whole groups: the index drops.
  CHECK(adjusted_rand_index(cut_tree(merges, points.size(), 2), truth) < 0.7);
  const std::vector<int> all = cut_tree(merges, points.size(), 1);
  CHECK(std::all_of(all.begin(), all.end(), [](int c) { return c == 0; }));
}

TEST_CASE("separated cluster count: one tree stays one, unrelated trees are told apart") {
  Rng rng(9);
  const int dims = 64;
  const auto unit = [&](const std::vector<float>& centre, double spread) {
    std::vector<float> p(dims);
    double norm = 0;
    for (int d = 0; d < dims; ++d) {
      p[d] = centre[d] + static_cast<float>(rng.uniform(-spread, spread));
      norm += static_cast<double>(p[d]) * static_cast<double>(p[d]);
    }
    for (float& v : p) v = static_cast<float>(static_cast<double>(v) / std::sqrt(norm));
    return p;
  };
  std::vector<std::vector<float>> centres(3, std::vector<float>(dims));
  for (auto& c : centres)
    for (float& v : c) v = static_cast<float>(rng.uniform(-1.0, 1.0));
  // One tree: children spread around one root direction (two loose sub-groups, as long fine-tunes make).
  std::vector<std::vector<float>> one;
  std::vector<float> near = centres[0];
  for (float& v : near) v += static_cast<float>(rng.uniform(-0.25, 0.25));
  for (int i = 0; i < 30; ++i) one.push_back(unit(i % 2 ? centres[0] : near, 0.1));
  CHECK(separated_cluster_count(one, ward_linkage(one), 10, std::sqrt(2.0) / 2) == 1);
  // Three trees.
  std::vector<std::vector<float>> three;
  for (int g = 0; g < 3; ++g)
    for (int i = 0; i < 20; ++i) three.push_back(unit(centres[static_cast<size_t>(g)], 0.1));
  CHECK(separated_cluster_count(three, ward_linkage(three), 10, std::sqrt(2.0) / 2) == 3);
}

namespace {

// Writes <zoo>/<tree>/train/<model>/model.safetensors holding one tensor `name` [rows, cols].
void write_model(const std::string& zoo, const std::string& tree, const std::string& model, const std::string& name,
                 size_t rows, size_t cols, const std::vector<float>& values) {
  const std::string dir = zoo + "/" + tree + "/train/" + model;
  std::filesystem::create_directories(dir);
  SafetensorsWriter w;
  std::string error;
  REQUIRE(w.add_f32(name, probex::Dtype::kF32, {rows, cols}, values.data(), &error));
  REQUIRE_MESSAGE(w.write_file(dir + "/model.safetensors", &error), error);
}

}  // namespace

TEST_CASE("discover_zoo_trees: trees by layer shape and sketch, scored against the folders") {
  probex::test::TempDir zoo;
  Rng rng(21);
  // Trees a and b share the layer shape [16, 8], c has [8, 8]; each child is its root plus 2% noise.
  // d has no tensor 'w': skipped.
  const auto tree = [&](const std::string& name, size_t rows, size_t children) {
    std::vector<float> root(rows * 8);
    for (float& v : root) v = static_cast<float>(rng.uniform(-1.0, 1.0));
    for (size_t i = 0; i < children; ++i) {
      std::vector<float> child = root;
      for (float& v : child) v += static_cast<float>(rng.uniform(-0.02, 0.02));
      write_model(zoo.path(), name, "m" + std::to_string(i), "w", rows, 8, child);
    }
  };
  tree("a", 16, 4);
  tree("b", 16, 4);
  tree("c", 8, 3);
  write_model(zoo.path(), "d", "m0", "v", 16, 8, std::vector<float>(128, 0.5f));
  std::vector<ZooFile> files;
  std::string error;
  REQUIRE(list_zoo_files(zoo.path(), &files, &error));
  REQUIRE(files.size() == 12);

  TreeDiscovery d;
  REQUIRE_MESSAGE(discover_zoo_trees(files, "w", &d, &error), error);
  CHECK(d.models == 11);
  CHECK(d.shapes == 2);
  CHECK(d.skipped == 1);
  CHECK(d.folder_trees == 3);
  CHECK(d.adjusted_rand_index == doctest::Approx(1.0));
  REQUIRE(d.clusters.size() == 3);
  // Shapes in order ([8, 8] first), clusters within a shape in the order of their first model.
  CHECK(d.clusters[0].rows == 8);
  CHECK(d.clusters[0].folders == std::vector<std::pair<std::string, size_t>>{{"c", 3}});
  CHECK(d.clusters[1].rows == 16);
  CHECK(d.clusters[1].cols == 8);
  CHECK(d.clusters[1].folders == std::vector<std::pair<std::string, size_t>>{{"a", 4}});
  CHECK(d.clusters[2].folders == std::vector<std::pair<std::string, size_t>>{{"b", 4}});

  // One model with the layer is nothing to cluster.
  CHECK_FALSE(discover_zoo_trees(files, "v", &d, &error));
  CHECK(error == "fewer than 2 models with layer 'v'");
}
