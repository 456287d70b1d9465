// Discovering Model Trees in an unlabelled zoo (the MoTHer idea): models of one tree sit close to each
// other in weight space, models of different trees far apart, so Ward-linkage clustering of their layer
// sketches recovers the trees. Used where the roots are unknown; scored by the adjusted Rand index.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "converter/zoo/layout.h"

namespace probex::convert {

struct WardMerge {
  size_t a, b;    // cluster ids merged (0..n-1 are the points; n + i is the cluster of merge i)
  double height;  // Ward's criterion: the increase in within-cluster sum of squares
};

// Ward linkage by the nearest-neighbour chain algorithm (O(n^2) time and memory) on Euclidean distances
// between equal-length points. Returns the n - 1 merges in order of height.
std::vector<WardMerge> ward_linkage(const std::vector<std::vector<float>>& points);

// Cluster labels 0..k-1 after undoing the last k - 1 merges.
std::vector<int> cut_tree(const std::vector<WardMerge>& merges, size_t n, size_t k);

// The k (2..max_k) after which the merge heights jump the most: the natural number of trees.
size_t natural_cluster_count(const std::vector<WardMerge>& merges, size_t max_k);

// The number of trees: the natural count, lowered until every two clusters' mean directions are at least
// `min_separation` apart (direction distance, as the router measures: unrelated trees sit near sqrt 2,
// while one heterogeneous tree split in two has nearby means). Points should be unit vectors.
size_t separated_cluster_count(const std::vector<std::vector<float>>& points, const std::vector<WardMerge>& merges,
                               size_t max_k, double min_separation);

// Adjusted Rand index of two labelings of the same items (1 = identical partitions, ~0 = chance).
double adjusted_rand_index(const std::vector<int>& a, const std::vector<int>& b);

// One cluster discover_zoo_trees found: the layer shape it was found in and how many models of each
// zoo folder (tree) it holds, folders in the zoo's order.
struct DiscoveredCluster {
  size_t rows = 0, cols = 0;
  std::vector<std::pair<std::string, size_t>> folders;
};

struct TreeDiscovery {
  size_t models = 0;                        // models clustered (those with the layer)
  size_t shapes = 0;                        // distinct layer shapes, each clustered on its own
  size_t skipped = 0;                       // models without the layer, or unreadable
  size_t folder_trees = 0;                  // trees the zoo's folders name among the clustered models
  std::vector<DiscoveredCluster> clusters;  // cluster i is the i-th; numbered across shapes
  double adjusted_rand_index = 0.0;         // the clusters against the folders
  double seconds = 0.0;                     // the clustering (sketching excluded)
};

// Clusters every model of a zoo by its sketch of `layer` (bundle/router.h's kDefaultSketch, as unit
// directions: the router's distance) into trees, and scores the clusters against the zoo's folders.
// Models are first grouped by the layer's shape (another shape is another architecture, hence another
// tree); each group is cut at separated_cluster_count (at most 20 clusters, means at least half of sqrt 2
// apart). `progress`, if set, is called every 200 models sketched. Error: fewer than 2 models have the layer.
bool discover_zoo_trees(const std::vector<ZooFile>& files, const std::string& layer, TreeDiscovery* out,
                        std::string* error, const std::function<void(size_t done, size_t total)>& progress = {});

}  // namespace probex::convert
