// The safetensors reader (safetensors.h) behind the model-file interface (model_file.h), and its entry's
// functions in the registry of formats (model_formats.h).
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "runtime/formats/model_formats.h"

namespace probex {

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
  explicit SafetensorsModel(SafetensorsFile file)
      : ModelFile(ModelFormat::kSafetensors, file.label()), file_(std::move(file)) {
    const auto& infos = file_.tensors();
    tensors_.reserve(infos.size());
    for (size_t i = 0; i < infos.size(); ++i) {
      const TensorInfo& t = infos[i];
      tensors_.push_back(
          {t.name, t.shape, dtype_name(t.dtype), dtype_converts_to_f32(t.dtype), t.element_count, i, ""});
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

}  // namespace

ModelStatus open_safetensors_model(const std::string& path, const ModelLimits& limits,
                                   std::unique_ptr<ModelFile>* out) {
  return open_with_reader<SafetensorsModel, SafetensorsFile>(path, safetensors_limits(limits), out);
}

ModelStatus safetensors_model_from_buffer(std::string label, const uint8_t* data, size_t size,
                                          const ModelLimits& limits, std::unique_ptr<ModelFile>* out) {
  return read_with_reader<SafetensorsModel, SafetensorsFile>(std::move(label), data, size, safetensors_limits(limits),
                                                             out);
}

// A little-endian header length N below 2^32 (real headers are kilobytes to megabytes), then '{'; the reader
// then checks N against the file, so a truncated file gets its precise error. A JSON file starts with '{' after
// whitespace: read as a length, its first 8 ASCII bytes exceed 2^32, so the two cannot be confused.
bool is_safetensors_head(const uint8_t* head, size_t n) {
  return n >= 9 && head[8] == '{' && head[4] == 0 && head[5] == 0 && head[6] == 0 && head[7] == 0;
}

}  // namespace probex
