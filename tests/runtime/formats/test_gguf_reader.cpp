// The GGUF reader on valid files: metadata of every type, tensor listing (PyTorch shapes, type names),
// reading rows and arbitrary element ranges, and one golden block per supported type whose expected values
// are worked out by hand from the format's definition (ggml-common.h's block layouts, ggml-quants.c's
// dequantize_row_* formulas) — never by running the dequantizer under test.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/formats/gguf.h"
#include "tests/runtime/formats/gguf_writer.h"
#include "tests/test_util.h"

using probex::GgmlType;
using probex::GgufError;
using probex::GgufFile;
using probex::GgufTensorInfo;
using probex::GgufValue;
using probex::GgufValueType;
using probex::test::GgufWriter;
using probex::test::one_tensor_gguf;

namespace {

void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v);
  b[at + 1] = static_cast<uint8_t>(v >> 8);
}

// f16 bit patterns used below.
constexpr uint16_t kHalf0_25 = 0x3400, kHalf0_5 = 0x3800, kHalf1 = 0x3C00, kHalf2 = 0x4000, kHalfMinus1 = 0xBC00;

// Opens a one-tensor file holding `block` as a tensor of `ne` and type `t`, and dequantizes all of it.
std::vector<float> decode(GgmlType t, const std::vector<uint64_t>& ne, const std::vector<uint8_t>& block) {
  const auto bytes = one_tensor_gguf("w", ne, t, block);
  GgufFile f;
  const auto st = GgufFile::from_buffer("golden.gguf", bytes.data(), bytes.size(), &f);
  REQUIRE_MESSAGE(st.ok(), st.message);
  const GgufTensorInfo& info = f.tensors().at(0);
  std::vector<float> out(static_cast<size_t>(info.element_count), NAN);
  const auto read = f.read_f32(info, 0, info.element_count, out.data());
  REQUIRE_MESSAGE(read.ok(), read.message);
  return out;
}

void check_values(const std::vector<float>& got, const std::vector<float>& expected) {
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == expected[i]);
  }
}

// 16 (or 32) repetitions of each group value, for the K-quants' constant sub-blocks.
std::vector<float> groups(const std::vector<float>& per_group, size_t group) {
  std::vector<float> out;
  for (float v : per_group) out.insert(out.end(), group, v);
  return out;
}

}  // namespace

TEST_CASE("GGUF golden Q8_0 block: y = q * d") {
  // d = 0.5; q[i] = 8i - 128 for i < 31 (-128, -120, ..., 112), q[31] = 127.
  std::vector<uint8_t> b(34);
  put16(b, 0, kHalf0_5);
  for (int i = 0; i < 31; ++i) b[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(8 * i - 128));
  b[33] = 127;
  // y[i] = (8i - 128) * 0.5 = 4i - 64; y[31] = 127 * 0.5 = 63.5.
  check_values(decode(GgmlType::kQ8_0, {32}, b),
               {-64, -60, -56, -52, -48, -44, -40, -36, -32, -28, -24, -20, -16, -12, -8, -4,
                0,   4,   8,   12,  16,  20,  24,  28,  32,  36,  40,  44,  48,  52,  56, 63.5f});
}

TEST_CASE("GGUF golden Q4_0 block: y = (nibble - 8) * d") {
  // d = 2; qs[j] = j | (15 - j) << 4: element j is j, element j + 16 is 15 - j.
  std::vector<uint8_t> b(18);
  put16(b, 0, kHalf2);
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(j | (15 - j) << 4);
  // y[j] = (j - 8) * 2; y[j + 16] = (15 - j - 8) * 2 = (7 - j) * 2.
  check_values(decode(GgmlType::kQ4_0, {32}, b),
               {-16, -14, -12, -10, -8, -6, -4, -2, 0,  2,  4,  6,  8,   10,  12,  14,
                14,  12,  10,  8,   6,  4,  2,  0,  -2, -4, -6, -8, -10, -12, -14, -16});
}

TEST_CASE("GGUF golden Q4_1 block: y = nibble * d + m") {
  // d = 0.5, m = -1; the same nibbles as the Q4_0 case.
  std::vector<uint8_t> b(20);
  put16(b, 0, kHalf0_5);
  put16(b, 2, kHalfMinus1);
  for (int j = 0; j < 16; ++j) b[4 + j] = static_cast<uint8_t>(j | (15 - j) << 4);
  // y[j] = j * 0.5 - 1; y[j + 16] = (15 - j) * 0.5 - 1.
  check_values(decode(GgmlType::kQ4_1, {32}, b),
               {-1,   -0.5f, 0,    0.5f, 1,    1.5f, 2,    2.5f, 3,    3.5f, 4,    4.5f, 5,    5.5f, 6,     6.5f,
                6.5f, 6,     5.5f, 5,    4.5f, 4,    3.5f, 3,    2.5f, 2,    1.5f, 1,    0.5f, 0,    -0.5f, -1});
}

TEST_CASE("GGUF golden Q5_0 block: y = (q - 16) * d, bit j of qh the fifth bit of element j") {
  // d = 0.25; qh = 0x800000FF (elements 0..7 and 31 get +16); qs[j] = j (low nibble), high nibbles 0.
  std::vector<uint8_t> b(22);
  put16(b, 0, kHalf0_25);
  b[2] = 0xFF, b[3] = 0x00, b[4] = 0x00, b[5] = 0x80;
  for (int j = 0; j < 16; ++j) b[6 + j] = static_cast<uint8_t>(j);
  // j < 8: (j + 16 - 16) * 0.25 = j / 4; 8 <= j < 16: (j - 16) * 0.25; 16 <= j < 31: (0 - 16) * 0.25 = -4;
  // j = 31: (16 - 16) * 0.25 = 0.
  check_values(decode(GgmlType::kQ5_0, {32}, b),
               {0,  0.25f, 0.5f, 0.75f, 1,  1.25f, 1.5f, 1.75f, -2, -1.75f, -1.5f, -1.25f, -1, -0.75f, -0.5f, -0.25f,
                -4, -4,    -4,   -4,    -4, -4,    -4,   -4,    -4, -4,     -4,    -4,     -4, -4,     -4,    0});
}

TEST_CASE("GGUF golden Q5_1 block: y = q * d + m") {
  // d = 0.5, m = 1; qh = 0xAAAAAAAA (odd elements get +16); qs all 0x21 (low nibble 1, high nibble 2).
  std::vector<uint8_t> b(24);
  put16(b, 0, kHalf0_5);
  put16(b, 2, kHalf1);
  for (int k = 0; k < 4; ++k) b[4 + k] = 0xAA;
  for (int j = 0; j < 16; ++j) b[8 + j] = 0x21;
  // j < 16: even 1 * 0.5 + 1 = 1.5, odd (1 + 16) * 0.5 + 1 = 9.5;
  // j >= 16: even 2 * 0.5 + 1 = 2, odd (2 + 16) * 0.5 + 1 = 10.
  std::vector<float> expected;
  for (int j = 0; j < 32; ++j) expected.push_back(j < 16 ? (j % 2 ? 9.5f : 1.5f) : (j % 2 ? 10.f : 2.f));
  check_values(decode(GgmlType::kQ5_1, {32}, b), expected);
}

TEST_CASE("GGUF golden Q2_K block: y = (d * scale) * q - dmin * min") {
  // scales[i] = i | (15 - i) << 4 (scale i, min 15 - i for 16-element group i); qs all 0xE4, so the 2-bit
  // field j holds j, and group i (elements 16i..16i+15) reads field j = (i % 8) / 2; d = 0.5, dmin = 1.
  std::vector<uint8_t> b(84);
  for (int i = 0; i < 16; ++i) b[i] = static_cast<uint8_t>(i | (15 - i) << 4);
  for (int k = 0; k < 64; ++k) b[16 + k] = 0xE4;
  put16(b, 80, kHalf0_5);
  put16(b, 82, kHalf1);
  // group i: 0.5 * i * j - (15 - i): i=0: 0-15; 1: 0-14; 2: 1*1-13; 3: 1.5*1-12; 4: 2*2-11; 5: 2.5*2-10;
  // 6: 3*3-9; 7: 3.5*3-8; 8: 0-7; 9: 0-6; 10: 5*1-5; 11: 5.5*1-4; 12: 6*2-3; 13: 6.5*2-2; 14: 7*3-1;
  // 15: 7.5*3-0.
  check_values(decode(GgmlType::kQ2_K, {256}, b),
               groups({-15, -14, -12, -10.5f, -7, -5, 0, 2.5f, -7, -6, 0, 1.5f, 9, 11, 20, 22.5f}, 16));
}

TEST_CASE("GGUF golden Q3_K block: 6-bit scales, high bit from hmask") {
  // 16 scales s_k = k + 24 (used as s_k - 32 = k - 8): low nibbles in scales[0..7] (k < 8 low, k >= 8 high
  // nibble of byte k % 8), high 2 bits (1 for k < 8, 2 for k >= 8) in field k / 4 of scales[8 + k % 4]:
  // 1 | 1 << 2 | 2 << 4 | 2 << 6 = 0xA5. qs all 0xE4 (2-bit field j holds j; group k reads j = (k % 8) / 2).
  // hmask all ones (nothing subtracted) except bit 0 of hmask[0] (element 0) and bit 7 of hmask[5]
  // (element 7 * 32 + 5 = 229), which subtract 4. d = 0.25.
  std::vector<uint8_t> b(110, 0xFF);
  b[0] = 0xFE;
  b[5] = 0x7F;
  for (int k = 0; k < 64; ++k) b[32 + k] = 0xE4;
  const uint8_t scales[12] = {0x08, 0x19, 0x2A, 0x3B, 0x4C, 0x5D, 0x6E, 0x7F, 0xA5, 0xA5, 0xA5, 0xA5};
  std::memcpy(b.data() + 96, scales, 12);
  put16(b, 108, kHalf0_25);
  // group k: 0.25 * (k - 8) * j: k=0,1: *0; 2: -1.5*1; 3: -1.25*1; 4: -1*2; 5: -0.75*2; 6: -0.5*3; 7: -0.25*3;
  // 8, 9: *0; 10: 0.5*1; 11: 0.75*1; 12: 1*2; 13: 1.25*2; 14: 1.5*3; 15: 1.75*3.
  auto expected = groups({0, 0, -1.5f, -1.25f, -2, -1.5f, -1.5f, -0.75f, 0, 0, 0.5f, 0.75f, 2, 2.5f, 4.5f, 5.25f}, 16);
  expected[0] = 8;        // (0.25 * -8) * (0 - 4)
  expected[229] = -1.5f;  // group 14, j = 3: (0.25 * 6) * (3 - 4)
  check_values(decode(GgmlType::kQ3_K, {256}, b), expected);
}

namespace {
// The packed 6-bit scales and mins of the Q4_K/Q5_K cases: sc = {1, 2, 3, 4, 17, 33, 49, 63},
// m = {0, 1, 2, 3, 40, 5, 20, 63} (top bits of m[4..7] unlike those of sc[4..7], so swapping them shows).
// Bytes 0..3: sc[j] | (sc[j + 4] >> 4) << 6 = 1|64, 2|128, 3|192, 4|192; bytes 4..7:
// m[j] | (m[j + 4] >> 4) << 6 = 0|128, 1|0, 2|64, 3|192; bytes 8..11: (sc[j + 4] & 15) | (m[j + 4] & 15) << 4
// = 1|8<<4, 1|5<<4, 1|4<<4, 15|15<<4.
const uint8_t kK4Scales[12] = {65, 130, 195, 196, 128, 1, 66, 195, 129, 81, 65, 255};
}  // namespace

TEST_CASE("GGUF golden Q4_K block: y = (d * sc) * q - dmin * m") {
  // d = 1, dmin = 0.5; qs all 0x5A (sub-block 2i reads low nibbles 10, 2i + 1 high nibbles 5), except
  // qs[0] = 0xF0 (element 0 is 0, element 32 is 15) and qs[127] = 0x0F (element 223 is 15, element 255 is 0).
  std::vector<uint8_t> b(144, 0x5A);
  put16(b, 0, kHalf1);
  put16(b, 2, kHalf0_5);
  std::memcpy(b.data() + 4, kK4Scales, 12);
  b[16] = 0xF0;
  b[16 + 127] = 0x0F;
  // sub-block s: sc*10 or sc*5 - m/2: 1*10-0, 2*5-0.5, 3*10-1, 4*5-1.5, 17*10-20, 33*5-2.5, 49*10-10, 63*5-31.5.
  auto expected = groups({10, 9.5f, 29, 18.5f, 150, 162.5f, 480, 283.5f}, 32);
  expected[0] = 0;         // 1 * 0 - 0
  expected[32] = 29.5f;    // 2 * 15 - 0.5
  expected[223] = 725;     // 49 * 15 - 10
  expected[255] = -31.5f;  // 63 * 0 - 31.5
  check_values(decode(GgmlType::kQ4_K, {256}, b), expected);
}

TEST_CASE("GGUF golden Q5_K block: Q4_K plus a fifth bit from qh") {
  // As the Q4_K case (qs all 0x5A) with qh all 0x55: bit 2i of qh[l] set adds 16 to the low nibbles of
  // sub-block 2i; odd sub-blocks get nothing. qh[0] = 0x02 instead: element 0 of sub-block 1 gets +16 and
  // element 0 of the even sub-blocks does not.
  std::vector<uint8_t> b(176, 0x5A);
  put16(b, 0, kHalf1);
  put16(b, 2, kHalf0_5);
  std::memcpy(b.data() + 4, kK4Scales, 12);
  for (int l = 0; l < 32; ++l) b[16 + l] = 0x55;
  b[16] = 0x02;
  // even s: sc * (10 + 16) - m/2: 26-0, 78-1, 442-20, 1274-10; odd s as in Q4_K: 9.5, 18.5, 162.5, 283.5.
  auto expected = groups({26, 9.5f, 77, 18.5f, 422, 162.5f, 1264, 283.5f}, 32);
  expected[0] = 10;      // 1 * 10 - 0
  expected[32] = 41.5f;  // 2 * (5 + 16) - 0.5
  expected[64] = 29;     // 3 * 10 - 1
  expected[128] = 150;   // 17 * 10 - 20
  expected[192] = 480;   // 49 * 10 - 10
  check_values(decode(GgmlType::kQ5_K, {256}, b), expected);
}

TEST_CASE("GGUF golden Q6_K block: y = (d * scale) * (q - 32)") {
  // ql and qh zero (q = 0 - 32 everywhere), int8 scales[g] = g - 8 for 16-element group g, d = 0.5; except
  // ql[0] = 0x21, qh[0] = 0xE4 (2-bit fields 0, 1, 2, 3), which set elements 0, 32, 64, 96 of the first half:
  // q(0) = 1 | 0 << 4, q(32) = 0 | 1 << 4, q(64) = 2 | 2 << 4, q(96) = 0 | 3 << 4.
  std::vector<uint8_t> b(210, 0);
  b[0] = 0x21;
  b[128] = 0xE4;
  for (int g = 0; g < 16; ++g) b[192 + g] = static_cast<uint8_t>(static_cast<int8_t>(g - 8));
  put16(b, 208, kHalf0_5);
  // group g: 0.5 * (g - 8) * -32 = 128 - 16g.
  auto expected = groups({128, 112, 96, 80, 64, 48, 32, 16, 0, -16, -32, -48, -64, -80, -96, -112}, 16);
  expected[0] = 124;   // (0.5 * -8) * (1 - 32)
  expected[32] = 48;   // (0.5 * -6) * (16 - 32)
  expected[64] = -4;   // (0.5 * -4) * (34 - 32)
  expected[96] = -16;  // (0.5 * -2) * (48 - 32)
  check_values(decode(GgmlType::kQ6_K, {256}, b), expected);
}

TEST_CASE("GGUF plain types: F32, F16, BF16, F64") {
  std::vector<uint8_t> f32(8);
  const float f32_values[2] = {1.5f, -3.25f};
  std::memcpy(f32.data(), f32_values, 8);
  check_values(decode(GgmlType::kF32, {2}, f32), {1.5f, -3.25f});

  // 1, -2, 65504 (largest half), 2^-24 (smallest subnormal half).
  std::vector<uint8_t> f16(8);
  put16(f16, 0, kHalf1);
  put16(f16, 2, 0xC000);
  put16(f16, 4, 0x7BFF);
  put16(f16, 6, 0x0001);
  check_values(decode(GgmlType::kF16, {4}, f16), {1, -2, 65504, 5.9604644775390625e-08f});

  // bf16 is the top half of a float: 0x3F80 = 1, 0xC040 = -3.
  std::vector<uint8_t> bf16(4);
  put16(bf16, 0, 0x3F80);
  put16(bf16, 2, 0xC040);
  check_values(decode(GgmlType::kBF16, {2}, bf16), {1, -3});

  // F64: -0.25 exactly; 1e300 saturates to +inf.
  std::vector<uint8_t> f64(16);
  const double f64_values[2] = {-0.25, 1e300};
  std::memcpy(f64.data(), f64_values, 16);
  check_values(decode(GgmlType::kF64, {2}, f64), {-0.25f, INFINITY});
}

TEST_CASE("a valid GGUF file: metadata of each type, tensors listed in PyTorch order, rows read back") {
  GgufWriter w(3, 17, 2);
  using V = GgufValueType;
  w.kv_str("general.architecture", "llama").kv_u32("general.alignment", 64);
  w.key("u8", V::kU8).u8(200).key("i8", V::kI8).u8(0xFE).key("u16", V::kU16).u16(60000);
  w.key("i16", V::kI16).u16(0x8000).key("i32", V::kI32).u32(0xFFFFFFFF).key("f32", V::kF32).f32(0.125f);
  w.key("bool", V::kBool).u8(1).key("u64", V::kU64).u64(~0ull).key("i64", V::kI64).u64(1ull << 63);
  w.key("f64", V::kF64).f64(-2.5);
  w.key("tokens", V::kArray).type(V::kString).u64(3).str("<s>").str("hello").str("");
  w.key("scores", V::kArray).type(V::kF32).u64(2).f32(-1.f).f32(0.5f);
  w.key("ids", V::kArray).type(V::kI32).u64(2).u32(7).u32(0xFFFFFFFE);
  w.key("nested", V::kArray).type(V::kArray).u64(2).type(V::kU8).u64(1).u8(9).type(V::kString).u64(1).str("x");
  w.key("empty", V::kArray).type(V::kBool).u64(0);
  // Tensors: F32 [2, 3] (ne {3, 2}) at 0; Q8_0 [2, 32] (ne {32, 2}) at 64; F16 [5] at 192.
  w.tensor("linear.weight", {3, 2}, GgmlType::kF32, 0);
  w.tensor("q.weight", {32, 2}, GgmlType::kQ8_0, 64);
  w.tensor("norm", {5}, GgmlType::kF16, 192);
  w.pad(64);
  const size_t data_start = w.bytes.size();
  for (int i = 0; i < 6; ++i) w.f32(static_cast<float>(i) - 2.5f);
  w.pad(64);
  for (int r = 0; r < 2; ++r) {  // row r: d = r + 1 (1: 0x3C00, 2: 0x4000), q[i] = i - 16
    w.u16(r == 0 ? kHalf1 : kHalf2);
    for (int i = 0; i < 32; ++i) w.u8(static_cast<uint8_t>(static_cast<int8_t>(i - 16)));
  }
  w.pad(64);
  for (int i = 0; i < 5; ++i) w.u16(kHalf0_5);
  w.zeros(6);  // writers pad the last tensor too: trailing bytes are allowed

  probex::test::TempDir dir;
  const std::string path = dir.file("model.gguf");
  REQUIRE(probex::test::write_bytes(path, w.bytes));
  GgufFile f;
  const auto st = GgufFile::open(path, &f);
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(f.version() == 2);
  CHECK(f.alignment() == 64);
  CHECK(f.data_offset() == data_start);

  REQUIRE(f.metadata_string("general.architecture") != nullptr);
  CHECK(*f.metadata_string("general.architecture") == "llama");
  CHECK(f.metadata_string("u8") == nullptr);
  CHECK(f.metadata_value("missing") == nullptr);
  uint64_t u = 0;
  int64_t i = 0;
  double d = 0;
  CHECK((f.metadata_value("u8")->as_u64(&u) && u == 200));
  CHECK((f.metadata_value("i8")->as_i64(&i) && i == -2));
  CHECK_FALSE(f.metadata_value("i8")->as_u64(&u));
  CHECK((f.metadata_value("u16")->as_u64(&u) && u == 60000));
  CHECK((f.metadata_value("i16")->as_i64(&i) && i == -32768));
  CHECK((f.metadata_value("i32")->as_i64(&i) && i == -1));
  CHECK((f.metadata_value("f32")->as_f64(&d) && d == 0.125));
  CHECK(f.metadata_value("bool")->u == 1);
  CHECK((f.metadata_value("u64")->as_u64(&u) && u == ~0ull));
  CHECK_FALSE(f.metadata_value("u64")->as_i64(&i));
  CHECK((f.metadata_value("i64")->as_i64(&i) && i == INT64_MIN));
  CHECK((f.metadata_value("f64")->as_f64(&d) && d == -2.5));
  CHECK_FALSE(f.metadata_value("tokens")->as_f64(&d));
  const GgufValue* tokens = f.metadata_value("tokens");
  CHECK(tokens->element_type == V::kString);
  CHECK(tokens->strings == std::vector<std::string>{"<s>", "hello", ""});
  const GgufValue* scores = f.metadata_value("scores");
  CHECK((scores->count == 2 && scores->number_at(1, &d) && d == 0.5));
  CHECK_FALSE(scores->number_at(2, &d));
  CHECK((f.metadata_value("ids")->number_at(1, &d) && d == -2));
  const GgufValue* nested = f.metadata_value("nested");
  REQUIRE(nested->arrays.size() == 2);
  CHECK((nested->arrays[0].number_at(0, &d) && d == 9));
  CHECK(nested->arrays[1].strings == std::vector<std::string>{"x"});
  CHECK(f.metadata_value("empty")->count == 0);
  CHECK(f.metadata().size() == 17);

  REQUIRE(f.tensors().size() == 3);
  const GgufTensorInfo* linear = nullptr;
  REQUIRE(f.require("linear.weight", &linear).ok());
  CHECK(linear->shape == std::vector<uint64_t>{2, 3});
  CHECK(linear->ne == std::vector<uint64_t>{3, 2});
  CHECK(std::string(linear->type_name()) == "F32");
  CHECK((linear->rows() == 2 && linear->row_length() == 3));
  std::vector<float> row(3);
  REQUIRE(f.read_rows_f32(*linear, 1, 1, row.data()).ok());
  CHECK(row == std::vector<float>{0.5f, 1.5f, 2.5f});

  const GgufTensorInfo* q = f.find("q.weight");
  REQUIRE(q != nullptr);
  CHECK(std::string(q->type_name()) == "Q8_0");
  CHECK(q->shape == std::vector<uint64_t>{2, 32});
  CHECK(q->byte_size == 68);
  std::vector<float> qrow(32);
  REQUIRE(f.read_rows_f32(*q, 1, 1, qrow.data()).ok());
  for (int k = 0; k < 32; ++k) CHECK(qrow[k] == 2.f * static_cast<float>(k - 16));  // d = 2, q = k - 16

  const GgufTensorInfo* norm = f.find("norm");
  REQUIRE(norm != nullptr);
  CHECK((norm->shape == std::vector<uint64_t>{5} && norm->rows() == 5 && norm->row_length() == 1));
  std::vector<float> v(2);
  REQUIRE(f.read_rows_f32(*norm, 3, 2, v.data()).ok());
  CHECK(v == std::vector<float>{0.5f, 0.5f});

  const auto missing = f.require("nope", &linear);
  CHECK(missing.code == GgufError::kTensorNotFound);
  CHECK(missing.message.find(path) == 0);
  const auto beyond = f.read_rows_f32(*q, 1, 2, qrow.data());
  CHECK(beyond.code == GgufError::kOutOfRange);
  CHECK(beyond.message.find("'q.weight'") != std::string::npos);
  CHECK(f.read_f32(*q, ~0ull, 2, qrow.data()).code == GgufError::kOutOfRange);
}

TEST_CASE("GGUF element ranges that cut blocks and units give the same values as whole reads") {
  // Q4_0, 3 blocks: block k has d = 2^k... written as halves 1, 2, 0.5; nibbles as the golden case.
  std::vector<uint8_t> q(3 * 18);
  const uint16_t ds[3] = {kHalf1, kHalf2, kHalf0_5};
  for (int k = 0; k < 3; ++k) {
    put16(q, 18 * k, ds[k]);
    for (int j = 0; j < 16; ++j) q[18 * k + 2 + j] = static_cast<uint8_t>(j | (15 - j) << 4);
  }
  const auto all = decode(GgmlType::kQ4_0, {96}, q);
  const auto bytes = one_tensor_gguf("w", {96}, GgmlType::kQ4_0, q);
  GgufFile f;
  REQUIRE(GgufFile::from_buffer("r.gguf", bytes.data(), bytes.size(), &f).ok());
  for (size_t first : {0, 1, 20, 31, 32, 50, 95}) {
    for (size_t count : {0, 1, 13, 45}) {
      if (first + count > 96) continue;
      CAPTURE(first);
      CAPTURE(count);
      std::vector<float> part(count + 1, 12345.f);
      REQUIRE(f.read_f32(f.tensors()[0], first, count, part.data()).ok());
      for (size_t k = 0; k < count; ++k) CHECK(part[k] == all[first + k]);
      CHECK(part[count] == 12345.f);  // nothing written past the range
    }
  }

  // F32 of 600 elements (units of 256, the last one short), value i at i; ranges across unit borders.
  std::vector<uint8_t> plain(600 * 4);
  for (int k = 0; k < 600; ++k) {
    const float x = static_cast<float>(k);
    std::memcpy(plain.data() + 4 * k, &x, 4);
  }
  const auto pbytes = one_tensor_gguf("p", {600}, GgmlType::kF32, plain);
  REQUIRE(GgufFile::from_buffer("p.gguf", pbytes.data(), pbytes.size(), &f).ok());
  std::vector<float> out(600);
  REQUIRE(f.read_f32(f.tensors()[0], 250, 350, out.data()).ok());
  for (int k = 0; k < 350; ++k) CHECK(out[k] == static_cast<float>(250 + k));
}

TEST_CASE("GGUF types without a dequantization are listed but refused by name when read") {
  struct Case {
    GgmlType type;
    size_t bytes;
    const char* name;
  };
  for (const Case& c : {Case{GgmlType::kIQ4_NL, 18, "IQ4_NL"}, Case{GgmlType::kQ8_1, 36, "Q8_1"},
                        Case{GgmlType::kIQ2_XXS, 66, "IQ2_XXS"}, Case{GgmlType::kI32, 4, "I32"}}) {
    const GgmlType type = c.type;
    const char* const name = c.name;
    CAPTURE(name);
    const uint64_t n = probex::ggml_type_block_size(type);
    const auto file = one_tensor_gguf("t", {n}, type, std::vector<uint8_t>(c.bytes, 0));
    GgufFile f;
    REQUIRE(GgufFile::from_buffer("u.gguf", file.data(), file.size(), &f).ok());
    CHECK(std::string(f.tensors()[0].type_name()) == name);
    CHECK_FALSE(probex::ggml_type_converts_to_f32(type));
    std::vector<float> out(static_cast<size_t>(n));
    const auto st = f.read_f32(f.tensors()[0], 0, n, out.data());
    CHECK(st.code == GgufError::kUnsupportedType);
    CHECK(st.message ==
          std::string("u.gguf: tensor 't': type ") + name + " is not supported (no float32 dequantization)");
  }
}

TEST_CASE("a GGUF file that shrinks after opening gives kIo, not a crash") {
  const auto bytes = one_tensor_gguf("w", {64}, GgmlType::kF32, std::vector<uint8_t>(256, 0));
  probex::test::TempDir dir;
  const std::string path = dir.file("shrinks.gguf");
  REQUIRE(probex::test::write_bytes(path, bytes));
  GgufFile f;
  REQUIRE(GgufFile::open(path, &f).ok());
  REQUIRE(probex::test::write_bytes(path, std::vector<uint8_t>(bytes.begin(), bytes.begin() + 100)));
  std::vector<float> out(64);
  const auto st = f.read_f32(f.tensors()[0], 0, 64, out.data());
  CHECK(st.code == GgufError::kIo);
  CHECK(st.message.find(path) != std::string::npos);
}
