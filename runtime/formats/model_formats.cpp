#include "runtime/formats/model_formats.h"

#include "runtime/formats/onnx.h"

namespace probex {

// The heads cannot overlap in a real file; a crafted one matching several is read as the first.
const ModelFormatEntry kModelFormats[6] = {
    {ModelFormat::kGguf, is_gguf_head, open_gguf_model, gguf_model_from_buffer},
    {ModelFormat::kTflite, is_tflite_head, open_tflite_model, tflite_model_from_buffer},
    {ModelFormat::kSafetensors, is_safetensors_head, open_safetensors_model, safetensors_model_from_buffer},
    {ModelFormat::kShardedSafetensors, nullptr, open_sharded_model, nullptr},
    {ModelFormat::kPeftAdapter, nullptr, open_peft_adapter, nullptr},
    {ModelFormat::kOnnx, nullptr, open_onnx_model, onnx_model_from_buffer},
};

const ModelFormatEntry& model_format_entry(ModelFormat format) {
  for (const ModelFormatEntry& e : kModelFormats)
    if (e.format == format) return e;
  return kModelFormats[0];  // not reached: every ModelFormat has an entry (test_model_formats.cpp checks)
}

}  // namespace probex
