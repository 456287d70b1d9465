#include "train.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace probex::convert {
namespace {

constexpr float kMean = 0.2860f;
constexpr float kStd = 0.3530f;
constexpr int kMaxShift = 2;

// Copies image `src` into `dst`, translated by (dx, dy) and optionally mirrored; uncovered pixels
// take the value of a black pixel after normalisation.
void augment_into(const float* src, size_t h, size_t w, int dx, int dy, bool flip, float* dst) {
  const float black = -kMean / kStd;
  const auto H = static_cast<int>(h), W = static_cast<int>(w);
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      const int sx0 = x - dx, sy = y - dy;
      const int sx = flip ? W - 1 - sx0 : sx0;
      const bool inside = sx >= 0 && sx < W && sy >= 0 && sy < H;
      dst[y * W + x] = inside ? src[sy * W + sx] : black;
    }
  }
}

}  // namespace

ImageTensor normalize_images(const ImageSet& set) {
  ImageTensor t;
  t.count = set.count;
  t.height = set.rows;
  t.width = set.cols;
  t.pixels.resize(set.pixels.size());
  for (size_t i = 0; i < set.pixels.size(); ++i) {
    t.pixels[i] = (static_cast<float>(set.pixels[i]) / 255.0f - kMean) / kStd;
  }
  return t;
}

TrainReport train_classifier(Model& model, const ImageTensor& images, const LabelledSubset& data,
                             const TrainConfig& config, Rng& rng) {
  TrainReport report;
  const size_t n = data.indices.size();
  if (n == 0 || (config.steps <= 0 && config.epochs <= 0)) return report;
  const size_t batch = std::min(config.batch_size, n);
  const size_t dim = images.size();
  const size_t classes = model.output_size();
  const long steps_per_epoch = static_cast<long>((n + batch - 1) / batch);
  const long total = config.steps > 0 ? config.steps : steps_per_epoch * config.epochs;
  const auto warmup = static_cast<long>(std::lround(config.warmup_ratio * static_cast<double>(total)));

  Optimizer optimizer(config.optimizer, model.params());
  std::vector<float> x(batch * dim);
  std::vector<int32_t> y(batch);
  std::vector<float> dlogits(batch * classes);
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;

  long step = 0;
  size_t seen = 0;
  while (step < total) {
    rng.shuffle(order);
    double loss_sum = 0.0;
    size_t pass_examples = 0;
    for (size_t start = 0; start < n && step < total; start += batch) {
      const size_t b = std::min(batch, n - start);
      for (size_t i = 0; i < b; ++i) {
        const size_t item = order[start + i];
        const float* src = images.image(data.indices[item]);
        float* dst = x.data() + i * dim;
        const bool flip = config.augment_flip && rng.chance(0.5);
        int dx = 0, dy = 0;
        if (config.augment_shift) {
          dx = static_cast<int>(rng.below(2 * kMaxShift + 1)) - kMaxShift;
          dy = static_cast<int>(rng.below(2 * kMaxShift + 1)) - kMaxShift;
        }
        if (flip || dx != 0 || dy != 0) {
          augment_into(src, images.height, images.width, dx, dy, flip, dst);
        } else {
          std::memcpy(dst, src, dim * sizeof(float));
        }
        y[i] = data.labels[item];
      }
      const float* logits = model.forward(x.data(), b);
      loss_sum += softmax_cross_entropy(logits, y.data(), b, classes, dlogits.data()) * static_cast<double>(b);
      model.zero_grad();
      model.backward(dlogits.data(), b);
      optimizer.step(scheduled_lr(config.schedule, config.lr, step, total, warmup));
      ++step;
      pass_examples += b;
    }
    seen += pass_examples;
    report.last_epoch_loss = loss_sum / static_cast<double>(pass_examples);
  }
  report.steps = step;
  report.epochs = static_cast<double>(seen) / static_cast<double>(n);
  return report;
}

std::vector<int32_t> predict(Model& model, const ImageTensor& images, const std::vector<uint32_t>& indices) {
  constexpr size_t kBatch = 500;
  const size_t dim = images.size();
  std::vector<int32_t> out(indices.size());
  std::vector<float> x(kBatch * dim);
  for (size_t start = 0; start < indices.size(); start += kBatch) {
    const size_t b = std::min(kBatch, indices.size() - start);
    for (size_t i = 0; i < b; ++i) std::memcpy(x.data() + i * dim, images.image(indices[start + i]), dim * sizeof(float));
    const float* logits = model.forward(x.data(), b);
    argmax_rows(logits, b, model.output_size(), out.data() + start);
  }
  return out;
}

}  // namespace probex::convert
