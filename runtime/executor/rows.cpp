#include "runtime/executor/rows.h"

#include <cstring>

namespace probex {

probex_status status_of(ModelError e) {
  switch (e) {
    case ModelError::kTensorNotFound: return PROBEX_LAYER_NOT_FOUND;
    case ModelError::kUnsupportedConversion: return PROBEX_LAYER_DTYPE;
    case ModelError::kLayerShape: return PROBEX_LAYER_SHAPE;
    case ModelError::kIo: return PROBEX_IO_ERROR;
    case ModelError::kLimitExceeded: return PROBEX_LIMIT_EXCEEDED;
    case ModelError::kNotAModel: return PROBEX_NOT_A_MODEL;
    default: return PROBEX_MODEL_INVALID;  // a format rule broken, a range outside a tensor
  }
}

probex_status FileRows::read(uint32_t first, uint32_t count, float* out, std::string* message) {
  const ModelStatus s = reader_.read(first, count, out);
  if (s.ok()) return PROBEX_OK;
  *message = s.message;
  return status_of(s.code);
}

probex_status MatrixRows::read(uint32_t first, uint32_t count, float* out, std::string*) {
  std::memcpy(out, x_ + static_cast<size_t>(first) * cols_, static_cast<size_t>(count) * cols_ * sizeof(float));
  return PROBEX_OK;
}

probex_status GeneratedRows::read(uint32_t first, uint32_t count, float* out, std::string*) {
  if (first == 0) input_ = SelfTestInput(seed_, amplitude_);
  input_.generate(out, static_cast<size_t>(count) * cols_);
  return PROBEX_OK;
}

}  // namespace probex
