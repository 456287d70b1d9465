// The GGUF writer: bytes checked against the format's definition by hand (header, metadata, tensor
// infos, alignment), Q8_0, Q5_0 and Q4_K blocks against ggml's reference quantizers worked out by hand,
// and quantized tensors read back by the runtime's reader (runtime/formats/gguf) within each type's error
// bound. An independent parser (npm's @huggingface/gguf) reads its files in the ctest
// gguf/independent_parser.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "converter/io/gguf_writer.h"
#include "runtime/formats/gguf.h"
#include "runtime/math/float_formats.h"

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

// Writes `values` as one tensor of `shape` and type `type`, reads it back with the runtime's reader.
std::vector<float> round_trip(GgufType type, const std::vector<uint64_t>& shape, const std::vector<float>& values) {
  GgufWriter w;
  std::string error;
  REQUIRE_MESSAGE(w.add_f32("t", type, shape, values.data(), values.size(), &error), error);
  const std::vector<uint8_t> bytes = w.serialize();
  probex::GgufFile file;
  const probex::GgufStatus st = probex::GgufFile::from_buffer("round trip", bytes.data(), bytes.size(), &file);
  REQUIRE_MESSAGE(st.ok(), st.message);
  const probex::GgufTensorInfo* t = file.find("t");
  REQUIRE(t != nullptr);
  CHECK(t->shape == shape);
  CHECK(std::string(t->type_name()) == gguf_type_name(type));
  std::vector<float> back(values.size());
  REQUIRE(file.read_f32(*t, 0, back.size(), back.data()).ok());
  return back;
}

// Gaussian weights (mean 0, std 1) with a few rows scaled and shifted, as trained layers have.
std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

double rms_relative_error(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0.0, norm = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double xi = static_cast<double>(x[i]), diff = static_cast<double>(y[i]) - xi;
    err += diff * diff;
    norm += xi * xi;
  }
  return std::sqrt(err / norm);
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
  REQUIRE(w.add_f32("b", GgufType::kF16, {5}, v.data(), 5, &error));        // 10 bytes
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

TEST_CASE("Q5_0: d = -(value of largest magnitude) / 16, q = trunc(x / d + 16.5), fifth bits in qh") {
  // x = j - 16: the largest magnitude is x[0] = -16, so d = 1 (fp16 0x3C00) and q = trunc(j + 0.5) = j.
  // qs[j] holds q[j] (low nibble) and q[j + 16] (high nibble): j | (j + 16) & 15 = j | j << 4; the fifth
  // bits are those of q[16..31], bits 16..31 of the little-endian qh.
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  uint8_t block[22];
  quantize_q5_0_block(x, block);
  CHECK(block[0] == 0x00);
  CHECK(block[1] == 0x3C);
  CHECK(block[2] == 0x00);
  CHECK(block[3] == 0x00);
  CHECK(block[4] == 0xFF);
  CHECK(block[5] == 0xFF);
  for (int j = 0; j < 16; ++j) CHECK(block[6 + j] == (j | (j << 4)));
  // A positive extreme: x[0] = 8, the rest 0: d = 8 / -16 = -0.5 (0xB800), q[0] = trunc(-16 + 16.5) = 0,
  // the others trunc(16.5) = 16 (fifth bit set, low nibble 0). Read back: -0.5 * (q - 16) = 8 and 0.
  float y[32] = {8.0f};
  quantize_q5_0_block(y, block);
  CHECK(block[0] == 0x00);
  CHECK(block[1] == 0xB8);
  CHECK(block[2] == 0xFE);  // bit 0 (q[0] = 0) clear, bits 1..31 set
  CHECK(block[3] == 0xFF);
  CHECK(block[4] == 0xFF);
  CHECK(block[5] == 0xFF);
  for (int j = 0; j < 16; ++j) CHECK(block[6 + j] == 0);
  const std::vector<float> back = round_trip(GgufType::kQ5_0, {1, 32}, std::vector<float>(y, y + 32));
  CHECK(back[0] == 8.0f);
  for (int j = 1; j < 32; ++j) CHECK(back[static_cast<size_t>(j)] == 0.0f);
}

// The Q4_K blocks below follow ggml's quantize_row_q4_K_ref step by step (ggml-quants.c):
//  1. per sub-block j of 32: weights w = sqrt(mean x^2) + |x|; make_qkx2_quants(32, 15, rmin -1,
//     rdelta 0.1, 20 steps) starts from min = min(min x, 0), scale = (max - min) / 15, levels
//     L = round((x - min) / scale) clamped to 0..15, and keeps a candidate only if its weighted squared
//     error is smaller; it returns the scale and -min;
//  2. d = fp16(max scale / 63), dmin = fp16(max min / 63); sc = round(63 * scale / max scale),
//     m = round(63 * min / max min), packed as described in gguf_writer.h;
//  3. every value is requantized with the stored fp16 figures: q = clamp(round((x + dmin * m) / (d * sc)),
//     0, 15).
TEST_CASE("Q4_K: a ramp of 16 levels, packing and figures derived by hand as ggml's reference does") {
  // Every sub-block holds -8, -7, ..., 7 twice. Step 1: min -8, max 7, scale 15 / 15 = 1 gives
  // L = x + 8 with zero error, which no candidate can beat: scale 1, min 8 in every sub-block.
  // Step 2: d = fp16(1/63 = 0.0158730) = 2^-6 * (1 + 16/1024) = 0.015869140625 = 65/4096, bits 0x2410;
  // dmin = fp16(8/63 = 0.126984) = 2^-3 * (1 + 16/1024) = 65/512, bits 0x3010; sc = m = 63 everywhere, so
  // all 12 packed bytes are 0xFF (63 | 3 << 6 in bytes 0-7, 15 | 15 << 4 in bytes 8-11).
  // Step 3: d * sc = 4095/4096, dmin * m = 4095/512: q = round((k - 1/512) * 4096/4095) = k for x = k - 8.
  // Each 32-byte slice of q holds sub-blocks 2i (low nibbles) and 2i + 1 (high), both k = l % 16.
  std::vector<float> x(256);
  for (size_t i = 0; i < 256; ++i) x[i] = static_cast<float>(static_cast<int>(i % 16) - 8);
  uint8_t block[144];
  quantize_q4_k_block(x.data(), block);
  CHECK(block[0] == 0x10);
  CHECK(block[1] == 0x24);
  CHECK(block[2] == 0x10);
  CHECK(block[3] == 0x30);
  for (int i = 4; i < 16; ++i) CHECK(block[i] == 0xFF);
  for (int l = 0; l < 128; ++l) CHECK(block[16 + l] == ((l % 16) | ((l % 16) << 4)));
  // Read back (ggml's dequantize_row_q4_K): (4095/4096) * k - 4095/512, within 0.002 of x.
  const std::vector<float> back = round_trip(GgufType::kQ4_K, {1, 256}, x);
  for (size_t i = 0; i < 256; ++i) {
    const float k = static_cast<float>(i % 16);
    CHECK(back[i] == 4095.0f / 4096.0f * k - 4095.0f / 512.0f);
  }
}

TEST_CASE("Q4_K: all values equal, a min of zero and a scale that fp16 rounds up") {
  // 256 values 1.0. Step 1: min = min(1, 0) = 0, max 1: scale 1/15 (float 0.0666666701), L = 15 with
  // zero error (1/15 * 15 rounds to 1.0f); every candidate has det = 0 (all levels equal), so none is
  // tried. The min is -0 (not above 0, so max min stays 0: dmin 0 and m 0).
  // Step 2: d = fp16(0.0666666701 / 63 = 0.00105820) = 2^-10 * (1 + 86/1024) = 0.00105857849, bits
  // 0x1456; sc = round(945 * 0.0666666701) = 63: bytes 0-3 0xFF (63 | 3 << 6), 4-7 0 (m), 8-11 0x0F.
  // Step 3: q = round(1 / (0.00105857849 * 63) = 14.9947) = 15: every q byte 0xFF; read back
  // 63 * 0.00105857849 * 15 = 1.00035667.
  const std::vector<float> x(256, 1.0f);
  uint8_t block[144];
  quantize_q4_k_block(x.data(), block);
  CHECK(block[0] == 0x56);
  CHECK(block[1] == 0x14);
  CHECK(block[2] == 0x00);
  CHECK(block[3] == 0x00);
  const uint8_t packed[12] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x0F, 0x0F, 0x0F, 0x0F};
  for (int i = 0; i < 12; ++i) CHECK(block[4 + i] == packed[i]);
  for (int l = 0; l < 128; ++l) CHECK(block[16 + l] == 0xFF);
  const std::vector<float> back = round_trip(GgufType::kQ4_K, {1, 256}, x);
  const float d = probex::f16_to_f32(0x1456) * 63.0f;
  for (float v : back) CHECK(v == d * 15.0f);
  CHECK(back[0] == doctest::Approx(1.00035667).epsilon(1e-7));
  // All zeros: d = dmin = 0, all q 0 (no division by zero), read back as zeros.
  const std::vector<float> zeros(256, 0.0f);
  quantize_q4_k_block(zeros.data(), block);
  for (uint8_t b : block) CHECK(b == 0);
}

TEST_CASE("Q4_K and Q8_0 read back by the runtime within their error bounds on Gaussian weights") {
  // 64 rows of 512 values, N(0, 1), with every 8th row 0.5 + 0.01 N(0, 1) (sub-blocks all of one sign
  // exercise the min). Measured here: RMS relative error over the N(0, 1) rows 0.0713 (Q4_K) and 0.00537
  // (Q8_0); the largest Q4_K error is 0.051 of its sub-block's range (max - min(min, 0)). Asserted with
  // margin: 0.09, 0.007 and 1/15 (one of the 15 steps of a sub-block spanning its range).
  const size_t rows = 64, cols = 512;
  std::vector<float> x = gaussian(rows * cols, 20261127);
  for (size_t r = 0; r < rows; r += 8)
    for (size_t c = 0; c < cols; ++c) x[r * cols + c] = 0.5f + 0.01f * x[r * cols + c];
  const std::vector<float> q4 = round_trip(GgufType::kQ4_K, {rows, cols}, x);
  const std::vector<float> q8 = round_trip(GgufType::kQ8_0, {rows, cols}, x);
  std::vector<float> plain, plain4, plain8;  // the N(0, 1) rows
  for (size_t r = 0; r < rows; ++r) {
    if (r % 8 == 0) continue;
    plain.insert(plain.end(), x.begin() + static_cast<long>(r * cols), x.begin() + static_cast<long>((r + 1) * cols));
    plain4.insert(plain4.end(), q4.begin() + static_cast<long>(r * cols),
                  q4.begin() + static_cast<long>((r + 1) * cols));
    plain8.insert(plain8.end(), q8.begin() + static_cast<long>(r * cols),
                  q8.begin() + static_cast<long>((r + 1) * cols));
  }
  const double rms4 = rms_relative_error(plain, plain4), rms8 = rms_relative_error(plain, plain8);
  MESSAGE("N(0, 1) rows: Q4_K RMS relative error " << rms4 << ", Q8_0 " << rms8);
  CHECK(rms4 < 0.09);
  CHECK(rms8 < 0.007);
  double worst = 0.0;  // the largest error as a fraction of its sub-block's range
  for (size_t s = 0; s < x.size(); s += 32) {
    float lo = 0.0f, hi = x[s];
    for (size_t i = s; i < s + 32; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    for (size_t i = s; i < s + 32; ++i) {
      const double err = std::fabs(static_cast<double>(q4[i]) - static_cast<double>(x[i]));
      worst = std::max(worst, err / static_cast<double>(hi - lo));
    }
  }
  MESSAGE("Q4_K largest error / sub-block range " << worst);
  CHECK(worst < 1.0 / 15);
  // Q8_0: every value within half a step (d / 2, d = fp16(max|x| / 127)) plus fp16's rounding of d.
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0.0f;
    for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    for (size_t i = b; i < b + 32; ++i) CHECK(std::fabs(q8[i] - x[i]) <= amax / 127.0f * 0.5f + amax * 0.001f);
  }
}

TEST_CASE("Q4_K refuses rows that are not whole super-blocks; the storage rule follows llama.cpp") {
  GgufWriter w;
  std::string error;
  std::vector<float> v(512, 0.5f);
  CHECK_FALSE(w.add_f32("a", GgufType::kQ4_K, {4, 128}, v.data(), 512, &error));
  CHECK(error == "GGUF tensor 'a': Q4_K needs a row length that is a multiple of 256, not 128");
  CHECK_FALSE(w.add_f32("b", GgufType::kQ5_0, {2, 16}, v.data(), 32, &error));
  CHECK(error == "GGUF tensor 'b': Q5_0 needs a row length that is a multiple of 32, not 16");
  CHECK(w.add_f32("c", GgufType::kQ4_K, {2, 256}, v.data(), 512, &error));
  CHECK(w.layout()[0].ne == std::vector<uint64_t>{256, 2});

  // 1-D tensors (biases) stay F32 whatever is asked; F32 and F16 apply to the rest.
  for (GgufType t : {GgufType::kF32, GgufType::kF16, GgufType::kQ8_0, GgufType::kQ4_K}) {
    CHECK(gguf_storage_type(t, {256}) == GgufType::kF32);
    CHECK(gguf_storage_type(t, {}) == GgufType::kF32);
  }
  CHECK(gguf_storage_type(GgufType::kF32, {10, 784}) == GgufType::kF32);
  CHECK(gguf_storage_type(GgufType::kF16, {10, 784}) == GgufType::kF16);
  // Q8_0: rows of whole blocks of 32, else F16 (convert_hf_to_gguf.py).
  CHECK(gguf_storage_type(GgufType::kQ8_0, {128, 256}) == GgufType::kQ8_0);
  CHECK(gguf_storage_type(GgufType::kQ8_0, {10, 128}) == GgufType::kQ8_0);
  CHECK(gguf_storage_type(GgufType::kQ8_0, {256, 784}) == GgufType::kF16);
  // Q4_K: whole super-blocks of 256, else Q5_0 for whole blocks of 32, else F16 (llama-quantize).
  CHECK(gguf_storage_type(GgufType::kQ4_K, {128, 256}) == GgufType::kQ4_K);
  CHECK(gguf_storage_type(GgufType::kQ4_K, {10, 128}) == GgufType::kQ5_0);
  CHECK(gguf_storage_type(GgufType::kQ4_K, {256, 784}) == GgufType::kF16);
  CHECK(gguf_storage_type(GgufType::kQ4_K, {2, 3, 512}) == GgufType::kQ4_K);
  GgufType t;
  CHECK(parse_gguf_type("Q4_K", &t));
  CHECK(t == GgufType::kQ4_K);
  CHECK(parse_gguf_type("Q5_0", &t));
  CHECK(t == GgufType::kQ5_0);
  CHECK(gguf_type_block_size(GgufType::kQ4_K) == 256);
}
