#include "converter/zoo/discover.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <utility>

#include "converter/zoo/sketch.h"
#include "runtime/formats/model_file.h"
#include "runtime/formats/probed_layer.h"
#include "runtime/math/cosine.h"

namespace probex::convert {

std::vector<WardMerge> ward_linkage(const std::vector<std::vector<float>>& points) {
  const size_t n = points.size();
  std::vector<WardMerge> merges;
  if (n < 2) return merges;
  // Squared Euclidean distances; Lance-Williams for Ward keeps them as (2x) the merge cost.
  std::vector<double> d(n * n, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      double s = 0.0;
      for (size_t k = 0; k < points[i].size(); ++k) {
        const double diff = static_cast<double>(points[i][k]) - static_cast<double>(points[j][k]);
        s += diff * diff;
      }
      d[i * n + j] = d[j * n + i] = s;
    }
  std::vector<size_t> size(n, 1), id(n);  // id: the cluster id (point or merge) each slot holds now
  std::iota(id.begin(), id.end(), 0);
  std::vector<bool> active(n, true);
  std::vector<size_t> chain;
  size_t remaining = n;
  while (remaining > 1) {
    if (chain.empty())
      chain.push_back(static_cast<size_t>(std::find(active.begin(), active.end(), true) - active.begin()));
    const size_t a = chain.back();
    // Nearest active neighbour of a (prefer the previous chain element on ties, as the algorithm requires).
    size_t best = n;
    double best_d = std::numeric_limits<double>::infinity();
    if (chain.size() >= 2) {
      best = chain[chain.size() - 2];
      best_d = d[a * n + best];
    }
    for (size_t j = 0; j < n; ++j)
      if (active[j] && j != a && d[a * n + j] < best_d) {
        best_d = d[a * n + j];
        best = j;
      }
    if (chain.size() >= 2 && best == chain[chain.size() - 2]) {
      // Reciprocal nearest neighbours: merge a and best into slot `lo`.
      chain.pop_back();
      chain.pop_back();
      const size_t lo = std::min(a, best), hi = std::max(a, best);
      const double dab = d[a * n + best];
      for (size_t k = 0; k < n; ++k) {
        if (!active[k] || k == a || k == best) continue;
        const double nk = static_cast<double>(size[k]), na = static_cast<double>(size[a]),
                     nb = static_cast<double>(size[best]);
        const double v = ((na + nk) * d[a * n + k] + (nb + nk) * d[best * n + k] - nk * dab) / (na + nb + nk);
        d[lo * n + k] = d[k * n + lo] = v;
      }
      merges.push_back({id[a], id[best], std::sqrt(std::max(0.0, dab))});
      size[lo] = size[a] + size[best];
      id[lo] = n + merges.size() - 1;
      active[hi] = false;
      --remaining;
    } else {
      chain.push_back(best);
    }
  }
  // NN-chain finds merges out of height order; cluster ids refer to merge order, so re-sort stably by
  // height and renumber the references.
  std::vector<size_t> order(merges.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return merges[x].height < merges[y].height; });
  std::vector<size_t> new_index(merges.size());
  for (size_t i = 0; i < order.size(); ++i) new_index[order[i]] = i;
  std::vector<WardMerge> sorted;
  for (size_t i : order) {
    WardMerge m = merges[i];
    if (m.a >= n) m.a = n + new_index[m.a - n];
    if (m.b >= n) m.b = n + new_index[m.b - n];
    sorted.push_back(m);
  }
  return sorted;
}

std::vector<int> cut_tree(const std::vector<WardMerge>& merges, size_t n, size_t k) {
  // Union-find over the first n - k merges.
  std::vector<size_t> parent(2 * n);
  std::iota(parent.begin(), parent.end(), 0);
  const auto find = [&](size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  const size_t apply = k >= n ? 0 : n - k;
  for (size_t i = 0; i < apply && i < merges.size(); ++i) {
    const size_t c = n + i;
    parent[find(merges[i].a)] = c;
    parent[find(merges[i].b)] = c;
  }
  std::map<size_t, int> label;
  std::vector<int> out(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t r = find(i);
    auto it = label.emplace(r, static_cast<int>(label.size())).first;
    out[i] = it->second;
  }
  return out;
}

size_t natural_cluster_count(const std::vector<WardMerge>& merges, size_t max_k) {
  // With k clusters, the next merge (joining two of them) has height h[n-k]; the jump from the last
  // merge inside clusters, h[n-k-1], to it is largest at the natural k.
  const size_t m = merges.size();
  size_t best_k = 1;
  double best_ratio = 0.0;
  for (size_t k = 2; k <= max_k && k <= m; ++k) {
    const double outside = merges[m - k + 1].height, inside = merges[m - k].height;
    const double ratio = inside > 0.0 ? outside / inside : std::numeric_limits<double>::infinity();
    if (ratio > best_ratio) {
      best_ratio = ratio;
      best_k = k;
    }
  }
  return best_k;
}

size_t separated_cluster_count(const std::vector<std::vector<float>>& points, const std::vector<WardMerge>& merges,
                               size_t max_k, double min_separation) {
  const size_t n = points.size();
  for (size_t k = natural_cluster_count(merges, max_k); k > 1; --k) {
    const std::vector<int> labels = cut_tree(merges, n, k);
    std::vector<std::vector<double>> mean(k, std::vector<double>(points.front().size(), 0.0));
    for (size_t i = 0; i < n; ++i)
      for (size_t d = 0; d < points[i].size(); ++d)
        mean[static_cast<size_t>(labels[i])][d] += static_cast<double>(points[i][d]);
    double closest = std::numeric_limits<double>::infinity();
    for (size_t a = 0; a < k; ++a)
      for (size_t b = a + 1; b < k; ++b) {
        closest = std::min(closest, direction_distance(mean[a].data(), mean[b].data(), mean[a].size()));
      }
    if (closest >= min_separation) return k;
  }
  return 1;
}

double adjusted_rand_index(const std::vector<int>& a, const std::vector<int>& b) {
  std::map<std::pair<int, int>, double> joint;
  std::map<int, double> ca, cb;
  for (size_t i = 0; i < a.size(); ++i) {
    joint[{a[i], b[i]}] += 1;
    ca[a[i]] += 1;
    cb[b[i]] += 1;
  }
  const auto pairs = [](double x) { return x * (x - 1) / 2; };
  double index = 0, sum_a = 0, sum_b = 0;
  for (const auto& [k, v] : joint) index += pairs(v);
  for (const auto& [k, v] : ca) sum_a += pairs(v);
  for (const auto& [k, v] : cb) sum_b += pairs(v);
  const double total = pairs(static_cast<double>(a.size()));
  const double expected = total > 0 ? sum_a * sum_b / total : 0;
  const double max_index = (sum_a + sum_b) / 2;
  return max_index == expected ? 1.0 : (index - expected) / (max_index - expected);
}

bool discover_zoo_trees(const std::vector<ZooFile>& files, const std::string& layer, TreeDiscovery* out,
                        std::string* error, const std::function<void(size_t done, size_t total)>& progress) {
  struct Group {
    std::vector<std::vector<float>> points;
    std::vector<int> truth;  // the folder of each point, an index into folder_names
  };
  std::map<std::pair<uint64_t, uint64_t>, Group> groups;  // by layer shape
  std::map<std::string, int> folder_ids;
  TreeDiscovery d;
  for (size_t i = 0; i < files.size(); ++i) {
    std::unique_ptr<ModelFile> file;
    ProbedLayer shape;
    ModelStatus st = open_model_file(files[i].path, &file);
    if (st.ok()) st = find_probed_layer(*file, layer, &shape);
    std::vector<float> sketch;
    std::string why;
    if (!st.ok() || !sketch_model(files[i].path, layer, static_cast<uint32_t>(shape.rows),
                                  static_cast<uint32_t>(shape.cols), kDefaultSketch, &sketch, &why)) {
      ++d.skipped;  // no such layer, or unreadable: not part of any tree here
      continue;
    }
    double norm = 0;
    for (float v : sketch) norm += static_cast<double>(v) * static_cast<double>(v);
    norm = std::sqrt(norm);
    for (float& v : sketch)
      v = norm > 0 ? static_cast<float>(static_cast<double>(v) / norm) : 0.0f;  // directions, as the router
    Group& g = groups[{shape.rows, shape.cols}];
    g.points.push_back(std::move(sketch));
    g.truth.push_back(folder_ids.emplace(files[i].tree, static_cast<int>(folder_ids.size())).first->second);
    if (progress && (i + 1) % 200 == 0) progress(i + 1, files.size());
  }
  std::vector<std::string> folder_names(folder_ids.size());
  for (const auto& [name, id] : folder_ids) folder_names[static_cast<size_t>(id)] = name;
  std::vector<int> all_clusters, all_truth;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& [shape, g] : groups) {
    d.models += g.points.size();
    std::vector<int> clusters(g.points.size(), 0);
    size_t k = 1;
    if (g.points.size() >= 2) {
      const std::vector<WardMerge> merges = ward_linkage(g.points);
      // Half of sqrt 2: different roots point in unrelated directions, a tree's children near its root's.
      k = separated_cluster_count(g.points, merges, std::min<size_t>(20, g.points.size()), std::sqrt(2.0) / 2);
      clusters = cut_tree(merges, g.points.size(), k);
    }
    const int first = static_cast<int>(d.clusters.size());
    for (size_t c = 0; c < k; ++c) {
      std::map<int, size_t> members;  // by folder id: the zoo's order
      for (size_t i = 0; i < clusters.size(); ++i)
        if (clusters[i] == static_cast<int>(c)) ++members[g.truth[i]];
      DiscoveredCluster cluster;
      cluster.rows = shape.first;
      cluster.cols = shape.second;
      for (const auto& [t, count] : members) cluster.folders.emplace_back(folder_names[static_cast<size_t>(t)], count);
      d.clusters.push_back(std::move(cluster));
    }
    for (size_t i = 0; i < clusters.size(); ++i) {
      all_clusters.push_back(first + clusters[i]);
      all_truth.push_back(g.truth[i]);
    }
  }
  d.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (d.models < 2) {
    *error = "fewer than 2 models with layer '" + layer + "'";
    return false;
  }
  d.shapes = groups.size();
  d.folder_trees = folder_ids.size();
  d.adjusted_rand_index = adjusted_rand_index(all_clusters, all_truth);
  *out = std::move(d);
  return true;
}

}  // namespace probex::convert
