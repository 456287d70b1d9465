// Writes GGUF files (llama.cpp's format, version 3), workstation side: for tests of the runtime's GGUF
// reader and for zoos whose models are GGUF files. Output bytes depend only on what is added: metadata
// keys and tensors are written in name order, `general.alignment` is always written (32), tensor data
// follows in name order, each tensor at the next multiple of the alignment.
//
// Shapes are given as PyTorch shows the same weight (a Linear's [out, in]); GGUF stores the dimensions
// innermost first (ne[0] = the row length), so the writer reverses them. Element types, each quantized
// as ggml's reference quantizer (`quantize_row_*_ref`, ggml-quants.c) does, so the bytes are those
// llama.cpp's tools would write without an importance matrix:
//   F32, F16  plain (F16 rounds to nearest even)
//   Q8_0      blocks of 32 along the row: fp16 d = max|x| / 127 and 32 int8 round(x / d)
//   Q5_0      blocks of 32: fp16 d = -(the value of largest magnitude) / 16 and 32 5-bit q with
//             x ~ d * (q - 16) (llama.cpp's fallback for Q4_K rows that are not whole super-blocks)
//   Q4_K      super-blocks of 256 = 8 sub-blocks of 32: fp16 d and dmin, 6-bit scale and min per
//             sub-block (12 bytes), 4-bit q: x ~ d * sc * q - dmin * m (see quantize_q4_k_block)
// Quantized types need a row length that is a multiple of their block; `gguf_storage_type` says which
// type a whole-model conversion stores each tensor as (llama.cpp's rule, with its fallbacks).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace probex::convert {

// GGUF's element type numbers (ggml_type) for the types the writer produces.
enum class GgufType : uint32_t { kF32 = 0, kF16 = 1, kQ5_0 = 6, kQ8_0 = 8, kQ4_K = 12 };

const char* gguf_type_name(GgufType type);  // "F32", "F16", "Q5_0", "Q8_0", "Q4_K"
// By name, as above; false for another name.
bool parse_gguf_type(const std::string& name, GgufType* out);
// Elements per block along the row: 1 (F32, F16), 32 (Q5_0, Q8_0), 256 (Q4_K).
uint64_t gguf_type_block_size(GgufType type);

// The type a tensor of `shape` (PyTorch order) is stored as when a model is converted to `requested`,
// as llama.cpp does it (convert_hf_to_gguf.py, then llama-quantize):
//   - a tensor of 0 or 1 dimensions (biases, norms) stays F32 whatever is requested;
//   - F32 and F16 apply to every other tensor;
//   - Q8_0 needs a row length (the last dimension) that is a multiple of 32, else F16
//     (convert_hf_to_gguf.py's fallback when gguf-py refuses the rows);
//   - Q4_K needs a multiple of 256, else Q5_0 if a multiple of 32, else F16 (llama-quantize's fallback).
GgufType gguf_storage_type(GgufType requested, const std::vector<uint64_t>& shape);

class GgufWriter {
 public:
  static constexpr uint32_t kAlignment = 32;

  void set_string(const std::string& key, const std::string& value);
  void set_uint32(const std::string& key, uint32_t value);
  void set_float32(const std::string& key, float value);
  void set_strings(const std::string& key, const std::vector<std::string>& values);

  // Adds float32 values (row-major in PyTorch's order) stored as `type`. False (and *error) on a repeated
  // name, an empty shape or more than 4 dimensions, a value count that is not prod(shape), or a quantized
  // tensor whose row length (the last dimension) is not a multiple of its block (32, or 256 for Q4_K).
  bool add_f32(const std::string& name, GgufType type, const std::vector<uint64_t>& shape, const float* values,
               size_t count, std::string* error);

  // Where each tensor went: its GGUF dims (innermost first), type and offset from the data section.
  struct Placement {
    std::string name;
    std::vector<uint64_t> ne;
    GgufType type;
    uint64_t offset;
  };
  std::vector<Placement> layout() const;

  // The complete file contents.
  std::vector<uint8_t> serialize() const;
  // Writes to `path` through a temporary file and a rename.
  bool write_file(const std::string& path, std::string* error) const;

 private:
  struct Tensor {
    std::vector<uint64_t> ne;
    GgufType type;
    std::vector<uint8_t> bytes;
  };
  std::map<std::string, std::vector<uint8_t>> metadata_;  // key -> value type + value, encoded
  std::map<std::string, Tensor> tensors_;
};

// One Q8_0 block (34 bytes: fp16 d, 32 int8) of 32 values, by ggml's reference quantizer.
void quantize_q8_0_block(const float* x, uint8_t* out);
// One Q5_0 block (22 bytes: fp16 d, 32 bits of the fifth bit of each q, 16 bytes of low nibbles: element
// j < 16 in the low nibble of byte j, element j + 16 in its high nibble) of 32 values, as
// ggml's quantize_row_q5_0_ref.
void quantize_q5_0_block(const float* x, uint8_t* out);
// One Q4_K super-block (144 bytes) of 256 values, as ggml's quantize_row_q4_K_ref:
//   bytes 0-1 fp16 d, 2-3 fp16 dmin, 4-15 the eight 6-bit scales sc and mins m, 16-143 the 4-bit q.
// Each sub-block j of 32 gets a scale and a min from an iterative least-squares search (ggml's
// make_qkx2_quants: weights av + |x|, 21 candidate scales around 15 / (max - min)); the eight scales are
// then quantized to 6 bits against d = max scale / 63 and the mins against dmin = max min / 63, and
// every value is requantized with the stored scale: q = clamp(round((x + dmin * m) / (d * sc)), 0, 15).
// Packing of sc/m (12 bytes): for j < 4 the low 6 bits of byte j (sc) and j + 4 (m); for j >= 4 the
// low nibble of byte j + 4 (sc) and its high nibble (m), their top 2 bits in the top 2 bits of bytes
// j - 4 (sc) and j (m). q: each 32-byte slice i holds sub-block 2i in its low nibbles, 2i + 1 in its high.
void quantize_q4_k_block(const float* x, uint8_t* out);

}  // namespace probex::convert
