// Writer -> strict reader round trips, and the writer's determinism and padding promises.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "converter/io/safetensors_writer.h"
#include "runtime/math/float_formats.h"
#include "tests/test_util.h"

using namespace probex;
using probex::convert::SafetensorsWriter;

namespace {
uint64_t header_length(const std::vector<uint8_t>& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<size_t>(i)];
  return n;
}
}  // namespace

TEST_CASE("raw bytes of every dtype round-trip unchanged") {
  const Dtype all[] = {Dtype::kBool, Dtype::kU8,  Dtype::kI8,  Dtype::kF8_E4M3, Dtype::kF8_E5M2,
                       Dtype::kI16,  Dtype::kU16, Dtype::kF16, Dtype::kBF16,    Dtype::kI32,
                       Dtype::kU32,  Dtype::kF32, Dtype::kI64, Dtype::kU64,     Dtype::kF64};
  SafetensorsWriter w;
  std::string error;
  std::map<std::string, std::vector<uint8_t>> expected;
  for (Dtype d : all) {
    const size_t n = 6 * dtype_size(d);
    std::vector<uint8_t> bytes(n);
    for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>(i * 37 + dtype_size(d));
    if (d == Dtype::kBool)
      for (auto& b : bytes) b &= 1;
    const std::string name = std::string("t_") + dtype_name(d);
    expected[name] = bytes;
    REQUIRE(w.add_raw(name, d, {2, 3}, bytes, &error));
  }
  const auto file = w.serialize();
  SafetensorsFile f;
  const auto st = SafetensorsFile::from_buffer("all", file.data(), file.size(), &f);
  REQUIRE_MESSAGE(st.ok(), st.message);
  REQUIRE(f.tensors().size() == std::size(all));
  for (Dtype d : all) {
    const std::string name = std::string("t_") + dtype_name(d);
    const TensorInfo* t = f.find(name);
    REQUIRE(t != nullptr);
    CHECK(t->dtype == d);
    CHECK(t->shape == std::vector<uint64_t>{2, 3});
    std::vector<uint8_t> stored(expected[name].size());
    REQUIRE(f.read_raw(*t, stored.data()).ok());
    CHECK(stored == expected[name]);
  }
}

TEST_CASE("float values round-trip through F32, F64, F16 and BF16 with the dtype's rounding") {
  std::vector<float> values = {0.0f, -0.0f, 1.0f, -2.5f, 3.14159265f, 1e-3f, -65504.0f, 1e-6f, 123456.789f};
  SafetensorsWriter w;
  std::string error;
  for (Dtype d : {Dtype::kF32, Dtype::kF64, Dtype::kF16, Dtype::kBF16}) {
    REQUIRE(w.add_f32(dtype_name(d), d, {values.size()}, values.data(), &error));
  }
  const auto file = w.serialize();
  SafetensorsFile f;
  REQUIRE(SafetensorsFile::from_buffer("floats", file.data(), file.size(), &f).ok());
  std::vector<float> out(values.size());
  for (Dtype d : {Dtype::kF32, Dtype::kF64, Dtype::kF16, Dtype::kBF16}) {
    CAPTURE(dtype_name(d));
    REQUIRE(f.read_f32(*f.find(dtype_name(d)), 0, values.size(), out.data()).ok());
    for (size_t i = 0; i < values.size(); ++i) {
      float expect = values[i];
      if (d == Dtype::kF16) expect = f16_to_f32(f32_to_f16(values[i]));
      if (d == Dtype::kBF16) expect = bf16_to_f32(f32_to_bf16(values[i]));
      CHECK(f32_to_bits(out[i]) == f32_to_bits(expect));
    }
  }
  // 123456.789 does not fit a half: it becomes infinity rather than wrapping.
  REQUIRE(f.read_f32(*f.find("F16"), 8, 1, out.data()).ok());
  CHECK(std::isinf(out[0]));
}

TEST_CASE("output is deterministic, header padded to 8 bytes, metadata preserved") {
  std::string error;
  const float a[3] = {1, 2, 3};
  const float b[1] = {4};
  SafetensorsWriter w1, w2;
  REQUIRE(w1.add_f32("b", Dtype::kF32, {1}, b, &error));
  REQUIRE(w1.add_f32("a", Dtype::kF32, {3}, a, &error));
  w1.set_metadata("zeta", "z");
  w1.set_metadata("classes", "['T-shirt/top', 'Bag']\n\"quoted\" \xc3\xa9 \\ \t");
  REQUIRE(w2.add_f32("a", Dtype::kF32, {3}, a, &error));
  REQUIRE(w2.add_f32("b", Dtype::kF32, {1}, b, &error));
  w2.set_metadata("classes", "['T-shirt/top', 'Bag']\n\"quoted\" \xc3\xa9 \\ \t");
  w2.set_metadata("zeta", "z");
  const auto f1 = w1.serialize();
  CHECK(f1 == w2.serialize());
  CHECK(header_length(f1) % 8 == 0);
  CHECK((f1.size() - 8 - header_length(f1)) == 16);

  SafetensorsFile f;
  REQUIRE(SafetensorsFile::from_buffer("meta", f1.data(), f1.size(), &f).ok());
  CHECK(*f.metadata_value("classes") == "['T-shirt/top', 'Bag']\n\"quoted\" \xc3\xa9 \\ \t");
  // Data follows in name order: a, then b.
  CHECK(f.tensors()[0].name == "a");
  CHECK(f.tensors()[1].begin == 12);
}

TEST_CASE("the writer refuses inconsistent tensors") {
  SafetensorsWriter w;
  std::string error;
  CHECK_FALSE(w.add_raw("x", Dtype::kF32, {2}, std::vector<uint8_t>(7), &error));
  CHECK(error.find("7 bytes") != std::string::npos);
  CHECK(w.add_raw("x", Dtype::kF32, {2}, std::vector<uint8_t>(8), &error));
  CHECK_FALSE(w.add_raw("x", Dtype::kF32, {2}, std::vector<uint8_t>(8), &error));
  CHECK_FALSE(w.add_raw("__metadata__", Dtype::kU8, {1}, std::vector<uint8_t>(1), &error));
  CHECK_FALSE(w.add_raw("", Dtype::kU8, {1}, std::vector<uint8_t>(1), &error));
  const float v = 1;
  CHECK_FALSE(w.add_f32("i", Dtype::kI32, {1}, &v, &error));
}

TEST_CASE("write_file replaces the target atomically and leaves no temporary file") {
  probex::test::TempDir dir;
  SafetensorsWriter w;
  std::string error;
  const float v[2] = {5, 6};
  REQUIRE(w.add_f32("v", Dtype::kF32, {2}, v, &error));
  const std::string path = dir.file("out.safetensors");
  REQUIRE(probex::test::write_bytes(path, {1, 2, 3}));
  REQUIRE(w.write_file(path, &error));
  CHECK(probex::test::read_bytes(path) == w.serialize());
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  CHECK_FALSE(w.write_file(dir.file("no/such/folder/x.safetensors"), &error));
  CHECK(error.find("cannot create") != std::string::npos);
}
