#include "probed_layer.h"

#include "checked_math.h"

namespace probex {

const char* layer_rule_name(LayerRule rule) {
  switch (rule) {
    case LayerRule::kMatrix: return "matrix";
    case LayerRule::kConv1x1: return "conv1x1";
    case LayerRule::kConvReshape: return "conv_reshape";
    case LayerRule::kVector: return "vector";
    case LayerRule::kLoraProduct: return "lora";
  }
  return "?";
}

namespace {

SafetensorsStatus layer_error(const SafetensorsFile& file, std::string_view name, const std::string& what) {
  return {SafetensorsError::kLayerShape, file.label() + ": layer '" + std::string(name) + "': " + what};
}

SafetensorsStatus require_float(const SafetensorsFile& file, const TensorInfo& t) {
  if (dtype_converts_to_f32(t.dtype)) return {};
  return {SafetensorsError::kUnsupportedConversion,
          file.label() + ": tensor '" + t.name + "': " + dtype_name(t.dtype) + " is not a float type"};
}

}  // namespace

SafetensorsStatus find_probed_layer(const SafetensorsFile& file, std::string_view name, ProbedLayer* out,
                                    uint64_t max_lora_rank) {
  ProbedLayer layer;
  if (const TensorInfo* t = file.find(name)) {
    SafetensorsStatus st = require_float(file, *t);
    if (!st.ok()) return st;
    layer.tensor = t;
    const auto& s = t->shape;
    if (s.size() == 2) {
      layer.rule = LayerRule::kMatrix;
      layer.rows = s[0];
      layer.cols = s[1];
    } else if (s.size() == 4 && s[2] == 1 && s[3] == 1) {
      layer.rule = LayerRule::kConv1x1;
      layer.rows = s[0];
      layer.cols = s[1];
    } else if (s.size() == 4) {
      layer.rule = LayerRule::kConvReshape;
      layer.rows = s[1] * s[2] * s[3];  // the element count was overflow-checked by the reader
      layer.cols = s[0];
    } else if (s.size() == 1) {
      layer.rule = LayerRule::kVector;
      layer.rows = s[0];
      layer.cols = 1;
    } else {
      return layer_error(file, name, "a " + std::to_string(s.size()) + "-D tensor has no probing rule");
    }
    if (layer.rows == 0 || layer.cols == 0) return layer_error(file, name, "the layer is empty");
    *out = layer;
    return {};
  }
  const std::string base(name);
  const TensorInfo* up = file.find(base + ".lora_up.weight");
  const TensorInfo* down = file.find(base + ".lora_down.weight");
  if (up == nullptr || down == nullptr) {
    up = file.find(base + ".lora_B.weight");
    down = file.find(base + ".lora_A.weight");
  }
  if (up == nullptr || down == nullptr) {
    return {SafetensorsError::kTensorNotFound,
            file.label() + ": no tensor named '" + base + "' and no LoRA pair for it"};
  }
  for (const TensorInfo* t : {up, down}) {
    SafetensorsStatus st = require_float(file, *t);
    if (!st.ok()) return st;
    if (t->shape.size() != 2) return layer_error(file, name, "LoRA tensor '" + t->name + "' is not 2-D");
  }
  if (up->shape[1] != down->shape[0]) {
    return layer_error(file, name, "LoRA up is [" + std::to_string(up->shape[0]) + ", " + std::to_string(up->shape[1]) +
                                       "] but down has rank " + std::to_string(down->shape[0]));
  }
  if (down->shape[0] > max_lora_rank) {
    return {SafetensorsError::kLimitExceeded, file.label() + ": layer '" + base + "': LoRA rank " +
                                                  std::to_string(down->shape[0]) + " is above the configured limit of " +
                                                  std::to_string(max_lora_rank)};
  }
  layer.rule = LayerRule::kLoraProduct;
  layer.tensor = up;
  layer.lora_down = down;
  layer.rows = up->shape[0];
  layer.cols = down->shape[1];
  if (layer.rows == 0 || layer.cols == 0 || up->shape[1] == 0) return layer_error(file, name, "the layer is empty");
  *out = layer;
  return {};
}

SafetensorsStatus ProbedRowReader::read(uint64_t first, uint64_t count, float* out) {
  uint64_t last = 0;
  if (!checked_add(first, count, &last) || last > layer_.rows) {
    return {SafetensorsError::kOutOfRange, file_.label() + ": layer rows [" + std::to_string(first) + ", +" +
                                               std::to_string(count) + ") are outside its " +
                                               std::to_string(layer_.rows) + " rows"};
  }
  if (layer_.rule != LayerRule::kLoraProduct) {
    // Every other rule keeps the tensor's flat order, so rows of X are element ranges.
    return file_.read_f32(*layer_.tensor, first * layer_.cols, count * layer_.cols, out);
  }
  const uint64_t rank = layer_.tensor->shape[1];
  const auto cols = static_cast<size_t>(layer_.cols);
  // Storage layout: the down matrix [rank, cols], then one up row [rank]. Read once per reader.
  const size_t down_size = static_cast<size_t>(rank) * cols;
  if (storage_->size() != down_size + rank) {
    storage_->resize(down_size + static_cast<size_t>(rank));
    SafetensorsStatus st = file_.read_f32(*layer_.lora_down, 0, rank * layer_.cols, storage_->data());
    if (!st.ok()) {
      storage_->clear();  // never leave a half-read matrix that a later call would trust
      return st;
    }
  }
  float* up_row = storage_->data() + down_size;
  for (uint64_t r = 0; r < count; ++r) {
    SafetensorsStatus st = file_.read_rows_f32(*layer_.tensor, first + r, 1, up_row);
    if (!st.ok()) return st;
    float* x = out + r * cols;
    for (size_t c = 0; c < cols; ++c) x[c] = 0.0f;
    for (uint64_t k = 0; k < rank; ++k) {
      const float u = up_row[static_cast<size_t>(k)];
      const float* a = storage_->data() + k * cols;
      for (size_t c = 0; c < cols; ++c) x[c] += u * a[c];
    }
  }
  return {};
}

}  // namespace probex
