#include "converter/nn/optimizer.h"

#include <cmath>

namespace probex::convert {

const char* optimizer_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kAdam: return "adam";
    case OptimizerKind::kAdamW: return "adamw";
    case OptimizerKind::kSgd: return "sgd";
  }
  return "?";
}

bool optimizer_from_name(const std::string& name, OptimizerKind* out) {
  for (OptimizerKind k : {OptimizerKind::kAdam, OptimizerKind::kAdamW, OptimizerKind::kSgd}) {
    if (name == optimizer_name(k)) {
      *out = k;
      return true;
    }
  }
  return false;
}

Optimizer::Optimizer(const OptimizerConfig& config, std::vector<Param*> params)
    : config_(config), params_(std::move(params)) {
  for (Param* p : params_) {
    m_.emplace_back(p->value.size(), 0.0f);
    v_.emplace_back(config_.kind == OptimizerKind::kSgd ? 0 : p->value.size(), 0.0f);
  }
}

void Optimizer::step(double lr) {
  ++step_;
  const auto wd = static_cast<float>(config_.weight_decay);
  if (config_.kind == OptimizerKind::kSgd) {
    const auto mu = static_cast<float>(config_.momentum);
    const auto flr = static_cast<float>(lr);
    for (size_t i = 0; i < params_.size(); ++i) {
      std::vector<float>& w = params_[i]->value;
      const std::vector<float>& g = params_[i]->grad;
      std::vector<float>& buf = m_[i];
      for (size_t j = 0; j < w.size(); ++j) {
        const float grad = g[j] + wd * w[j];
        buf[j] = step_ == 1 ? grad : mu * buf[j] + grad;  // PyTorch: the first step seeds the buffer
        w[j] -= flr * buf[j];
      }
    }
    return;
  }
  const double bias1 = 1.0 - std::pow(config_.beta1, static_cast<double>(step_));
  const double bias2 = 1.0 - std::pow(config_.beta2, static_cast<double>(step_));
  const auto b1 = static_cast<float>(config_.beta1), b2 = static_cast<float>(config_.beta2);
  const auto step_size = static_cast<float>(lr / bias1);
  const auto inv_sqrt_bias2 = static_cast<float>(1.0 / std::sqrt(bias2));
  const auto eps = static_cast<float>(config_.eps);
  const bool decoupled = config_.kind == OptimizerKind::kAdamW;
  const auto decay = static_cast<float>(1.0 - lr * config_.weight_decay);
  for (size_t i = 0; i < params_.size(); ++i) {
    std::vector<float>& w = params_[i]->value;
    const std::vector<float>& g = params_[i]->grad;
    std::vector<float>& m = m_[i];
    std::vector<float>& v = v_[i];
    for (size_t j = 0; j < w.size(); ++j) {
      float grad = g[j];
      if (decoupled) {
        w[j] *= decay;
      } else {
        grad += wd * w[j];
      }
      m[j] = b1 * m[j] + (1.0f - b1) * grad;
      v[j] = b2 * v[j] + (1.0f - b2) * grad * grad;
      w[j] -= step_size * m[j] / (std::sqrt(v[j]) * inv_sqrt_bias2 + eps);
    }
  }
}

const char* schedule_name(Schedule s) {
  switch (s) {
    case Schedule::kConstant: return "constant";
    case Schedule::kWarmupConstant: return "warmup_constant";
    case Schedule::kLinear: return "linear";
    case Schedule::kCosine: return "cosine";
  }
  return "?";
}

bool schedule_from_name(const std::string& name, Schedule* out) {
  for (Schedule s : {Schedule::kConstant, Schedule::kWarmupConstant, Schedule::kLinear, Schedule::kCosine}) {
    if (name == schedule_name(s)) {
      *out = s;
      return true;
    }
  }
  return false;
}

double scheduled_lr(Schedule s, double base_lr, long step, long total, long warmup) {
  if (s == Schedule::kConstant) return base_lr;
  if (step < warmup) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (s == Schedule::kWarmupConstant) return base_lr;
  const long decay_steps = total - warmup;
  if (decay_steps <= 0) return base_lr;
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(decay_steps);
  if (s == Schedule::kLinear) return base_lr * (1.0 - progress);
  return base_lr * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace probex::convert
