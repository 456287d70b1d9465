#include "converter/expert/zero_shot.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "converter/nn/optimizer.h"

namespace probex::convert {
namespace {

// F.normalize's floor, so a zero vector gives zero scores instead of NaN.
constexpr double kNormFloor = 1e-12;

// Unit rows of a [n, r] matrix, and the norms used.
void normalize_rows(const float* x, size_t n, size_t r, std::vector<float>* unit, std::vector<double>* norms) {
  unit->resize(n * r);
  norms->resize(n);
  for (size_t i = 0; i < n; ++i) {
    double sq = 0.0;
    for (size_t j = 0; j < r; ++j) sq += static_cast<double>(x[i * r + j]) * static_cast<double>(x[i * r + j]);
    const double norm = std::max(std::sqrt(sq), kNormFloor);
    (*norms)[i] = norm;
    for (size_t j = 0; j < r; ++j) (*unit)[i * r + j] = static_cast<float>(static_cast<double>(x[i * r + j]) / norm);
  }
}

// Gradient through x / |x| for one row: dx = (du - u (u . du)) / |x|.
void unnormalize_grad(const float* u, const float* du, double norm, size_t r, float* dx) {
  double dot = 0.0;
  for (size_t j = 0; j < r; ++j) dot += static_cast<double>(u[j]) * static_cast<double>(du[j]);
  for (size_t j = 0; j < r; ++j) {
    dx[j] = static_cast<float>((static_cast<double>(du[j]) - static_cast<double>(u[j]) * dot) / norm);
  }
}

// Dot products of unit rows: ue [n, r] against uz [c, r], [n, c].
std::vector<float> unit_dots(const std::vector<float>& ue, size_t n, const std::vector<float>& uz, size_t c, size_t r) {
  std::vector<float> s(n * c);
  for (size_t b = 0; b < n; ++b) {
    for (size_t k = 0; k < c; ++k) {
      double dot = 0.0;
      for (size_t j = 0; j < r; ++j) dot += static_cast<double>(ue[b * r + j]) * static_cast<double>(uz[k * r + j]);
      s[b * c + k] = static_cast<float>(dot);
    }
  }
  return s;
}

// Average precision of one query: scores of every model, relevant[i] for each.
double average_precision(const std::vector<std::pair<float, bool>>& ranked) {
  double hits = 0.0, sum = 0.0;
  for (size_t k = 0; k < ranked.size(); ++k) {
    if (!ranked[k].second) continue;
    hits += 1.0;
    sum += hits / static_cast<double>(k + 1);
  }
  return hits > 0.0 ? sum / hits : 0.0;
}

}  // namespace

std::vector<float> TextProjection::project(const float* texts, size_t count) {
  std::vector<float> z(count * embedding_size());
  linear_.forward(texts, count, z.data());
  return z;
}

std::vector<Param*> TextProjection::params() {
  std::vector<Param*> out;
  linear_.collect_params(&out);
  return out;
}

std::vector<float> cosine_scores(const float* e, size_t n, const float* z, size_t c, size_t r) {
  std::vector<float> ue, uz;
  std::vector<double> ne, nz;
  normalize_rows(e, n, r, &ue, &ne);
  normalize_rows(z, c, r, &uz, &nz);
  return unit_dots(ue, n, uz, c, r);
}

double cosine_cross_entropy(const float* e, size_t n, const float* z, size_t c, size_t r, const size_t* classes,
                            float* de, float* dz) {
  std::vector<float> ue, uz;
  std::vector<double> ne, nz;
  normalize_rows(e, n, r, &ue, &ne);
  normalize_rows(z, c, r, &uz, &nz);
  const std::vector<float> s = unit_dots(ue, n, uz, c, r);
  // dL/ds = (softmax(s) - onehot) / n; then through the dot products and the normalisations.
  std::vector<float> g(n * c), due(n * r, 0.0f), duz(c * r, 0.0f);
  double loss = 0.0;
  for (size_t b = 0; b < n; ++b) {
    const float* row = s.data() + b * c;
    const float top = *std::max_element(row, row + c);
    double sum = 0.0;
    for (size_t k = 0; k < c; ++k) sum += std::exp(static_cast<double>(row[k] - top));
    loss += std::log(sum) - static_cast<double>(row[classes[b]] - top);
    for (size_t k = 0; k < c; ++k) {
      const double p = std::exp(static_cast<double>(row[k] - top)) / sum;
      g[b * c + k] = static_cast<float>((p - (k == classes[b] ? 1.0 : 0.0)) / static_cast<double>(n));
    }
  }
  for (size_t b = 0; b < n; ++b) {
    for (size_t k = 0; k < c; ++k) {
      const float gk = g[b * c + k];
      for (size_t j = 0; j < r; ++j) {
        due[b * r + j] += gk * uz[k * r + j];
        duz[k * r + j] += gk * ue[b * r + j];
      }
    }
  }
  for (size_t b = 0; b < n; ++b) unnormalize_grad(&ue[b * r], &due[b * r], ne[b], r, de + b * r);
  for (size_t k = 0; k < c; ++k) unnormalize_grad(&uz[k * r], &duz[k * r], nz[k], r, dz + k * r);
  return loss / static_cast<double>(n);
}

double top1_accuracy(const std::vector<float>& scores, size_t c, const std::vector<size_t>& classes) {
  if (classes.empty()) return 0.0;
  size_t right = 0;
  for (size_t b = 0; b < classes.size(); ++b) {
    const float* row = scores.data() + b * c;
    right += static_cast<size_t>(std::max_element(row, row + c) - row) == classes[b];
  }
  return static_cast<double>(right) / static_cast<double>(classes.size());
}

double split_top1(MultiLabelModel& embedder, TextProjection& projection, const ZeroShotSplit& split) {
  if (split.data.count == 0) return 0.0;
  const std::vector<float> e = predict(embedder, split.data);
  const size_t c = split.texts.names.size();
  const std::vector<float> z = projection.project(split.texts.vectors.data(), c);
  return top1_accuracy(cosine_scores(e.data(), split.data.count, z.data(), c, projection.embedding_size()), c,
                       split.classes);
}

namespace {

std::vector<Param*> all_params(MultiLabelModel& embedder, TextProjection& projection) {
  std::vector<Param*> params = embedder.params();
  for (Param* p : projection.params()) params.push_back(p);
  return params;
}

std::vector<std::vector<float>> snapshot(const std::vector<Param*>& params) {
  std::vector<std::vector<float>> out;
  for (const Param* p : params) out.push_back(p->value);
  return out;
}

}  // namespace

ZeroShotFitResult fit_zero_shot(MultiLabelModel& embedder, TextProjection& projection, const ZeroShotSplit& train,
                                const ZeroShotSplit& val, const ZeroShotSplit& val_unseen, const FitConfig& config) {
  ZeroShotFitResult result;
  const auto start = std::chrono::steady_clock::now();
  const size_t r = projection.embedding_size();
  const size_t c = train.texts.names.size();
  const size_t batch = std::min(config.batch_size, train.data.count);
  const size_t features = train.data.features;
  std::vector<float> x(batch * features), de(batch * r), dz(c * r);
  std::vector<size_t> cls(batch), order(train.data.count);
  std::iota(order.begin(), order.end(), size_t{0});
  Rng rng(config.seed);
  OptimizerConfig oc;
  oc.kind = OptimizerKind::kAdam;
  oc.weight_decay = config.weight_decay;
  const std::vector<Param*> params = all_params(embedder, projection);
  Optimizer optimizer(oc, params);
  result.seen_params = result.unseen_params = snapshot(params);
  const bool tty = isatty(STDERR_FILENO) == 1;

  for (int epoch = 1; epoch <= config.epochs; ++epoch) {
    rng.shuffle(order);
    double loss_sum = 0.0;
    for (size_t s = 0; s < train.data.count; s += batch) {
      const size_t b = std::min(batch, train.data.count - s);
      for (size_t i = 0; i < b; ++i) {
        std::memcpy(x.data() + i * features, train.data.x.data() + order[s + i] * features, features * sizeof(float));
        cls[i] = train.classes[order[s + i]];
      }
      for (Param* p : params) std::fill(p->grad.begin(), p->grad.end(), 0.0f);
      const float* e = embedder.forward(x.data(), b);
      const std::vector<float> z = projection.project(train.texts.vectors.data(), c);
      loss_sum += cosine_cross_entropy(e, b, z.data(), c, r, cls.data(), de.data(), dz.data()) * static_cast<double>(b);
      embedder.backward(de.data());
      projection.backward(train.texts.vectors.data(), c, dz.data());
      optimizer.step(config.lr);
    }
    const bool evaluate = (epoch - 1) % config.eval_every == 0;
    if (evaluate) {
      const double seen = split_top1(embedder, projection, val);
      const double unseen = split_top1(embedder, projection, val_unseen);
      result.evals.push_back({epoch, loss_sum / static_cast<double>(train.data.count), seen, unseen});
      if (seen > result.best_seen_val) {  // strictly better, as the authors
        result.best_seen_val = seen;
        result.best_seen_epoch = epoch;
        result.seen_params = snapshot(params);
      }
      if (unseen > result.best_unseen_val) {
        result.best_unseen_val = unseen;
        result.best_unseen_epoch = epoch;
        result.unseen_params = snapshot(params);
      }
    }
    if (config.progress && (tty || evaluate || epoch == config.epochs)) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double eta = elapsed / epoch * (config.epochs - epoch);
      std::fprintf(stderr,
                   "%s%s epoch %d/%d  loss %.4f  best val top-1 %.3f @%d, val_holdout %.3f @%d  ETA %02d:%02d%s",
                   tty ? "\r" : "", config.label.c_str(), epoch, config.epochs,
                   loss_sum / static_cast<double>(train.data.count), result.best_seen_val, result.best_seen_epoch,
                   result.best_unseen_val, result.best_unseen_epoch, static_cast<int>(eta) / 60,
                   static_cast<int>(eta) % 60, tty && epoch != config.epochs ? "" : "\n");
      std::fflush(stderr);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.seconds_per_epoch = config.epochs > 0 ? seconds / config.epochs : 0.0;
  return result;
}

void restore_zero_shot(MultiLabelModel& embedder, TextProjection& projection,
                       const std::vector<std::vector<float>>& values) {
  const std::vector<Param*> params = all_params(embedder, projection);
  for (size_t i = 0; i < params.size() && i < values.size(); ++i) params[i]->value = values[i];
}

RetrievalMetrics retrieval_metrics(const float* e, size_t n, const float* z, size_t c, size_t r,
                                   const std::vector<size_t>& classes) {
  RetrievalMetrics m;
  const std::vector<float> s = cosine_scores(e, n, z, c, r);
  std::vector<std::pair<float, bool>> ranked(n);
  for (size_t k = 0; k < c; ++k) {
    for (size_t b = 0; b < n; ++b) ranked[b] = {s[b * c + k], classes[b] == k};
    if (std::none_of(ranked.begin(), ranked.end(), [](const auto& p) { return p.second; })) continue;
    // Highest score first; among equal scores a non-relevant model first (no credit for ties).
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : (!a.second && b.second);
    });
    ++m.queries;
    m.recall_at_1 += ranked[0].second ? 1.0 : 0.0;
    m.recall_at_5 += std::any_of(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(5, n)),
                                 [](const auto& p) { return p.second; })
                         ? 1.0
                         : 0.0;
    m.mean_ap += average_precision(ranked);
  }
  if (m.queries > 0) {
    const double q = static_cast<double>(m.queries);
    m.recall_at_1 /= q;
    m.recall_at_5 /= q;
    m.mean_ap /= q;
  }
  return m;
}

}  // namespace probex::convert
