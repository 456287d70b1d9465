#include "converter/io/tflite_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tflite_subset_generated.h"

namespace probex::convert {
namespace {

namespace t = probex_tflite;

constexpr int32_t kFullyConnected = 9;  // BuiltinOperator FULLY_CONNECTED

std::vector<uint8_t> float_bytes(const float* v, uint64_t n) {
  std::vector<uint8_t> b(static_cast<size_t>(n) * sizeof(float));
  if (n != 0) std::memcpy(b.data(), v, b.size());
  return b;
}

}  // namespace

const char* tflite_weight_type_name(TfliteWeightType type) {
  return type == TfliteWeightType::kInt8 ? "INT8" : "FLOAT32";
}

bool parse_tflite_weight_type(const std::string& name, TfliteWeightType* out) {
  if (name == "FLOAT32") {
    *out = TfliteWeightType::kFloat32;
  } else if (name == "INT8") {
    *out = TfliteWeightType::kInt8;
  } else {
    return false;
  }
  return true;
}

void quantize_int8_per_channel(const float* w, uint64_t rows, uint64_t cols, std::vector<int8_t>* q,
                               std::vector<float>* scales) {
  q->assign(static_cast<size_t>(rows * cols), 0);
  scales->assign(static_cast<size_t>(rows), 1.0f);
  const size_t n_rows = static_cast<size_t>(rows), n_cols = static_cast<size_t>(cols);
  for (size_t r = 0; r < n_rows; ++r) {
    const float* row = w + r * n_cols;
    float range = 0.0f;
    for (size_t c = 0; c < n_cols; ++c) range = std::max(range, std::fabs(row[c]));
    if (range == 0.0f) continue;  // all zero: q 0, scale 1 (as TFLite's symmetric quantizer)
    (*scales)[r] = range / 127.0f;
    const float inverse = 127.0f / range;
    for (size_t c = 0; c < n_cols; ++c) {
      const float v = std::round(row[c] * inverse);
      (*q)[r * n_cols + c] = static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, v)));
    }
  }
}

bool encode_tflite_mlp(const std::vector<DenseLayer>& layers, TfliteWeightType type,
                       const std::map<std::string, std::string>& metadata, const std::string& description,
                       std::vector<uint8_t>* bytes, std::string* error) {
  if (layers.empty()) {
    *error = "a TFLite model needs at least one layer";
    return false;
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const DenseLayer& l = layers[i];
    if (l.in == 0 || l.out == 0 || l.weight == nullptr || l.bias == nullptr) {
      *error = "layer '" + l.name + "': empty, or without weight or bias values";
      return false;
    }
    if (l.in > 0x7FFFFFFF || l.out > 0x7FFFFFFF) {
      *error = "layer '" + l.name + "': a dimension above TFLite's int32 shapes";
      return false;
    }
    if (i > 0 && l.in != layers[i - 1].out) {
      *error = "layer '" + l.name + "' takes " + std::to_string(l.in) + " inputs, '" + layers[i - 1].name + "' gives " +
               std::to_string(layers[i - 1].out);
      return false;
    }
  }
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<t::Buffer>> buffers;
  std::vector<flatbuffers::Offset<t::Tensor>> tensors;
  std::vector<flatbuffers::Offset<t::Operator>> ops;
  const auto add_buffer = [&](const std::vector<uint8_t>& data) {
    b.ForceVectorAlignment(data.size(), 1, 16);  // TFLite aligns buffer data to 16
    const auto v = b.CreateVector(data);
    buffers.push_back(t::CreateBuffer(b, v, 0, 0));
    return static_cast<uint32_t>(buffers.size() - 1);
  };
  buffers.push_back(t::CreateBuffer(b));  // buffer 0: empty
  const auto add_tensor = [&](const std::string& name, std::vector<int32_t> shape, t::TensorType tensor_type,
                              uint32_t buffer, flatbuffers::Offset<t::QuantizationParameters> q) {
    tensors.push_back(t::CreateTensorDirect(b, &shape, tensor_type, buffer, name.c_str(), q));
    return static_cast<int32_t>(tensors.size() - 1);
  };
  int32_t x = add_tensor("input", {1, static_cast<int32_t>(layers[0].in)}, t::TensorType::FLOAT32, 0, 0);
  const int32_t input = x;
  for (const DenseLayer& l : layers) {
    const int32_t out = static_cast<int32_t>(l.out), in = static_cast<int32_t>(l.in);
    int32_t w = 0;
    if (type == TfliteWeightType::kInt8) {
      std::vector<int8_t> q;
      std::vector<float> scales;
      quantize_int8_per_channel(l.weight, l.out, l.in, &q, &scales);
      std::vector<uint8_t> data(q.size());
      std::memcpy(data.data(), q.data(), q.size());
      const uint32_t buffer = add_buffer(data);
      const std::vector<int64_t> zero_points(scales.size(), 0);
      const auto qp = t::CreateQuantizationParametersDirect(b, nullptr, nullptr, &scales, &zero_points,
                                                            t::QuantizationDetails::NONE, 0, 0);
      w = add_tensor(l.name + ".weight", {out, in}, t::TensorType::INT8, buffer, qp);
    } else {
      w = add_tensor(l.name + ".weight", {out, in}, t::TensorType::FLOAT32,
                     add_buffer(float_bytes(l.weight, l.out * l.in)), 0);
    }
    const int32_t bias = add_tensor(l.name + ".bias", {out}, t::TensorType::FLOAT32,
                                    add_buffer(float_bytes(l.bias, l.out)), 0);
    const int32_t y = add_tensor(l.name + ".out", {1, out}, t::TensorType::FLOAT32, 0, 0);
    const auto options = t::CreateFullyConnectedOptions(b, l.relu ? t::ActivationFunctionType::RELU
                                                                  : t::ActivationFunctionType::NONE);
    const std::vector<int32_t> op_inputs = {x, w, bias}, op_outputs = {y};
    ops.push_back(t::CreateOperatorDirect(b, 0, &op_inputs, &op_outputs, t::BuiltinOptions::FullyConnectedOptions,
                                          options.Union()));
    x = y;
  }
  std::vector<flatbuffers::Offset<t::Metadata>> entries;
  for (const auto& [key, value] : metadata) {
    const uint32_t buffer = add_buffer(std::vector<uint8_t>(value.begin(), value.end()));
    entries.push_back(t::CreateMetadataDirect(b, key.c_str(), buffer));
  }
  // FULLY_CONNECTED versions (TFLite's op_version.cc table): float 1, hybrid (float input, int8 weights) 3.
  const int32_t op_version = type == TfliteWeightType::kInt8 ? 3 : 1;
  const std::vector<flatbuffers::Offset<t::OperatorCode>> codes = {
      t::CreateOperatorCode(b, static_cast<int8_t>(kFullyConnected), 0, op_version, kFullyConnected)};
  const std::vector<int32_t> inputs = {input}, outputs = {x};
  const std::vector<flatbuffers::Offset<t::SubGraph>> subgraphs = {
      t::CreateSubGraphDirect(b, &tensors, &inputs, &outputs, &ops, "main")};
  const auto model = t::CreateModelDirect(b, 3, &codes, &subgraphs, description.c_str(), &buffers, nullptr,
                                          entries.empty() ? nullptr : &entries);
  t::FinishModelBuffer(b, model);
  bytes->assign(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  return true;
}

}  // namespace probex::convert
