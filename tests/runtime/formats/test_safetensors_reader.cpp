// The reader on valid files: views, metadata, float conversion by element range and by row block.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/formats/safetensors.h"
#include "tests/test_util.h"

using namespace probex;
using probex::test::safetensors_bytes;

namespace {

// Builds a file whose data area holds `data` after `header` (no padding: data may be misaligned).
std::vector<uint8_t> file_with(const std::string& header, const std::vector<uint8_t>& data) {
  auto bytes = safetensors_bytes(header, 0);
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

template <class T>
void append(std::vector<uint8_t>* out, T v) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->insert(out->end(), b, b + sizeof(T));
}

}  // namespace

TEST_CASE("float tensors of every float dtype convert to float32 from misaligned data") {
  std::vector<uint8_t> data;
  append<float>(&data, 1.5f);
  append<float>(&data, -2.0f);  // f32: [0, 8)
  append<uint16_t>(&data, 0x3C00);
  append<uint16_t>(&data, 0xC400);  // f16 1, -4: [8, 12)
  append<uint16_t>(&data, 0x3F80);
  append<uint16_t>(&data, 0x4040);  // bf16 1, 3: [12, 16)
  append<double>(&data, 0.25);
  append<double>(&data, 1e300);  // f64: [16, 32), 1e300 saturates
  data.push_back(0x38);
  data.push_back(0xB8);  // f8 e4m3 1, -1: [32, 34)
  data.push_back(0x3C);
  data.push_back(0x40);  // f8 e5m2 1, 2: [34, 36)
  // A 3-byte header pad keeps the data area at an odd address inside the buffer.
  const std::string header = R"({"a32":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b16":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},)"
                             R"("c16":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},)"
                             R"("d64":{"dtype":"F64","shape":[2],"data_offsets":[16,32]},)"
                             R"("e8":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[32,34]},)"
                             R"("f8":{"dtype":"F8_E5M2","shape":[2],"data_offsets":[34,36]}}   )";
  const auto bytes = file_with(header, data);
  SafetensorsFile f;
  REQUIRE(SafetensorsFile::from_buffer("mixed", bytes.data(), bytes.size(), &f).ok());
  REQUIRE(f.tensors().size() == 6);
  auto values = [&](const char* name) {
    const TensorInfo* t = nullptr;
    REQUIRE(f.require(name, &t).ok());
    std::vector<float> out(2);
    REQUIRE(f.read_f32(*t, 0, 2, out.data()).ok());
    return out;
  };
  CHECK(values("a32") == std::vector<float>{1.5f, -2.0f});
  CHECK(values("b16") == std::vector<float>{1.0f, -4.0f});
  CHECK(values("c16") == std::vector<float>{1.0f, 3.0f});
  const auto d = values("d64");
  CHECK(d[0] == 0.25f);
  CHECK(std::isinf(d[1]));
  CHECK(values("e8") == std::vector<float>{1.0f, -1.0f});
  CHECK(values("f8") == std::vector<float>{1.0f, 2.0f});
}

TEST_CASE("row blocks cover a tensor without converting it whole") {
  // A [5, 3] BF16 tensor with value r*10 + c.
  std::vector<uint8_t> data;
  for (int r = 0; r < 5; ++r) {
    for (int c = 0; c < 3; ++c) {
      const float v = static_cast<float>(r * 10 + c);
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      append<uint16_t>(&data, static_cast<uint16_t>(bits >> 16));
    }
  }
  const auto bytes = file_with(R"({"w":{"dtype":"BF16","shape":[5,3],"data_offsets":[0,30]}})", data);
  SafetensorsFile f;
  REQUIRE(SafetensorsFile::from_buffer("rows", bytes.data(), bytes.size(), &f).ok());
  const TensorInfo& t = f.tensors()[0];
  CHECK(t.rows() == 5);
  CHECK(t.row_length() == 3);
  std::vector<float> block(2 * 3);
  for (uint64_t r0 = 0; r0 < 5; r0 += 2) {
    const uint64_t n = std::min<uint64_t>(2, 5 - r0);
    REQUIRE(f.read_rows_f32(t, r0, n, block.data()).ok());
    for (uint64_t r = 0; r < n; ++r) {
      for (uint64_t c = 0; c < 3; ++c)
        CHECK(block[static_cast<size_t>(r * 3 + c)] == static_cast<float>((r0 + r) * 10 + c));
    }
  }
  CHECK(f.read_rows_f32(t, 4, 2, block.data()).code == SafetensorsError::kOutOfRange);
  CHECK(f.read_rows_f32(t, UINT64_MAX, 2, block.data()).code == SafetensorsError::kOutOfRange);
  CHECK(f.read_f32(t, 14, 2, block.data()).code == SafetensorsError::kOutOfRange);
  CHECK(f.read_f32(t, 15, 0, block.data()).ok());
}

TEST_CASE("integer tensors are readable as bytes but do not convert to float") {
  std::vector<uint8_t> data;
  append<int32_t>(&data, -7);
  const auto bytes = file_with(R"({"i":{"dtype":"I32","shape":[],"data_offsets":[0,4]}})", data);
  SafetensorsFile f;
  REQUIRE(SafetensorsFile::from_buffer("ints", bytes.data(), bytes.size(), &f).ok());
  const TensorInfo& t = f.tensors()[0];
  CHECK(t.element_count == 1);
  CHECK(t.rows() == 1);
  int32_t v;
  REQUIRE(f.read_raw(t, &v).ok());
  CHECK(v == -7);
  float out;
  const auto st = f.read_f32(t, 0, 1, &out);
  CHECK(st.code == SafetensorsError::kUnsupportedConversion);
  CHECK(st.message == "ints: tensor 'i': I32 does not convert to float32");
}

TEST_CASE("metadata, lookup, empty files and zero-size tensors") {
  const auto bytes = file_with(
      R"({"__metadata__":{"tree":"mlp-a","dataset_chosen_targets":"['Bag', 'Coat']"},)"
      R"("z":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"y":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})",
      {1, 2});
  SafetensorsFile f;
  REQUIRE(SafetensorsFile::from_buffer("meta", bytes.data(), bytes.size(), &f).ok());
  REQUIRE(f.metadata_value("tree") != nullptr);
  CHECK(*f.metadata_value("tree") == "mlp-a");
  CHECK(*f.metadata_value("dataset_chosen_targets") == "['Bag', 'Coat']");
  CHECK(f.metadata_value("missing") == nullptr);
  CHECK(f.find("z") != nullptr);
  CHECK(f.find("z")->element_count == 0);
  // Zero elements into no buffer at all (an empty std::vector's data()): nothing is read or written.
  CHECK(f.read_f32(*f.find("z"), 0, 0, nullptr).ok());
  const TensorInfo* t = nullptr;
  const auto st = f.require("fc9.weight", &t);
  CHECK(st.code == SafetensorsError::kTensorNotFound);
  CHECK(st.message == "meta: no tensor named 'fc9.weight'");

  const auto empty = safetensors_bytes("{}", 0);
  SafetensorsFile e;
  CHECK(SafetensorsFile::from_buffer("empty", empty.data(), empty.size(), &e).ok());
  CHECK(e.tensors().empty());
  CHECK(e.metadata().empty());
}

TEST_CASE("a file on disk is readable after the reader is moved") {
  probex::test::TempDir dir;
  std::vector<uint8_t> data;
  append<float>(&data, 42.0f);
  const std::string path = dir.file("m.safetensors");
  REQUIRE(
      probex::test::write_bytes(path, file_with(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", data)));
  SafetensorsFile moved;
  {
    SafetensorsFile f;
    REQUIRE(SafetensorsFile::open(path, &f).ok());
    moved = std::move(f);
  }
  float v = 0;
  REQUIRE(moved.read_f32(moved.tensors()[0], 0, 1, &v).ok());
  CHECK(v == 42.0f);
  CHECK(moved.label() == path);
}
