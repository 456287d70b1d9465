// Writes a multilayer perceptron as an ONNX model (a protobuf ModelProto, field numbers of onnx/onnx.proto;
// no libprotobuf): ir_version 8, opset_import {"" 17}, producer_name "probex". Graph "main": input "input"
// FLOAT [batch, in0] (batch a symbolic dimension), per layer a Gemm node "<layer>" (A the previous
// activation, B the initializer "<layer>.weight" [out, in] with transB = 1, C the initializer "<layer>.bias"
// [out]) then, where the layer asks for one, a Relu node "<layer>.relu"; the last activation is the output
// "output" FLOAT [batch, out]. With transB = 1 the weight keeps PyTorch's [out, in] layout, as
// torch.onnx.export writes a Linear. Initializers are FLOAT with raw_data (little-endian). Each metadata
// (key, value) becomes a ModelProto.metadata_props entry (StringStringEntryProto). The bytes depend only on
// the arguments (metadata in key order).
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

}  // namespace probex::convert
