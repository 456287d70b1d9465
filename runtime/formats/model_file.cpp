#include "runtime/formats/model_file.h"

#include <algorithm>
#include <cstring>

#include "probex/platform/paths.h"
#include "probex/platform/read_only_file.h"
#include "runtime/formats/json_reader.h"
#include "runtime/formats/model_formats.h"
#include "runtime/formats/onnx.h"
#include "runtime/math/checked_math.h"

namespace probex {

const char* model_format_name(ModelFormat format) {
  switch (format) {
    case ModelFormat::kSafetensors: return "safetensors";
    case ModelFormat::kShardedSafetensors: return "safetensors-sharded";
    case ModelFormat::kPeftAdapter: return "peft-lora";
    case ModelFormat::kGguf: return "gguf";
    case ModelFormat::kTflite: return "tflite";
    case ModelFormat::kOnnx: return "onnx";
  }
  return "?";
}

const char* model_error_name(ModelError code) {
  switch (code) {
    case ModelError::kOk: return "ok";
    case ModelError::kIo: return "io";
    case ModelError::kNotAModel: return "not_a_model";
    case ModelError::kInvalid: return "invalid";
    case ModelError::kLimitExceeded: return "limit_exceeded";
    case ModelError::kTensorNotFound: return "tensor_not_found";
    case ModelError::kUnsupportedConversion: return "unsupported_conversion";
    case ModelError::kOutOfRange: return "out_of_range";
    case ModelError::kLayerShape: return "layer_shape";
  }
  return "?";
}

uint64_t ModelTensor::row_length() const {
  uint64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];  // the reader checked the product fits
  return n;
}

const ModelTensor* ModelFile::find(std::string_view name) const {
  const auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                                   [this](size_t i, std::string_view n) { return tensors_[i].name < n; });
  if (it == by_name_.end() || tensors_[*it].name != name) return nullptr;
  return &tensors_[*it];
}

ModelStatus ModelFile::index_tensors() {
  by_name_.resize(tensors_.size());
  for (size_t i = 0; i < by_name_.size(); ++i) by_name_[i] = i;
  std::sort(by_name_.begin(), by_name_.end(),
            [this](size_t a, size_t b) { return tensors_[a].name < tensors_[b].name; });
  for (size_t i = 1; i < by_name_.size(); ++i) {
    if (tensors_[by_name_[i]].name == tensors_[by_name_[i - 1]].name)
      return {ModelError::kInvalid, "duplicate_name",
              label_ + ": two tensors are named '" + tensors_[by_name_[i]].name + "'"};
  }
  return {};
}

ModelStatus ModelFile::out_of_range(const ModelTensor& t, uint64_t first, uint64_t count) const {
  return {ModelError::kOutOfRange, "",
          label_ + ": tensor '" + t.name + "': elements [" + std::to_string(first) + ", +" + std::to_string(count) +
              ") are outside its " + std::to_string(t.element_count)};
}

ModelStatus ModelFile::read_rows_f32(const ModelTensor& t, uint64_t first_row, uint64_t row_count, float* out) const {
  const uint64_t row_length = t.row_length();
  uint64_t first = 0, count = 0;
  if (!checked_mul(first_row, row_length, &first) || !checked_mul(row_count, row_length, &count))
    return out_of_range(t, first_row, row_count);
  return read_f32(t, first, count, out);
}

namespace {

// The registry's entry whose sniff recognises these first bytes, or nullptr.
const ModelFormatEntry* sniffed_format(const uint8_t* head, size_t n) {
  for (const ModelFormatEntry& e : kModelFormats)
    if (e.sniff && e.sniff(head, n)) return &e;
  return nullptr;
}

// A probex bundle (the schema's file_identifier "PRBX"), which users may pass where a model goes.
bool is_probex_bundle_head(const uint8_t* head, size_t n) { return n >= 8 && std::memcmp(head + 4, "PRBX", 4) == 0; }

// A JSON index or config: '{' after whitespace (never a safetensors head: is_safetensors_head).
bool is_json_head(const uint8_t* head, size_t n) {
  size_t i = 0;
  while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r')) ++i;
  return i < n && head[i] == '{';
}

std::string hex_bytes(const uint8_t* p, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 15];
  }
  return s;
}

ModelStatus not_a_model(const std::string& path, const std::string& why) {
  return {ModelError::kNotAModel, "", "not a model file probex reads: " + path + ": " + why};
}

// A JSON object file says what it is by a top-level key: "weight_map" (a sharded checkpoint's index) or
// "peft_type" (a PEFT adapter's config).
ModelStatus identify_json(const std::string& path, const ModelLimits& limits, ModelFormat* format) {
  platform::ReadOnlyFile file;
  std::string error;
  if (!file.open(path, &error)) return {ModelError::kIo, "", error};
  if (file.size() > limits.max_header_bytes)
    return {ModelError::kLimitExceeded, "json_too_large",
            path + ": a JSON file of " + std::to_string(file.size()) + " bytes is above the configured limit of " +
                std::to_string(limits.max_header_bytes)};
  std::string text(static_cast<size_t>(file.size()), '\0');
  if (!file.read_at(0, text.data(), text.size(), &error)) return {ModelError::kIo, "", error};
  size_t offset = 0;
  const char* what = nullptr;
  if (!json::is_valid_utf8(text, &offset) || !json::validate_json(text, 64, &offset, &what))
    return not_a_model(path, "it starts like JSON but is not valid JSON (byte " + std::to_string(offset) + ")");
  json::JsonCursor cursor(text);
  bool weight_map = false, peft_type = false;
  if (cursor.consume('{') && !cursor.consume('}')) {
    do {
      std::string key;
      cursor.read_string(&key);
      cursor.consume(':');
      cursor.skip_value();
      weight_map = weight_map || key == "weight_map";
      peft_type = peft_type || key == "peft_type";
    } while (cursor.consume(','));
  }
  if (weight_map) {
    *format = ModelFormat::kShardedSafetensors;
    return {};
  }
  if (peft_type) {
    *format = ModelFormat::kPeftAdapter;
    return {};
  }
  return not_a_model(path, "a JSON file that is neither a sharded checkpoint's index (\"weight_map\") nor a PEFT "
                           "adapter's config (\"peft_type\")");
}

}  // namespace

ModelStatus identify_model(const std::string& path, const ModelLimits& limits, ModelFormat* format,
                           std::string* target) {
  std::string error;
  switch (platform::path_kind(path, &error)) {
    case platform::PathKind::kMissing: return {ModelError::kIo, "", error};
    case platform::PathKind::kOther: return not_a_model(path, "neither a regular file nor a folder");
    case platform::PathKind::kDirectory: {
      const auto has = [&](const char* name) {
        return platform::path_kind(path + "/" + name, &error) == platform::PathKind::kFile;
      };
      if (has("adapter_config.json")) {
        *format = ModelFormat::kPeftAdapter;
        *target = path;
      } else if (has("model.safetensors.index.json")) {
        *format = ModelFormat::kShardedSafetensors;
        *target = path + "/model.safetensors.index.json";
      } else if (has("model.safetensors")) {
        return identify_model(path + "/model.safetensors", limits, format, target);
      } else {
        return not_a_model(path,
                           "a folder with no adapter_config.json, model.safetensors.index.json or model.safetensors");
      }
      return {};
    }
    case platform::PathKind::kFile: break;
  }
  platform::ReadOnlyFile file;
  if (!file.open(path, &error)) return {ModelError::kIo, "", error};
  uint8_t head[16] = {};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof(head), file.size()));
  if (!file.read_at(0, head, n, &error)) return {ModelError::kIo, "", error};
  *target = path;
  if (const ModelFormatEntry* e = sniffed_format(head, n)) {
    *format = e->format;
    return {};
  }
  if (is_probex_bundle_head(head, n)) {
    ModelStatus st = not_a_model(path, "it is a probex bundle (the BUNDLE argument), not a model");
    st.detail = "probex_bundle";  // probex-inspect reads either, and tells them apart by this
    return st;
  }
  if (is_json_head(head, n)) {
    const ModelStatus st = identify_json(path, limits, format);
    if (st.ok() && *format == ModelFormat::kPeftAdapter)
      *target = platform::parent_folder(path);  // the config's folder
    return st;
  }
  // ONNX has no magic: a ModelProto starting with ir_version and holding a graph (onnx.h), tried last.
  if (looks_like_onnx_file(path)) {
    *format = ModelFormat::kOnnx;
    return {};
  }
  if (n < 9) return not_a_model(path, "the file has " + std::to_string(n) + " bytes, fewer than any format's header");
  return not_a_model(
      path, "its first bytes (" + hex_bytes(head, 8) +
                ") match no format probex reads (safetensors, GGUF, TFLite, ONNX, a sharded checkpoint's index, a "
                "PEFT adapter)");
}

ModelStatus open_model_file(const std::string& path, std::unique_ptr<ModelFile>* out, const ModelLimits& limits) {
  out->reset();
  ModelFormat format = ModelFormat::kSafetensors;
  std::string target;
  const ModelStatus st = identify_model(path, limits, &format, &target);
  if (!st.ok()) return st;
  return model_format_entry(format).open(target, limits, out);
}

ModelStatus model_file_from_buffer(std::string label, const uint8_t* data, size_t size, std::unique_ptr<ModelFile>* out,
                                   const ModelLimits& limits) {
  out->reset();
  const size_t n = size < 16 ? size : 16;
  if (const ModelFormatEntry* e = sniffed_format(data, n); e && e->from_buffer)
    return e->from_buffer(std::move(label), data, size, limits, out);
  if (looks_like_onnx(data, size)) return onnx_model_from_buffer(std::move(label), data, size, limits, out);
  return not_a_model(label, "a buffer holds a safetensors, GGUF, TFLite or ONNX file; its first bytes (" +
                                hex_bytes(data, n < 8 ? n : 8) + ") are none of them");
}

}  // namespace probex
