#include "runtime/formats/probed_layer.h"

#include <utility>

#include "runtime/math/checked_math.h"

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

ModelStatus layer_error(const ModelFile& file, std::string_view name, const std::string& what) {
  return {ModelError::kLayerShape, "", file.label() + ": layer '" + std::string(name) + "': " + what};
}

ModelStatus require_float(const ModelFile& file, const ModelTensor& t) {
  if (t.readable) return {};
  return {ModelError::kUnsupportedConversion, "",
          file.label() + ": tensor '" + t.name + "': " + t.dtype + " has no float32 conversion"};
}

}  // namespace

ModelStatus find_probed_layer(const ModelFile& file, std::string_view name, ProbedLayer* out, uint64_t max_lora_rank) {
  ProbedLayer layer;
  if (const ModelTensor* t = file.find(name)) {
    ModelStatus st = require_float(file, *t);
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
  const ModelTensor* up = nullptr;
  const ModelTensor* down = nullptr;
  for (const char* prefix : {"", "base_model.model."}) {
    for (const auto& names : {std::pair<const char*, const char*>{".lora_up.weight", ".lora_down.weight"},
                              std::pair<const char*, const char*>{".lora_B.weight", ".lora_A.weight"}}) {
      if (up != nullptr && down != nullptr) break;
      up = file.find(prefix + base + names.first);
      down = file.find(prefix + base + names.second);
    }
  }
  if (up == nullptr || down == nullptr) {
    return {ModelError::kTensorNotFound, "", file.label() + ": no tensor named '" + base + "' and no LoRA pair for it"};
  }
  for (const ModelTensor* t : {up, down}) {
    ModelStatus st = require_float(file, *t);
    if (!st.ok()) return st;
    if (t->shape.size() != 2) return layer_error(file, name, "LoRA tensor '" + t->name + "' is not 2-D");
  }
  if (up->shape[1] != down->shape[0]) {
    return layer_error(file, name,
                       "LoRA up is [" + std::to_string(up->shape[0]) + ", " + std::to_string(up->shape[1]) +
                           "] but down has rank " + std::to_string(down->shape[0]));
  }
  if (down->shape[0] > max_lora_rank) {
    return {ModelError::kLimitExceeded, "",
            file.label() + ": layer '" + base + "': LoRA rank " + std::to_string(down->shape[0]) +
                " is above the configured limit of " + std::to_string(max_lora_rank)};
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

ModelStatus ProbedRowReader::read(uint64_t first, uint64_t count, float* out) {
  uint64_t last = 0;
  if (!checked_add(first, count, &last) || last > layer_.rows) {
    return {ModelError::kOutOfRange, "",
            file_.label() + ": layer rows [" + std::to_string(first) + ", +" + std::to_string(count) +
                ") are outside its " + std::to_string(layer_.rows) + " rows"};
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
    ModelStatus st = file_.read_f32(*layer_.lora_down, 0, rank * layer_.cols, storage_->data());
    if (!st.ok()) {
      storage_->clear();  // never leave a half-read matrix that a later call would trust
      return st;
    }
  }
  float* up_row = storage_->data() + down_size;
  for (uint64_t r = 0; r < count; ++r) {
    ModelStatus st = file_.read_rows_f32(*layer_.tensor, first + r, 1, up_row);
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
