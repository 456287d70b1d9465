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

#include "converter/io/tflite_writer.h"  // DenseLayer

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
//
// With `int8` set, the graph is the expert as ONNX Runtime's dynamic quantization
// (onnxruntime.quantization.quantize_dynamic) writes a quantized MatMul, for step 1 and the encoder: the
// activation quantized per tensor at run time (DynamicQuantizeLinear: uint8 with a zero point), an
// int8 x uint8 MatMulInteger, a Cast to FLOAT and one Mul by (activation scale x per-column weight scale);
// ONNX Runtime's optimizer fuses that into its DynamicQuantizeMatMul kernel. Step 2 and the head stay
// FLOAT. New initializers: "probes.weight_quantized" INT8 [d_W, r_U] and "probes.weight_scale" [r_U];
// "per_probe_encoders.weight_quantized" INT8 [r_U*r_V, r_T] (M transposed: MatMulInteger has no transB)
// and "per_probe_encoders.weight_scale" [r_T]. The float "probes.weight" and "per_probe_encoders.weight"
// are then absent. It is the peer of an int8 bundle (scripts/bench.sh), not a format probex reads.
struct ExpertGraphInt8 {
  const int8_t* probes = nullptr;         // U quantized [d_W, r_U], one scale per column
  const float* probes_scales = nullptr;   // [r_U]
  const int8_t* encoder_t = nullptr;      // M^T quantized [r_U*r_V, r_T], one scale per column
  const float* encoder_scales = nullptr;  // [r_T]
};
bool encode_onnx_expert(const ExpertGraphWeights& weights, const std::map<std::string, std::string>& metadata,
                        std::vector<uint8_t>* bytes, std::string* error, const ExpertGraphInt8* int8 = nullptr);

}  // namespace probex::convert
