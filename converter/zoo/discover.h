// Discovering Model Trees in an unlabelled zoo (the MoTHer idea): models of one tree sit close to each
// other in weight space, models of different trees far apart, so Ward-linkage clustering of their layer
// sketches recovers the trees. Used where the roots are unknown; scored by the adjusted Rand index.
#pragma once

#include <cstddef>
#include <vector>

namespace probex::convert {

struct WardMerge {
  size_t a, b;     // cluster ids merged (0..n-1 are the points; n + i is the cluster of merge i)
  double height;   // Ward's criterion: the increase in within-cluster sum of squares
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

}  // namespace probex::convert
