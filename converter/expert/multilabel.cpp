#include "converter/expert/multilabel.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "converter/nn/optimizer.h"

namespace probex::convert {

LinearChain::LinearChain(const std::vector<std::string>& names, const std::vector<size_t>& widths) {
  for (size_t i = 0; i < names.size(); ++i) layers_.emplace_back(names[i], widths[i], widths[i + 1]);
}

void LinearChain::init(Rng& rng) {
  for (Linear& l : layers_) l.init(rng);
}

const float* LinearChain::forward(const float* x, size_t batch) {
  if (batch > capacity_) {
    outputs_.resize(layers_.size());
    grads_.resize(layers_.size());
    for (size_t i = 0; i < layers_.size(); ++i) {
      outputs_[i].assign(batch * layers_[i].output_size(), 0.0f);
      grads_[i].assign(batch * layers_[i].output_size(), 0.0f);
    }
    capacity_ = batch;
  }
  x_ = x;
  batch_ = batch;
  const float* in = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i].forward(in, batch, outputs_[i].data());
    in = outputs_[i].data();
  }
  return in;
}

void LinearChain::backward(const float* dlogits) {
  const float* dy = dlogits;
  for (size_t i = layers_.size(); i-- > 0;) {
    const float* x = i == 0 ? x_ : outputs_[i - 1].data();
    float* dx = i == 0 ? nullptr : grads_[i - 1].data();
    layers_[i].backward(x, outputs_[i].data(), dy, batch_, dx);
    dy = dx;
  }
}

std::vector<Param*> LinearChain::params() {
  std::vector<Param*> out;
  for (Linear& l : layers_) l.collect_params(&out);
  return out;
}

double bce_with_logits(const float* logits, const float* targets, size_t n, size_t labels, float* dlogits) {
  const size_t total = n * labels;
  const float scale = 1.0f / static_cast<float>(total);
  double loss = 0.0;
  for (size_t i = 0; i < total; ++i) {
    const float z = logits[i], y = targets[i];
    // max(z, 0) - z*y + log(1 + exp(-|z|)): stable for any z.
    loss += static_cast<double>(std::max(z, 0.0f) - z * y + std::log1p(std::exp(-std::fabs(z))));
    const float sig = 1.0f / (1.0f + std::exp(-z));
    dlogits[i] = (sig - y) * scale;
  }
  return loss / static_cast<double>(total);
}

std::vector<float> predict_batched(const ExpertData& data, size_t width, size_t batch_size,
                                   const std::function<const float*(const float* x, size_t b)>& run) {
  std::vector<float> out(data.count * width);
  for (size_t start = 0; start < data.count; start += batch_size) {
    const size_t b = std::min(batch_size, data.count - start);
    const float* result = run(data.x.data() + start * data.features, b);
    std::memcpy(out.data() + start * width, result, b * width * sizeof(float));
  }
  return out;
}

std::vector<float> predict(MultiLabelModel& model, const ExpertData& data, size_t batch_size) {
  return predict_batched(data, model.outputs(), batch_size,
                         [&](const float* x, size_t b) { return model.forward(x, b); });
}

namespace {

void draw_progress(const FitConfig& config, bool tty, int epoch, double loss, const FitResult& r, double elapsed) {
  const double eta = elapsed / epoch * (config.epochs - epoch);
  const FitEval* last = r.evals.empty() ? nullptr : &r.evals.back();
  std::fprintf(stderr, "%s%s epoch %d/%d  loss %.4f  val bit %.3f exact %.3f (best %.3f @%d)  ETA %02d:%02d%s",
               tty ? "\r" : "", config.label.c_str(), epoch, config.epochs, loss, last ? last->val.bit_accuracy : 0.0,
               last ? last->val.exact_set : 0.0, r.best_val.bit_accuracy, r.best_epoch, static_cast<int>(eta) / 60,
               static_cast<int>(eta) % 60, tty && epoch != config.epochs ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace

FitResult fit_multilabel(MultiLabelModel& model, const ExpertData& train, const ExpertData& val,
                         const FitConfig& config) {
  FitResult result;
  const auto start = std::chrono::steady_clock::now();
  const size_t labels = model.outputs();
  const size_t batch = std::min(config.batch_size, train.count);
  std::vector<float> x(batch * train.features), y(batch * labels), dlogits(batch * labels);
  std::vector<size_t> order(train.count);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng rng(config.seed);
  OptimizerConfig oc;
  oc.kind = OptimizerKind::kAdam;
  oc.weight_decay = config.weight_decay;
  std::vector<Param*> params = model.params();
  Optimizer optimizer(oc, params);
  std::vector<std::vector<float>> best(params.size());
  for (size_t i = 0; i < params.size(); ++i) best[i] = params[i]->value;
  result.best_val.bit_accuracy = 0.0;  // the authors start from 0 and keep only strictly better
  const bool tty = isatty(STDERR_FILENO) == 1;

  for (int epoch = 1; epoch <= config.epochs; ++epoch) {
    rng.shuffle(order);
    double loss_sum = 0.0;
    for (size_t s = 0; s < train.count; s += batch) {
      const size_t b = std::min(batch, train.count - s);
      for (size_t i = 0; i < b; ++i) {
        const size_t item = order[s + i];
        std::memcpy(x.data() + i * train.features, train.x.data() + item * train.features,
                    train.features * sizeof(float));
        std::memcpy(y.data() + i * labels, train.y.data() + item * labels, labels * sizeof(float));
      }
      const float* logits = model.forward(x.data(), b);
      loss_sum += bce_with_logits(logits, y.data(), b, labels, dlogits.data()) * static_cast<double>(b);
      for (Param* p : params) std::fill(p->grad.begin(), p->grad.end(), 0.0f);
      model.backward(dlogits.data());
      optimizer.step(config.lr);
    }
    const double loss = loss_sum / static_cast<double>(train.count);
    // As the authors' loop (`if epoch % 25 == 0` over 0-based epochs): after the first epoch and every
    // eval_every epochs after it; the last epoch is not evaluated unless it falls on that grid.
    const bool evaluate = (epoch - 1) % config.eval_every == 0;
    if (evaluate) {
      const std::vector<float> logits = predict(model, val);
      FitEval ev{epoch, loss, multilabel_metrics(logits.data(), val.y.data(), val.count, labels)};
      result.evals.push_back(ev);
      if (ev.val.bit_accuracy > result.best_val.bit_accuracy) {  // strictly better, as the authors
        result.best_val = ev.val;
        result.best_epoch = epoch;
        for (size_t i = 0; i < params.size(); ++i) best[i] = params[i]->value;
      }
    }
    if (config.progress && (tty || evaluate || epoch == config.epochs)) {
      draw_progress(config, tty, epoch, loss, result,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  for (size_t i = 0; i < params.size(); ++i) params[i]->value = best[i];
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.seconds_per_epoch = config.epochs > 0 ? result.seconds / config.epochs : 0.0;
  return result;
}

bool best_at_last_evaluation(const FitResult& result) {
  return result.evals.size() >= 2 && result.best_epoch == result.evals.back().epoch;
}

}  // namespace probex::convert
