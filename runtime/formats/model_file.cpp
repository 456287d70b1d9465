#include "runtime/formats/model_file.h"

#include <algorithm>
#include <cstring>

#include "runtime/math/checked_math.h"
#include "runtime/formats/json_reader.h"
#include "runtime/formats/model_formats.h"
#include "runtime/formats/onnx.h"
#include "probex/platform/paths.h"
#include "probex/platform/read_only_file.h"

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
  std::sort(by_name_.begin(), by_name_.end(), [this](size_t a, size_t b) { return tensors_[a].name < tensors_[b].name; });
  for (size_t i = 1; i < by_name_.size(); ++i) {
    if (tensors_[by_name_[i]].name == tensors_[by_name_[i - 1]].name)
      return {ModelError::kInvalid, "duplicate_name", label_ + ": two tensors are named '" + tensors_[by_name_[i]].name + "'"};
  }
  return {};
}

ModelStatus ModelFile::out_of_range(const ModelTensor& t, uint64_t first, uint64_t count) const {
  return {ModelError::kOutOfRange, "", label_ + ": tensor '" + t.name + "': elements [" + std::to_string(first) + ", +" +
                                          std::to_string(count) + ") are outside its " + std::to_string(t.element_count)};
}

ModelStatus ModelFile::read_rows_f32(const ModelTensor& t, uint64_t first_row, uint64_t row_count, float* out) const {
  const uint64_t row_length = t.row_length();
  uint64_t first = 0, count = 0;
  if (!checked_mul(first_row, row_length, &first) || !checked_mul(row_count, row_length, &count))
    return out_of_range(t, first_row, row_count);
  return read_f32(t, first, count, out);
}

ModelStatus model_status(const SafetensorsStatus& s) {
  ModelError code = ModelError::kInvalid;
  switch (s.code) {
    case SafetensorsError::kOk: return {};
    case SafetensorsError::kIo: code = ModelError::kIo; break;
    case SafetensorsError::kTensorNotFound: code = ModelError::kTensorNotFound; break;
    case SafetensorsError::kUnsupportedConversion: code = ModelError::kUnsupportedConversion; break;
    case SafetensorsError::kOutOfRange: code = ModelError::kOutOfRange; break;
    case SafetensorsError::kLayerShape: code = ModelError::kLayerShape; break;
    case SafetensorsError::kLimitExceeded:
    case SafetensorsError::kHeaderTooLarge:
    case SafetensorsError::kTooManyTensors: code = ModelError::kLimitExceeded; break;
    default: break;
  }
  return {code, safetensors_error_name(s.code), s.message};
}

ModelStatus model_status(const GgufStatus& s) {
  ModelError code = ModelError::kInvalid;
  switch (s.code) {
    case GgufError::kOk: return {};
    case GgufError::kIo: code = ModelError::kIo; break;
    case GgufError::kTensorNotFound: code = ModelError::kTensorNotFound; break;
    case GgufError::kUnsupportedType: code = ModelError::kUnsupportedConversion; break;
    case GgufError::kOutOfRange: code = ModelError::kOutOfRange; break;
    case GgufError::kLimitExceeded: code = ModelError::kLimitExceeded; break;
    default: break;
  }
  return {code, gguf_error_name(s.code), s.message};
}

ModelStatus model_status(const TfliteStatus& s) {
  ModelError code = ModelError::kInvalid;
  switch (s.code) {
    case TfliteError::kOk: return {};
    case TfliteError::kIo: code = ModelError::kIo; break;
    case TfliteError::kTensorNotFound: code = ModelError::kTensorNotFound; break;
    case TfliteError::kUnsupportedType: code = ModelError::kUnsupportedConversion; break;
    case TfliteError::kOutOfRange: code = ModelError::kOutOfRange; break;
    case TfliteError::kLimitExceeded: code = ModelError::kLimitExceeded; break;
    default: break;
  }
  return {code, tflite_error_name(s.code), s.message};
}

SafetensorsLimits safetensors_limits(const ModelLimits& limits) {
  SafetensorsLimits l;
  l.max_file_bytes = limits.max_file_bytes;
  l.max_header_bytes = limits.max_header_bytes;
  l.max_tensors = limits.max_tensors;
  l.max_dims = limits.max_dims;
  return l;
}

namespace {

// Safetensors shapes are PyTorch's own: nothing to map.
class SafetensorsModel final : public ModelFile {
 public:
  explicit SafetensorsModel(SafetensorsFile file) : ModelFile(ModelFormat::kSafetensors, file.label()), file_(std::move(file)) {
    const auto& infos = file_.tensors();
    tensors_.reserve(infos.size());
    for (size_t i = 0; i < infos.size(); ++i) {
      const TensorInfo& t = infos[i];
      tensors_.push_back({t.name, t.shape, dtype_name(t.dtype), dtype_converts_to_f32(t.dtype), t.element_count, i, ""});
    }
  }
  ModelStatus index() { return index_tensors(); }
  ModelStatus read_f32(const ModelTensor& t, uint64_t first, uint64_t count, float* out) const override {
    return model_status(file_.read_f32(file_.tensors()[t.native], first, count, out));
  }
  const std::string* metadata_string(std::string_view key) const override { return file_.metadata_value(key); }

 private:
  SafetensorsFile file_;
};

// GGUF stores ne[0] innermost; the GGUF reader already presents ne reversed, which is PyTorch's order
// (a Linear [out, in] is stored with ne = {in, out}), and reads elements in that row-major order.
class GgufModel final : public ModelFile {
 public:
  explicit GgufModel(GgufFile file) : ModelFile(ModelFormat::kGguf, file.label()), file_(std::move(file)) {
    const auto& infos = file_.tensors();
    tensors_.reserve(infos.size());
    for (size_t i = 0; i < infos.size(); ++i) {
      const GgufTensorInfo& t = infos[i];
      tensors_.push_back({t.name, t.shape, t.type_name(), ggml_type_converts_to_f32(t.type), t.element_count, i, ""});
    }
    // A fine-tune converted by llama.cpp names its base model here (general.base_model.count >= 1).
    if (const std::string* base = file_.metadata_string("general.base_model.0.name")) declared_base_model_ = *base;
  }
  ModelStatus index() { return index_tensors(); }
  ModelStatus read_f32(const ModelTensor& t, uint64_t first, uint64_t count, float* out) const override {
    return model_status(file_.read_f32(file_.tensors()[t.native], first, count, out));
  }
  // Exactly `key`, else "probex." + key: probex's GGUF writer namespaces a safetensors file's __metadata__
  // keys so (GGUF's convention), and the zoo's readers ask for them by their safetensors names.
  const std::string* metadata_string(std::string_view key) const override {
    if (const std::string* v = file_.metadata_string(key)) return v;
    return file_.metadata_string("probex." + std::string(key));
  }

 private:
  GgufFile file_;
};

// TFLite: shapes as tflite.h maps them (Conv2D kernels [O, H, W, I] shown [O, I, H, W], depthwise kernels
// [1, H, W, C] shown [C, 1, H, W]); the reader reads in that shown order. Activations and inputs are listed
// (no data: not readable), as are tensors of types or encodings it does not convert.
class TfliteModel final : public ModelFile {
 public:
  explicit TfliteModel(TfliteFile file) : ModelFile(ModelFormat::kTflite, file.label()), file_(std::move(file)) {
    const auto& infos = file_.tensors();
    tensors_.reserve(infos.size());
    for (size_t i = 0; i < infos.size(); ++i) {
      const TfliteTensorInfo& t = infos[i];
      tensors_.push_back({t.name, t.shape, tflite_type_name(t.type), t.readable, t.element_count, i, ""});
      if (t.stored_shape != t.shape) {  // a Conv2D or depthwise kernel, permuted to PyTorch's order
        std::string stored;
        for (size_t k = 0; k < t.stored_shape.size(); ++k) stored += (k ? ", " : "") + std::to_string(t.stored_shape[k]);
        tensors_.back().layout = "stored [" + stored + "] as TFLite's " +
                                 (t.stored_shape.size() == 4 && t.stored_shape[0] == 1 && t.shape[1] == 1
                                      ? "[1, H, W, C] depthwise kernel"
                                      : "[O, H, W, I] kernel") +
                                 ", shown in PyTorch's order";
      }
    }
  }
  ModelStatus index() { return index_tensors(); }
  ModelStatus read_f32(const ModelTensor& t, uint64_t first, uint64_t count, float* out) const override {
    return model_status(file_.read_f32(file_.tensors()[t.native], first, count, out));
  }
  // Model.metadata entries by name (probex's TFLite writer stores each safetensors __metadata__ entry so).
  const std::string* metadata_string(std::string_view key) const override {
    return file_.metadata_string(std::string(key));
  }

 private:
  TfliteFile file_;
};

TfliteLimits tflite_limits(const ModelLimits& limits) {
  TfliteLimits l;
  l.max_file_bytes = limits.max_file_bytes;
  l.max_tensors = limits.max_tensors;
  l.max_dims = limits.max_dims;
  return l;
}

GgufLimits gguf_limits(const ModelLimits& limits) {
  GgufLimits l;
  l.max_file_bytes = limits.max_file_bytes;
  l.max_tensors = limits.max_tensors;
  return l;
}

template <typename Model, typename File>
ModelStatus wrap(File file, std::unique_ptr<ModelFile>* out) {
  auto model = std::make_unique<Model>(std::move(file));
  ModelStatus st = model->index();
  if (st.ok()) *out = std::move(model);
  return st;
}

enum class Content { kSafetensors, kGguf, kTflite, kJson, kProbexBundle, kUnknown };

// What the first bytes of a file say. Safetensors: a little-endian header length N below 2^32 (real
// headers are kilobytes to megabytes), then '{'; the safetensors reader then checks N against the file, so
// a truncated file gets its precise error. A JSON index or config starts with '{' after whitespace: read as
// a length, its first 8 ASCII bytes exceed 2^32, so the two cannot be confused.
Content sniff(const uint8_t* head, size_t n) {
  if (n >= 4 && std::memcmp(head, "GGUF", 4) == 0) return Content::kGguf;
  if (n >= 8 && std::memcmp(head + 4, "PRBX", 4) == 0) return Content::kProbexBundle;  // schema's file_identifier
  if (n >= 8 && std::memcmp(head + 4, "TFL3", 4) == 0) return Content::kTflite;  // TFLite's file_identifier
  if (n >= 9 && head[8] == '{' && head[4] == 0 && head[5] == 0 && head[6] == 0 && head[7] == 0) return Content::kSafetensors;
  size_t i = 0;
  while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r')) ++i;
  if (i < n && head[i] == '{') return Content::kJson;
  return Content::kUnknown;
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
    return {ModelError::kLimitExceeded, "json_too_large", path + ": a JSON file of " + std::to_string(file.size()) +
                                                " bytes is above the configured limit of " +
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

ModelStatus identify_model(const std::string& path, const ModelLimits& limits, ModelFormat* format, std::string* target) {
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
        return not_a_model(path, "a folder with no adapter_config.json, model.safetensors.index.json or model.safetensors");
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
  switch (sniff(head, n)) {
    case Content::kSafetensors: *format = ModelFormat::kSafetensors; return {};
    case Content::kGguf: *format = ModelFormat::kGguf; return {};
    case Content::kTflite: *format = ModelFormat::kTflite; return {};
    case Content::kJson: {
      const ModelStatus st = identify_json(path, limits, format);
      if (st.ok() && *format == ModelFormat::kPeftAdapter) *target = platform::parent_folder(path);  // the config's folder
      return st;
    }
    case Content::kProbexBundle: {
      ModelStatus st = not_a_model(path, "it is a probex bundle (the BUNDLE argument), not a model");
      st.detail = "probex_bundle";  // probex-inspect reads either, and tells them apart by this
      return st;
    }
    case Content::kUnknown: break;
  }
  // ONNX has no magic: a ModelProto starting with ir_version and holding a graph (onnx.h), tried last.
  if (looks_like_onnx_file(path)) {
    *format = ModelFormat::kOnnx;
    return {};
  }
  if (n < 9) return not_a_model(path, "the file has " + std::to_string(n) + " bytes, fewer than any format's header");
  return not_a_model(path, "its first bytes (" + hex_bytes(head, 8) +
                               ") match no format probex reads (safetensors, GGUF, TFLite, ONNX, a sharded checkpoint's index, a "
                               "PEFT adapter)");
}

ModelStatus open_safetensors_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out) {
  SafetensorsFile file;
  const SafetensorsStatus st = SafetensorsFile::open(path, &file, safetensors_limits(limits));
  if (!st.ok()) return model_status(st);
  return wrap<SafetensorsModel>(std::move(file), out);
}

ModelStatus open_gguf_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out) {
  GgufFile file;
  const GgufStatus st = GgufFile::open(path, &file, gguf_limits(limits));
  if (!st.ok()) return model_status(st);
  return wrap<GgufModel>(std::move(file), out);
}

ModelStatus open_tflite_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out) {
  TfliteFile file;
  const TfliteStatus st = TfliteFile::open(path, &file, tflite_limits(limits));
  if (!st.ok()) return model_status(st);
  return wrap<TfliteModel>(std::move(file), out);
}

ModelStatus open_model_file(const std::string& path, std::unique_ptr<ModelFile>* out, const ModelLimits& limits) {
  out->reset();
  ModelFormat format = ModelFormat::kSafetensors;
  std::string target;
  const ModelStatus st = identify_model(path, limits, &format, &target);
  if (!st.ok()) return st;
  switch (format) {
    case ModelFormat::kSafetensors: return open_safetensors_model(target, limits, out);
    case ModelFormat::kGguf: return open_gguf_model(target, limits, out);
    case ModelFormat::kTflite: return open_tflite_model(target, limits, out);
    case ModelFormat::kShardedSafetensors: return open_sharded_model(target, limits, out);
    case ModelFormat::kPeftAdapter: return open_peft_adapter(target, limits, out);
    case ModelFormat::kOnnx: return open_onnx_model(target, limits, out);
  }
  return not_a_model(path, "unknown format");
}

ModelStatus model_file_from_buffer(std::string label, const uint8_t* data, size_t size, std::unique_ptr<ModelFile>* out,
                                   const ModelLimits& limits) {
  out->reset();
  const size_t n = size < 16 ? size : 16;
  switch (sniff(data, n)) {
    case Content::kSafetensors: {
      SafetensorsFile file;
      const SafetensorsStatus st = SafetensorsFile::from_buffer(label, data, size, &file, safetensors_limits(limits));
      if (!st.ok()) return model_status(st);
      return wrap<SafetensorsModel>(std::move(file), out);
    }
    case Content::kGguf: {
      GgufFile file;
      const GgufStatus st = GgufFile::from_buffer(label, data, size, &file, gguf_limits(limits));
      if (!st.ok()) return model_status(st);
      return wrap<GgufModel>(std::move(file), out);
    }
    case Content::kTflite: {
      TfliteFile file;
      const TfliteStatus st = TfliteFile::from_buffer(label, data, size, &file, tflite_limits(limits));
      if (!st.ok()) return model_status(st);
      return wrap<TfliteModel>(std::move(file), out);
    }
    default: break;
  }
  if (looks_like_onnx(data, size)) return onnx_model_from_buffer(std::move(label), data, size, limits, out);
  return not_a_model(label, "a buffer holds a safetensors, GGUF, TFLite or ONNX file; its first bytes (" +
                                hex_bytes(data, n < 8 ? n : 8) + ") are none of them");
}

}  // namespace probex
