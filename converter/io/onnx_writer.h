// Writes ONNX models (a protobuf ModelProto, field numbers of onnx/onnx.proto; no libprotobuf): a multilayer
// perceptron (encode_onnx_mlp) or a ProbeX expert (encode_onnx_expert, below). Both: ir_version 8,
// opset_import {"" 17}, producer_name "probex"; initializers FLOAT with raw_data (little-endian); each
// metadata (key, value) becomes a ModelProto.metadata_props entry (StringStringEntryProto); the bytes depend
// only on the arguments (metadata in key order).
// The MLP's graph "main": input "input" FLOAT [batch, in0] (batch a symbolic dimension), per layer a Gemm
// node "<layer>" (A the previous activation, B the initializer "<layer>.weight" [out, in] with transB = 1,
// C the initializer "<layer>.bias" [out]) then, where the layer asks for one, a Relu node "<layer>.relu";
// the last activation is the output "output" FLOAT [batch, out]. With transB = 1 the weight keeps
// PyTorch's [out, in] layout, as torch.onnx.export writes a Linear.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tflite_writer.h"  // DenseLayer

namespace probex::convert {

// False (and *error) as encode_tflite_mlp.
bool encode_onnx_mlp(const std::vector<DenseLayer>& layers, const std::map<std::string, std::string>& metadata,
                     std::vector<uint8_t>* bytes, std::string* error);

// A ProbeX expert's float weights in the authors' layouts (expert/probex_expert.h); head and head_bias
// unused when d_y = 0 (a zero-shot expert, whose output is the embedding).
struct ExpertGraphWeights {
  uint64_t d_h = 0, d_w = 0, r_u = 0, r_v = 0, r_t = 0, d_y = 0;
  const float* probes = nullptr;        // U [d_W, r_U]
  const float* projection = nullptr;    // V^T [r_V, d_H]
  const float* encoder = nullptr;       // M [r_T, r_U*r_V]
  const float* encoder_bias = nullptr;  // [r_T]
  const float* head = nullptr;          // [d_Y, r_T]
  const float* head_bias = nullptr;     // [d_Y]
};

// The expert's forward on one layer as an ONNX model (docs/formats.md), so that other runtimes (ONNX
// Runtime) can run exactly what probex runs. Same ModelProto as encode_onnx_mlp; graph "probex_expert":
// input "layer" FLOAT [d_H, d_W]; nodes MatMul(layer, probes.weight) -> Transpose(perm 1,0) ->
// Gemm(., shared_probe_proj.weight, transB 1) -> Relu -> Flatten(axis 0) -> Gemm(., per_probe_encoders.weight,
// .bias, transB 1) = "embedding" [1, r_T] -> Gemm(., classification_head.weight, .bias, transB 1) = "logits"
// [1, d_Y]; outputs "logits" (with a head) then "embedding". Initializers keep the authors' names and shapes.
bool encode_onnx_expert(const ExpertGraphWeights& weights, const std::map<std::string, std::string>& metadata,
                        std::vector<uint8_t>* bytes, std::string* error);

}  // namespace probex::convert
