#include "converter/nn/train.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace probex::convert {
namespace {

constexpr float kMean = 0.2860f;
constexpr float kStd = 0.3530f;
constexpr int kMaxShift = 2;

// Copies image `src` into `dst`: mirrored if `flip`, then turned counter-clockwise by `turns` quarter-turns
// (as numpy.rot90; square images only), then translated by (dx, dy); uncovered pixels take the value of a
// black pixel after normalisation. The mirror comes first so that a flipped "Shirt (rotated 90)" is still a
// shirt turned 90 degrees, not one turned 270. Each output pixel is mapped back through the three steps.
void augment_into(const float* src, size_t h, size_t w, int dx, int dy, bool flip, int turns, float* dst) {
  const float black = -kMean / kStd;
  const auto H = static_cast<int>(h), W = static_cast<int>(w);
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      int sy = y - dy, sx = x - dx;
      // rot90 counter-clockwise: out[i][j] = in[j][W-1-i]; undo one turn at a time.
      for (int t = 0; t < turns; ++t) {
        const int i = sy;
        sy = sx;
        sx = W - 1 - i;
      }
      if (flip) sx = W - 1 - sx;
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
        const int turns = data.quarter_turns.empty() ? 0 : data.quarter_turns[item];
        if (flip || dx != 0 || dy != 0 || turns != 0) {
          augment_into(src, images.height, images.width, dx, dy, flip, turns, dst);
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

std::vector<int32_t> predict(Model& model, const ImageTensor& images, const std::vector<uint32_t>& indices,
                             const std::vector<uint8_t>& quarter_turns) {
  constexpr size_t kBatch = 500;
  const size_t dim = images.size();
  std::vector<int32_t> out(indices.size());
  std::vector<float> x(kBatch * dim);
  for (size_t start = 0; start < indices.size(); start += kBatch) {
    const size_t b = std::min(kBatch, indices.size() - start);
    for (size_t i = 0; i < b; ++i) {
      const float* src = images.image(indices[start + i]);
      const int turns = quarter_turns.empty() ? 0 : quarter_turns[start + i];
      if (turns != 0) {
        augment_into(src, images.height, images.width, 0, 0, false, turns, x.data() + i * dim);
      } else {
        std::memcpy(x.data() + i * dim, src, dim * sizeof(float));
      }
    }
    const float* logits = model.forward(x.data(), b);
    argmax_rows(logits, b, model.output_size(), out.data() + start);
  }
  return out;
}

namespace {

// A copy of `src` with a random `ratio` of its pixels set to 0 (the mean pixel after normalisation).
void mask_into(const float* src, size_t dim, double ratio, Rng& rng, float* dst) {
  for (size_t p = 0; p < dim; ++p) dst[p] = rng.chance(ratio) ? 0.0f : src[p];
}

}  // namespace

TrainReport train_denoiser(Model& model, const ImageTensor& images, const std::vector<uint32_t>& indices,
                           const TrainConfig& config, double mask_ratio, Rng& rng) {
  TrainReport report;
  const size_t n = indices.size();
  const size_t dim = images.size();
  if (n == 0 || config.epochs <= 0 || model.output_size() != dim) return report;
  const size_t batch = std::min(config.batch_size, n);
  const long total = static_cast<long>((n + batch - 1) / batch) * config.epochs;
  const auto warmup = static_cast<long>(std::lround(config.warmup_ratio * static_cast<double>(total)));
  Optimizer optimizer(config.optimizer, model.params());
  std::vector<float> x(batch * dim), dout(batch * dim);
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  long step = 0;
  for (int epoch = 0; epoch < config.epochs; ++epoch) {
    rng.shuffle(order);
    double loss_sum = 0.0;
    for (size_t start = 0; start < n; start += batch) {
      const size_t b = std::min(batch, n - start);
      for (size_t i = 0; i < b; ++i)
        mask_into(images.image(indices[order[start + i]]), dim, mask_ratio, rng, x.data() + i * dim);
      const float* out = model.forward(x.data(), b);
      // Loss: mean over batch and pixels of (out - clean)^2, as torch.nn.MSELoss.
      const float scale = 2.0f / static_cast<float>(b * dim);
      double loss = 0.0;
      for (size_t i = 0; i < b; ++i) {
        const float* clean = images.image(indices[order[start + i]]);
        for (size_t p = 0; p < dim; ++p) {
          const float d = out[i * dim + p] - clean[p];
          loss += static_cast<double>(d * d);
          dout[i * dim + p] = scale * d;
        }
      }
      loss_sum += loss / static_cast<double>(dim);
      model.zero_grad();
      model.backward(dout.data(), b);
      optimizer.step(scheduled_lr(config.schedule, config.lr, step, total, warmup));
      ++step;
    }
    report.last_epoch_loss = loss_sum / static_cast<double>(n);
  }
  report.steps = step;
  report.epochs = config.epochs;
  return report;
}

double denoise_r2(Model& model, const ImageTensor& images, const std::vector<uint32_t>& indices, double mask_ratio,
                  Rng& rng) {
  constexpr size_t kBatch = 500;
  const size_t dim = images.size();
  if (indices.empty() || model.output_size() != dim) return 0.0;
  std::vector<double> mean(dim, 0.0);
  for (uint32_t i : indices)
    for (size_t p = 0; p < dim; ++p) mean[p] += static_cast<double>(images.image(i)[p]);
  for (double& m : mean) m /= static_cast<double>(indices.size());
  double sse = 0.0, sst = 0.0;
  std::vector<float> x(kBatch * dim);
  for (size_t start = 0; start < indices.size(); start += kBatch) {
    const size_t b = std::min(kBatch, indices.size() - start);
    for (size_t i = 0; i < b; ++i)
      mask_into(images.image(indices[start + i]), dim, mask_ratio, rng, x.data() + i * dim);
    const float* out = model.forward(x.data(), b);
    for (size_t i = 0; i < b; ++i) {
      const float* clean = images.image(indices[start + i]);
      for (size_t p = 0; p < dim; ++p) {
        const double d = static_cast<double>(out[i * dim + p] - clean[p]);
        const double v = static_cast<double>(clean[p]) - mean[p];
        sse += d * d;
        sst += v * v;
      }
    }
  }
  return sst > 0.0 ? 1.0 - sse / sst : 0.0;
}

}  // namespace probex::convert
