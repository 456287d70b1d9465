// Writes a multilayer perceptron as a TensorFlow Lite model (FlatBuffers, schema/tflite_subset.fbs, file
// identifier "TFL3", Model.version 3): a real graph, not a bag of tensors. Subgraph "main": input tensor
// "input" [1, in0] FLOAT32, then per layer a FULLY_CONNECTED operator (builtin code 9) with inputs
// (previous activation, "<layer>.weight" [out, in], "<layer>.bias" [out]) and output "<layer>.out" [1, out],
// its ReLU fused (FullyConnectedOptions.fused_activation_function RELU) where the layer asks for one. The
// weight layout [out, in] is TFLite's own for FULLY_CONNECTED and PyTorch's for a Linear: no transpose.
//
// Weight types:
//   FLOAT32  every constant FLOAT32.
//   INT8     weights INT8, per-channel symmetric as TFLite's converter quantizes FULLY_CONNECTED weights:
//            scale[c] = max|w[c, :]| / 127 for each output channel c (1 for an all-zero row), zero_point 0,
//            quantized_dimension 0, q = clamp(round(w * 127 / max|w[c, :]|), -127, 127). Biases stay FLOAT32
//            and activations FLOAT32: TFLite's dynamic-range ("hybrid") model, which is what its converter
//            writes with Optimize.DEFAULT and no representative data set.
// Buffer 0 is the empty buffer (TFLite's convention; activations point at it); constant data is 16-aligned.
// Metadata: each (key, value) becomes a Model.metadata entry named `key` whose buffer holds the value's bytes.
// The bytes depend only on the arguments (metadata in key order).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace probex::convert {

enum class TfliteWeightType { kFloat32, kInt8 };
const char* tflite_weight_type_name(TfliteWeightType type);                     // "FLOAT32", "INT8"
bool parse_tflite_weight_type(const std::string& name, TfliteWeightType* out);  // by name, as above

// One fully connected layer: y = x W^T + b, W row-major [out, in] (PyTorch's Linear).
struct DenseLayer {
  std::string name;  // its tensors are "<name>.weight", "<name>.bias"; its output "<name>.out"
  uint64_t in = 0, out = 0;
  const float* weight = nullptr;  // out * in values
  const float* bias = nullptr;    // out values
  bool relu = false;              // a ReLU after it
};

// Per-channel symmetric int8 of a [rows, cols] matrix, as above: q (rows * cols) and one scale per row.
void quantize_int8_per_channel(const float* w, uint64_t rows, uint64_t cols, std::vector<int8_t>* q,
                               std::vector<float>* scales);

// The file contents of `layers` in order (each layer's `in` the previous one's `out`). False (and *error)
// when there are no layers, a layer has a zero dimension, no values, or does not chain.
bool encode_tflite_mlp(const std::vector<DenseLayer>& layers, TfliteWeightType type,
                       const std::map<std::string, std::string>& metadata, const std::string& description,
                       std::vector<uint8_t>* bytes, std::string* error);

}  // namespace probex::convert
