// Supervised training and evaluation of a zoo model on a labelled set of images.
#pragma once

#include <cstdint>
#include <vector>

#include "converter/data/idx.h"
#include "converter/nn/model.h"
#include "converter/nn/optimizer.h"

namespace probex::convert {

// Images as normalised floats, row-major [count, height * width].
struct ImageTensor {
  std::vector<float> pixels;
  size_t count = 0;
  size_t height = 0;
  size_t width = 0;
  size_t size() const { return height * width; }
  const float* image(size_t i) const { return pixels.data() + i * size(); }
};

// Scales bytes to [0, 1] and standardises with the Fashion-MNIST training mean and std, as a
// torchvision Normalize((0.2860,), (0.3530,)) would.
ImageTensor normalize_images(const ImageSet& set);

// Which images a model trains or is evaluated on, and the label (head output index) of each.
struct LabelledSubset {
  std::vector<uint32_t> indices;
  std::vector<int32_t> labels;
  // Per item, counter-clockwise quarter-turns (0..3) applied to the image before any augmentation, for
  // labels that are rotated classes and for rotation pre-training. Empty: none (every image as stored).
  std::vector<uint8_t> quarter_turns;
};

struct TrainConfig {
  int epochs = 1;  // passes over the data, unless `steps` is set
  long steps = 0;  // if > 0: exactly this many optimizer steps, reshuffling at every pass
  size_t batch_size = 128;
  double lr = 1e-3;
  Schedule schedule = Schedule::kConstant;
  double warmup_ratio = 0.0;
  OptimizerConfig optimizer;
  bool augment_shift = false;  // random translation by up to 2 pixels each way
  bool augment_flip = false;   // random horizontal flip with probability 1/2
};

struct TrainReport {
  long steps = 0;
  double epochs = 0.0;           // passes over the data (fractional when training by steps)
  double last_epoch_loss = 0.0;  // mean training loss over the last (possibly partial) pass
};

// Shuffled mini-batch training (the last, partial batch of an epoch is kept, as PyTorch's
// DataLoader does by default).
TrainReport train_classifier(Model& model, const ImageTensor& images, const LabelledSubset& data,
                             const TrainConfig& config, Rng& rng);

// Head-output predictions for the given images (argmax of the logits), each turned by `quarter_turns`
// (per image; empty: none).
std::vector<int32_t> predict(Model& model, const ImageTensor& images, const std::vector<uint32_t>& indices,
                             const std::vector<uint8_t>& quarter_turns = {});

// Denoising autoencoder training without labels (a small MAE): each image has a fresh random `mask_ratio`
// of its pixels set to 0 (the data mean after normalisation), and the model, whose head outputs one value
// per pixel, is trained on the mean squared error against the clean image. Uses config.epochs,
// batch_size, lr, schedule and optimizer; no augmentation.
TrainReport train_denoiser(Model& model, const ImageTensor& images, const std::vector<uint32_t>& indices,
                           const TrainConfig& config, double mask_ratio, Rng& rng);

// How well the model reconstructs the clean images from masked ones: R^2 = 1 - SSE / SST (SST around
// each pixel's mean over these images). 0: no better than the mean image.
double denoise_r2(Model& model, const ImageTensor& images, const std::vector<uint32_t>& indices, double mask_ratio,
                  Rng& rng);

}  // namespace probex::convert
