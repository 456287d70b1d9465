// Writes GGUF files (llama.cpp's format, version 3), workstation side: for tests of the runtime's GGUF
// reader and for zoos whose models are GGUF files. Output bytes depend only on what is added: metadata
// keys and tensors are written in name order, `general.alignment` is always written (32), tensor data
// follows in name order, each tensor at the next multiple of the alignment.
//
// Shapes are given as PyTorch shows the same weight (a Linear's [out, in]); GGUF stores the dimensions
// innermost first (ne[0] = the row length), so the writer reverses them. Element types: F32, F16 and
// Q8_0 (blocks of 32 weights along the row: an fp16 scale d = max|x| / 127 and 32 int8 values
// round(x / d), as ggml's reference quantizer does).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace probex::convert {

// GGUF's element type numbers (ggml_type) for the types the writer produces.
enum class GgufType : uint32_t { kF32 = 0, kF16 = 1, kQ8_0 = 8 };

const char* gguf_type_name(GgufType type);  // "F32", "F16", "Q8_0"
// By name, as above; false for another name.
bool parse_gguf_type(const std::string& name, GgufType* out);

class GgufWriter {
 public:
  static constexpr uint32_t kAlignment = 32;

  void set_string(const std::string& key, const std::string& value);
  void set_uint32(const std::string& key, uint32_t value);
  void set_float32(const std::string& key, float value);
  void set_strings(const std::string& key, const std::vector<std::string>& values);

  // Adds float32 values (row-major in PyTorch's order) stored as `type`. False (and *error) on a repeated
  // name, an empty shape or more than 4 dimensions, a value count that is not prod(shape), or a Q8_0
  // tensor whose row length (the last dimension) is not a multiple of 32.
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

}  // namespace probex::convert
