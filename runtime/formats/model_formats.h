// The readers behind open_model_file (model_file.h), one per format, and the mapping of each reader's own
// status onto ModelStatus. Internal to runtime/formats: callers use open_model_file.
#pragma once

#include <memory>
#include <string>

#include "runtime/formats/gguf.h"
#include "runtime/formats/model_file.h"
#include "runtime/formats/safetensors.h"
#include "runtime/formats/tflite.h"

namespace probex {

ModelStatus model_status(const SafetensorsStatus& status);
ModelStatus model_status(const GgufStatus& status);
ModelStatus model_status(const TfliteStatus& status);
SafetensorsLimits safetensors_limits(const ModelLimits& limits);

// A single safetensors file (model_file.cpp).
ModelStatus open_safetensors_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out);
// A GGUF file (model_file.cpp).
ModelStatus open_gguf_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out);
// A TFLite file (model_file.cpp).
ModelStatus open_tflite_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out);
// A sharded checkpoint from its index JSON; the shards are in the index's folder (model_folder.cpp).
ModelStatus open_sharded_model(const std::string& index_path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out);
// A PEFT adapter folder: adapter_config.json + adapter_model.safetensors (model_folder.cpp).
// ONNX files open through onnx.h's open_onnx_model.
ModelStatus open_peft_adapter(const std::string& folder, const ModelLimits& limits, std::unique_ptr<ModelFile>* out);

}  // namespace probex
