// The small neural networks of the model zoo, trained on the workstation: layers with forward and
// backward passes, a sequential model with PyTorch-style parameter names, softmax cross-entropy.
// GEMMs go through OpenBLAS (single-threaded per model: the zoo parallelises over models instead).
//
// Layouts follow PyTorch so zoo files look like real checkpoints: a Linear weight is [out, in],
// activations are row-major [batch, features].
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "converter/nn/rng.h"

namespace probex::convert {

struct Param {
  std::string name;  // e.g. "fc1.weight"
  std::vector<uint64_t> shape;
  std::vector<float> value;
  std::vector<float> grad;
};

// A zeroed parameter (value and grad) of that shape.
Param make_param(const std::string& name, std::vector<uint64_t> shape);
// torch.nn.Linear's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
void uniform_init(Param& p, size_t fan_in, Rng& rng);

class Layer {
 public:
  virtual ~Layer() = default;
  virtual size_t input_size() const = 0;  // features per example
  virtual size_t output_size() const = 0;
  virtual void forward(const float* x, size_t batch, float* y) = 0;
  // Adds this batch's parameter gradients to Param::grad; writes dL/dx to `dx` unless it is null.
  virtual void backward(const float* x, const float* y, const float* dy, size_t batch, float* dx) = 0;
  virtual void init(Rng&) {}
  virtual void collect_params(std::vector<Param*>*) {}
};

// y = x W^T + b, initialised as torch.nn.Linear: U(-1/sqrt(in), 1/sqrt(in)) for W and b.
class Linear final : public Layer {
 public:
  Linear(const std::string& name, size_t in, size_t out);
  size_t input_size() const override { return in_; }
  size_t output_size() const override { return out_; }
  void forward(const float* x, size_t batch, float* y) override;
  void backward(const float* x, const float* y, const float* dy, size_t batch, float* dx) override;
  void init(Rng& rng) override;
  void collect_params(std::vector<Param*>* out) override;

 private:
  size_t in_, out_;
  Param weight_, bias_;
};

class Relu final : public Layer {
 public:
  explicit Relu(size_t size) : size_(size) {}
  size_t input_size() const override { return size_; }
  size_t output_size() const override { return size_; }
  void forward(const float* x, size_t batch, float* y) override;
  void backward(const float* x, const float* y, const float* dy, size_t batch, float* dx) override;

 private:
  size_t size_;
};

// A sequence of layers whose last layer is a Linear named "head" (the part a fine-tune replaces).
// Architectures are named by a spec string: "mlp-784-256-128-10" is Linear fc1 784->256, ReLU,
// Linear fc2 256->128, ReLU, Linear head 128->10.
class Model {
 public:
  // Builds the layers (parameters zero) or returns false with *error naming the problem.
  static bool from_spec(const std::string& spec, Model* out, std::string* error);

  Model() = default;
  Model(Model&&) = default;
  Model& operator=(Model&&) = default;

  const std::string& spec() const { return spec_; }
  size_t input_size() const { return layers_.front()->input_size(); }
  size_t output_size() const { return layers_.back()->output_size(); }

  void init(Rng& rng);
  // A copy with the same parameter values.
  Model clone() const;
  // Replaces the head by a freshly initialised one with `outputs` classes (a new fine-tuning task).
  void replace_head(size_t outputs, Rng& rng);

  // Returns the logits [batch, output_size()]; valid until the next forward. `x` must stay alive
  // until backward.
  const float* forward(const float* x, size_t batch);
  // Accumulates gradients of the loss whose logit gradient is `dlogits`, for the last forward.
  void backward(const float* dlogits, size_t batch);
  void zero_grad();

  std::vector<Param*> params();
  std::vector<const Param*> params() const;
  Param* find_param(const std::string& name);

 private:
  void reserve(size_t batch);

  std::string spec_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<std::vector<float>> outputs_;    // per layer, [capacity, output_size]
  std::vector<std::vector<float>> gradients_;  // per layer, dL/d(output)
  const float* input_ = nullptr;
  size_t capacity_ = 0;
};

// Mean softmax cross-entropy over the batch; writes dL/dlogits into `dlogits`.
double softmax_cross_entropy(const float* logits, const int32_t* labels, size_t batch, size_t classes, float* dlogits);

// Index of the largest logit of each row.
void argmax_rows(const float* logits, size_t batch, size_t classes, int32_t* out);

}  // namespace probex::convert
