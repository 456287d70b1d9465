// The TFLite reader (tflite.h) behind the model-file interface (model_file.h), and its entry's functions in
// the registry of formats (model_formats.h).
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "runtime/formats/model_formats.h"

namespace probex {

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

namespace {

TfliteLimits tflite_limits(const ModelLimits& limits) {
  TfliteLimits l;
  l.max_file_bytes = limits.max_file_bytes;
  l.max_tensors = limits.max_tensors;
  l.max_dims = limits.max_dims;
  return l;
}

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
        for (size_t k = 0; k < t.stored_shape.size(); ++k)
          stored += (k ? ", " : "") + std::to_string(t.stored_shape[k]);
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

}  // namespace

ModelStatus open_tflite_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out) {
  return open_with_reader<TfliteModel, TfliteFile>(path, tflite_limits(limits), out);
}

ModelStatus tflite_model_from_buffer(std::string label, const uint8_t* data, size_t size, const ModelLimits& limits,
                                     std::unique_ptr<ModelFile>* out) {
  return read_with_reader<TfliteModel, TfliteFile>(std::move(label), data, size, tflite_limits(limits), out);
}

// TFLite's FlatBuffers file_identifier "TFL3" at bytes 4-7.
bool is_tflite_head(const uint8_t* head, size_t n) { return n >= 8 && std::memcmp(head + 4, "TFL3", 4) == 0; }

}  // namespace probex
