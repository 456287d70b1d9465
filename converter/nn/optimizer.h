// Optimizers and learning-rate schedules for fine-tuning, as PyTorch and Hugging Face define them.
#pragma once

#include <string>
#include <vector>

#include "converter/nn/model.h"

namespace probex::convert {

enum class OptimizerKind {
  kAdam,   // torch.optim.Adam: weight decay added to the gradient (L2)
  kAdamW,  // torch.optim.AdamW (the Hugging Face Trainer's default): decoupled weight decay
  kSgd,    // torch.optim.SGD with momentum; weight decay added to the gradient
};

const char* optimizer_name(OptimizerKind kind);  // "adam", "adamw", "sgd"
bool optimizer_from_name(const std::string& name, OptimizerKind* out);

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kAdamW;
  double weight_decay = 0.0;
  double momentum = 0.9;  // SGD only
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, std::vector<Param*> params);
  // One update with learning rate `lr`, from the gradients in Param::grad.
  void step(double lr);

 private:
  OptimizerConfig config_;
  std::vector<Param*> params_;
  std::vector<std::vector<float>> m_, v_;  // Adam moments, or SGD momentum buffers in m_
  long step_ = 0;
};

enum class Schedule {
  kConstant,        // lr throughout
  kWarmupConstant,  // linear warm-up, then constant
  kLinear,          // linear warm-up, then linear decay to 0 (Hugging Face "linear")
  kCosine,          // linear warm-up, then half-cosine decay to 0 (Hugging Face "cosine")
};

const char* schedule_name(Schedule s);
bool schedule_from_name(const std::string& name, Schedule* out);

// The learning rate at `step` (0-based) of `total` steps, the first `warmup` of which warm up.
double scheduled_lr(Schedule s, double base_lr, long step, long total, long warmup);

}  // namespace probex::convert
