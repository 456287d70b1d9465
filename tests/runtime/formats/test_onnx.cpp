// The ONNX reader (runtime/formats/onnx.h) through the model-file interface: hand-made files of every
// storage (raw_data, float_data, double_data, FLOAT16 in int32_data, external data), weights as
// initializers and as Constant nodes inside subgraphs, MatMul weights presented [out, in], and the
// malformed corpus (tests/runtime/formats/malformed_onnx.h) plus the external-data cases that need a folder.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <unistd.h>
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "runtime/formats/model_file.h"
#include "runtime/math/float_formats.h"
#include "tests/runtime/formats/malformed_onnx.h"
#include "tests/runtime/formats/onnx_writer.h"
#include "tests/test_util.h"

using probex::ModelError;
using probex::ModelFile;
using probex::ModelFormat;
using probex::ModelStatus;
using probex::ModelTensor;
using namespace probex::test;

namespace {

// The model reads `bytes` in place: they must outlive it, so a temporary is refused at compile time.
std::unique_ptr<ModelFile> open_buffer(std::vector<uint8_t>&& bytes) = delete;
std::unique_ptr<ModelFile> open_buffer(const std::vector<uint8_t>& bytes) {
  std::unique_ptr<ModelFile> m;
  const ModelStatus st = probex::model_file_from_buffer("case.onnx", bytes.data(), bytes.size(), &m);
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(m->format() == ModelFormat::kOnnx);
  return m;
}

std::vector<float> read_all(const ModelFile& m, const std::string& name) {
  const ModelTensor* t = m.find(name);
  REQUIRE_MESSAGE(t != nullptr, name);
  std::vector<float> v(static_cast<size_t>(t->element_count));
  const ModelStatus st = m.read_f32(*t, 0, t->element_count, v.data());
  REQUIRE_MESSAGE(st.ok(), st.message);
  return v;
}

}  // namespace

TEST_CASE("ONNX: initializers of each float storage read as float32") {
  const Pb f32 = onnx_tensor("f32", {2, 3}, 1, f32_bytes({1, 2, 3, 4, 5, 6}));
  const Pb floats = Pb().u(1, 2).u(2, 1).str(8, "floats").len(4, f32_bytes({-1.5f, 2.5f}));
  std::vector<uint8_t> d(16);
  const double dv[2] = {0.25, -8.0};
  std::memcpy(d.data(), dv, 16);
  const Pb doubles = Pb().u(1, 2).u(2, 11).str(8, "doubles").len(10, d);
  const Pb halves = Pb().u(1, 3).u(2, 10).str(8, "halves").len(5, packed_varints({0x3C00, 0xC000, 0x3800}));
  const Pb bf16 = onnx_tensor("bf16", {2}, 16, {0x80, 0x3F, 0x40, 0xC0});  // 1.0, -3.0
  const Pb f16raw = onnx_tensor("f16raw", {1}, 10, {0x00, 0x3C});
  const Pb int8 = onnx_tensor("int8", {4}, 3, {1, 2, 3, 4});
  const Pb int64 = Pb().u(1, 2).u(2, 7).str(8, "int64").len(7, packed_varints({5, 6}));
  const Pb scalar = onnx_tensor("scalar", {}, 1, f32_bytes({7}));
  const Pb empty = Pb().u(1, 0).u(2, 1).str(8, "empty");
  const auto bytes = onnx_model(
      onnx_graph({}, {f32, floats, doubles, halves, bf16, f16raw, int8, int64, scalar, empty}));
  const auto m = open_buffer(bytes);
  REQUIRE(m->tensors().size() == 10);
  CHECK(m->find("f32")->shape == std::vector<uint64_t>{2, 3});
  CHECK(m->find("f32")->dtype == "FLOAT");
  CHECK(read_all(*m, "f32") == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(read_all(*m, "floats") == std::vector<float>{-1.5f, 2.5f});
  CHECK(read_all(*m, "doubles") == std::vector<float>{0.25f, -8.0f});
  CHECK(read_all(*m, "halves") == std::vector<float>{1.0f, -2.0f, 0.5f});
  CHECK(m->find("halves")->dtype == "FLOAT16");
  CHECK(read_all(*m, "bf16") == std::vector<float>{1.0f, -3.0f});
  CHECK(read_all(*m, "f16raw") == std::vector<float>{1.0f});
  CHECK(read_all(*m, "scalar") == std::vector<float>{7});
  CHECK(m->find("scalar")->shape.empty());
  CHECK(m->find("empty")->element_count == 0);

  // Partial ranges and rows.
  float two[2] = {};
  REQUIRE(m->read_f32(*m->find("halves"), 1, 2, two).ok());
  CHECK(two[0] == -2.0f);
  CHECK(two[1] == 0.5f);
  float row[3] = {};
  REQUIRE(m->read_rows_f32(*m->find("f32"), 1, 1, row).ok());
  CHECK(row[2] == 6);
  const ModelStatus out = m->read_f32(*m->find("f32"), 5, 2, row);
  CHECK(out.code == ModelError::kOutOfRange);

  // Integers are listed, not converted.
  for (const char* name : {"int8", "int64"}) {
    const ModelTensor* t = m->find(name);
    REQUIRE(t != nullptr);
    CHECK_FALSE(t->readable);
    const ModelStatus st = m->read_f32(*t, 0, 1, row);
    CHECK(st.code == ModelError::kUnsupportedConversion);
    CHECK(st.message.find("has no float32 conversion") != std::string::npos);
  }
  CHECK(m->find("int8")->dtype == "INT8");
}

TEST_CASE("ONNX: Constant nodes, also inside If and Loop subgraphs, are named by where they sit") {
  const Pb c = attribute_tensor("value", onnx_tensor("", {2}, 1, f32_bytes({3, 4})));
  const Pb then_graph = onnx_graph({onnx_node("Constant", {}, {"k"}, "inner", {c})},
                                   {onnx_tensor("t_init", {1}, 1, f32_bytes({9}))});
  const Pb else_graph = onnx_graph({onnx_node("Constant", {}, {"k"}, "", {c})}, {});
  const Pb body = onnx_graph({onnx_node("Constant", {}, {"b"}, "", {c})}, {});
  const Pb graph = onnx_graph(
      {onnx_node("Constant", {}, {"top"}, "c0", {c}),
       onnx_node("If", {"cond"}, {"y"}, "If_0",
                 {attribute_graph("then_branch", then_graph), attribute_graph("else_branch", else_graph)}),
       onnx_node("Loop", {"n", "cond"}, {"z"}, "", {attribute_graph("body", body)}),
       onnx_node("Constant", {}, {"ints"}, "", {Pb().str(1, "value_ints").u(8, 1).u(20, 7)})},
      {});
  const auto bytes = onnx_model(graph);  // must outlive the model
  const auto m = open_buffer(bytes);
  std::vector<std::string> names;
  for (const ModelTensor& t : m->tensors()) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"top", "If_0/then_branch/k", "If_0/then_branch/t_init", "If_0/else_branch/k",
                                          "Loop#2/body/b"});
  CHECK(read_all(*m, "If_0/then_branch/k") == std::vector<float>{3, 4});
  CHECK(read_all(*m, "Loop#2/body/b") == std::vector<float>{3, 4});
}

TEST_CASE("ONNX: a MatMul weight [in, out] is presented [out, in], read transposed; Gemm follows transB") {
  // W stored [3, 2] (in 3, out 2): rows {1,2},{3,4},{5,6}; presented [2, 3]: {1,3,5},{2,4,6}.
  const Pb w = onnx_tensor("W", {3, 2}, 1, f32_bytes({1, 2, 3, 4, 5, 6}));
  const Pb g = onnx_tensor("G", {3, 2}, 1, f32_bytes({1, 2, 3, 4, 5, 6}));
  const Pb gt = onnx_tensor("GT", {2, 3}, 1, f32_bytes({1, 2, 3, 4, 5, 6}));
  // A MatMul inside a subgraph uses the outer initializer "W2" (ONNX scoping).
  const Pb w2 = onnx_tensor("W2", {2, 2}, 1, f32_bytes({1, 2, 3, 4}));
  const Pb sub = onnx_graph({onnx_node("MatMul", {"x", "W2"}, {"y"})}, {});
  const Pb graph = onnx_graph({onnx_node("MatMul", {"x", "W"}, {"y"}, "mm"),
                               onnx_node("Gemm", {"x", "G"}, {"y2"}, "gemm"),
                               onnx_node("Gemm", {"x", "GT"}, {"y3"}, "gemm_t", {attribute_int("transB", 1)}),
                               onnx_node("If", {"c"}, {"o"}, "if", {attribute_graph("then_branch", sub)})},
                              {w, g, gt, w2});
  const auto bytes = onnx_model(graph);  // must outlive the model
  const auto m = open_buffer(bytes);
  CHECK(m->find("W")->shape == std::vector<uint64_t>{2, 3});
  CHECK(read_all(*m, "W") == std::vector<float>{1, 3, 5, 2, 4, 6});
  CHECK(read_all(*m, "G") == std::vector<float>{1, 3, 5, 2, 4, 6});
  CHECK(m->find("GT")->shape == std::vector<uint64_t>{2, 3});
  CHECK(read_all(*m, "GT") == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(read_all(*m, "W2") == std::vector<float>{1, 3, 2, 4});
  float row[3] = {};
  REQUIRE(m->read_rows_f32(*m->find("W"), 1, 1, row).ok());
  CHECK(row[0] == 2);
  CHECK(row[2] == 6);
  float mid[3] = {};
  REQUIRE(m->read_f32(*m->find("W"), 2, 3, mid).ok());  // cuts both presented rows
  CHECK(mid[0] == 5);
  CHECK(mid[1] == 2);
  CHECK(mid[2] == 4);

  // A large transposed weight (columns beyond one stack chunk) against the plain transpose.
  const int64_t rows = 5, cols = 3000;
  std::vector<float> big(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);
  const auto big_bytes = onnx_model(
      onnx_graph({onnx_node("MatMul", {"x", "B"}, {"y"})}, {onnx_tensor("B", {rows, cols}, 1, f32_bytes(big))}));
  const auto mb = open_buffer(big_bytes);
  const std::vector<float> got = read_all(*mb, "B");
  bool same = true;
  for (int64_t o = 0; o < cols; ++o)
    for (int64_t i = 0; i < rows; ++i)
      same = same && got[static_cast<size_t>(o * rows + i)] == big[static_cast<size_t>(i * cols + o)];
  CHECK(same);
  // Ranges that cut presented rows and tiles.
  for (const auto& range :
       std::vector<std::pair<uint64_t, uint64_t>>{{7, 4000}, {2999, 3}, {14000, 999}, {3, 1}, {12, 2}, {14995, 5}}) {
    const uint64_t first = range.first, count = range.second;  // no structured binding: clang 14 cannot capture one
    std::vector<float> part(static_cast<size_t>(count));
    REQUIRE(mb->read_f32(*mb->find("B"), first, count, part.data()).ok());
    bool equal = true;
    for (uint64_t k = 0; k < count; ++k)
      equal = equal && part[static_cast<size_t>(k)] == got[static_cast<size_t>(first + k)];
    CHECK_MESSAGE(equal, first);
  }
}

TEST_CASE("ONNX: integer weights of a DequantizeLinear node read as (q - zero_point) * scale") {
  // Per tensor: INT8 {-2, 0, 5, 127}, scale 0.5, zero point 1.
  const Pb q = onnx_tensor("q", {2, 2}, 3, {0xFE, 0x00, 0x05, 0x7F});
  const Pb scale = onnx_tensor("q_scale", {}, 1, f32_bytes({0.5f}));
  const Pb zero = onnx_tensor("q_zero", {}, 3, {0x01});
  // Per axis 1 (output channels of a MatMul weight [in 2, out 3]): UINT8, scales {1, 2, 4}, zero points {0, 1, 2}.
  const Pb w = onnx_tensor("w", {2, 3}, 2, {1, 2, 3, 4, 5, 6});
  const Pb w_scale = onnx_tensor("w_scale", {3}, 1, f32_bytes({1, 2, 4}));
  const Pb w_zero = onnx_tensor("w_zero", {3}, 2, {0, 1, 2});
  // Not convertible: a scale of 2 values for an axis of 3; a blocked node; no zero point (zero) is fine.
  const Pb bad = onnx_tensor("bad", {2, 3}, 3, {1, 2, 3, 4, 5, 6});
  const Pb bad_scale = onnx_tensor("bad_scale", {2}, 1, f32_bytes({1, 2}));
  const Pb blk = onnx_tensor("blk", {2}, 3, {1, 2});
  const Pb nz = onnx_tensor("nz", {2}, 5, {0xFF, 0xFF, 0x02, 0x00});  // INT16 {-1, 2}
  const Pb graph = onnx_graph(
      {onnx_node("DequantizeLinear", {"q", "q_scale", "q_zero"}, {"q_f"}),
       onnx_node("DequantizeLinear", {"w", "w_scale", "w_zero"}, {"w_f"}, "", {attribute_int("axis", 1)}),
       onnx_node("MatMul", {"x", "w_f"}, {"y"}),
       onnx_node("DequantizeLinear", {"bad", "bad_scale"}, {"bad_f"}, "", {attribute_int("axis", -1)}),
       onnx_node("DequantizeLinear", {"blk", "q_scale"}, {"blk_f"}, "", {attribute_int("block_size", 2)}),
       onnx_node("DequantizeLinear", {"nz", "q_scale"}, {"nz_f"})},
      {q, scale, zero, w, w_scale, w_zero, bad, bad_scale, blk, nz});
  const auto bytes = onnx_model(graph);
  const auto m = open_buffer(bytes);
  CHECK(m->find("q")->dtype == "INT8");
  CHECK(m->find("q")->readable);
  CHECK(read_all(*m, "q") == std::vector<float>{-1.5f, -0.5f, 2.0f, 63.0f});
  // w: stored [2, 3], dequantized {{1, 2, 4}, {4, 8, 16}}, presented [3, 2] transposed (a MatMul weight).
  CHECK(m->find("w")->shape == std::vector<uint64_t>{3, 2});
  CHECK(read_all(*m, "w") == std::vector<float>{1, 4, 2, 8, 4, 16});
  CHECK(read_all(*m, "nz") == std::vector<float>{-0.5f, 1.0f});
  float v[6] = {};
  ModelStatus st = m->read_f32(*m->find("bad"), 0, 1, v);
  CHECK(st.code == ModelError::kUnsupportedConversion);
  CHECK(st.message.find("neither 1 nor dims[axis]") != std::string::npos);
  st = m->read_f32(*m->find("blk"), 0, 1, v);
  CHECK(st.message.find("block_size") != std::string::npos);
}

TEST_CASE("ONNX: identified by content, opened from a file; external data in the model's folder") {
  TempDir dir;
  const std::string folder = dir.file("model");
  REQUIRE(mkdir(folder.c_str(), 0700) == 0);
  const auto in = [&](const std::string& name) { return folder + "/" + name; };
  std::vector<uint8_t> data(64, 0);
  const std::vector<uint8_t> values = f32_bytes({1.5f, -2.0f});
  std::copy(values.begin(), values.end(), data.begin() + 16);
  REQUIRE(write_bytes(in("weights.bin"), data));
  const auto entry = [](const std::string& k, const std::string& v) { return Pb().str(1, k).str(2, v); };
  const auto external = [&](const std::string& location, const std::string& offset) {
    Pb t;
    t.u(1, 2)
        .u(2, 1)
        .str(8, "e")
        .msg(13, entry("location", location))
        .msg(13, entry("offset", offset))
        .msg(13, entry("length", "8"))
        .u(14, 1);
    return onnx_model(onnx_graph({}, {t, onnx_tensor("w", {1}, 1, f32_bytes({3}))}));
  };
  REQUIRE(write_bytes(in("m.onnx"), external("weights.bin", "16")));
  std::unique_ptr<ModelFile> m;
  ModelStatus st = probex::open_model_file(in("m.onnx"), &m);
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(m->format() == ModelFormat::kOnnx);
  CHECK(std::string(probex::model_format_name(m->format())) == "onnx");
  CHECK(read_all(*m, "e") == std::vector<float>{1.5f, -2.0f});
  CHECK(read_all(*m, "w") == std::vector<float>{3});

  // From a buffer there is no folder: listed, not readable.
  const auto bytes = external("weights.bin", "16");
  const auto mb = open_buffer(bytes);
  CHECK_FALSE(mb->find("e")->readable);
  CHECK(mb->find("w")->readable);

  // The failures that need a folder.
  REQUIRE(write_bytes(in("small.bin"), std::vector<uint8_t>(4, 0)));
  REQUIRE(write_bytes(dir.file("outside.bin"), data));
  REQUIRE(symlink("../outside.bin", in("link.bin").c_str()) == 0);
  struct Case {
    const char* location;
    const char* offset;
    ModelError code;
    const char* detail;
    const char* part;
  };
  const Case cases[] = {
      {"/etc/passwd", "0", ModelError::kInvalid, "external_outside_folder", "an absolute path"},
      {"../outside.bin", "0", ModelError::kInvalid, "external_outside_folder", "'..' component"},
      {"sub/../../x.bin", "0", ModelError::kInvalid, "external_outside_folder", "'..' component"},
      {"link.bin", "0", ModelError::kInvalid, "external_outside_folder", "outside the model's folder"},
      {"missing.bin", "0", ModelError::kIo, "external_missing", "missing"},
      {"weights.bin", "60", ModelError::kInvalid, "external_out_of_file", "run past the end of the file at 64"},
      {"small.bin", "0", ModelError::kInvalid, "external_out_of_file", "[0, +8)"},
      {"weights.bin", "18446744073709551615", ModelError::kInvalid, "external_out_of_file", "run past"},
      {"a\\b.bin", "0", ModelError::kInvalid, "bad_external_data", "backslash"},
      {".", "0", ModelError::kIo, "external_missing", "not a regular file"},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.location));
    REQUIRE(write_bytes(in("bad.onnx"), external(c.location, c.offset)));
    st = probex::open_model_file(in("bad.onnx"), &m);
    CHECK(st.code == c.code);
    CHECK(st.detail == c.detail);
    CHECK(st.message.rfind(in("bad.onnx") + ": tensor 'e': external data", 0) == 0);
    CHECK_MESSAGE(st.message.find(c.part) != std::string::npos, st.message);
    CHECK(m == nullptr);
  }
}

TEST_CASE("every malformed ONNX file gives its own specific error, from a buffer and from a file") {
  const auto cases = malformed_onnx_corpus();
  REQUIRE(cases.size() >= 25);
  TempDir dir;
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    std::unique_ptr<ModelFile> m;
    const ModelStatus st = probex::model_file_from_buffer("case.onnx", c.bytes.data(), c.bytes.size(), &m);
    CHECK(probex::model_error_name(st.code) == std::string(probex::model_error_name(c.code)));
    CHECK(st.detail == c.detail);
    CHECK(st.message.rfind("case.onnx: ", 0) == 0);
    CHECK_MESSAGE(st.message.find(c.message_part) != std::string::npos, st.message);
    CHECK(m == nullptr);

    const std::string path = dir.file("case.onnx");
    REQUIRE(write_bytes(path, c.bytes));
    const ModelStatus from_file = probex::open_model_file(path, &m);
    CHECK(from_file.code == c.code);
    CHECK(from_file.detail == c.detail);
    CHECK(from_file.message.rfind(path + ": ", 0) == 0);
    CHECK_MESSAGE(from_file.message.find(c.message_part) != std::string::npos, from_file.message);
  }
}

TEST_CASE("ONNX: not taken for other content; limits enforced") {
  std::unique_ptr<ModelFile> m;
  const std::vector<uint8_t> junk = {0x08, 0x08, 0x12, 0x02, 'a', 'b'};  // a ModelProto prefix, no graph
  ModelStatus st = probex::model_file_from_buffer("x", junk.data(), junk.size(), &m);
  CHECK(st.code == ModelError::kNotAModel);
  const std::vector<uint8_t> zeros(32, 0);
  st = probex::model_file_from_buffer("x", zeros.data(), zeros.size(), &m);
  CHECK(st.code == ModelError::kNotAModel);

  const auto bytes = one_initializer_onnx("w", {2}, {1, 2});
  probex::ModelLimits limits;
  limits.max_tensors = 0;
  st = probex::model_file_from_buffer("x", bytes.data(), bytes.size(), &m, limits);
  CHECK(st.code == ModelError::kLimitExceeded);
  CHECK(st.message.find("more than 0 tensors") != std::string::npos);
  limits = {};
  limits.max_file_bytes = 10;
  st = probex::model_file_from_buffer("x", bytes.data(), bytes.size(), &m, limits);
  CHECK(st.code == ModelError::kLimitExceeded);
}

TEST_CASE("ONNX: metadata_props read as string metadata; the first of a key, over-long entries skipped") {
  Pb m;
  m.u(1, 8).msg(7, onnx_graph({}, {onnx_tensor("w", {2}, 1, f32_bytes({1.0f, 2.0f}))}));
  m.msg(14, Pb().str(1, "dataset_chosen_targets").str(2, "['Coat']"));
  m.msg(14, Pb().str(2, "later").str(1, "tree"));  // value before key
  m.msg(14, Pb().str(1, "tree").str(2, "repeated"));
  m.msg(14, Pb().str(1, "no_value"));
  m.msg(14, Pb().str(1, "long").str(2, std::string((1u << 16) + 1, 'x')));
  m.msg(14, Pb().str(2, "no key"));
  const auto model = open_buffer(m.bytes);
  REQUIRE(model->metadata_string("dataset_chosen_targets") != nullptr);
  CHECK(*model->metadata_string("dataset_chosen_targets") == "['Coat']");
  REQUIRE(model->metadata_string("tree") != nullptr);
  CHECK(*model->metadata_string("tree") == "later");
  REQUIRE(model->metadata_string("no_value") != nullptr);
  CHECK(model->metadata_string("no_value")->empty());
  CHECK(model->metadata_string("long") == nullptr);
  CHECK(model->metadata_string("") == nullptr);
  CHECK(read_all(*model, "w") == std::vector<float>{1.0f, 2.0f});

  // metadata_props must be a message.
  Pb bad;
  bad.u(1, 8).msg(7, onnx_graph({}, {onnx_tensor("w", {2}, 1, f32_bytes({1.0f, 2.0f}))})).u(14, 3);
  std::unique_ptr<ModelFile> out;
  const ModelStatus st = probex::model_file_from_buffer("case.onnx", bad.bytes.data(), bad.bytes.size(), &out);
  CHECK(st.detail == "bad_wire_type");
}
