// The GGUF reader (gguf.h) behind the model-file interface (model_file.h), and its entry's functions in
// the registry of formats (model_formats.h).
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "runtime/formats/model_formats.h"

namespace probex {

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

namespace {

GgufLimits gguf_limits(const ModelLimits& limits) {
  GgufLimits l;
  l.max_file_bytes = limits.max_file_bytes;
  l.max_tensors = limits.max_tensors;
  return l;
}

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

}  // namespace

ModelStatus open_gguf_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out) {
  return open_with_reader<GgufModel, GgufFile>(path, gguf_limits(limits), out);
}

ModelStatus gguf_model_from_buffer(std::string label, const uint8_t* data, size_t size, const ModelLimits& limits,
                                   std::unique_ptr<ModelFile>* out) {
  return read_with_reader<GgufModel, GgufFile>(std::move(label), data, size, gguf_limits(limits), out);
}

// The magic "GGUF".
bool is_gguf_head(const uint8_t* head, size_t n) { return n >= 4 && std::memcmp(head, "GGUF", 4) == 0; }

}  // namespace probex
