// Strict reader for GGUF files (ggml's model format, https://github.com/ggml-org/ggml/blob/master/docs/gguf.md),
// versions 2 and 3, device side. The auditor reads it through open_model_file (model_file.h).
//
// Trust boundary: everything in the file is hostile until `GgufFile::open`/`from_buffer` has returned kOk.
// After that the header, every metadata value and every tensor info have been checked (see the rules in
// gguf.cpp), so reads cannot leave the file. Errors are a closed set (GgufError); each comes with a message
// naming the file, the tensor if any, and the problem.
//
// As safetensors.h: read by offset, never mapped (platform/read_only_file.h says why). Opening reads the
// header, metadata and tensor infos only; `read_f32`/`read_rows_f32` then dequantize block by block
// through fixed stack buffers into the caller's float buffer, with no heap allocation per call. A file that
// shrinks after opening gives kIo, never a crash.
//
// Shapes: GGUF stores ne[0..n) with ne[0] the innermost (contiguous) dimension. `shape` here is the PyTorch
// order, i.e. ne reversed: a Linear weight [out, in] is stored with ne = {in, out} and shows as {out, in}.
// Rows follow the safetensors reader: shape[0] rows of prod(shape[1:]) elements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/formats/byte_source.h"

namespace probex {

enum class GgufError {
  kOk = 0,
  kIo,                   // the file cannot be opened or read, or changed while being read
  kFileTruncated,        // a header, metadata, tensor info or string extends past the end of the file
  kBadMagic,             // the first 4 bytes are not "GGUF"
  kUnsupportedVersion,   // a version other than 2 or 3 (v1 used 32-bit counts and is refused)
  kLimitExceeded,        // file size, tensor, metadata, string, array or dimension count above a configured limit
  kOverflow,             // a count, dimension or size computation exceeds 64 bits (or int64 for dimensions)
  kBadValueType,         // a metadata value type that GGUF does not define
  kNestingTooDeep,       // arrays of arrays nested deeper than the configured limit
  kDuplicateKey,         // two metadata entries with the same key
  kBadString,            // an empty or non-UTF-8 metadata key or tensor name, or a tensor name over 64 bytes
  kBadAlignment,         // general.alignment is not a uint32 power of two
  kBadDimensions,        // a tensor with no dimensions or more than 4
  kUnknownType,          // a tensor element type ggml does not define
  kRowNotBlockMultiple,  // ne[0] of a block-quantized tensor is not a multiple of its block size
  kMisalignedOffset,     // a tensor offset is not a multiple of the alignment
  kDataOutOfFile,        // a tensor's bytes extend past the end of the file
  kTensorsOverlap,       // two tensors share bytes
  kDuplicateName,        // two tensors with the same name
  kTensorNotFound,       // lookup of a name the file does not have
  kUnsupportedType,      // a known element type that this reader does not dequantize (IQ*, Q8_1, integers...)
  kOutOfRange,           // a requested element or row range is outside the tensor
};

// Short stable name of an error code, e.g. "tensors_overlap" (for tests, logs and JSON reports).
const char* gguf_error_name(GgufError code);

struct GgufStatus {
  GgufError code = GgufError::kOk;
  std::string message;  // empty when ok
  bool ok() const { return code == GgufError::kOk; }
};

// Metadata value types, numbered as in the file.
enum class GgufValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

const char* gguf_value_type_name(GgufValueType type);  // "uint32", "string", ...

// One metadata value. Scalars are widened on reading (integers to u64/i64 as their sign says, floats to
// double); strings are kept as bytes; arrays keep their element type and count, with strings, nested arrays
// or the stored little-endian bytes of numbers (so memory stays proportional to the file).
struct GgufValue {
  GgufValueType type = GgufValueType::kU8;
  uint64_t u = 0;                                   // unsigned integers and bool
  int64_t i = 0;                                    // signed integers
  double f = 0;                                     // float32 and float64
  std::string str;                                  // kString
  GgufValueType element_type = GgufValueType::kU8;  // kArray
  uint64_t count = 0;                               // kArray: element count
  std::vector<std::string> strings;                 // kArray of kString
  std::vector<GgufValue> arrays;                    // kArray of kArray
  std::vector<uint8_t> numbers;                     // kArray of numbers or bools, as stored

  // Integer value of an integer scalar (any width or sign) that fits the output type; false otherwise.
  bool as_u64(uint64_t* out) const;
  bool as_i64(int64_t* out) const;
  // A float32/float64 scalar, or an integer scalar converted; false for strings, bools and arrays.
  bool as_f64(double* out) const;
  // Element `index` of an array of numbers, converted to double; false if not such an array or out of range.
  bool number_at(uint64_t index, double* out) const;
};

// ggml element types, numbered as in the file; the list is closed: any other number is kUnknownType.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

const char* ggml_type_name(GgmlType type);      // as GGUF names it: "Q4_K", "BF16", ...
uint64_t ggml_type_block_size(GgmlType type);   // elements per block (1 for plain types)
uint64_t ggml_type_block_bytes(GgmlType type);  // bytes per block
bool ggml_type_converts_to_f32(GgmlType type);  // F32 F16 BF16 F64 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K..Q6_K

// Limits enforced while opening. The defaults are far above real models (a 70B model's file is ~40 GB
// at 4 bits and has ~700 tensors; its tokenizer arrays have ~150k entries) and exist so a device can refuse
// less.
struct GgufLimits {
  uint64_t max_file_bytes = uint64_t{256} << 30;
  uint64_t max_tensors = 1u << 20;
  uint64_t max_metadata = 1u << 16;
  uint64_t max_string_bytes = 64u << 20;  // chat templates and tokenizer JSON can be megabytes
  uint64_t max_array_elements = 1u << 24;
  uint32_t max_array_depth = 4;  // arrays inside arrays: depth 1 is a plain array
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::kF32;
  std::vector<uint64_t> ne;     // as stored: ne[0] innermost
  std::vector<uint64_t> shape;  // PyTorch order: ne reversed
  uint64_t offset = 0;          // relative to the start of the data section
  uint64_t byte_size = 0;
  uint64_t element_count = 0;

  uint64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  uint64_t row_length() const;  // prod(shape[1:]); 1 for a 1-D tensor
  const char* type_name() const { return ggml_type_name(type); }
};

class GgufFile {
 public:
  GgufFile() = default;
  GgufFile(GgufFile&&) noexcept = default;
  GgufFile& operator=(GgufFile&&) noexcept = default;

  // Opens `path` and validates everything but the tensor data. On failure *out is left empty.
  static GgufStatus open(const std::string& path, GgufFile* out, const GgufLimits& limits = {});
  // Validates a caller-owned buffer, which must outlive *out. `label` names it in error messages.
  static GgufStatus from_buffer(std::string label, const uint8_t* data, size_t size, GgufFile* out,
                                const GgufLimits& limits = {});

  const std::string& label() const { return label_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the data section in the file
  // Tensors in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find(std::string_view name) const;  // nullptr if absent
  GgufStatus require(std::string_view name, const GgufTensorInfo** out) const;

  // Metadata in file order; lookups by key.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* metadata_value(std::string_view key) const;     // nullptr if absent
  const std::string* metadata_string(std::string_view key) const;  // nullptr if absent or not a string

  // Dequantizes elements [first, first + count) (in storage order, i.e. PyTorch's row-major order) to
  // float32 into `out`. Any range works: partial blocks at either end are decoded whole on the stack.
  GgufStatus read_f32(const GgufTensorInfo& tensor, uint64_t first, uint64_t count, float* out) const;
  // Rows [first_row, first_row + row_count) (row_count * row_length() floats).
  GgufStatus read_rows_f32(const GgufTensorInfo& tensor, uint64_t first_row, uint64_t row_count, float* out) const;

 private:
  GgufStatus parse(const GgufLimits& limits);
  // Bytes [offset, offset + count); offset + count <= file_size_ is the caller's duty.
  GgufStatus read_bytes(uint64_t offset, void* out, size_t count) const;

  std::string label_;
  ByteSource source_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufTensorInfo> tensors_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<size_t> metadata_index_;  // indices into metadata_, sorted by key
};

}  // namespace probex
