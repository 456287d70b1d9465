// Hand-made ONNX files for tests (field numbers from onnx/onnx.proto), encoded with the converter's
// header-only protobuf writer: the ONNX reader's tests, its malformed corpus and the fuzz seeds.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "converter/io/protobuf_writer.h"  // by path: the runtime tests build without the converter

namespace probex::test {

using convert::Pb;

inline std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}
inline std::vector<uint8_t> packed_varints(const std::vector<uint64_t>& v) {
  Pb p;
  for (uint64_t x : v) p.varint(x);
  return p.bytes;
}

// TensorProto: dims (unpacked, as onnx writes them), data_type, name, raw_data.
inline Pb onnx_tensor(const std::string& name, const std::vector<int64_t>& dims, uint32_t data_type,
                      const std::vector<uint8_t>& raw_data) {
  Pb t;
  for (int64_t d : dims) t.u(1, static_cast<uint64_t>(d));
  t.u(2, data_type);
  if (!name.empty()) t.str(8, name);
  t.len(9, raw_data);
  return t;
}
// A node: inputs, outputs, name, op_type, attributes (already encoded AttributeProto messages).
inline Pb onnx_node(const std::string& op_type, const std::vector<std::string>& inputs,
                    const std::vector<std::string>& outputs, const std::string& name = "",
                    const std::vector<Pb>& attributes = {}) {
  Pb n;
  for (const auto& i : inputs) n.str(1, i);
  for (const auto& o : outputs) n.str(2, o);
  if (!name.empty()) n.str(3, name);
  n.str(4, op_type);
  for (const auto& a : attributes) n.msg(5, a);
  return n;
}
inline Pb attribute_tensor(const std::string& name, const Pb& tensor) {
  return Pb().str(1, name).msg(5, tensor).u(20, 4);  // type TENSOR
}
inline Pb attribute_graph(const std::string& name, const Pb& graph) {
  return Pb().str(1, name).msg(6, graph).u(20, 5);  // type GRAPH
}
inline Pb attribute_int(const std::string& name, int64_t v) {
  return Pb().str(1, name).u(3, static_cast<uint64_t>(v)).u(20, 2);  // type INT
}
// GraphProto from nodes and initializers.
inline Pb onnx_graph(const std::vector<Pb>& nodes, const std::vector<Pb>& initializers, const std::string& name = "g") {
  Pb g;
  for (const auto& n : nodes) g.msg(1, n);
  g.str(2, name);
  for (const auto& t : initializers) g.msg(5, t);
  return g;
}
// ModelProto: ir_version 8, producer, the graph, opset 17.
inline std::vector<uint8_t> onnx_model(const Pb& graph) {
  Pb m;
  m.u(1, 8).str(2, "probex-test").msg(7, graph).msg(8, Pb().str(1, "").u(2, 17));
  return m.bytes;
}
// The model of one FLOAT initializer.
inline std::vector<uint8_t> one_initializer_onnx(const std::string& name, const std::vector<int64_t>& dims,
                                                 const std::vector<float>& values) {
  return onnx_model(onnx_graph({}, {onnx_tensor(name, dims, 1, f32_bytes(values))}));
}

}  // namespace probex::test
