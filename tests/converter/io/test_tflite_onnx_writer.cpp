// The TFLite and ONNX writers (converter/io/tflite_writer.h, onnx_writer.h) through the zoo's model encoder
// (and the ONNX expert graph, whose computation tests/scenarios/ort_expert.sh checks in ONNX Runtime),
// read back by the runtime's readers: names, PyTorch shapes, types, values (FLOAT32 exact, INT8 within half
// a scale step) and metadata; the graph itself read from the flatbuffer / protobuf bytes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>

#include "converter/io/onnx_writer.h"
#include "converter/io/tflite_writer.h"
#include "converter/zoo/model_writer.h"
#include "runtime/formats/model_file.h"
#include "runtime/formats/tflite.h"
#include "tflite_subset_generated.h"

using namespace probex;
using namespace probex::convert;

// The graph checks walk the flatbuffer with its generated accessors, whose inlined pointer arithmetic GCC
// flags as a potential null dereference at -O3 (each pointer used here is checked first).
#pragma GCC diagnostic ignored "-Wnull-dereference"

namespace {

// A 12-6-4-3 MLP named as the zoo's (fc1, fc2, head), its tensors in alphabetical order as safetensors has them.
struct Mlp {
  std::map<std::string, std::vector<float>> values;
  std::map<std::string, std::vector<uint64_t>> shapes;
  std::vector<TensorView> views() const {
    std::vector<TensorView> v;
    for (const auto& [name, x] : values) v.push_back({name, shapes.at(name), x.data(), x.size()});
    return v;
  }
};

Mlp make_mlp() {
  Mlp m;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  const std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> layers = {{"fc1", {6, 12}},
                                                                                     {"fc2", {4, 6}},
                                                                                     {"head", {3, 4}}};
  for (const auto& [name, dims] : layers) {
    m.shapes[name + ".weight"] = {dims.first, dims.second};
    m.shapes[name + ".bias"] = {dims.first};
    std::vector<float>& w = m.values[name + ".weight"];
    for (uint64_t i = 0; i < dims.first * dims.second; ++i) w.push_back(normal(rng));
    std::vector<float>& b = m.values[name + ".bias"];
    for (uint64_t i = 0; i < dims.first; ++i) b.push_back(normal(rng));
  }
  std::fill(m.values["fc2.weight"].begin(), m.values["fc2.weight"].begin() + 6, 0.0f);  // an all-zero row
  return m;
}

const std::map<std::string, std::string> kMetadata = {{"dataset_chosen_targets", "['T-shirt/top', 'Trouser']"},
                                                      {"tree", "mlp-a"},
                                                      {"empty", ""}};

std::vector<float> read_all(const ModelFile& f, const ModelTensor& t) {
  std::vector<float> v(static_cast<size_t>(t.element_count));
  const ModelStatus st = f.read_f32(t, 0, t.element_count, v.data());
  REQUIRE_MESSAGE(st.ok(), st.message);
  return v;
}

// The model reads `bytes` in place: they must outlive it, so a temporary is refused at compile time.
std::unique_ptr<ModelFile> open(std::vector<uint8_t>&& bytes, ModelFormat format) = delete;
std::unique_ptr<ModelFile> open(const std::vector<uint8_t>& bytes, ModelFormat format) {
  std::unique_ptr<ModelFile> f;
  const ModelStatus st = model_file_from_buffer("mlp", bytes.data(), bytes.size(), &f);
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(f->format() == format);
  return f;
}

void check_metadata(const ModelFile& f) {
  for (const auto& [k, v] : kMetadata) {
    CAPTURE(k);
    REQUIRE(f.metadata_string(k) != nullptr);
    CHECK(*f.metadata_string(k) == v);
  }
  CHECK(f.metadata_string("absent") == nullptr);
}

}  // namespace

TEST_CASE("tflite writer: FLOAT32 and INT8 models read back with their names, shapes, values and metadata") {
  const Mlp mlp = make_mlp();
  for (TfliteWeightType type : {TfliteWeightType::kFloat32, TfliteWeightType::kInt8}) {
    CAPTURE(tflite_weight_type_name(type));
    std::vector<uint8_t> bytes;
    std::string error;
    REQUIRE_MESSAGE(encode_zoo_model(mlp.views(), kMetadata, ZooFormat::kTflite, GgufType::kF16, type, "mlp-a/root",
                                     &bytes, &error),
                    error);
    REQUIRE(bytes.size() > 8);
    CHECK(std::memcmp(bytes.data() + 4, "TFL3", 4) == 0);
    const std::unique_ptr<ModelFile> f = open(bytes, ModelFormat::kTflite);
    check_metadata(*f);
    for (const auto& [name, values] : mlp.values) {
      CAPTURE(name);
      const ModelTensor* t = f->find(name);
      REQUIRE(t != nullptr);
      CHECK(t->shape == mlp.shapes.at(name));
      CHECK(t->readable);
      const bool quantized = type == TfliteWeightType::kInt8 && name.find(".weight") != std::string::npos;
      CHECK(t->dtype == (quantized ? "INT8" : "FLOAT32"));
      const std::vector<float> got = read_all(*f, *t);
      if (!quantized) {
        CHECK(got == values);
        continue;
      }
      const size_t rows = static_cast<size_t>(t->shape[0]), cols = static_cast<size_t>(t->shape[1]);
      for (size_t r = 0; r < rows; ++r) {
        float range = 0.0f;
        for (size_t c = 0; c < cols; ++c) range = std::max(range, std::fabs(values[r * cols + c]));
        const float half_step = range / 127.0f / 2.0f;
        for (size_t c = 0; c < cols; ++c) {
          CHECK(std::fabs(got[r * cols + c] - values[r * cols + c]) <= half_step * 1.0001f);
        }
        if (range == 0.0f) CHECK(got[r * cols] == 0.0f);
      }
    }
    // Activations are listed, not readable: the input and each layer's output.
    for (const char* name : {"input", "fc1.out", "fc2.out", "head.out"}) {
      const ModelTensor* t = f->find(name);
      REQUIRE(t != nullptr);
      CHECK_FALSE(t->readable);
    }
    CHECK(f->find("head.out")->shape == std::vector<uint64_t>{1, 3});

    // The graph: version 3, one FULLY_CONNECTED code, three operators chaining input -> head.out, ReLU fused
    // on all but the last, per-channel quantization along dimension 0 with zero points 0.
    namespace fb = probex_tflite;
    const fb::Model* m = fb::GetModel(bytes.data());
    CHECK(m->version() == 3);
    CHECK(m->description()->str() == "mlp-a/root");
    REQUIRE(m->operator_codes()->size() == 1);
    CHECK(m->operator_codes()->Get(0)->builtin_code() == 9);
    CHECK(m->operator_codes()->Get(0)->deprecated_builtin_code() == 9);
    CHECK(m->buffers()->Get(0)->data() == nullptr);
    const fb::SubGraph* g = m->subgraphs()->Get(0);
    REQUIRE(g->operators()->size() == 3);
    REQUIRE(g->inputs()->size() == 1);
    REQUIRE(g->outputs()->size() == 1);
    int32_t x = g->inputs()->Get(0);
    const char* layers[] = {"fc1", "fc2", "head"};
    for (uint32_t i = 0; i < 3; ++i) {
      const fb::Operator* op = g->operators()->Get(i);
      REQUIRE(op->inputs()->size() == 3);
      CHECK(op->inputs()->Get(0) == x);
      CHECK(g->tensors()->Get(static_cast<uint32_t>(op->inputs()->Get(1)))->name()->str() ==
            std::string(layers[i]) + ".weight");
      CHECK(g->tensors()->Get(static_cast<uint32_t>(op->inputs()->Get(2)))->name()->str() ==
            std::string(layers[i]) + ".bias");
      const fb::FullyConnectedOptions* o = op->builtin_options_as_FullyConnectedOptions();
      REQUIRE(o != nullptr);
      CHECK(o->fused_activation_function() ==
            (i < 2 ? fb::ActivationFunctionType::RELU : fb::ActivationFunctionType::NONE));
      const fb::Tensor* w = g->tensors()->Get(static_cast<uint32_t>(op->inputs()->Get(1)));
      if (type == TfliteWeightType::kInt8) {
        REQUIRE(w->quantization() != nullptr);
        CHECK(w->quantization()->quantized_dimension() == 0);
        CHECK(w->quantization()->scale()->size() == static_cast<uint32_t>(w->shape()->Get(0)));
        for (int64_t z : *w->quantization()->zero_point()) CHECK(z == 0);
      }
      x = op->outputs()->Get(0);
    }
    CHECK(g->outputs()->Get(0) == x);
  }
}

TEST_CASE("onnx writer: Gemm transB=1 weights read as [out, in], exact values, metadata_props") {
  const Mlp mlp = make_mlp();
  std::vector<uint8_t> bytes;
  std::string error;
  REQUIRE_MESSAGE(encode_zoo_model(mlp.views(), kMetadata, ZooFormat::kOnnx, GgufType::kF16, TfliteWeightType::kFloat32,
                                   "mlp-a/root", &bytes, &error),
                  error);
  const std::unique_ptr<ModelFile> f = open(bytes, ModelFormat::kOnnx);
  check_metadata(*f);
  CHECK(f->tensors().size() == mlp.values.size());  // initializers only
  for (const auto& [name, values] : mlp.values) {
    CAPTURE(name);
    const ModelTensor* t = f->find(name);
    REQUIRE(t != nullptr);
    CHECK(t->shape == mlp.shapes.at(name));
    CHECK(t->dtype == "FLOAT");
    CHECK(read_all(*f, *t) == values);
  }
  // ir_version 8 first; the opset import {"" 17}; Gemm, Relu in order.
  CHECK(bytes[0] == 0x08);
  CHECK(bytes[1] == 8);
  const std::string text(bytes.begin(), bytes.end());
  const std::string opset = std::string("\x42\x04\x0a\x00\x10\x11", 6);
  CHECK(text.find(opset) != std::string::npos);
  const size_t g1 = text.find("Gemm"), r1 = text.find("Relu"), g2 = text.find("Gemm", g1 + 1);
  CHECK(g1 < r1);
  CHECK(r1 < g2);
  CHECK(text.find("transB") != std::string::npos);
}

TEST_CASE("onnx writer: the expert graph's initializers, nodes in the authors' order, outputs and refusals") {
  // Every dimension different, so that a swapped shape shows.
  const uint64_t d_h = 5, d_w = 4, r_u = 3, r_v = 2, r_t = 6, d_y = 7;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const auto values = [&](uint64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = normal(rng);
    return v;
  };
  const std::vector<float> probes = values(d_w * r_u), projection = values(r_v * d_h),
                           encoder = values(r_t * r_u * r_v), encoder_bias = values(r_t), head = values(d_y * r_t),
                           head_bias = values(d_y);
  ExpertGraphWeights w;
  w.d_h = d_h;
  w.d_w = d_w;
  w.r_u = r_u;
  w.r_v = r_v;
  w.r_t = r_t;
  w.d_y = d_y;
  w.probes = probes.data();
  w.projection = projection.data();
  w.encoder = encoder.data();
  w.encoder_bias = encoder_bias.data();
  w.head = head.data();
  w.head_bias = head_bias.data();
  std::vector<uint8_t> bytes;
  std::string error;
  REQUIRE_MESSAGE(encode_onnx_expert(w, kMetadata, &bytes, &error), error);
  const std::unique_ptr<ModelFile> f = open(bytes, ModelFormat::kOnnx);
  check_metadata(*f);
  CHECK(f->tensors().size() == 6);
  // Gemm B with transB = 1 reads as stored; MatMul's B is [in, out] and reads as [out, in] (docs/formats.md).
  const std::map<std::string, std::pair<std::vector<uint64_t>, const std::vector<float>*>> stored = {
      {"shared_probe_proj.weight", {{r_v, d_h}, &projection}},
      {"per_probe_encoders.weight", {{r_t, r_u * r_v}, &encoder}},
      {"per_probe_encoders.bias", {{r_t}, &encoder_bias}},
      {"classification_head.weight", {{d_y, r_t}, &head}},
      {"classification_head.bias", {{d_y}, &head_bias}}};
  for (const auto& [name, expected] : stored) {
    CAPTURE(name);
    const ModelTensor* t = f->find(name);
    REQUIRE(t != nullptr);
    CHECK(t->shape == expected.first);
    CHECK(read_all(*f, *t) == *expected.second);
  }
  const ModelTensor* u = f->find("probes.weight");
  REQUIRE(u != nullptr);
  CHECK(u->shape == std::vector<uint64_t>{r_u, d_w});
  const std::vector<float> u_t = read_all(*f, *u);
  for (uint64_t k = 0; k < d_w; ++k)
    for (uint64_t l = 0; l < r_u; ++l) CHECK(u_t[l * d_w + k] == probes[k * r_u + l]);

  // The nodes in forward order, each once (op types as length-delimited strings: field 4, then the length).
  const std::string text(bytes.begin(), bytes.end());
  const auto op = [](const std::string& type) {
    return std::string(1, '\x22') + static_cast<char>(type.size()) + type;
  };
  size_t at = 0;
  for (const char* type : {"MatMul", "Transpose", "Gemm", "Relu", "Flatten", "Gemm", "Gemm"}) {
    CAPTURE(type);
    const size_t next = text.find(op(type), at);
    REQUIRE(next != std::string::npos);
    at = next + 1;
  }
  CHECK(text.find(op("Gemm"), at) == std::string::npos);
  CHECK(text.find("perm") != std::string::npos);
  // Graph input "layer" [d_H, d_W]; outputs "logits" [1, d_Y] then "embedding" [1, r_T].
  CHECK(text.find("logits") < text.rfind("embedding"));

  SUBCASE("a zero-shot expert (no head) outputs the embedding only") {
    w.d_y = 0;
    w.head = w.head_bias = nullptr;
    REQUIRE_MESSAGE(encode_onnx_expert(w, {}, &bytes, &error), error);
    const std::string zs(bytes.begin(), bytes.end());
    CHECK(zs.find("logits") == std::string::npos);
    CHECK(zs.find("classification_head") == std::string::npos);
    CHECK(zs.find(op("Gemm")) != std::string::npos);
  }
  SUBCASE("refusals") {
    w.encoder_bias = nullptr;
    CHECK_FALSE(encode_onnx_expert(w, {}, &bytes, &error));
    CHECK(error.find("needs every dimension and weight") != std::string::npos);
    w.encoder_bias = encoder_bias.data();
    w.r_v = 0;
    CHECK_FALSE(encode_onnx_expert(w, {}, &bytes, &error));
  }
}

TEST_CASE("mlp_layers: zoo layer order and its refusals") {
  Mlp mlp = make_mlp();
  std::vector<DenseLayer> layers;
  std::string error;
  REQUIRE_MESSAGE(mlp_layers(mlp.views(), &layers, &error), error);
  REQUIRE(layers.size() == 3);
  CHECK(layers[0].name == "fc1");
  CHECK(layers[2].name == "head");
  CHECK(layers[0].relu);
  CHECK_FALSE(layers[2].relu);
  CHECK(layers[1].in == 6);

  Mlp extra = mlp;
  extra.values["norm.weight"] = {1.0f};
  extra.shapes["norm.weight"] = {1};
  CHECK_FALSE(mlp_layers(extra.views(), &layers, &error));
  CHECK(error.find("'norm.weight' is not a layer") != std::string::npos);
  Mlp no_bias = mlp;
  no_bias.values.erase("fc2.bias");
  CHECK_FALSE(mlp_layers(no_bias.views(), &layers, &error));
  CHECK(error == "layer 'fc2' lacks its bias");
  Mlp broken = mlp;
  broken.values["fc2.weight"].resize(4 * 5);
  broken.shapes["fc2.weight"] = {4, 5};
  CHECK_FALSE(mlp_layers(broken.views(), &layers, &error));
  CHECK(error == "layer 'fc2' takes 5 inputs, 'fc1' gives 6");
}
