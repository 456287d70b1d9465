// The registry of model-file formats behind open_model_file and model_file_from_buffer (model_file.h): one
// entry per format, each implemented by its reader (<format>.h) and its adapter to the model-file
// interface (<format>_model.cpp, or the reader's own file for the formats that are folders or indexes).
// Adding a format: a reader, an adapter, a ModelFormat value and one entry in model_formats.cpp.
// Internal to runtime/formats: callers use open_model_file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "runtime/formats/gguf.h"
#include "runtime/formats/model_file.h"
#include "runtime/formats/safetensors.h"
#include "runtime/formats/tflite.h"

namespace probex {

struct ModelFormatEntry {
  ModelFormat format;
  // True when a file's first bytes (16, or all of a shorter file) are this format's; nullptr for the formats
  // found otherwise: a folder or a JSON file's keys (sharded checkpoints, PEFT adapters), or tried last
  // because it has no magic (ONNX).
  bool (*sniff)(const uint8_t* head, size_t n);
  // Opens the file or folder at `path` (what identify_model named).
  ModelStatus (*open)(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out);
  // Reads a whole file held in memory; nullptr for the formats that span several files.
  ModelStatus (*from_buffer)(std::string label, const uint8_t* data, size_t size, const ModelLimits& limits,
                             std::unique_ptr<ModelFile>* out);
};

// Every format, in the order their sniffs are tried (model_formats.cpp).
extern const ModelFormatEntry kModelFormats[6];
const ModelFormatEntry& model_format_entry(ModelFormat format);

// The single-file formats' entries (<format>_model.cpp).
bool is_safetensors_head(const uint8_t* head, size_t n);
ModelStatus open_safetensors_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out);
ModelStatus safetensors_model_from_buffer(std::string label, const uint8_t* data, size_t size,
                                          const ModelLimits& limits, std::unique_ptr<ModelFile>* out);
bool is_gguf_head(const uint8_t* head, size_t n);
ModelStatus open_gguf_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out);
ModelStatus gguf_model_from_buffer(std::string label, const uint8_t* data, size_t size, const ModelLimits& limits,
                                   std::unique_ptr<ModelFile>* out);
bool is_tflite_head(const uint8_t* head, size_t n);
ModelStatus open_tflite_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out);
ModelStatus tflite_model_from_buffer(std::string label, const uint8_t* data, size_t size, const ModelLimits& limits,
                                     std::unique_ptr<ModelFile>* out);
// A sharded checkpoint from its index JSON; the shards are in the index's folder (sharded_model.cpp).
ModelStatus open_sharded_model(const std::string& index_path, const ModelLimits& limits,
                               std::unique_ptr<ModelFile>* out);
// A PEFT adapter folder: adapter_config.json + adapter_model.safetensors (peft_adapter.cpp).
ModelStatus open_peft_adapter(const std::string& folder, const ModelLimits& limits, std::unique_ptr<ModelFile>* out);
// ONNX's functions are onnx.h's (open_onnx_model, onnx_model_from_buffer).

// Each reader's own status mapped onto ModelStatus, and the model-file limits as the reader's.
ModelStatus model_status(const SafetensorsStatus& status);
ModelStatus model_status(const GgufStatus& status);
ModelStatus model_status(const TfliteStatus& status);
SafetensorsLimits safetensors_limits(const ModelLimits& limits);

// An adapter built on an opened reader, its tensors indexed by name (a duplicate name is an error).
template <typename Model, typename File>
ModelStatus wrap_model(File file, std::unique_ptr<ModelFile>* out) {
  auto model = std::make_unique<Model>(std::move(file));
  ModelStatus st = model->index();
  if (st.ok()) *out = std::move(model);
  return st;
}

// A single-file format's reader File (with its static open and from_buffer) behind its adapter Model.
template <typename Model, typename File, typename Limits>
ModelStatus open_with_reader(const std::string& path, const Limits& limits, std::unique_ptr<ModelFile>* out) {
  File file;
  const auto st = File::open(path, &file, limits);
  if (!st.ok()) return model_status(st);
  return wrap_model<Model>(std::move(file), out);
}
template <typename Model, typename File, typename Limits>
ModelStatus read_with_reader(std::string label, const uint8_t* data, size_t size, const Limits& limits,
                             std::unique_ptr<ModelFile>* out) {
  File file;
  const auto st = File::from_buffer(std::move(label), data, size, &file, limits);
  if (!st.ok()) return model_status(st);
  return wrap_model<Model>(std::move(file), out);
}

}  // namespace probex
