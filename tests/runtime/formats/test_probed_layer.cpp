// The ProbeX shaping rules (docs/method.md section 2) on hand-made model files, through the model-file
// interface; the same weights stored as GGUF give the same layer (shapes in PyTorch order).
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "runtime/formats/probed_layer.h"
#include "tests/runtime/formats/gguf_writer.h"
#include "tests/test_util.h"

using namespace probex;

namespace {

// A file with F32 tensors named as given, values 0, 1, 2, ... per tensor.
std::vector<uint8_t> model_file(const std::vector<std::pair<std::string, std::vector<uint64_t>>>& tensors) {
  std::string header = "{";
  std::vector<uint8_t> data;
  for (const auto& [name, shape] : tensors) {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    if (header.size() > 1) header += ",";
    header += "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[";
    for (size_t i = 0; i < shape.size(); ++i) header += (i ? "," : "") + std::to_string(shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," + std::to_string(data.size() + 4 * n) + "]}";
    for (uint64_t i = 0; i < n; ++i) {
      const float v = static_cast<float>(i);
      uint8_t b[4];
      std::memcpy(b, &v, 4);
      data.insert(data.end(), b, b + 4);
    }
  }
  header += "}";
  auto bytes = probex::test::safetensors_bytes(header, 0);
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

// The same tensors and values as model_file(), as a GGUF file of F32 tensors (ne = the shape reversed).
std::vector<uint8_t> gguf_model_file(const std::vector<std::pair<std::string, std::vector<uint64_t>>>& tensors) {
  test::GgufWriter w(tensors.size(), 0);
  uint64_t offset = 0;
  std::vector<uint64_t> sizes;
  for (const auto& [name, shape] : tensors) {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    w.tensor(name, std::vector<uint64_t>(shape.rbegin(), shape.rend()), GgmlType::kF32, offset);
    offset += (4 * n + 31) / 32 * 32;
    sizes.push_back(n);
  }
  w.pad();
  for (uint64_t n : sizes) {
    for (uint64_t i = 0; i < n; ++i) w.f32(static_cast<float>(i));
    w.pad();
  }
  return w.bytes;
}

struct Opened {
  std::vector<uint8_t> bytes;
  std::unique_ptr<ModelFile> model;
  const ModelFile& file() const { return *model; }
};

void open(Opened* o, const std::vector<std::pair<std::string, std::vector<uint64_t>>>& tensors, bool gguf = false) {
  o->bytes = gguf ? gguf_model_file(tensors) : model_file(tensors);
  const auto st = model_file_from_buffer("model", o->bytes.data(), o->bytes.size(), &o->model);
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(o->model->format() == (gguf ? ModelFormat::kGguf : ModelFormat::kSafetensors));
}

}  // namespace

TEST_CASE("2-D, 1x1 convolution, kxk convolution and 1-D layers take the authors' shapes, in safetensors and GGUF") {
  for (const bool gguf : {false, true}) {
    CAPTURE(gguf);
    Opened o;
    open(&o, {{"fc", {3, 4}}, {"pw", {6, 5, 1, 1}}, {"conv", {4, 2, 3, 3}}, {"bias", {7}}, {"t3", {2, 2, 2}}}, gguf);
    ProbedLayer l;
    std::vector<float> scratch;
    REQUIRE(find_probed_layer(o.file(), "fc", &l).ok());
    CHECK(l.rule == LayerRule::kMatrix);
    CHECK(l.rows == 3);
    CHECK(l.cols == 4);
    REQUIRE(find_probed_layer(o.file(), "pw", &l).ok());
    CHECK(l.rule == LayerRule::kConv1x1);
    CHECK(l.rows == 6);
    CHECK(l.cols == 5);
    REQUIRE(find_probed_layer(o.file(), "conv", &l).ok());
    CHECK(l.rule == LayerRule::kConvReshape);
    CHECK(l.rows == 2 * 3 * 3);  // [i*k*k, o], a raw row-major reshape
    CHECK(l.cols == 4);
    std::vector<float> rows(2 * 4);
    REQUIRE(ProbedRowReader(o.file(), l, &scratch).read(1, 2, rows.data()).ok());
    CHECK(rows == std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11});  // flat elements 4..11, not a transpose
    REQUIRE(find_probed_layer(o.file(), "bias", &l).ok());
    CHECK(l.rule == LayerRule::kVector);
    CHECK(l.rows == 7);
    CHECK(l.cols == 1);
    const auto st = find_probed_layer(o.file(), "t3", &l);
    CHECK(st.code == ModelError::kLayerShape);
    CHECK(st.message == "model: layer 't3': a 3-D tensor has no probing rule");
    CHECK(find_probed_layer(o.file(), "nothing", &l).code == ModelError::kTensorNotFound);
    CHECK(ProbedRowReader(o.file(), l, &scratch).read(6, 2, rows.data()).code ==
          ModelError::kOutOfRange);  // l: "bias", 7 rows
  }
}

TEST_CASE("a LoRA pair is read as X = up * down, by rows") {
  for (const char* style : {"kohya", "peft", "peft-adapter-file"}) {
    CAPTURE(style);
    const std::string s = style;
    // A PEFT adapter file names the module under "base_model.model."; the layer is still "q".
    const std::string prefix = s == "peft-adapter-file" ? "base_model.model." : "";
    Opened o;
    open(&o, {{prefix + (s == "kohya" ? "q.lora_up.weight" : "q.lora_B.weight"), {3, 2}},
              {prefix + (s == "kohya" ? "q.lora_down.weight" : "q.lora_A.weight"), {2, 4}}});
    ProbedLayer l;
    REQUIRE(find_probed_layer(o.file(), "q", &l).ok());
    CHECK(l.rule == LayerRule::kLoraProduct);
    CHECK(l.rows == 3);
    CHECK(l.cols == 4);
    // up = [[0,1],[2,3],[4,5]], down = [[0,1,2,3],[4,5,6,7]]
    std::vector<float> scratch, x(2 * 4);
    REQUIRE(ProbedRowReader(o.file(), l, &scratch).read(1, 2, x.data()).ok());
    CHECK(x == std::vector<float>{12, 17, 22, 27, 20, 29, 38, 47});
  }
  Opened o;
  open(&o, {{"q.lora_up.weight", {3, 2}}, {"q.lora_down.weight", {5, 4}}});
  ProbedLayer l;
  const auto st = find_probed_layer(o.file(), "q", &l);
  CHECK(st.code == ModelError::kLayerShape);
  CHECK(st.message.find("down has rank 5") != std::string::npos);
}

TEST_CASE("integer tensors and empty layers are not probed") {
  const auto bytes = probex::test::safetensors_bytes(
      R"({"i":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},"z":{"dtype":"F32","shape":[0,3],"data_offsets":[16,16]}})",
      16);
  std::unique_ptr<ModelFile> f;
  REQUIRE(model_file_from_buffer("m", bytes.data(), bytes.size(), &f).ok());
  ProbedLayer l;
  const ModelStatus st = find_probed_layer(*f, "i", &l);
  CHECK(st.code == ModelError::kUnsupportedConversion);
  CHECK(st.message == "m: tensor 'i': I32 has no float32 conversion");
  CHECK(find_probed_layer(*f, "z", &l).code == ModelError::kLayerShape);
}

TEST_CASE("a GGUF tensor of a type probex does not dequantize is listed but not probed, naming the type") {
  test::GgufWriter w(1, 0);
  w.tensor("fc", {32, 2}, GgmlType::kIQ4_NL, 0).pad();  // IQ4_NL: blocks of 32 in 18 bytes
  for (int i = 0; i < 2 * 18; ++i) w.u8(0);
  std::unique_ptr<ModelFile> f;
  const ModelStatus open_st = model_file_from_buffer("m.gguf", w.bytes.data(), w.bytes.size(), &f);
  REQUIRE_MESSAGE(open_st.ok(), open_st.message);
  REQUIRE(f->tensors().size() == 1);
  CHECK(f->tensors()[0].dtype == "IQ4_NL");
  CHECK(f->tensors()[0].shape == std::vector<uint64_t>{2, 32});
  CHECK_FALSE(f->tensors()[0].readable);
  ProbedLayer l;
  const ModelStatus st = find_probed_layer(*f, "fc", &l);
  CHECK(st.code == ModelError::kUnsupportedConversion);
  CHECK(st.message == "m.gguf: tensor 'fc': IQ4_NL has no float32 conversion");
}

TEST_CASE("content, not the name, chooses the format; other content is not a model") {
  const std::vector<uint8_t> st = model_file({{"fc", {2, 2}}});
  const std::vector<uint8_t> gg = gguf_model_file({{"fc", {2, 2}}});
  std::unique_ptr<ModelFile> f;
  REQUIRE(model_file_from_buffer("weights.gguf", st.data(), st.size(), &f).ok());
  CHECK(f->format() == ModelFormat::kSafetensors);
  REQUIRE(model_file_from_buffer("weights.safetensors", gg.data(), gg.size(), &f).ok());
  CHECK(f->format() == ModelFormat::kGguf);
  const std::string png = "\x89PNG\r\n\x1a\n0000";
  const ModelStatus bad = model_file_from_buffer("x.safetensors", reinterpret_cast<const uint8_t*>(png.data()),
                                                 png.size(), &f);
  CHECK(bad.code == ModelError::kNotAModel);
  CHECK(bad.message.find("not a model file probex reads: x.safetensors") == 0);
  CHECK(bad.message.find("89 50 4e 47") != std::string::npos);
  CHECK(f == nullptr);
}
