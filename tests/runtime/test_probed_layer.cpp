// The ProbeX shaping rules (docs/method.md section 2) on hand-made model files.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "core/probed_layer.h"
#include "test_util.h"

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

struct Opened {
  std::vector<uint8_t> bytes;
  SafetensorsFile file;
};

void open(Opened* o, const std::vector<std::pair<std::string, std::vector<uint64_t>>>& tensors) {
  o->bytes = model_file(tensors);
  const auto st = SafetensorsFile::from_buffer("model", o->bytes.data(), o->bytes.size(), &o->file);
  REQUIRE_MESSAGE(st.ok(), st.message);
}

}  // namespace

TEST_CASE("2-D, 1x1 convolution, kxk convolution and 1-D layers take the authors' shapes") {
  Opened o;
  open(&o, {{"fc", {3, 4}}, {"pw", {6, 5, 1, 1}}, {"conv", {4, 2, 3, 3}}, {"bias", {7}}, {"t3", {2, 2, 2}}});
  ProbedLayer l;
  std::vector<float> scratch;
  REQUIRE(find_probed_layer(o.file, "fc", &l).ok());
  CHECK(l.rule == LayerRule::kMatrix);
  CHECK(l.rows == 3);
  CHECK(l.cols == 4);
  REQUIRE(find_probed_layer(o.file, "pw", &l).ok());
  CHECK(l.rule == LayerRule::kConv1x1);
  CHECK(l.rows == 6);
  CHECK(l.cols == 5);
  REQUIRE(find_probed_layer(o.file, "conv", &l).ok());
  CHECK(l.rule == LayerRule::kConvReshape);
  CHECK(l.rows == 2 * 3 * 3);  // [i*k*k, o], a raw row-major reshape
  CHECK(l.cols == 4);
  std::vector<float> rows(2 * 4);
  REQUIRE(ProbedRowReader(o.file, l, &scratch).read(1, 2, rows.data()).ok());
  CHECK(rows == std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11});  // flat elements 4..11, not a transpose
  REQUIRE(find_probed_layer(o.file, "bias", &l).ok());
  CHECK(l.rule == LayerRule::kVector);
  CHECK(l.rows == 7);
  CHECK(l.cols == 1);
  const auto st = find_probed_layer(o.file, "t3", &l);
  CHECK(st.code == SafetensorsError::kLayerShape);
  CHECK(st.message == "model: layer 't3': a 3-D tensor has no probing rule");
  CHECK(find_probed_layer(o.file, "nothing", &l).code == SafetensorsError::kTensorNotFound);
  CHECK(ProbedRowReader(o.file, l, &scratch).read(6, 2, rows.data()).code == SafetensorsError::kOutOfRange);  // l: "bias", 7 rows
}

TEST_CASE("a LoRA pair is read as X = up * down, by rows") {
  for (const char* style : {"kohya", "peft"}) {
    CAPTURE(style);
    const bool kohya = std::string(style) == "kohya";
    Opened o;
    open(&o, {{kohya ? "q.lora_up.weight" : "q.lora_B.weight", {3, 2}},
              {kohya ? "q.lora_down.weight" : "q.lora_A.weight", {2, 4}}});
    ProbedLayer l;
    REQUIRE(find_probed_layer(o.file, "q", &l).ok());
    CHECK(l.rule == LayerRule::kLoraProduct);
    CHECK(l.rows == 3);
    CHECK(l.cols == 4);
    // up = [[0,1],[2,3],[4,5]], down = [[0,1,2,3],[4,5,6,7]]
    std::vector<float> scratch, x(2 * 4);
    REQUIRE(ProbedRowReader(o.file, l, &scratch).read(1, 2, x.data()).ok());
    CHECK(x == std::vector<float>{12, 17, 22, 27, 20, 29, 38, 47});
  }
  Opened o;
  open(&o, {{"q.lora_up.weight", {3, 2}}, {"q.lora_down.weight", {5, 4}}});
  ProbedLayer l;
  const auto st = find_probed_layer(o.file, "q", &l);
  CHECK(st.code == SafetensorsError::kLayerShape);
  CHECK(st.message.find("down has rank 5") != std::string::npos);
}

TEST_CASE("integer tensors and empty layers are not probed") {
  const auto bytes = probex::test::safetensors_bytes(
      R"({"i":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},"z":{"dtype":"F32","shape":[0,3],"data_offsets":[16,16]}})", 16);
  SafetensorsFile f;
  REQUIRE(SafetensorsFile::from_buffer("m", bytes.data(), bytes.size(), &f).ok());
  ProbedLayer l;
  CHECK(find_probed_layer(f, "i", &l).code == SafetensorsError::kUnsupportedConversion);
  CHECK(find_probed_layer(f, "z", &l).code == SafetensorsError::kLayerShape);
}
