#include "converter/nn/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "converter/nn/blas.h"

namespace probex::convert {

Param make_param(const std::string& name, std::vector<uint64_t> shape) {
  size_t n = 1;
  for (uint64_t d : shape) n *= static_cast<size_t>(d);
  return {name, std::move(shape), std::vector<float>(n, 0.0f), std::vector<float>(n, 0.0f)};
}

void uniform_init(Param& p, size_t fan_in, Rng& rng) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  for (float& v : p.value) v = static_cast<float>(rng.uniform(-bound, bound));
}

Linear::Linear(const std::string& name, size_t in, size_t out) : in_(in), out_(out) {
  weight_ = {name + ".weight", {out, in}, std::vector<float>(in * out, 0.0f), std::vector<float>(in * out, 0.0f)};
  bias_ = {name + ".bias", {out}, std::vector<float>(out, 0.0f), std::vector<float>(out, 0.0f)};
}

void Linear::init(Rng& rng) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_));
  for (float& w : weight_.value) w = static_cast<float>(rng.uniform(-bound, bound));
  for (float& b : bias_.value) b = static_cast<float>(rng.uniform(-bound, bound));
}

void Linear::collect_params(std::vector<Param*>* out) {
  out->push_back(&weight_);
  out->push_back(&bias_);
}

void Linear::forward(const float* x, size_t batch, float* y) {
  for (size_t b = 0; b < batch; ++b) std::memcpy(y + b * out_, bias_.value.data(), out_ * sizeof(float));
  const auto B = static_cast<int>(batch), I = static_cast<int>(in_), O = static_cast<int>(out_);
  blas::sgemm(blas::Op::kNone, blas::Op::kTranspose, B, O, I, 1.0f, x, I, weight_.value.data(), I, 1.0f, y, O);
}

void Linear::backward(const float* x, const float*, const float* dy, size_t batch, float* dx) {
  const auto B = static_cast<int>(batch), I = static_cast<int>(in_), O = static_cast<int>(out_);
  blas::sgemm(blas::Op::kTranspose, blas::Op::kNone, O, I, B, 1.0f, dy, O, x, I, 1.0f, weight_.grad.data(), I);
  for (size_t b = 0; b < batch; ++b) {
    for (size_t o = 0; o < out_; ++o) bias_.grad[o] += dy[b * out_ + o];
  }
  if (dx != nullptr) {
    blas::sgemm(blas::Op::kNone, blas::Op::kNone, B, I, O, 1.0f, dy, O, weight_.value.data(), I, 0.0f, dx, I);
  }
}

void Relu::forward(const float* x, size_t batch, float* y) {
  const size_t n = batch * size_;
  for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void Relu::backward(const float*, const float* y, const float* dy, size_t batch, float* dx) {
  if (dx == nullptr) return;
  const size_t n = batch * size_;
  for (size_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

bool Model::from_spec(const std::string& spec, Model* out, std::string* error) {
  Model m;
  m.spec_ = spec;
  std::vector<size_t> widths;
  std::stringstream ss(spec);
  std::string part;
  std::getline(ss, part, '-');
  if (part != "mlp") {
    *error = "architecture '" + spec + "': unknown family '" + part + "' (known: mlp)";
    return false;
  }
  while (std::getline(ss, part, '-')) {
    char* end = nullptr;
    const unsigned long w = std::strtoul(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || w == 0 || w > 65536) {
      *error = "architecture '" + spec + "': '" + part + "' is not a layer width in 1..65536";
      return false;
    }
    widths.push_back(w);
  }
  if (widths.size() < 2) {
    *error = "architecture '" + spec + "': needs an input and an output width";
    return false;
  }
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    const bool last = i + 2 == widths.size();
    m.layers_.push_back(
        std::make_unique<Linear>(last ? "head" : "fc" + std::to_string(i + 1), widths[i], widths[i + 1]));
    if (!last) m.layers_.push_back(std::make_unique<Relu>(widths[i + 1]));
  }
  *out = std::move(m);
  return true;
}

void Model::init(Rng& rng) {
  for (auto& layer : layers_) layer->init(rng);
}

Model Model::clone() const {
  Model copy;
  std::string unused;
  from_spec(spec_, &copy, &unused);  // spec_ was accepted once, so it parses again
  // The head may have been replaced: rebuild it with this model's width before copying values.
  if (copy.output_size() != output_size()) {
    Rng unused_rng(0);
    copy.replace_head(output_size(), unused_rng);
  }
  auto src = params();
  auto dst = copy.params();
  for (size_t i = 0; i < src.size(); ++i) dst[i]->value = src[i]->value;
  return copy;
}

void Model::replace_head(size_t outputs, Rng& rng) {
  const size_t in = layers_.back()->input_size();
  layers_.back() = std::make_unique<Linear>("head", in, outputs);
  layers_.back()->init(rng);
  capacity_ = 0;  // buffers of the last layer change size
  outputs_.clear();
  gradients_.clear();
}

void Model::reserve(size_t batch) {
  if (batch <= capacity_) return;
  outputs_.resize(layers_.size());
  gradients_.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    outputs_[i].assign(batch * layers_[i]->output_size(), 0.0f);
    gradients_[i].assign(batch * layers_[i]->output_size(), 0.0f);
  }
  capacity_ = batch;
}

const float* Model::forward(const float* x, size_t batch) {
  reserve(batch);
  input_ = x;
  const float* in = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->forward(in, batch, outputs_[i].data());
    in = outputs_[i].data();
  }
  return in;
}

void Model::backward(const float* dlogits, size_t batch) {
  const float* dy = dlogits;
  for (size_t i = layers_.size(); i-- > 0;) {
    const float* x = i == 0 ? input_ : outputs_[i - 1].data();
    float* dx = i == 0 ? nullptr : gradients_[i - 1].data();
    layers_[i]->backward(x, outputs_[i].data(), dy, batch, dx);
    dy = dx;
  }
}

void Model::zero_grad() {
  for (Param* p : params()) std::fill(p->grad.begin(), p->grad.end(), 0.0f);
}

std::vector<Param*> Model::params() {
  std::vector<Param*> out;
  for (auto& layer : layers_) layer->collect_params(&out);
  return out;
}

std::vector<const Param*> Model::params() const {
  std::vector<Param*> all;
  for (auto& layer : layers_) layer->collect_params(&all);
  return {all.begin(), all.end()};
}

Param* Model::find_param(const std::string& name) {
  for (Param* p : params()) {
    if (p->name == name) return p;
  }
  return nullptr;
}

double softmax_cross_entropy(const float* logits, const int32_t* labels, size_t batch, size_t classes, float* dlogits) {
  double loss = 0.0;
  const float scale = 1.0f / static_cast<float>(batch);
  for (size_t b = 0; b < batch; ++b) {
    const float* z = logits + b * classes;
    float* dz = dlogits + b * classes;
    const float zmax = *std::max_element(z, z + classes);
    double sum = 0.0;
    for (size_t c = 0; c < classes; ++c) {
      dz[c] = std::exp(z[c] - zmax);
      sum += static_cast<double>(dz[c]);
    }
    const auto label = static_cast<size_t>(labels[b]);
    loss += std::log(sum) - static_cast<double>(z[label] - zmax);
    const auto inv = static_cast<float>(1.0 / sum);
    for (size_t c = 0; c < classes; ++c) dz[c] = (dz[c] * inv - (c == label ? 1.0f : 0.0f)) * scale;
  }
  return loss / static_cast<double>(batch);
}

void argmax_rows(const float* logits, size_t batch, size_t classes, int32_t* out) {
  for (size_t b = 0; b < batch; ++b) {
    const float* z = logits + b * classes;
    out[b] = static_cast<int32_t>(std::max_element(z, z + classes) - z);
  }
}

}  // namespace probex::convert
