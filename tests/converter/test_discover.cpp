// Tree discovery: Ward linkage finds well-separated groups, the natural cluster count is the number of
// groups, and the adjusted Rand index scores partitions as the standard definition does.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "nn/rng.h"
#include "zoo/discover.h"

using namespace probex::convert;

TEST_CASE("adjusted Rand index: identical partitions 1, relabelled 1, known value for a small case") {
  CHECK(adjusted_rand_index({0, 0, 1, 1}, {0, 0, 1, 1}) == doctest::Approx(1.0));
  CHECK(adjusted_rand_index({0, 0, 1, 1}, {1, 1, 0, 0}) == doctest::Approx(1.0));
  // Worked example: a = {0,0,0,1,1,1}, b = {0,0,1,1,2,2}: index 2, sums 6 and 3, total 15 -> ARI 0.2424...
  CHECK(adjusted_rand_index({0, 0, 0, 1, 1, 1}, {0, 0, 1, 1, 2, 2}) == doctest::Approx((2.0 - 18.0 / 15.0) / (4.5 - 18.0 / 15.0)));
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
