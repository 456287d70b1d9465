// The GGUF writer: bytes checked against the format's definition by hand (header, metadata, tensor
// infos, alignment) and Q8_0 blocks against ggml's reference quantizer worked out by hand. An
// independent parser (npm's @huggingface/gguf) reads its files in the ctest gguf/independent_parser.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "io/gguf_writer.h"

using namespace probex::convert;

namespace {

uint32_t u32_at(const std::vector<uint8_t>& b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | b[at + static_cast<size_t>(i)];
  return v;
}
uint64_t u64_at(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[at + static_cast<size_t>(i)];
  return v;
}

}  // namespace

TEST_CASE("Q8_0: d = max|x| / 127 as fp16, q = x / d rounded half away from zero") {
  // max|x| = 127, so d = 1.0 (fp16 0x3C00) and q = round(x): -0.5 -> -1, 0.5 -> 1, 1.5 -> 2, 2.5 -> 3.
  float x[32] = {-127.0f, -1.4f, -0.5f, 0.5f, 1.5f, 2.5f, 127.0f, 0.49f};
  uint8_t block[34];
  quantize_q8_0_block(x, block);
  CHECK(block[0] == 0x00);
  CHECK(block[1] == 0x3C);
  const int8_t want[8] = {-127, -1, -1, 1, 2, 3, 127, 0};
  for (int j = 0; j < 8; ++j) CHECK(static_cast<int8_t>(block[2 + j]) == want[j]);
  for (int j = 8; j < 32; ++j) CHECK(block[2 + j] == 0);
  // max|x| = 16: d = 16/127 = 0.1259843, nearest fp16 2^-3 * (1 + 8/1024) = 0x3008; q = round(x * 127/16).
  float y[32];
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(j - 16);
  quantize_q8_0_block(y, block);
  CHECK(block[0] == 0x08);
  CHECK(block[1] == 0x30);
  CHECK(static_cast<int8_t>(block[2]) == -127);      // -16 * 7.9375
  CHECK(static_cast<int8_t>(block[2 + 17]) == 8);    // 1 * 7.9375 = 7.94
  CHECK(static_cast<int8_t>(block[2 + 31]) == 119);  // 15 * 7.9375 = 119.06
  // All zeros: d = 0 and every q 0 (no division by zero).
  float z[32] = {};
  quantize_q8_0_block(z, block);
  for (uint8_t v : block) CHECK(v == 0);
}

TEST_CASE("a GGUF v3 file: header, metadata, tensor infos, aligned data, dims reversed") {
  GgufWriter w;
  w.set_string("general.architecture", "mlp");
  const float a[6] = {1, 2, 3, 4, 5, 6};
  std::string error;
  REQUIRE(w.add_f32("fc.weight", GgufType::kF32, {2, 3}, a, 6, &error));
  const std::vector<uint8_t> b = w.serialize();
  REQUIRE(b.size() > 24);
  CHECK(std::memcmp(b.data(), "GGUF", 4) == 0);
  CHECK(u32_at(b, 4) == 3);   // version
  CHECK(u64_at(b, 8) == 1);   // tensors
  CHECK(u64_at(b, 16) == 2);  // metadata: general.alignment (always) and general.architecture
  size_t at = 24;
  // Keys in name order: general.alignment (uint32 = type 4, value 32), then general.architecture (string).
  CHECK(u64_at(b, at) == 17);
  CHECK(std::string(b.begin() + 32, b.begin() + 49) == "general.alignment");
  at = 49;
  CHECK(u32_at(b, at) == 4);
  CHECK(u32_at(b, at + 4) == 32);
  at += 8;
  CHECK(u64_at(b, at) == 20);
  at += 8 + 20;
  CHECK(u32_at(b, at) == 8);  // string
  CHECK(u64_at(b, at + 4) == 3);
  at += 4 + 8 + 3;
  // Tensor info: name, 2 dims innermost first (3, 2), type F32 (0), offset 0.
  CHECK(u64_at(b, at) == 9);
  at += 8 + 9;
  CHECK(u32_at(b, at) == 2);
  CHECK(u64_at(b, at + 4) == 3);
  CHECK(u64_at(b, at + 12) == 2);
  CHECK(u32_at(b, at + 20) == 0);
  CHECK(u64_at(b, at + 24) == 0);
  at += 32;
  const size_t data = (at + 31) / 32 * 32;
  REQUIRE(b.size() == data + 24);
  float back[6];
  std::memcpy(back, b.data() + data, sizeof back);
  for (int i = 0; i < 6; ++i) CHECK(back[i] == a[i]);
}

TEST_CASE("tensors are placed in name order at multiples of 32; bad tensors are refused") {
  GgufWriter w;
  std::string error;
  std::vector<float> v(64, 0.25f);
  REQUIRE(w.add_f32("b", GgufType::kF16, {5}, v.data(), 5, &error));    // 10 bytes
  REQUIRE(w.add_f32("a", GgufType::kQ8_0, {2, 32}, v.data(), 64, &error));  // 2 blocks, 68 bytes
  const auto places = w.layout();
  REQUIRE(places.size() == 2);
  CHECK(places[0].name == "a");
  CHECK(places[0].offset == 0);
  CHECK(places[0].ne == std::vector<uint64_t>{32, 2});
  CHECK(places[1].name == "b");
  CHECK(places[1].offset == 96);  // 68 rounded up to 32
  CHECK_FALSE(w.add_f32("a", GgufType::kF32, {1}, v.data(), 1, &error));
  CHECK(error == "GGUF tensor 'a': added twice");
  CHECK_FALSE(w.add_f32("c", GgufType::kQ8_0, {2, 16}, v.data(), 32, &error));
  CHECK(error == "GGUF tensor 'c': Q8_0 needs a row length that is a multiple of 32, not 16");
  CHECK_FALSE(w.add_f32("d", GgufType::kF32, {2, 3}, v.data(), 5, &error));
  CHECK(error == "GGUF tensor 'd': shape holds 6 values, 5 given");
  CHECK_FALSE(w.add_f32("e", GgufType::kF32, {1, 1, 1, 1, 1}, v.data(), 1, &error));
  GgufType t;
  CHECK(parse_gguf_type("Q8_0", &t));
  CHECK(t == GgufType::kQ8_0);
  CHECK_FALSE(parse_gguf_type("q8_0", &t));
}
