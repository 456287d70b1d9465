#include "converter/io/onnx_writer.h"

#include <cstring>

#include "converter/io/protobuf_writer.h"

namespace probex::convert {
namespace {

constexpr uint64_t kFloat = 1, kInt8 = 3;  // TensorProto.DataType FLOAT, INT8

// TensorProto: dims (1), data_type (2), name (8), raw_data (9).
Pb initializer(const std::string& name, const std::vector<uint64_t>& dims, const void* values, uint64_t bytes,
               uint64_t type = kFloat) {
  Pb t;
  for (uint64_t d : dims) t.u(1, d);
  t.u(2, type).str(8, name);
  std::vector<uint8_t> raw(static_cast<size_t>(bytes));
  if (bytes != 0) std::memcpy(raw.data(), values, raw.size());
  return t.len(9, raw.data(), raw.size());
}
Pb initializer(const std::string& name, const std::vector<uint64_t>& dims, const float* values, uint64_t count) {
  return initializer(name, dims, static_cast<const void*>(values), count * sizeof(float));
}

// A dimension of a graph input or output: a number, or a symbolic name (dim_param) when `param` is set.
struct Dim {
  uint64_t value = 0;
  const char* param = nullptr;
};

// ValueInfoProto: name (1), type (2) = TypeProto { tensor_type (1) = { elem_type (1), shape (2) } };
// TensorShapeProto.dim (1) = Dimension { dim_value (1) | dim_param (2) }.
Pb value_info(const std::string& name, const std::vector<Dim>& dims) {
  Pb shape;
  for (const Dim& d : dims) {
    Pb dim;
    if (d.param != nullptr) {
      dim.str(2, d.param);
    } else {
      dim.u(1, d.value);
    }
    shape.msg(1, dim);
  }
  Pb tensor;
  tensor.u(1, kFloat).msg(2, shape);
  return Pb().str(1, name).msg(2, Pb().msg(1, tensor));
}

// NodeProto: input (1), output (2), name (3), op_type (4), attribute (5).
Pb node(const std::string& op_type, const std::string& name, const std::vector<std::string>& inputs,
        const std::vector<std::string>& outputs) {
  Pb n;
  for (const std::string& i : inputs) n.str(1, i);
  for (const std::string& o : outputs) n.str(2, o);
  n.str(3, name).str(4, op_type);
  return n;
}
Pb node(const std::string& op_type, const std::string& name, const std::vector<std::string>& inputs,
        const std::string& output) {
  return node(op_type, name, inputs, std::vector<std::string>{output});
}

// AttributeProto: name (1), i (3), ints (8), type (20) = INT (2) or INTS (7).
Pb int_attribute(const std::string& name, int64_t value) {
  return Pb().str(1, name).u(3, static_cast<uint64_t>(value)).u(20, 2);
}
Pb ints_attribute(const std::string& name, const std::vector<int64_t>& values) {
  Pb a;
  a.str(1, name);
  for (int64_t v : values) a.u(8, static_cast<uint64_t>(v));
  return a.u(20, 7);
}

// out = in x B as ONNX Runtime's dynamic quantization writes it (onnx_writer.h): nodes named name.*.
void add_dynamic_matmul(Pb* graph, const std::string& name, const std::string& in, const std::string& weight,
                        const std::string& out) {
  const std::string q = name + ".input_quantized", s = name + ".input_scale", z = name + ".input_zero_point";
  graph->msg(1, node("DynamicQuantizeLinear", name + ".quantize", {in}, {q, s, z}));
  graph->msg(1, node("MatMulInteger", name + ".matmul", {q, weight + "_quantized", z}, name + ".int32"));
  graph->msg(1, node("Cast", name + ".cast", {name + ".int32"}, name + ".float").msg(5, int_attribute("to", kFloat)));
  graph->msg(1, node("Mul", name + ".scales", {s, weight + "_scale"}, name + ".scale"));
  graph->msg(1, node("Mul", name + ".rescale", {name + ".float", name + ".scale"}, out));
}

// ModelProto: ir_version (1), producer_name (2), producer_version (3), graph (7), opset_import (8) =
// OperatorSetIdProto { domain (1), version (2) }, metadata_props (14) = StringStringEntryProto { key 1, value 2 }.
std::vector<uint8_t> model_bytes(const Pb& graph, const std::map<std::string, std::string>& metadata) {
  Pb model;
  model.u(1, 8).str(2, "probex").str(3, "1").msg(7, graph).msg(8, Pb().str(1, "").u(2, 17));
  for (const auto& [key, value] : metadata) model.msg(14, Pb().str(1, key).str(2, value));
  return std::move(model.bytes);
}

}  // namespace

bool encode_onnx_mlp(const std::vector<DenseLayer>& layers, const std::map<std::string, std::string>& metadata,
                     std::vector<uint8_t>* bytes, std::string* error) {
  if (layers.empty()) {
    *error = "an ONNX model needs at least one layer";
    return false;
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const DenseLayer& l = layers[i];
    if (l.in == 0 || l.out == 0 || l.weight == nullptr || l.bias == nullptr) {
      *error = "layer '" + l.name + "': empty, or without weight or bias values";
      return false;
    }
    if (i > 0 && l.in != layers[i - 1].out) {
      *error = "layer '" + l.name + "' takes " + std::to_string(l.in) + " inputs, '" + layers[i - 1].name + "' gives " +
               std::to_string(layers[i - 1].out);
      return false;
    }
  }
  // GraphProto: node (1), name (2), initializer (5), input (11), output (12).
  Pb graph;
  std::string x = "input";
  for (size_t i = 0; i < layers.size(); ++i) {
    const DenseLayer& l = layers[i];
    const bool last = i + 1 == layers.size();
    const std::string gemm_out = last && !l.relu ? "output" : l.name + ".out";
    Pb gemm = node("Gemm", l.name, {x, l.name + ".weight", l.name + ".bias"}, gemm_out);
    gemm.msg(5, int_attribute("transB", 1));
    graph.msg(1, gemm);
    x = gemm_out;
    if (l.relu) {
      const std::string relu_out = last ? "output" : l.name + ".relu";
      graph.msg(1, node("Relu", l.name + ".relu", {x}, relu_out));
      x = relu_out;
    }
  }
  graph.str(2, "main");
  for (const DenseLayer& l : layers) {
    graph.msg(5, initializer(l.name + ".weight", {l.out, l.in}, l.weight, l.out * l.in));
    graph.msg(5, initializer(l.name + ".bias", {l.out}, l.bias, l.out));
  }
  graph.msg(11, value_info("input", {{0, "batch"}, {layers.front().in}}));
  graph.msg(12, value_info("output", {{0, "batch"}, {layers.back().out}}));
  *bytes = model_bytes(graph, metadata);
  return true;
}

bool encode_onnx_expert(const ExpertGraphWeights& w, const std::map<std::string, std::string>& metadata,
                        std::vector<uint8_t>* bytes, std::string* error, const ExpertGraphInt8* int8) {
  const bool head = w.d_y > 0;
  if (!w.d_h || !w.d_w || !w.r_u || !w.r_v || !w.r_t || !w.projection || !w.encoder_bias ||
      (int8 ? !int8->probes || !int8->probes_scales || !int8->encoder_t || !int8->encoder_scales
            : !w.probes || !w.encoder) ||
      (head && (!w.head || !w.head_bias))) {
    *error = "an expert graph needs every dimension and weight (a head only when d_Y > 0)";
    return false;
  }
  // GraphProto: node (1), name (2), initializer (5), input (11), output (12).
  Pb graph;
  if (int8) {
    add_dynamic_matmul(&graph, "probe", "layer", "probes.weight", "P");
  } else {
    graph.msg(1, node("MatMul", "probe", {"layer", "probes.weight"}, "P"));  // 1. P = X U  [d_H, r_U]
  }
  // 2. G = relu(P^T V) [r_U, r_V], as the authors' code: transpose, then the bias-free Linear whose weight
  // is V^T [r_V, d_H] (Gemm with transB = 1 and no C). G's rows are probes, so flattening it row-major is
  // the probe-major order of step 3.
  graph.msg(1, node("Transpose", "transpose", {"P"}, "P_t").msg(5, ints_attribute("perm", {1, 0})));
  graph.msg(1, node("Gemm", "project", {"P_t", "shared_probe_proj.weight"}, "H_t").msg(5, int_attribute("transB", 1)));
  graph.msg(1, node("Relu", "relu", {"H_t"}, "G"));
  graph.msg(1, node("Flatten", "flatten", {"G"}, "G_flat").msg(5, int_attribute("axis", 0)));  // 3. [1, r_U*r_V]
  // 4. e = M vec + b_M [1, r_T]; 5. logits = W_head e + b_head [1, d_Y].
  if (int8) {
    add_dynamic_matmul(&graph, "encode", "G_flat", "per_probe_encoders.weight", "encoded");
    graph.msg(1, node("Add", "encode.bias", {"encoded", "per_probe_encoders.bias"}, "embedding"));
  } else {
    graph.msg(1, node("Gemm", "encode", {"G_flat", "per_probe_encoders.weight", "per_probe_encoders.bias"}, "embedding")
                     .msg(5, int_attribute("transB", 1)));
  }
  if (head) {
    graph.msg(1, node("Gemm", "classify", {"embedding", "classification_head.weight", "classification_head.bias"},
                      "logits")
                     .msg(5, int_attribute("transB", 1)));
  }
  graph.str(2, "probex_expert");
  const uint64_t g = w.r_u * w.r_v;
  if (int8) {
    graph.msg(5, initializer("probes.weight_quantized", {w.d_w, w.r_u}, int8->probes, w.d_w * w.r_u, kInt8));
    graph.msg(5, initializer("probes.weight_scale", {w.r_u}, int8->probes_scales, w.r_u));
  } else {
    graph.msg(5, initializer("probes.weight", {w.d_w, w.r_u}, w.probes, w.d_w * w.r_u));
  }
  graph.msg(5, initializer("shared_probe_proj.weight", {w.r_v, w.d_h}, w.projection, w.r_v * w.d_h));
  if (int8) {
    graph.msg(5, initializer("per_probe_encoders.weight_quantized", {g, w.r_t}, int8->encoder_t, g * w.r_t, kInt8));
    graph.msg(5, initializer("per_probe_encoders.weight_scale", {w.r_t}, int8->encoder_scales, w.r_t));
  } else {
    graph.msg(5, initializer("per_probe_encoders.weight", {w.r_t, g}, w.encoder, w.r_t * g));
  }
  graph.msg(5, initializer("per_probe_encoders.bias", {w.r_t}, w.encoder_bias, w.r_t));
  if (head) {
    graph.msg(5, initializer("classification_head.weight", {w.d_y, w.r_t}, w.head, w.d_y * w.r_t));
    graph.msg(5, initializer("classification_head.bias", {w.d_y}, w.head_bias, w.d_y));
  }
  graph.msg(11, value_info("layer", {{w.d_h}, {w.d_w}}));
  if (head) graph.msg(12, value_info("logits", {{1}, {w.d_y}}));
  graph.msg(12, value_info("embedding", {{1}, {w.r_t}}));
  *bytes = model_bytes(graph, metadata);
  return true;
}

}  // namespace probex::convert
