// The malformed-file corpus of the ONNX reader: hand-made files, each breaking one rule, with the error
// (code, detail) and a message fragment the reader must give through model_file_from_buffer and
// open_model_file. External-data cases need a folder: they are in test_onnx.cpp. The fuzz script writes
// these as seeds (tests/fuzz/write_malformed_corpus.cpp).
#pragma once

#include <string>
#include <vector>

#include "runtime/formats/model_file.h"
#include "tests/runtime/formats/onnx_writer.h"

namespace probex::test {

struct MalformedOnnxCase {
  const char* name;
  std::vector<uint8_t> bytes;
  ModelError code;
  const char* detail;
  const char* message_part;
};

// A model whose graph holds If nodes nested `depth` deep (then_branch inside then_branch ...), built from
// the inside out by lengths (copying each level would take quadratic time).
inline std::vector<uint8_t> nested_if_onnx(size_t depth) {
  // Level k: graph = [node tag, len(N)] N; N = [op_type "If"] [attribute tag, len(A)] A;
  // A = [name "then_branch"] [g tag, len(G')] G'. Innermost graph: empty.
  std::vector<std::vector<uint8_t>> heads;  // per level, outermost first after reversal
  uint64_t inner = 0;
  const Pb op = Pb().str(4, "If");
  const Pb name = Pb().str(1, "then_branch");
  for (size_t k = 0; k < depth; ++k) {
    Pb a_head = name;
    a_head.tag(6, 2).varint(inner);
    const uint64_t a_len = a_head.bytes.size() + inner;
    Pb n_head = op;
    n_head.tag(5, 2).varint(a_len);
    const uint64_t n_len = n_head.bytes.size() + a_len;
    Pb g_head;
    g_head.tag(1, 2).varint(n_len);
    std::vector<uint8_t> head = g_head.bytes;
    head.insert(head.end(), n_head.bytes.begin(), n_head.bytes.end());
    head.insert(head.end(), a_head.bytes.begin(), a_head.bytes.end());
    inner = g_head.bytes.size() + n_len;
    heads.push_back(std::move(head));
  }
  Pb m;
  m.u(1, 8).tag(7, 2).varint(inner);
  for (size_t k = heads.size(); k-- > 0;) m.raw(heads[k]);
  return m.bytes;
}

// Two If levels whose node names are 32,768 bytes each: the second path passes 64 KiB.
inline std::vector<uint8_t> long_path_onnx() {
  const std::string name(32768, 'n');
  const Pb inner = onnx_graph(
      {onnx_node("If", {"c"}, {"o"}, name, {attribute_graph("then_branch", onnx_graph({}, {}))})}, {});
  return onnx_model(onnx_graph({onnx_node("If", {"c"}, {"o"}, name, {attribute_graph("then_branch", inner)})}, {}));
}

inline std::vector<MalformedOnnxCase> malformed_onnx_corpus() {
  using E = ModelError;
  const Pb w = onnx_tensor("w", {2}, 1, f32_bytes({1, 2}));
  const std::vector<uint8_t> valid = onnx_model(onnx_graph({}, {w}));
  const auto append = [&](const Pb& tail) {
    std::vector<uint8_t> b = valid;
    b.insert(b.end(), tail.bytes.begin(), tail.bytes.end());
    return b;
  };
  const auto with_tensor = [](const Pb& t) { return onnx_model(onnx_graph({}, {t})); };
  const auto with_graph = [](const Pb& g) { return Pb().u(1, 8).msg(7, g).bytes; };
  std::vector<uint8_t> cut = valid;
  cut.resize(valid.size() - 20);
  Pb long_inner;  // an initializer whose length runs past the graph (but not the file)
  long_inner.tag(5, 2).varint(50).raw(std::vector<uint8_t>(10, 0));
  std::vector<uint8_t> past_graph = with_graph(long_inner);
  const Pb doc = Pb().str(6, std::string(60, 'x'));  // a doc_string after the graph: the file is long enough
  past_graph.insert(past_graph.end(), doc.bytes.begin(), doc.bytes.end());
  Pb ext = onnx_tensor("e", {2}, 1, {});
  ext.bytes.clear();
  ext.u(1, 2).u(2, 1).str(8, "e");
  const auto entry = [](const std::string& k, const std::string& v) { return Pb().str(1, k).str(2, v); };
  Pb nine_dims;
  for (int i = 0; i < 9; ++i) nine_dims.u(1, 1);
  nine_dims.u(2, 1).str(8, "w").len(9, f32_bytes({1}));

  std::vector<MalformedOnnxCase> c = {
      {"truncated file", cut, E::kInvalid, "truncated", "run past the end of its message"},
      {"truncated varint at the end", append(Pb().raw({0x28, 0x80})), E::kInvalid, "truncated", "a varint runs past"},
      {"11-byte varint", append(Pb().raw({0x28, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01})),
       E::kInvalid, "bad_varint", "longer than 10 bytes"},
      {"10-byte varint above 64 bits",
       append(Pb().raw({0x28, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02})), E::kInvalid, "bad_varint",
       "above 64 bits"},
      {"length past the end of the file", append(Pb().tag(14, 2).varint(100).raw({1, 2, 3})), E::kInvalid, "truncated",
       "ModelProto field 14: 100 bytes run past"},
      {"length past the enclosing message", past_graph, E::kInvalid, "truncated",
       "GraphProto field 5: 50 bytes run past"},
      {"group wire type", append(Pb().tag(20, 3)), E::kInvalid, "bad_wire_type", "a group"},
      {"wire type 7", append(Pb().tag(20, 7)), E::kInvalid, "bad_wire_type", "wire type 7 (undefined)"},
      {"field number 0", append(Pb().raw({0x00})), E::kInvalid, "bad_wire_type", "field number 0"},
      {"a second graph as a varint", append(Pb().u(7, 3)), E::kInvalid, "bad_wire_type",
       "ModelProto.graph (field 7) has wire type 0"},
      {"ir_version as bytes", append(Pb().str(1, "8")), E::kInvalid, "bad_wire_type", "ModelProto.ir_version"},
      {"two graphs", append(Pb().msg(7, onnx_graph({}, {}))), E::kInvalid, "no_graph", "2 graphs"},
      {"node as a varint", with_graph(Pb().u(1, 5)), E::kInvalid, "bad_wire_type", "GraphProto.node"},
      {"tensor name as a varint", with_tensor(Pb().u(1, 2).u(2, 1).u(8, 1)), E::kInvalid, "bad_wire_type",
       "TensorProto.name"},
      {"data_type as bytes", with_tensor(Pb().u(1, 2).str(2, "x").str(8, "w")), E::kInvalid, "bad_wire_type",
       "TensorProto.data_type"},
      {"raw_data as a fixed32", with_tensor(Pb().u(1, 1).u(2, 1).str(8, "w").fixed32(9, 0)), E::kInvalid,
       "bad_wire_type", "TensorProto.raw_data"},
      {"subgraphs nested 10,000 deep", nested_if_onnx(10000), E::kLimitExceeded, "nesting_too_deep",
       "nested deeper than 32"},
      {"negative dimension", with_tensor(onnx_tensor("w", {-1}, 1, {})), E::kInvalid, "bad_dims",
       "negative dimension (-1)"},
      {"dims product overflows", with_tensor(onnx_tensor("w", {int64_t{1} << 32, int64_t{1} << 32}, 1, {})),
       E::kInvalid, "bad_dims", "tensor 'w': the element count overflows"},
      {"raw_data size != prod(dims) x 4", with_tensor(onnx_tensor("w", {2, 3}, 1, std::vector<uint8_t>(20, 0))),
       E::kInvalid, "data_size", "raw_data of 20 bytes, not the 24 that 6 FLOAT values take"},
      {"unknown data_type", with_tensor(onnx_tensor("w", {2}, 99, std::vector<uint8_t>(8, 0))), E::kInvalid,
       "unknown_data_type", "data_type 99 is not one ONNX defines"},
      {"UNDEFINED data_type", with_tensor(onnx_tensor("w", {2}, 0, std::vector<uint8_t>(8, 0))), E::kInvalid,
       "unknown_data_type", "data_type 0"},
      {"no data_type", with_tensor(Pb().u(1, 1).str(8, "w").len(9, f32_bytes({1}))), E::kInvalid, "unknown_data_type",
       "tensor 'w': no data_type"},
      {"duplicate names", onnx_model(onnx_graph({}, {w, w})), E::kInvalid, "duplicate_name",
       "two tensors are named 'w'"},
      {"empty name", with_tensor(onnx_tensor("", {2}, 1, f32_bytes({1, 2}))), E::kInvalid, "bad_name",
       "empty or non-UTF-8"},
      {"non-UTF-8 name", with_tensor(onnx_tensor("w\xff", {2}, 1, f32_bytes({1, 2}))), E::kInvalid, "bad_name",
       "empty or non-UTF-8"},
      {"no values", with_tensor(Pb().u(1, 2).u(2, 1).str(8, "w")), E::kInvalid, "data_size",
       "no values for its 2 elements"},
      {"values in two fields", with_tensor(onnx_tensor("w", {1}, 1, f32_bytes({1})).len(4, f32_bytes({1}))),
       E::kInvalid, "data_size", "more than one field"},
      {"raw_data twice", with_tensor(onnx_tensor("w", {1}, 1, f32_bytes({1})).len(9, f32_bytes({1}))), E::kInvalid,
       "data_size", "raw_data appears 2 times"},
      {"float_data in an INT64 tensor", with_tensor(Pb().u(1, 1).u(2, 7).str(8, "w").len(4, f32_bytes({1}))),
       E::kInvalid, "data_size", "float_data in a tensor of type INT64"},
      {"float_data size", with_tensor(Pb().u(1, 3).u(2, 1).str(8, "w").len(4, f32_bytes({1, 2}))), E::kInvalid,
       "data_size", "float_data of 8 bytes, not the 12"},
      {"FLOAT16 int32_data above 16 bits",
       with_tensor(Pb().u(1, 2).u(2, 10).str(8, "w").len(5, packed_varints({1, 70000}))), E::kInvalid, "data_size",
       "int32_data value 1 is 70000, not 16 bits"},
      {"FLOAT16 int32_data count", with_tensor(Pb().u(1, 4).u(2, 10).str(8, "w").len(5, packed_varints({1, 2, 3}))),
       E::kInvalid, "data_size", "int32_data holds 3 values, not 4"},
      {"int32_data with a cut varint", with_tensor(Pb().u(1, 2).u(2, 10).str(8, "w").len(5, {0x01, 0x80})), E::kInvalid,
       "truncated", "int32_data: a varint runs past"},
      {"data_location 2", with_tensor(Pb().u(1, 1).u(2, 1).str(8, "w").u(14, 2)), E::kInvalid, "bad_external_data",
       "data_location 2 is neither 0 nor 1"},
      {"external data without a location", with_tensor(Pb(ext).msg(13, entry("offset", "0")).u(14, 1)), E::kInvalid,
       "bad_external_data", "without a 'location'"},
      {"external offset not a number",
       with_tensor(Pb(ext).msg(13, entry("location", "w.bin")).msg(13, entry("offset", "1e3")).u(14, 1)), E::kInvalid,
       "bad_external_data", "'offset' is '1e3', not a decimal number"},
      {"external key twice",
       with_tensor(Pb(ext).msg(13, entry("location", "a")).msg(13, entry("location", "b")).u(14, 1)), E::kInvalid,
       "bad_external_data", "'location' appears twice"},
      {"external length != size",
       with_tensor(Pb(ext).msg(13, entry("location", "a")).msg(13, entry("length", "7")).u(14, 1)), E::kInvalid,
       "data_size", "external data of 7 bytes, not the 8"},
      {"external entries without data_location", with_tensor(Pb(ext).msg(13, entry("location", "a"))), E::kInvalid,
       "bad_external_data", "data_location is not EXTERNAL"},
      {"external data and raw_data",
       with_tensor(Pb(ext).msg(13, entry("location", "a")).u(14, 1).len(9, f32_bytes({1, 2}))), E::kInvalid,
       "bad_external_data", "has external data and raw_data"},
      {"nine dims", with_tensor(nine_dims), E::kLimitExceeded, "limit_exceeded", "more than 8 dims"},
      {"non-UTF-8 node name in a subgraph path",
       onnx_model(onnx_graph(
           {onnx_node("If", {"c"}, {"o"}, "n\xff", {attribute_graph("then_branch", onnx_graph({}, {w}))})}, {})),
       E::kInvalid, "bad_name", "empty or non-UTF-8"},
      {"a subgraph path over 64 KiB", long_path_onnx(), E::kLimitExceeded, "limit_exceeded",
       "a subgraph path of 65562 bytes"},
      {"Constant node without an output",
       onnx_model(onnx_graph({onnx_node("Constant", {}, {}, "c",
                                        {attribute_tensor("value", onnx_tensor("", {1}, 1, f32_bytes({1})))})},
                             {})),
       E::kInvalid, "bad_name", "Constant node ('c') has no output"},
  };
  return c;
}

}  // namespace probex::test
