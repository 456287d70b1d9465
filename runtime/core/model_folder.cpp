// Sharded checkpoints and PEFT adapters: being written (issue 16). Until then both are refused clearly.
#include "model_formats.h"

namespace probex {

ModelStatus open_sharded_model(const std::string& index_path, const ModelLimits&, std::unique_ptr<ModelFile>*) {
  return {ModelError::kNotAModel, "", "not a model file probex reads yet: " + index_path + ": sharded checkpoints"};
}

ModelStatus open_peft_adapter(const std::string& folder, const ModelLimits&, std::unique_ptr<ModelFile>*) {
  return {ModelError::kNotAModel, "", "not a model file probex reads yet: " + folder + ": PEFT adapters"};
}

}  // namespace probex
