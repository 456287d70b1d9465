// The TFLite reader through the model-file interface: the valid base model (tflite_builder.h) read in the
// shown (PyTorch) order, from a buffer and from a file, inline and with offset buffers; then the malformed
// corpus (malformed_tflite.h), every case refused with its own error, detail and message, and the limits.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "runtime/formats/model_file.h"
#include "runtime/formats/tflite.h"
#include "tests/runtime/formats/malformed_tflite.h"
#include "tests/runtime/formats/tflite_builder.h"
#include "tests/test_util.h"

using probex::ModelError;
using probex::ModelFile;
using probex::ModelStatus;
using probex::ModelTensor;
using probex::TfliteError;
using probex::test::base_tflite;
using probex::test::build_tflite;

namespace {

// The model reads `bytes` in place: they must outlive it (a temporary would be freed under it).
std::unique_ptr<ModelFile> open_buffer(std::vector<uint8_t>&& bytes, ModelStatus* st = nullptr) = delete;
std::unique_ptr<ModelFile> open_buffer(const std::vector<uint8_t>& bytes, ModelStatus* st = nullptr) {
  std::unique_ptr<ModelFile> m;
  const ModelStatus s = probex::model_file_from_buffer("case.tflite", bytes.data(), bytes.size(), &m);
  if (st != nullptr) *st = s;
  return m;
}

std::vector<float> read_all(const ModelFile& m, const char* name) {
  const ModelTensor* t = m.find(name);
  REQUIRE(t != nullptr);
  std::vector<float> v(static_cast<size_t>(t->element_count), NAN);
  const ModelStatus st = m.read_f32(*t, 0, t->element_count, v.data());
  REQUIRE_MESSAGE(st.ok(), st.message);
  return v;
}

// The base model's constants in the shown order, computed from their definitions.
void check_base_values(const ModelFile& m) {
  // conv/w16: stored [O 3, H 2, W 1, I 4], element s = s; shown [O, I, H, W].
  const ModelTensor* conv = m.find("conv/w16");
  REQUIRE(conv != nullptr);
  CHECK(conv->shape == std::vector<uint64_t>{3, 4, 2, 1});
  CHECK(conv->dtype == "FLOAT16");
  const std::vector<float> c = read_all(m, "conv/w16");
  for (uint64_t o = 0; o < 3; ++o)
    for (uint64_t i = 0; i < 4; ++i)
      for (uint64_t h = 0; h < 2; ++h) {
        CAPTURE(o);
        CAPTURE(i);
        CAPTURE(h);
        CHECK(c[static_cast<size_t>((o * 4 + i) * 2 + h)] == static_cast<float>((o * 2 + h) * 4 + i));
      }
  // dw/w: stored [1, H 2, W 2, C 3], element s = s / 2; shown [C, 1, H, W].
  const ModelTensor* dw = m.find("dw/w");
  REQUIRE(dw != nullptr);
  CHECK(dw->shape == std::vector<uint64_t>{3, 1, 2, 2});
  const std::vector<float> d = read_all(m, "dw/w");
  for (uint64_t ch = 0; ch < 3; ++ch)
    for (uint64_t p = 0; p < 4; ++p) CHECK(d[static_cast<size_t>(ch * 4 + p)] == static_cast<float>(p * 3 + ch) / 2);
  // fc/w: [out 2, in 3] as stored; INT8 per channel: scale[o] * (q - zero_point[o]).
  const ModelTensor* fc = m.find("fc/w");
  REQUIRE(fc != nullptr);
  CHECK(fc->shape == std::vector<uint64_t>{2, 3});
  CHECK(fc->readable);
  CHECK(read_all(m, "fc/w") == std::vector<float>{0.5f * 4, 0.5f * 2, 0.5f * -2, 0.25f * -126, 0.25f * 129, 0.25f * 2});

  // Every range of every readable tensor equals the slice of its whole read (the gathers and scatters).
  for (const ModelTensor& t : m.tensors()) {
    if (!t.readable) continue;
    const std::vector<float> whole = read_all(m, t.name.c_str());
    for (uint64_t first = 0; first < t.element_count; ++first) {
      for (uint64_t count = 0; first + count <= t.element_count; count += 5) {
        std::vector<float> part(static_cast<size_t>(count) + 1, NAN);
        REQUIRE(m.read_f32(t, first, count, part.data()).ok());
        CHECK(std::memcmp(part.data(), whole.data() + first, static_cast<size_t>(count) * sizeof(float)) == 0);
      }
    }
  }
}

}  // namespace

TEST_CASE("a TFLite model lists every tensor and reads its constants in PyTorch order") {
  for (const bool external : {false, true}) {
    CAPTURE(external);
    const std::vector<uint8_t> bytes = build_tflite(base_tflite(external));
    ModelStatus st;
    auto m = open_buffer(bytes, &st);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(m->format() == probex::ModelFormat::kTflite);
    CHECK(std::string(probex::model_format_name(m->format())) == "tflite");
    CHECK(m->tensors().size() == 9);
    check_base_values(*m);

    // Activations and inputs: listed with their shape, not readable.
    const ModelTensor* in = m->find("input");
    REQUIRE(in != nullptr);
    CHECK(in->shape == std::vector<uint64_t>{1, 4, 4, 4});
    CHECK_FALSE(in->readable);
    float x = 0;
    st = m->read_f32(*in, 0, 1, &x);
    CHECK(st.code == ModelError::kUnsupportedConversion);
    CHECK(st.detail == "unsupported_type");
    CHECK(st.message == "case.tflite: tensor 'input' has no data (an activation or an input, not a constant)");
    // The DEQUANTIZE output keeps its stored shape: it has no data; its source carries the layout.
    CHECK(m->find("conv/w")->shape == std::vector<uint64_t>{3, 2, 1, 4});
    // An INT32 constant without quantization: listed, refused by name of its type.
    st = m->read_f32(*m->find("shape"), 0, 1, &x);
    CHECK(st.code == ModelError::kUnsupportedConversion);
    CHECK(st.message == "case.tflite: tensor 'shape' is INT32 without quantization parameters");
    st = m->read_f32(*m->find("fc/w"), 4, 3, &x);
    CHECK(st.code == ModelError::kOutOfRange);

    // From a file, through identify_model and open_model_file.
    probex::test::TempDir dir;
    const std::string path = dir.file("model.tflite");
    REQUIRE(probex::test::write_bytes(path, bytes));
    probex::ModelFormat format = probex::ModelFormat::kSafetensors;
    std::string target;
    REQUIRE(probex::identify_model(path, {}, &format, &target).ok());
    CHECK(format == probex::ModelFormat::kTflite);
    std::unique_ptr<ModelFile> f;
    st = probex::open_model_file(path, &f);
    REQUIRE_MESSAGE(st.ok(), st.message);
    check_base_values(*f);
  }
}

TEST_CASE("TFLite: a file with offset buffers is verified without loading its data") {
  // 100000 FLOAT32 weights outside the flatbuffer: the verified prefix (64 KB) stops short of them.
  probex::test::TflModel model = base_tflite(true);
  model.subgraphs[0].tensors[6] = {"fc/w", {1000, 100}, 0, 3, false, {}, {}, 0, false, false, {}, {}, {}};
  std::vector<float> w(100000);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) * 0.25f;
  model.buffers[3].data = probex::test::floats(w);
  const std::vector<uint8_t> bytes = build_tflite(model);
  probex::test::TempDir dir;
  const std::string path = dir.file("big.tflite");
  REQUIRE(probex::test::write_bytes(path, bytes));
  probex::TfliteFile file;
  const auto st = probex::TfliteFile::open(path, &file);
  REQUIRE_MESSAGE(st.ok(), st.message);
  const probex::TfliteTensorInfo& t = file.tensors()[6];
  CHECK_FALSE(t.inline_data);
  std::vector<float> row(100);
  REQUIRE(file.read_f32(t, 99900, 100, row.data()).ok());
  CHECK(row[0] == 99900 * 0.25f);
  CHECK(row[99] == 99999 * 0.25f);
}

TEST_CASE("TFLite: tensors of later subgraphs are prefixed with their subgraph's index") {
  probex::test::TflModel model = base_tflite();
  model.subgraphs.push_back(model.subgraphs[0]);
  ModelStatus st;
  const std::vector<uint8_t> bytes = build_tflite(model);
  auto m = open_buffer(bytes, &st);
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(m->tensors().size() == 18);
  REQUIRE(m->find("1:conv/w16") != nullptr);
  CHECK(read_all(*m, "1:conv/w16") == read_all(*m, "conv/w16"));
}

TEST_CASE("TFLite: a caller buffer that is not 8-byte aligned is copied, not read misaligned") {
  const std::vector<uint8_t> bytes = build_tflite(base_tflite());
  std::vector<uint8_t> shifted(bytes.size() + 1);
  std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
  std::unique_ptr<ModelFile> m;
  const ModelStatus st = probex::model_file_from_buffer("odd", shifted.data() + 1, bytes.size(), &m);
  REQUIRE_MESSAGE(st.ok(), st.message);
  check_base_values(*m);
}

TEST_CASE("TFLite: sparse tensors are densified, blocks and CSR levels, and a sparse Conv2D kernel is permuted") {
  probex::test::TflModel model = base_tflite();
  auto& ts = model.subgraphs[0].tensors;
  // dw/w (buffer 2) becomes [2, 4]: rows dense, then 2 block columns in CSR, each a dense block of 2.
  ts[4].shape = {2, 4};
  ts[4].sparse = true;
  ts[4].traversal_order = {0, 1, 2};
  ts[4].block_map = {1};
  ts[4].dim_metadata = {{false, 2, {}, {}, false}, {true, 0, {0, 1, 2}, {1, 0}, false}, {false, 2, {}, {}, false}};
  model.buffers[2].data = probex::test::floats({1, 2, 3, 4});
  // A sparse Conv2D kernel [O 2, H 1, W 1, I 2] behind DENSIFY: stored (0, 0, 0, 1) = 5 and (1, 0, 0, 0) = 6.
  model.builtin_codes.push_back(124);
  probex::test::TflTensor sp{"sp/w", {2, 1, 1, 2}, 0, 5, false, {}, {}, 0, false, true, {0, 1, 2, 3}, {}, {}};
  sp.dim_metadata = {{false, 2, {}, {}, false},
                     {false, 1, {}, {}, false},
                     {false, 1, {}, {}, false},
                     {true, 0, {0, 1, 2}, {1, 0}, false}};
  ts.push_back(sp);
  ts.push_back({"sp/dense", {2, 1, 1, 2}, 0, 0, false, {}, {}, 0, false, false, {}, {}, {}});
  ts.push_back({"sp/out", {1, 4, 4, 2}, 0, 0, false, {}, {}, 0, false, false, {}, {}, {}});
  model.subgraphs[0].ops.push_back({4, {9}, {10}});
  model.subgraphs[0].ops.push_back({1, {0, 10}, {11}});
  model.buffers.push_back({probex::test::floats({5, 6}), false, 0, 0});
  for (const bool external : {false, true}) {
    CAPTURE(external);
    for (size_t b = 1; b < model.buffers.size(); ++b) model.buffers[b].external = external;
    ModelStatus st;
    const std::vector<uint8_t> bytes = build_tflite(model);
    auto m = open_buffer(bytes, &st);
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(m->find("dw/w")->readable);
    CHECK(read_all(*m, "dw/w") == std::vector<float>{0, 0, 1, 2, 3, 4, 0, 0});
    CHECK(m->find("sp/w")->shape == std::vector<uint64_t>{2, 2, 1, 1});
    CHECK(read_all(*m, "sp/w") == std::vector<float>{0, 5, 6, 0});
    std::vector<float> row(4, NAN);
    REQUIRE(m->read_rows_f32(*m->find("dw/w"), 1, 1, row.data()).ok());
    CHECK(row == std::vector<float>{3, 4, 0, 0});
    REQUIRE(m->read_f32(*m->find("dw/w"), 2, 3, row.data()).ok());
    CHECK(std::vector<float>(row.begin(), row.begin() + 3) == std::vector<float>{1, 2, 3});
  }
}

TEST_CASE("TFLite: custom-quantized and unknown-type tensors are listed but refused by reason") {
  probex::test::TflModel model = base_tflite();
  auto& ts = model.subgraphs[0].tensors;
  ts[6].custom_quantization = true;
  ts[8].type = 5;  // STRING
  ModelStatus st;
  const std::vector<uint8_t> bytes = build_tflite(model);
  auto m = open_buffer(bytes, &st);
  REQUIRE_MESSAGE(st.ok(), st.message);
  float x = 0;
  CHECK(m->read_f32(*m->find("fc/w"), 0, 1, &x).message == "case.tflite: tensor 'fc/w' uses custom quantization");
  CHECK(m->read_f32(*m->find("shape"), 0, 1, &x).message ==
        "case.tflite: tensor 'shape' has type STRING (5), which has no float32 conversion here");
  CHECK(m->find("shape")->dtype == "STRING");
}

TEST_CASE("every malformed TFLite file gives its own specific error, from a buffer and from a file") {
  const auto cases = probex::test::malformed_tflite_corpus();
  REQUIRE(cases.size() >= 25);
  probex::test::TempDir dir;
  for (const auto& c : cases) {
    CAPTURE(c.name);
    std::unique_ptr<ModelFile> m;
    ModelStatus st = probex::model_file_from_buffer("case.tflite", c.bytes.data(), c.bytes.size(), &m);
    const char* detail = probex::tflite_error_name(c.expected);
    // Too short or without the identifier, a buffer is no TFLite file at all for the interface.
    if (c.expected == TfliteError::kBadIdentifier || c.bytes.size() < 8) {
      CHECK(st.code == ModelError::kNotAModel);
      probex::TfliteFile f;
      const auto direct = probex::TfliteFile::from_buffer("case.tflite", c.bytes.data(), c.bytes.size(), &f);
      CHECK(direct.code == c.expected);
      CHECK_MESSAGE(direct.message.find(c.message_part) != std::string::npos, direct.message);
      continue;
    }
    CHECK(m == nullptr);
    CHECK(st.detail == detail);
    CHECK(st.code == (c.expected == TfliteError::kLimitExceeded ? ModelError::kLimitExceeded : ModelError::kInvalid));
    CHECK(st.message.rfind("case.tflite: ", 0) == 0);
    CHECK_MESSAGE(st.message.find(c.message_part) != std::string::npos, st.message);

    const std::string path = dir.file("case.tflite");
    REQUIRE(probex::test::write_bytes(path, c.bytes));
    st = probex::open_model_file(path, &m);
    CHECK(st.detail == detail);
    CHECK(st.message.rfind(path + ": ", 0) == 0);
    CHECK_MESSAGE(st.message.find(c.message_part) != std::string::npos, st.message);
  }
}

TEST_CASE("the configured TFLite limits are enforced") {
  const std::vector<uint8_t> bytes = build_tflite(base_tflite());
  auto refused = [&](const probex::TfliteLimits& limits, TfliteError code, const std::string& part) {
    probex::TfliteFile f;
    const auto st = probex::TfliteFile::from_buffer("case.tflite", bytes.data(), bytes.size(), &f, limits);
    CHECK(st.code == code);
    CHECK_MESSAGE(st.message.find(part) != std::string::npos, st.message);
  };
  probex::TfliteLimits l;
  l.max_file_bytes = 100;
  refused(l, TfliteError::kLimitExceeded, "above the configured limit of 100");
  l = {};
  l.max_tensors = 8;
  refused(l, TfliteError::kLimitExceeded, "9 tensors exceed the limit of 8");
  l = {};
  l.max_subgraphs = 0;
  refused(l, TfliteError::kLimitExceeded, "1 subgraphs exceed the limit of 0");
  l = {};
  l.max_buffers = 4;
  refused(l, TfliteError::kLimitExceeded, "5 buffers exceed the limit of 4");
  l = {};
  l.max_operators = 3;
  refused(l, TfliteError::kLimitExceeded, "4 operators exceed the limit of 3");
  l = {};
  l.max_dims = 3;
  refused(l, TfliteError::kLimitExceeded, "tensor 'input': 4 dimensions exceed the limit of 3");
  l = {};
  l.max_depth = 2;
  refused(l, TfliteError::kVerifierFailed, "nested deeper than 2");
  l = {};
  l.max_tables = 10;
  refused(l, TfliteError::kVerifierFailed, "more than 10");
  // Through the interface: ModelLimits.max_file_bytes applies.
  probex::ModelLimits ml;
  ml.max_file_bytes = 64;
  std::unique_ptr<ModelFile> m;
  const ModelStatus st = probex::model_file_from_buffer("case.tflite", bytes.data(), bytes.size(), &m, ml);
  CHECK(st.code == ModelError::kLimitExceeded);
}

TEST_CASE("TFLite: Model.metadata entries read as string metadata; unusable entries are skipped, not errors") {
  probex::test::TflModel model = base_tflite(false);
  const auto add = [&](const std::string& text, bool external) {
    probex::test::TflBuffer b;
    b.data.assign(text.begin(), text.end());
    b.external = external;
    model.buffers.push_back(b);
    return static_cast<uint32_t>(model.buffers.size() - 1);
  };
  const uint32_t labels = add("['Trouser', 'Bag']", false), other = add("second", false), outside = add("far", true);
  model.metadata = {{"dataset_chosen_targets", labels}, {"dup", other}, {"dup", labels}, {"bad_index", 9999},
                    {"offset_buffer", outside},         {"empty", 0}};
  ModelStatus st;
  const std::vector<uint8_t> bytes = build_tflite(model);
  auto m = open_buffer(bytes, &st);
  REQUIRE_MESSAGE(st.ok(), st.message);
  REQUIRE(m->metadata_string("dataset_chosen_targets") != nullptr);
  CHECK(*m->metadata_string("dataset_chosen_targets") == "['Trouser', 'Bag']");
  REQUIRE(m->metadata_string("dup") != nullptr);
  CHECK(*m->metadata_string("dup") == "second");  // the first of a repeated name
  CHECK(m->metadata_string("bad_index") == nullptr);
  CHECK(m->metadata_string("offset_buffer") == nullptr);
  REQUIRE(m->metadata_string("empty") != nullptr);  // buffer 0: an empty data vector here
  CHECK(m->metadata_string("empty")->empty());
  CHECK(m->metadata_string("absent") == nullptr);
  check_base_values(*m);
}
