// Strict reader for safetensors files (https://github.com/huggingface/safetensors), device side.
//
// Trust boundary: everything in the file is hostile until `SafetensorsFile::open`/`from_buffer` has
// returned kOk. After that the header has been checked completely (see the rules in safetensors.cpp),
// so views and conversions cannot read outside the file. Errors are a closed set (SafetensorsError);
// each comes with a message naming the file, the tensor if any, and the problem.
//
// A file is read by offset, never mapped (platform/read_only_file.h says why): opening reads the 8-byte
// length and the header only; float tensors are then read and converted to float32 by element range or by
// row block straight into the caller's buffer, so a huge BF16 layer never needs a float copy of the whole
// tensor. A file that shrinks after opening gives kIo ("changed while being read"), never a crash.
// A caller buffer is read in place. Data need not be aligned: conversion copies bytes, never casts pointers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/formats/byte_source.h"

namespace probex {

enum class SafetensorsError {
  kOk = 0,
  kIo,                     // the file cannot be opened or read, or changed while being read
  kHeaderTooSmall,         // fewer than 8 bytes, or a header length below 2 (the smallest JSON object)
  kHeaderTooLarge,         // header length above the configured limit (100 MB by default)
  kFileTruncated,          // the header or the tensor data extends past the end of the file
  kHeaderNotUtf8,          // header bytes are not valid UTF-8
  kHeaderInvalidJson,      // header is not well-formed JSON
  kHeaderNotObject,        // header does not start with '{'
  kInvalidMetadata,        // __metadata__ is not an object of string values, or repeats a key
  kBadEntry,               // a tensor entry is not an object, or lacks, repeats or adds a field
  kUnknownDtype,           // dtype is not one of the known names
  kInvalidShape,           // shape is not an array of non-negative integers
  kInvalidOffsets,         // data_offsets is not [begin, end] with begin <= end
  kOffsetsOverlap,         // two tensors share bytes
  kOffsetsHole,            // bytes between tensors (or before the first) belong to no tensor
  kSizeMismatch,           // prod(shape) * dtype size != end - begin
  kOverflow,               // a number or a size computation exceeds 64 bits
  kDuplicateName,          // two entries with the same name
  kTrailingBytes,          // the file continues after the last tensor's end
  kTooManyTensors,         // more entries than the configured limit
  kTensorNotFound,         // lookup of a name the file does not have
  kUnsupportedConversion,  // the dtype has no float32 conversion (integer and bool tensors)
  kOutOfRange,             // a requested element or row range is outside the tensor
  kLayerShape,             // a probed layer's shape has no ProbeX shaping rule (see probed_layer.h)
  kLimitExceeded,          // the file, a tensor's dimension count or a LoRA rank exceeds a configured limit
};

// Short stable name of an error code, e.g. "offsets_overlap" (for tests, logs and JSON reports).
const char* safetensors_error_name(SafetensorsError code);

enum class Dtype : uint8_t {
  kBool,
  kU8,
  kI8,
  kF8_E4M3,
  kF8_E5M2,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kI64,
  kU64,
  kF64,
};

const char* dtype_name(Dtype dtype);  // the safetensors spelling, e.g. "BF16"
size_t dtype_size(Dtype dtype);       // bytes per element
bool dtype_from_name(std::string_view name, Dtype* out);
bool dtype_converts_to_f32(Dtype dtype);  // F64 F32 F16 BF16 F8_E4M3 F8_E5M2

struct SafetensorsStatus {
  SafetensorsError code = SafetensorsError::kOk;
  std::string message;  // empty when ok
  bool ok() const { return code == SafetensorsError::kOk; }
};

// Limits enforced while opening a file. Header, tensor and dimension defaults match the safetensors
// reference; the file size default is far above any single model file (Hugging Face shards are <= 10 GB
// by default) and exists so a device can refuse less.
struct SafetensorsLimits {
  uint64_t max_file_bytes = uint64_t{64} << 30;
  uint64_t max_header_bytes = 100u * 1000u * 1000u;
  uint64_t max_tensors = 1u << 20;
  size_t max_dims = 8;
};

struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::kF32;
  std::vector<uint64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data area
  uint64_t end = 0;
  uint64_t element_count = 0;

  // Rows are the first dimension; a row holds prod(shape[1:]) elements. A 0-d tensor is one row of
  // one element, a 1-D tensor has one element per row.
  uint64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  uint64_t row_length() const;
};

class SafetensorsFile {
 public:
  SafetensorsFile() = default;
  SafetensorsFile(SafetensorsFile&&) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;

  // Opens `path` and validates its header (reading the header only). On failure *out is left empty.
  static SafetensorsStatus open(const std::string& path, SafetensorsFile* out, const SafetensorsLimits& limits = {});

  // Validates a caller-owned buffer, which must outlive *out. `label` names it in error messages.
  static SafetensorsStatus from_buffer(std::string label, const uint8_t* data, size_t size, SafetensorsFile* out,
                                       const SafetensorsLimits& limits = {});

  const std::string& label() const { return label_; }
  // Tensors in data order (ascending offsets).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // nullptr if absent.
  const TensorInfo* find(std::string_view name) const;
  SafetensorsStatus require(std::string_view name, const TensorInfo** out) const;

  // __metadata__ as (key, value) pairs sorted by key; empty if the file has none.
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }
  // nullptr if the key is absent.
  const std::string* metadata_value(std::string_view key) const;

  // Copies a tensor's bytes as stored (end - begin bytes) into `out`.
  SafetensorsStatus read_raw(const TensorInfo& tensor, void* out) const;
  // Converts elements [first, first + count) of a float tensor to float32 into `out`.
  SafetensorsStatus read_f32(const TensorInfo& tensor, uint64_t first, uint64_t count, float* out) const;
  // Converts rows [first_row, first_row + row_count) to float32 (row_count * row_length() floats).
  SafetensorsStatus read_rows_f32(const TensorInfo& tensor, uint64_t first_row, uint64_t row_count, float* out) const;

 private:
  SafetensorsStatus parse(const SafetensorsLimits& limits);
  // Bytes [offset, offset + count) of the file or buffer; offset + count <= file_size_ is the caller's duty.
  SafetensorsStatus read_bytes(uint64_t offset, void* out, size_t count) const;

  std::string label_;
  ByteSource source_;
  uint64_t data_offset_ = 0;  // start of the data area (after the header)
  std::vector<TensorInfo> tensors_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

}  // namespace probex
