// Validation rules (all must hold, or open() fails with the first violation found):
//  1. file size <= limits.max_file_bytes; the file starts with "GGUF" and a little-endian uint32 version
//     of 2 or 3 (v1 had 32-bit counts; a big-endian file shows as a huge version and is refused).
//  2. tensor_count <= max_tensors and metadata_kv_count <= max_metadata (uint64 each).
//  3. Every structure read lies inside the file. Strings are a uint64 length (<= max_string_bytes) and
//     bytes; keys and tensor names are non-empty UTF-8, tensor names at most 64 bytes (the spec's limit).
//  4. Metadata value types are the 13 GGUF defines; bools are 0 or 1; arrays hold at most
//     max_array_elements of one type each, nested at most max_array_depth deep. Keys are unique.
//  5. general.alignment, if present, is a uint32 power of two (default 32).
//  6. Tensor infos: 1 to 4 dimensions, each < 2^63, product (element count) without overflow; a type ggml
//     defines; for a block-quantized type ne[0] is a multiple of the block size; the byte size
//     (elements / block size * block bytes) without overflow; the offset a multiple of the alignment.
//  7. The data section starts at the end of the tensor infos rounded up to the alignment; each tensor's
//     bytes lie inside the file; names are unique; no two tensors share bytes. Gaps and trailing bytes
//     are allowed: writers pad every tensor to the alignment.
//
// Dequantization follows ggml's reference formulas (ggml-quants.c, dequantize_row_*) operation for
// operation, so results are bit-exact on every platform: this file is compiled with -ffp-contract=off
// (runtime/CMakeLists.txt), since a fused multiply-add in `d * q - m` would round once instead of twice.
#include "runtime/formats/gguf.h"

#include <algorithm>
#include <cstring>

#include "runtime/formats/json_reader.h"
#include "runtime/math/checked_math.h"
#include "runtime/math/float_formats.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "GGUF v2/v3 files are little-endian; a big-endian port needs byte swaps in the reader");

namespace probex {
namespace {

constexpr uint64_t kMaxTensorNameBytes = 64;  // the spec: "at most 64 bytes long"
constexpr uint32_t kMaxDims = 4;              // the spec: "currently at most 4"
constexpr uint64_t kDefaultAlignment = 32;

// The stored bytes of one block (a quantized type) or one group of kPlainUnit elements (a plain type)
// are decoded at a time into a stack buffer.
constexpr uint64_t kPlainUnit = 256;
constexpr size_t kChunkBytes = 8192;  // raw bytes read per call to the file: whole units, >= 1 unit

// Decodes one unit: `n` elements (a whole block for quantized types) from `src` into `y`.
using DecodeFn = void (*)(const uint8_t* src, size_t n, float* y);

uint32_t load_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
float half_at(const uint8_t* p) { return f16_to_f32(load_le16(p)); }

// ---- plain types ----
void decode_f32(const uint8_t* src, size_t n, float* y) { std::memcpy(y, src, n * sizeof(float)); }
void decode_f16(const uint8_t* src, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = f16_to_f32(load_le16(src + 2 * i));
}
void decode_bf16(const uint8_t* src, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = bf16_to_f32(load_le16(src + 2 * i));
}
void decode_f64(const uint8_t* src, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i) {
    double d;
    std::memcpy(&d, src + 8 * i, sizeof d);
    y[i] = f64_to_f32(d);
  }
}

// ---- 32-element blocks ----
// Q8_0: {f16 d; int8 q[32]}: y = q * d.
void decode_q8_0(const uint8_t* b, size_t, float* y) {
  const float d = half_at(b);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
}
// Q4_0: {f16 d; u8 qs[16]}: element j < 16 is the low nibble of qs[j], element j + 16 the high one;
// y = (nibble - 8) * d.
void decode_q4_0(const uint8_t* b, size_t, float* y) {
  const float d = half_at(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}
// Q4_1: {f16 d; f16 m; u8 qs[16]}: y = nibble * d + m.
void decode_q4_1(const uint8_t* b, size_t, float* y) {
  const float d = half_at(b), m = half_at(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}
// Q5_0: {f16 d; u32 qh; u8 qs[16]}: bit j of qh is the fifth bit of element j; y = (q - 16) * d.
void decode_q5_0(const uint8_t* b, size_t, float* y) {
  const float d = half_at(b);
  const uint32_t qh = load_le32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int x0 = static_cast<int>((qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10)) - 16;
    const int x1 = static_cast<int>((qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
    y[j] = static_cast<float>(x0) * d;
    y[j + 16] = static_cast<float>(x1) * d;
  }
}
// Q5_1: {f16 d; f16 m; u32 qh; u8 qs[16]}: y = q * d + m.
void decode_q5_1(const uint8_t* b, size_t, float* y) {
  const float d = half_at(b), m = half_at(b + 2);
  const uint32_t qh = load_le32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const uint32_t x0 = (qs[j] & 0x0Fu) | (((qh >> j) << 4) & 0x10u);
    const uint32_t x1 = (qs[j] >> 4) | ((qh >> (j + 12)) & 0x10u);
    y[j] = static_cast<float>(x0) * d + m;
    y[j + 16] = static_cast<float>(x1) * d + m;
  }
}

// ---- 256-element super-blocks (K-quants) ----
// In Q2_K, Q3_K each 32-byte half of qs serves 128 elements: element 128n + 32j + l (l < 32) is the 2-bit
// field j of qs[32n + l]; 16-element groups g = e / 16 have their own scale.
// Q2_K: {u8 scales[16]; u8 qs[64]; f16 d; f16 dmin}: scale byte: low 4 bits scale, high 4 bits min;
// y = (d * scale) * q - dmin * min.
void decode_q2_k(const uint8_t* b, size_t, float* y) {
  const uint8_t* scales = b;
  const uint8_t* q = b + 16;
  const float d = half_at(b + 80), dmin = half_at(b + 82);
  int is = 0;
  for (int n = 0; n < 256; n += 128, q += 32) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const uint8_t sc = scales[is++];
        const float dl = d * static_cast<float>(sc & 0x0F), ml = dmin * static_cast<float>(sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
      }
    }
  }
}
// Q3_K: {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}: 16 6-bit scales s (used as s - 32): the low 4 bits
// of scale k are the low (k < 8) or high (k >= 8) nibble of scales[k % 8], its high 2 bits are the 2-bit
// field k / 4 of scales[8 + k % 4]. Bit e / 32 of hmask[e % 32] clear subtracts 4 from the 2-bit quant:
// y = (d * (s - 32)) * (q - (hbit ? 0 : 4)).
void decode_q3_k(const uint8_t* b, size_t, float* y) {
  const uint8_t* hm = b;
  const uint8_t* q = b + 32;
  const uint8_t* packed = b + 96;
  const float d_all = half_at(b + 108);
  int8_t scales[16];
  for (int k = 0; k < 16; ++k) {
    const int low = k < 8 ? (packed[k] & 0x0F) : (packed[k - 8] >> 4);
    const int high = (packed[8 + k % 4] >> (2 * (k / 4))) & 3;
    scales[k] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
  int is = 0;
  uint8_t m = 1;
  for (int n = 0; n < 256; n += 128, q += 32) {
    for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
      for (int half = 0; half < 2; ++half) {
        const float dl = d_all * static_cast<float>(scales[is++]);
        for (int l = 16 * half; l < 16 * half + 16; ++l) {
          const int quant = ((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4);
          *y++ = dl * static_cast<float>(quant);
        }
      }
    }
  }
}
// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scale and min packed in 12 bytes: for j < 4 the low 6 bits
// of bytes j and j + 4; for j >= 4 the nibbles of byte j + 4 with the top 2 bits of bytes j - 4 and j.
void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}
// Q4_K: {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}; Q5_K adds u8 qh[32] before qs, whose bit 2i (low
// nibbles) or 2i + 1 (high nibbles) of qh[l] adds 16 in the i-th 64-element group. Each 32-byte slice of qs
// holds sub-block 2i in its low nibbles and 2i + 1 in its high ones: y = (d * sc) * q - dmin * m.
void decode_k4_k5(const uint8_t* b, const uint8_t* qh, const uint8_t* q, float* y) {
  const float d = half_at(b), dmin = half_at(b + 2);
  const uint8_t* packed = b + 4;
  for (int i = 0; i < 4; ++i, q += 32) {
    uint8_t sc, m;
    scale_min_k4(2 * i, packed, &sc, &m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    scale_min_k4(2 * i + 1, packed, &sc, &m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    const int u1 = 1 << (2 * i), u2 = 2 << (2 * i);
    for (int l = 0; l < 32; ++l) {
      const int high = qh != nullptr && (qh[l] & u1) ? 16 : 0;
      *y++ = d1 * static_cast<float>((q[l] & 0x0F) + high) - m1;
    }
    for (int l = 0; l < 32; ++l) {
      const int high = qh != nullptr && (qh[l] & u2) ? 16 : 0;
      *y++ = d2 * static_cast<float>((q[l] >> 4) + high) - m2;
    }
  }
}
void decode_q4_k(const uint8_t* b, size_t, float* y) { decode_k4_k5(b, nullptr, b + 16, y); }
void decode_q5_k(const uint8_t* b, size_t, float* y) { decode_k4_k5(b, b + 16, b + 48, y); }
// Q6_K: {u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d}: per 128-element half n, element 128n + 32k + l
// (k < 4, l < 32) takes the low (k even) or high (k odd) nibble of ql[64n + l + 32 (k & 1)] and the 2-bit
// field k of qh[32n + l]; its scale is scales[e / 16]: y = (d * scale) * (q - 32).
void decode_q6_k(const uint8_t* b, size_t, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half_at(b + 208);
  for (int n = 0; n < 2; ++n, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
  }
}

struct TypeEntry {
  GgmlType type;
  const char* name;
  uint64_t block_size;
  uint64_t block_bytes;
  DecodeFn decode;  // nullptr: not dequantized (refused with kUnsupportedType)
};

// Block sizes and bytes from ggml-common.h's block structs (QK_K = 256).
constexpr TypeEntry kTypes[] = {
    {GgmlType::kF32, "F32", 1, 4, decode_f32},
    {GgmlType::kF16, "F16", 1, 2, decode_f16},
    {GgmlType::kQ4_0, "Q4_0", 32, 18, decode_q4_0},
    {GgmlType::kQ4_1, "Q4_1", 32, 20, decode_q4_1},
    {GgmlType::kQ5_0, "Q5_0", 32, 22, decode_q5_0},
    {GgmlType::kQ5_1, "Q5_1", 32, 24, decode_q5_1},
    {GgmlType::kQ8_0, "Q8_0", 32, 34, decode_q8_0},
    {GgmlType::kQ8_1, "Q8_1", 32, 36, nullptr},
    {GgmlType::kQ2_K, "Q2_K", 256, 84, decode_q2_k},
    {GgmlType::kQ3_K, "Q3_K", 256, 110, decode_q3_k},
    {GgmlType::kQ4_K, "Q4_K", 256, 144, decode_q4_k},
    {GgmlType::kQ5_K, "Q5_K", 256, 176, decode_q5_k},
    {GgmlType::kQ6_K, "Q6_K", 256, 210, decode_q6_k},
    {GgmlType::kQ8_K, "Q8_K", 256, 292, nullptr},
    {GgmlType::kIQ2_XXS, "IQ2_XXS", 256, 66, nullptr},
    {GgmlType::kIQ2_XS, "IQ2_XS", 256, 74, nullptr},
    {GgmlType::kIQ3_XXS, "IQ3_XXS", 256, 98, nullptr},
    {GgmlType::kIQ1_S, "IQ1_S", 256, 50, nullptr},
    {GgmlType::kIQ4_NL, "IQ4_NL", 32, 18, nullptr},
    {GgmlType::kIQ3_S, "IQ3_S", 256, 110, nullptr},
    {GgmlType::kIQ2_S, "IQ2_S", 256, 82, nullptr},
    {GgmlType::kIQ4_XS, "IQ4_XS", 256, 136, nullptr},
    {GgmlType::kI8, "I8", 1, 1, nullptr},
    {GgmlType::kI16, "I16", 1, 2, nullptr},
    {GgmlType::kI32, "I32", 1, 4, nullptr},
    {GgmlType::kI64, "I64", 1, 8, nullptr},
    {GgmlType::kF64, "F64", 1, 8, decode_f64},
    {GgmlType::kIQ1_M, "IQ1_M", 256, 56, nullptr},
    {GgmlType::kBF16, "BF16", 1, 2, decode_bf16},
    {GgmlType::kTQ1_0, "TQ1_0", 256, 54, nullptr},
    {GgmlType::kTQ2_0, "TQ2_0", 256, 66, nullptr},
    {GgmlType::kMXFP4, "MXFP4", 32, 17, nullptr},
};

const TypeEntry* type_entry(uint32_t id) {
  for (const auto& e : kTypes) {
    if (static_cast<uint32_t>(e.type) == id) return &e;
  }
  return nullptr;
}
const TypeEntry& entry_of(GgmlType type) {
  const TypeEntry* e = type_entry(static_cast<uint32_t>(type));
  return e != nullptr ? *e : kTypes[0];  // every enumerator is in the table
}

struct ValueTypeEntry {
  GgufValueType type;
  const char* name;
  uint64_t size;  // bytes of a scalar; 0 for string and array
};
constexpr ValueTypeEntry kValueTypes[] = {
    {GgufValueType::kU8, "uint8", 1},    {GgufValueType::kI8, "int8", 1},    {GgufValueType::kU16, "uint16", 2},
    {GgufValueType::kI16, "int16", 2},   {GgufValueType::kU32, "uint32", 4}, {GgufValueType::kI32, "int32", 4},
    {GgufValueType::kF32, "float32", 4}, {GgufValueType::kBool, "bool", 1},  {GgufValueType::kString, "string", 0},
    {GgufValueType::kArray, "array", 0}, {GgufValueType::kU64, "uint64", 8}, {GgufValueType::kI64, "int64", 8},
    {GgufValueType::kF64, "float64", 8},
};
uint64_t value_size(GgufValueType type) { return kValueTypes[static_cast<uint32_t>(type)].size; }
bool is_signed(GgufValueType t) {
  return t == GgufValueType::kI8 || t == GgufValueType::kI16 || t == GgufValueType::kI32 || t == GgufValueType::kI64;
}
bool is_float(GgufValueType t) { return t == GgufValueType::kF32 || t == GgufValueType::kF64; }

// Decodes one stored number (`size` bytes, little-endian) into the value's scalar fields.
void set_scalar(GgufValue* v, const uint8_t* p) {
  uint64_t bits = 0;
  const uint64_t size = value_size(v->type);
  for (uint64_t k = 0; k < size; ++k) bits |= static_cast<uint64_t>(p[k]) << (8 * k);
  if (v->type == GgufValueType::kF32) {
    v->f = static_cast<double>(bits_to_f32(static_cast<uint32_t>(bits)));
  } else if (v->type == GgufValueType::kF64) {
    std::memcpy(&v->f, &bits, sizeof bits);
  } else if (is_signed(v->type)) {
    const unsigned shift = static_cast<unsigned>(64 - 8 * size);  // sign-extend from `size` bytes
    v->i = static_cast<int64_t>(bits << shift) >> shift;
  } else {
    v->u = bits;
  }
}

// Reads the header structures sequentially through a window buffer, so parsing a file costs a few large
// reads instead of one per field. Every read is bounds-checked against the file size first.
class Cursor {
 public:
  Cursor(const std::string& label, const ByteSource& source)
      : label_(label), source_(source), buffer_(source.buffer()), size_(source.size()) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  GgufStatus fail(GgufError code, const std::string& what) const { return {code, label_ + ": " + what}; }

  GgufStatus bytes(void* out, uint64_t n, const char* what) {
    if (n > remaining()) {
      return fail(GgufError::kFileTruncated, std::string(what) + " at byte " + std::to_string(pos_) + " needs " +
                                                 std::to_string(n) + " bytes but the file ends at byte " +
                                                 std::to_string(size_));
    }
    if (n == 0) return {};
    if (buffer_ != nullptr) {
      std::memcpy(out, buffer_ + pos_, static_cast<size_t>(n));
    } else if (pos_ >= window_begin_ && pos_ + n <= window_begin_ + window_.size()) {
      std::memcpy(out, window_.data() + (pos_ - window_begin_), static_cast<size_t>(n));
    } else if (n > kWindow) {
      std::string error;
      if (!source_.read(pos_, out, static_cast<size_t>(n), &error)) return {GgufError::kIo, error};
    } else {
      window_.resize(static_cast<size_t>(std::min<uint64_t>(kWindow, remaining())));
      window_begin_ = pos_;
      std::string error;
      if (!source_.read(pos_, window_.data(), window_.size(), &error)) return {GgufError::kIo, error};
      std::memcpy(out, window_.data(), static_cast<size_t>(n));
    }
    pos_ += n;
    return {};
  }
  GgufStatus u32(uint32_t* out, const char* what) {
    uint8_t b[4];
    GgufStatus st = bytes(b, 4, what);
    if (st.ok()) *out = load_le32(b);
    return st;
  }
  GgufStatus u64(uint64_t* out, const char* what) {
    uint8_t b[8];
    GgufStatus st = bytes(b, 8, what);
    if (!st.ok()) return st;
    *out = 0;
    for (int k = 7; k >= 0; --k) *out = (*out << 8) | b[k];
    return st;
  }
  // A GGUF string: uint64 length, then the bytes. A length the file cannot hold is a broken file; one the
  // file holds but above the limit is a refusal.
  GgufStatus string(std::string* out, uint64_t limit, const char* what) {
    uint64_t n = 0;
    GgufStatus st = u64(&n, what);
    if (!st.ok()) return st;
    if (n > remaining()) {
      return fail(GgufError::kFileTruncated, std::string(what) + " of " + std::to_string(n) + " bytes at byte " +
                                                 std::to_string(pos_ - 8) + " extends past the end of the file (" +
                                                 std::to_string(remaining()) + " bytes left)");
    }
    if (n > limit) {
      return fail(GgufError::kLimitExceeded, std::string(what) + " of " + std::to_string(n) +
                                                 " bytes exceeds the limit of " + std::to_string(limit));
    }
    out->resize(static_cast<size_t>(n));
    return bytes(out->data(), n, what);
  }

 private:
  static constexpr uint64_t kWindow = 64 * 1024;
  const std::string& label_;
  const ByteSource& source_;
  const uint8_t* buffer_;  // the caller buffer, read in place, or nullptr
  uint64_t size_;
  uint64_t pos_ = 0;
  std::vector<uint8_t> window_;
  uint64_t window_begin_ = 0;
};

bool valid_name(const std::string& s) {
  size_t bad = 0;
  return !s.empty() && json::is_valid_utf8(s, &bad);
}

GgufStatus read_value(Cursor& cur, const GgufLimits& limits, const std::string& key, uint32_t depth, GgufValue* v);

GgufStatus read_value_type(Cursor& cur, const std::string& key, GgufValueType* out) {
  uint32_t t = 0;
  GgufStatus st = cur.u32(&t, "a metadata value type");
  if (!st.ok()) return st;
  if (t > static_cast<uint32_t>(GgufValueType::kF64)) {
    return cur.fail(GgufError::kBadValueType, "metadata '" + key + "': unknown value type " + std::to_string(t));
  }
  *out = static_cast<GgufValueType>(t);
  return {};
}

GgufStatus check_bools(Cursor& cur, const std::string& key, const uint8_t* p, uint64_t n) {
  for (uint64_t k = 0; k < n; ++k) {
    if (p[k] > 1) {
      return cur.fail(GgufError::kBadValueType,
                      "metadata '" + key + "': bool value " + std::to_string(p[k]) + " is neither 0 nor 1");
    }
  }
  return {};
}

GgufStatus read_array(Cursor& cur, const GgufLimits& limits, const std::string& key, uint32_t depth, GgufValue* v) {
  GgufStatus st = read_value_type(cur, key, &v->element_type);
  if (!st.ok()) return st;
  st = cur.u64(&v->count, "an array length");
  if (!st.ok()) return st;
  // Each element needs at least this many bytes of file: checked before anything is reserved.
  const uint64_t min_bytes = v->element_type == GgufValueType::kString  ? 8
                             : v->element_type == GgufValueType::kArray ? 12
                                                                        : value_size(v->element_type);
  if (v->count > cur.remaining() / min_bytes) {
    return cur.fail(GgufError::kFileTruncated, "metadata '" + key + "': array of " + std::to_string(v->count) + " " +
                                                   gguf_value_type_name(v->element_type) +
                                                   " values cannot fit in the " + std::to_string(cur.remaining()) +
                                                   " bytes left in the file");
  }
  if (v->count > limits.max_array_elements) {
    return cur.fail(GgufError::kLimitExceeded, "metadata '" + key + "': array of " + std::to_string(v->count) +
                                                   " values exceeds the limit of " +
                                                   std::to_string(limits.max_array_elements));
  }
  const auto n = static_cast<size_t>(v->count);
  if (v->element_type == GgufValueType::kString) {
    v->strings.resize(n);
    for (auto& s : v->strings) {
      st = cur.string(&s, limits.max_string_bytes, "a string in an array");
      if (!st.ok()) return st;
    }
    return {};
  }
  if (v->element_type == GgufValueType::kArray) {
    if (depth + 1 > limits.max_array_depth) {
      return cur.fail(GgufError::kNestingTooDeep,
                      "metadata '" + key + "': arrays nested deeper than " + std::to_string(limits.max_array_depth));
    }
    v->arrays.resize(n);
    for (auto& a : v->arrays) {
      a.type = GgufValueType::kArray;
      st = read_array(cur, limits, key, depth + 1, &a);
      if (!st.ok()) return st;
    }
    return {};
  }
  v->numbers.resize(n * static_cast<size_t>(min_bytes));
  st = cur.bytes(v->numbers.data(), v->numbers.size(), "array values");
  if (!st.ok() || v->element_type != GgufValueType::kBool) return st;
  return check_bools(cur, key, v->numbers.data(), v->count);
}

GgufStatus read_value(Cursor& cur, const GgufLimits& limits, const std::string& key, uint32_t depth, GgufValue* v) {
  if (v->type == GgufValueType::kString) return cur.string(&v->str, limits.max_string_bytes, "a string value");
  if (v->type == GgufValueType::kArray) return read_array(cur, limits, key, depth + 1, v);
  uint8_t b[8];
  GgufStatus st = cur.bytes(b, value_size(v->type), "a metadata value");
  if (!st.ok()) return st;
  if (v->type == GgufValueType::kBool) {
    st = check_bools(cur, key, b, 1);
    if (!st.ok()) return st;
  }
  set_scalar(v, b);
  return {};
}

}  // namespace

const char* gguf_error_name(GgufError code) {
  switch (code) {
    case GgufError::kOk: return "ok";
    case GgufError::kIo: return "io";
    case GgufError::kFileTruncated: return "file_truncated";
    case GgufError::kBadMagic: return "bad_magic";
    case GgufError::kUnsupportedVersion: return "unsupported_version";
    case GgufError::kLimitExceeded: return "limit_exceeded";
    case GgufError::kOverflow: return "overflow";
    case GgufError::kBadValueType: return "bad_value_type";
    case GgufError::kNestingTooDeep: return "nesting_too_deep";
    case GgufError::kDuplicateKey: return "duplicate_key";
    case GgufError::kBadString: return "bad_string";
    case GgufError::kBadAlignment: return "bad_alignment";
    case GgufError::kBadDimensions: return "bad_dimensions";
    case GgufError::kUnknownType: return "unknown_type";
    case GgufError::kRowNotBlockMultiple: return "row_not_block_multiple";
    case GgufError::kMisalignedOffset: return "misaligned_offset";
    case GgufError::kDataOutOfFile: return "data_out_of_file";
    case GgufError::kTensorsOverlap: return "tensors_overlap";
    case GgufError::kDuplicateName: return "duplicate_name";
    case GgufError::kTensorNotFound: return "tensor_not_found";
    case GgufError::kUnsupportedType: return "unsupported_type";
    case GgufError::kOutOfRange: return "out_of_range";
  }
  return "unknown";
}

const char* gguf_value_type_name(GgufValueType type) {
  const auto i = static_cast<uint32_t>(type);
  return i < sizeof kValueTypes / sizeof kValueTypes[0] ? kValueTypes[i].name : "unknown";
}

const char* ggml_type_name(GgmlType type) { return entry_of(type).name; }
uint64_t ggml_type_block_size(GgmlType type) { return entry_of(type).block_size; }
uint64_t ggml_type_block_bytes(GgmlType type) { return entry_of(type).block_bytes; }
bool ggml_type_converts_to_f32(GgmlType type) { return entry_of(type).decode != nullptr; }

bool GgufValue::as_u64(uint64_t* out) const {
  if (type == GgufValueType::kString || type == GgufValueType::kArray || type == GgufValueType::kBool ||
      is_float(type)) {
    return false;
  }
  if (is_signed(type)) {
    if (i < 0) return false;
    *out = static_cast<uint64_t>(i);
    return true;
  }
  *out = u;
  return true;
}

bool GgufValue::as_i64(int64_t* out) const {
  if (is_signed(type)) {
    *out = i;
    return true;
  }
  uint64_t x = 0;
  if (!as_u64(&x) || x > static_cast<uint64_t>(INT64_MAX)) return false;
  *out = static_cast<int64_t>(x);
  return true;
}

bool GgufValue::as_f64(double* out) const {
  if (is_float(type)) {
    *out = f;
    return true;
  }
  if (is_signed(type)) {
    *out = static_cast<double>(i);
    return true;
  }
  uint64_t x = 0;
  if (!as_u64(&x)) return false;
  *out = static_cast<double>(x);
  return true;
}

bool GgufValue::number_at(uint64_t index, double* out) const {
  if (type != GgufValueType::kArray || numbers.empty() || index >= count) return false;
  GgufValue element;
  element.type = element_type;
  set_scalar(&element, numbers.data() + index * value_size(element_type));
  return element.as_f64(out);
}

uint64_t GgufTensorInfo::row_length() const {
  // element_count was overflow-checked, so the product of the trailing dims fits as well.
  uint64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

GgufStatus GgufFile::open(const std::string& path, GgufFile* out, const GgufLimits& limits) {
  GgufFile f;
  f.label_ = path;
  std::string error;
  if (!f.source_.open(path, &error)) return {GgufError::kIo, error};
  GgufStatus st = f.parse(limits);
  if (st.ok()) *out = std::move(f);
  return st;
}

GgufStatus GgufFile::from_buffer(std::string label, const uint8_t* data, size_t size, GgufFile* out,
                                 const GgufLimits& limits) {
  GgufFile f;
  f.label_ = std::move(label);
  f.source_.set_buffer(data, size);
  GgufStatus st = f.parse(limits);
  if (st.ok()) *out = std::move(f);
  return st;
}

GgufStatus GgufFile::read_bytes(uint64_t offset, void* out, size_t count) const {
  std::string error;
  if (!source_.read(offset, out, count, &error)) return {GgufError::kIo, error};
  return {};
}

GgufStatus GgufFile::parse(const GgufLimits& limits) {
  Cursor cur(label_, source_);
  if (source_.size() > limits.max_file_bytes) {
    return cur.fail(GgufError::kLimitExceeded, "file has " + std::to_string(source_.size()) +
                                                   " bytes, above the configured limit of " +
                                                   std::to_string(limits.max_file_bytes));
  }
  char magic[4];
  GgufStatus st = cur.bytes(magic, 4, "the magic");
  if (!st.ok()) return st;
  if (std::memcmp(magic, "GGUF", 4) != 0) return cur.fail(GgufError::kBadMagic, "does not start with \"GGUF\"");
  st = cur.u32(&version_, "the version");
  if (!st.ok()) return st;
  if (version_ != 2 && version_ != 3) {
    const char* why = version_ == 1       ? " (GGUF v1, with 32-bit counts, is not supported)"
                      : version_ > 0xFFFF ? " (a big-endian file?)"
                                          : "";
    return cur.fail(GgufError::kUnsupportedVersion, "version " + std::to_string(version_) + " is not 2 or 3" + why);
  }
  uint64_t tensor_count = 0, kv_count = 0;
  st = cur.u64(&tensor_count, "the tensor count");
  if (st.ok()) st = cur.u64(&kv_count, "the metadata count");
  if (!st.ok()) return st;
  if (tensor_count > limits.max_tensors) {
    return cur.fail(GgufError::kLimitExceeded, std::to_string(tensor_count) + " tensors exceed the limit of " +
                                                   std::to_string(limits.max_tensors));
  }
  if (kv_count > limits.max_metadata) {
    return cur.fail(GgufError::kLimitExceeded, std::to_string(kv_count) + " metadata entries exceed the limit of " +
                                                   std::to_string(limits.max_metadata));
  }

  // Metadata. Reservations are capped by what the rest of the file could hold (a key-value pair takes at
  // least 13 bytes), so a hostile count cannot allocate much.
  metadata_.reserve(static_cast<size_t>(std::min<uint64_t>(kv_count, cur.remaining() / 13)));
  for (uint64_t k = 0; k < kv_count; ++k) {
    std::string key;
    st = cur.string(&key, limits.max_string_bytes, "a metadata key");
    if (!st.ok()) return st;
    if (!valid_name(key)) {
      return cur.fail(GgufError::kBadString, "metadata key " + std::to_string(k) + " is empty or not UTF-8");
    }
    GgufValue v;
    st = read_value_type(cur, key, &v.type);
    if (st.ok()) st = read_value(cur, limits, key, 0, &v);
    if (!st.ok()) return st;
    metadata_.emplace_back(std::move(key), std::move(v));
  }
  metadata_index_.resize(metadata_.size());
  for (size_t k = 0; k < metadata_index_.size(); ++k) metadata_index_[k] = k;
  std::sort(metadata_index_.begin(), metadata_index_.end(),
            [this](size_t a, size_t b) { return metadata_[a].first < metadata_[b].first; });
  for (size_t k = 1; k < metadata_index_.size(); ++k) {
    const std::string& key = metadata_[metadata_index_[k]].first;
    if (key == metadata_[metadata_index_[k - 1]].first) {
      return cur.fail(GgufError::kDuplicateKey, "metadata key '" + key + "' appears twice");
    }
  }
  if (const GgufValue* a = metadata_value("general.alignment")) {
    if (a->type != GgufValueType::kU32 || a->u == 0 || (a->u & (a->u - 1)) != 0) {
      return cur.fail(GgufError::kBadAlignment,
                      std::string("general.alignment is ") +
                          (a->type == GgufValueType::kU32
                               ? std::to_string(a->u) + ", not a power of two"
                               : std::string("a ") + gguf_value_type_name(a->type) + ", not a uint32"));
    }
    alignment_ = a->u;
  } else {
    alignment_ = kDefaultAlignment;
  }

  // Tensor infos (at least 8 + 1 + 4 + 8 + 4 + 8 bytes each).
  tensors_.reserve(static_cast<size_t>(std::min<uint64_t>(tensor_count, cur.remaining() / 33)));
  for (uint64_t k = 0; k < tensor_count; ++k) {
    GgufTensorInfo t;
    st = cur.string(&t.name, limits.max_string_bytes, "a tensor name");
    if (!st.ok()) return st;
    if (!valid_name(t.name) || t.name.size() > kMaxTensorNameBytes) {
      return cur.fail(GgufError::kBadString, "tensor " + std::to_string(k) + "'s name is empty, not UTF-8 or over " +
                                                 std::to_string(kMaxTensorNameBytes) + " bytes");
    }
    const std::string where = "tensor '" + t.name + "': ";
    uint32_t n_dims = 0;
    st = cur.u32(&n_dims, "a dimension count");
    if (!st.ok()) return st;
    if (n_dims == 0 || n_dims > kMaxDims) {
      return cur.fail(GgufError::kBadDimensions,
                      where + std::to_string(n_dims) + " dimensions, not 1 to " + std::to_string(kMaxDims));
    }
    t.ne.resize(n_dims);
    t.element_count = 1;
    for (auto& d : t.ne) {
      st = cur.u64(&d, "a dimension");
      if (!st.ok()) return st;
      // ggml holds dimensions as int64: above that is a corrupt file.
      if (d > static_cast<uint64_t>(INT64_MAX) || !checked_mul(t.element_count, d, &t.element_count)) {
        return cur.fail(GgufError::kOverflow, where + "the element count overflows 64 bits");
      }
    }
    uint32_t type = 0;
    st = cur.u32(&type, "a tensor type");
    if (st.ok()) st = cur.u64(&t.offset, "a tensor offset");
    if (!st.ok()) return st;
    const TypeEntry* e = type_entry(type);
    if (e == nullptr) return cur.fail(GgufError::kUnknownType, where + "unknown ggml type " + std::to_string(type));
    t.type = e->type;
    if (t.ne[0] % e->block_size != 0) {
      return cur.fail(GgufError::kRowNotBlockMultiple, where + "row length ne[0] = " + std::to_string(t.ne[0]) +
                                                           " is not a multiple of " + e->name + "'s block of " +
                                                           std::to_string(e->block_size));
    }
    if (!checked_mul(t.element_count / e->block_size, e->block_bytes, &t.byte_size)) {
      return cur.fail(GgufError::kOverflow, where + "the byte size overflows 64 bits");
    }
    if (t.offset % alignment_ != 0) {
      return cur.fail(GgufError::kMisalignedOffset, where + "offset " + std::to_string(t.offset) +
                                                        " is not a multiple of the alignment " +
                                                        std::to_string(alignment_));
    }
    t.shape.assign(t.ne.rbegin(), t.ne.rend());
    tensors_.push_back(std::move(t));
  }

  // The data section, and each tensor inside the file.
  const uint64_t padding = (alignment_ - cur.pos() % alignment_) % alignment_;
  data_offset_ = cur.pos() + padding;  // cannot overflow: pos <= file size < 2^64 - alignment
  std::vector<size_t> order(tensors_.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  for (const GgufTensorInfo& t : tensors_) {
    uint64_t begin = 0, end = 0;
    if (!checked_add(data_offset_, t.offset, &begin) || !checked_add(begin, t.byte_size, &end)) {
      return cur.fail(GgufError::kOverflow, "tensor '" + t.name + "': offset + size overflows 64 bits");
    }
    if (end > source_.size()) {
      return cur.fail(GgufError::kDataOutOfFile, "tensor '" + t.name + "': bytes [" + std::to_string(begin) + ", " +
                                                     std::to_string(end) + ") extend past the end of the file at " +
                                                     std::to_string(source_.size()));
    }
  }
  std::sort(order.begin(), order.end(), [this](size_t a, size_t b) { return tensors_[a].name < tensors_[b].name; });
  for (size_t k = 1; k < order.size(); ++k) {
    if (tensors_[order[k]].name == tensors_[order[k - 1]].name) {
      return cur.fail(GgufError::kDuplicateName, "tensor '" + tensors_[order[k]].name + "': name appears twice");
    }
  }
  std::sort(order.begin(), order.end(), [this](size_t a, size_t b) {
    const GgufTensorInfo &x = tensors_[a], &y = tensors_[b];
    return x.offset != y.offset ? x.offset < y.offset : x.byte_size < y.byte_size;
  });
  // In offset order, a tensor overlaps an earlier one iff it begins before the furthest end so far.
  // Empty tensors own no bytes and overlap nothing. Ends cannot overflow: checked against the file above.
  const GgufTensorInfo* furthest = nullptr;
  for (size_t k : order) {
    const GgufTensorInfo& t = tensors_[k];
    if (t.byte_size == 0) continue;
    if (furthest != nullptr && t.offset < furthest->offset + furthest->byte_size) {
      return cur.fail(GgufError::kTensorsOverlap, "tensor '" + t.name + "': bytes from offset " +
                                                      std::to_string(t.offset) + " overlap tensor '" + furthest->name +
                                                      "', which ends at " +
                                                      std::to_string(furthest->offset + furthest->byte_size));
    }
    if (furthest == nullptr || t.offset + t.byte_size > furthest->offset + furthest->byte_size) furthest = &t;
  }
  return {};
}

const GgufTensorInfo* GgufFile::find(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

GgufStatus GgufFile::require(std::string_view name, const GgufTensorInfo** out) const {
  *out = find(name);
  if (*out == nullptr) return {GgufError::kTensorNotFound, label_ + ": no tensor named '" + std::string(name) + "'"};
  return {};
}

const GgufValue* GgufFile::metadata_value(std::string_view key) const {
  auto it = std::lower_bound(metadata_index_.begin(), metadata_index_.end(), key,
                             [this](size_t i, std::string_view k) { return metadata_[i].first < k; });
  if (it == metadata_index_.end() || metadata_[*it].first != key) return nullptr;
  return &metadata_[*it].second;
}

const std::string* GgufFile::metadata_string(std::string_view key) const {
  const GgufValue* v = metadata_value(key);
  return v != nullptr && v->type == GgufValueType::kString ? &v->str : nullptr;
}

GgufStatus GgufFile::read_f32(const GgufTensorInfo& t, uint64_t first, uint64_t count, float* out) const {
  const TypeEntry& e = entry_of(t.type);
  if (e.decode == nullptr) {
    return {GgufError::kUnsupportedType,
            label_ + ": tensor '" + t.name + "': type " + e.name + " is not supported (no float32 dequantization)"};
  }
  uint64_t last = 0;
  if (!checked_add(first, count, &last) || last > t.element_count) {
    return {GgufError::kOutOfRange, label_ + ": tensor '" + t.name + "': elements [" + std::to_string(first) + ", +" +
                                        std::to_string(count) + ") are outside its " + std::to_string(t.element_count) +
                                        " elements"};
  }
  if (count == 0) return {};
  // A unit is one block, or kPlainUnit elements of a plain type (the last one possibly shorter).
  const uint64_t unit = e.block_size > 1 ? e.block_size : kPlainUnit;
  const uint64_t unit_bytes = unit / e.block_size * e.block_bytes;
  const uint64_t units_per_chunk = kChunkBytes / unit_bytes;
  uint8_t raw[kChunkBytes];
  float decoded[kPlainUnit];
  const uint64_t first_unit = first / unit, end_unit = (last - 1) / unit + 1;
  for (uint64_t u = first_unit; u < end_unit;) {
    const uint64_t chunk_units = std::min(units_per_chunk, end_unit - u);
    // Offsets inside the tensor, which lies inside the file: checked at open.
    const uint64_t chunk_begin = u * unit_bytes;
    const uint64_t chunk_bytes = std::min(chunk_units * unit_bytes, t.byte_size - chunk_begin);
    const GgufStatus st = read_bytes(data_offset_ + t.offset + chunk_begin, raw, static_cast<size_t>(chunk_bytes));
    if (!st.ok()) return st;
    for (uint64_t k = 0; k < chunk_units; ++k, ++u) {
      const uint64_t unit_first = u * unit;
      const uint64_t n = std::min(unit, t.element_count - unit_first);
      const uint64_t from = std::max(first, unit_first), to = std::min(last, unit_first + n);
      if (from == unit_first && to == unit_first + n) {  // the whole unit is wanted: decode in place
        e.decode(raw + k * unit_bytes, static_cast<size_t>(n), out + (unit_first - first));
      } else {
        e.decode(raw + k * unit_bytes, static_cast<size_t>(n), decoded);
        std::memcpy(out + (from - first), decoded + (from - unit_first),
                    static_cast<size_t>(to - from) * sizeof(float));
      }
    }
  }
  return {};
}

GgufStatus GgufFile::read_rows_f32(const GgufTensorInfo& t, uint64_t first_row, uint64_t row_count, float* out) const {
  uint64_t last_row = 0;
  if (!checked_add(first_row, row_count, &last_row) || last_row > t.rows()) {
    return {GgufError::kOutOfRange, label_ + ": tensor '" + t.name + "': rows [" + std::to_string(first_row) + ", +" +
                                        std::to_string(row_count) + ") are outside its " + std::to_string(t.rows()) +
                                        " rows"};
  }
  const uint64_t row_length = t.row_length();
  return read_f32(t, first_row * row_length, row_count * row_length, out);
}

}  // namespace probex
