// Writing one model file of a zoo, in either format and either layout: shared by the zoo builder (zoo.cpp)
// and the export of a safetensors zoo to GGUF (export.cpp), so both give the same bytes for the same
// weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "converter/zoo/zoo.h"

namespace probex::convert {

// A tensor to write: float32 values in PyTorch's row-major order.
struct TensorView {
  std::string name;
  std::vector<uint64_t> shape;
  const float* values = nullptr;
  size_t count = 0;
};

// "model.safetensors", "model.gguf", "model.tflite" or "model.onnx".
const char* zoo_model_file_name(ZooFormat format);

// The file contents. Safetensors: float32 tensors, `metadata` as __metadata__. GGUF (`gguf_type`, each
// tensor stored as gguf_storage_type says): general.architecture "mlp", general.name `name` (the model's
// folder in the zoo), general.quantization_version 2 when a tensor is quantized, and every metadata entry
// as the string "probex.<key>". TFLite (`tflite_type`) and ONNX: the model as a graph (io/tflite_writer.h,
// io/onnx_writer.h) of its Linear layers (mlp_layers), every metadata entry under its own key; the TFLite
// description is `name`.
bool encode_zoo_model(const std::vector<TensorView>& tensors, const std::map<std::string, std::string>& metadata,
                      ZooFormat format, GgufType gguf_type, TfliteWeightType tflite_type, const std::string& name,
                      std::vector<uint8_t>* bytes, std::string* error);

// The zoo MLP's layers in order from its tensors: "fc1", "fc2", ... (by number) then "head", each with
// "<layer>.weight" [out, in] and "<layer>.bias" [out], a ReLU after every layer but the last (nn/model.h).
// False (and *error) for any other tensor, a missing bias, or layers that do not chain.
bool mlp_layers(const std::vector<TensorView>& tensors, std::vector<DenseLayer>* layers, std::string* error);

// Writes `bytes` as the model of folder `model_dir` (relative to `root_dir`) in `layout`:
// <model_dir>/<file name>, or for the Hugging Face layout <model_dir>/refs/main holding a ref derived from
// the bytes and <model_dir>/snapshots/<ref>/<file name>. *rel_path: the file, relative to root_dir.
bool place_zoo_model(const std::filesystem::path& root_dir, const std::string& model_dir,
                     const std::vector<uint8_t>& bytes, ZooLayout layout, ZooFormat format, std::string* rel_path,
                     std::string* error);

}  // namespace probex::convert
