// Strict reader for TensorFlow Lite model files (FlatBuffers, file identifier "TFL3" at bytes 4..8; the
// schema subset read is schema/tflite_subset.fbs), behind the model-file interface as format "tflite".
//
// Trust boundary: nothing in the file is used before `TfliteFile::open`/`from_buffer` has returned kOk.
// Opening runs the FlatBuffers Verifier (depth and table limits) over the flatbuffer, then a semantic pass
// (tflite.cpp, "Validation rules"). Errors are a closed set (TfliteError), each with a message naming the
// file, the tensor if any, and the problem.
//
// Memory. The flatbuffer itself must be in memory to be verified. A file under 2 GB keeps its weights
// inline in the flatbuffer, so opening it reads the whole file (peak memory = the file's size, refused above
// limits.max_file_bytes). A file over 2 GB keeps them outside (Buffer.offset/size): only the flatbuffer part
// is read (found by verifying growing prefixes, doubling from 64 KB), and weights are read by offset at
// `read_f32` time through a fixed stack buffer. `read_f32` never allocates.
//
// Shapes as PyTorch shows them: TFLite stores Conv2D kernels [O, H, W, I] (shown [O, I, H, W]) and
// depthwise kernels [1, H, W, C] (shown [C, 1, H, W]); a fully connected weight [out, in] is PyTorch's own.
// A tensor's role is known only from the operators using it (tflite.cpp, `assign_layouts`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/formats/byte_source.h"

namespace probex {

enum class TfliteError {
  kOk = 0,
  kIo,               // the file cannot be opened or read, or changed while being read
  kFileTruncated,    // fewer bytes than a FlatBuffers root offset and identifier
  kBadIdentifier,    // bytes 4..8 are not "TFL3"
  kLimitExceeded,    // file size, tensor, subgraph, buffer, operator or dimension count above a limit
  kVerifierFailed,   // the FlatBuffers Verifier refused the flatbuffer (offsets, sizes, depth, tables)
  kMissingField,     // a required field is absent (the model's subgraphs or buffers)
  kBadBufferIndex,   // a tensor's buffer index is outside the model's buffers
  kBadBuffer,        // a buffer has both inline data and an offset, or an offset of 1 or past the end
  kDataOutOfFile,    // an offset buffer's bytes extend past the end of the file
  kBadShape,         // a negative dimension
  kOverflow,         // an element or byte count exceeds 64 bits
  kSizeMismatch,     // a buffer's byte size is not prod(shape) x the element size
  kBadQuantization,  // scale/zero_point counts, quantized_dimension, a non-finite scale
  kBadSparsity,      // sparsity metadata inconsistent with the shape, its indices, or the buffer
  kBadOperator,      // an operator's opcode or tensor index is out of range
  kDuplicateName,    // two tensors of one subgraph share a name
  kTensorNotFound,   // lookup of a name the file does not have
  kUnsupportedType,  // a tensor this reader does not convert to float32 (its type, no data)
  kOutOfRange,       // a requested element range is outside the tensor
};

const char* tflite_error_name(TfliteError code);  // "buffer_out_of_file", ...

struct TfliteStatus {
  TfliteError code = TfliteError::kOk;
  std::string message;
  bool ok() const { return code == TfliteError::kOk; }
};

struct TfliteLimits {
  uint64_t max_file_bytes = uint64_t{64} << 30;
  uint64_t max_tensors = 1u << 20;  // over all subgraphs
  uint64_t max_subgraphs = 1u << 10;
  uint64_t max_buffers = 1u << 20;
  uint64_t max_operators = 1u << 20;  // over all subgraphs
  uint64_t max_dims = 8;
  uint64_t max_flatbuffer_bytes = 0x7FFFFFFEu;  // FlatBuffers' own maximum (2 GB - 2)
  uint32_t max_depth = 64;                      // Verifier: table nesting
  uint32_t max_tables = 1u << 22;               // Verifier: tables visited
};

// TFLite's TensorType values, numbered as in the file.
enum class TfliteType : int8_t {
  kFloat32 = 0,
  kFloat16 = 1,
  kInt32 = 2,
  kUint8 = 3,
  kInt64 = 4,
  kString = 5,
  kBool = 6,
  kInt16 = 7,
  kComplex64 = 8,
  kInt8 = 9,
  kFloat64 = 10,
  kComplex128 = 11,
  kUint64 = 12,
  kResource = 13,
  kVariant = 14,
  kUint32 = 15,
  kUint16 = 16,
  kInt4 = 17,
  kBfloat16 = 18,
};
const char* tflite_type_name(TfliteType type);  // "FLOAT16", ...; "UNKNOWN" for other numbers

// How a tensor's stored order maps to the shape shown.
enum class TfliteLayout : uint8_t {
  kAsStored,   // shape and order as stored
  kConv2d,     // stored [O, H, W, I], shown [O, I, H, W]
  kDepthwise,  // stored [1, H, W, C], shown [C, 1, H, W]
};

struct TfliteTensorInfo {
  std::string name;  // as stored; tensors of subgraph k > 0 are named "k:" + name
  uint32_t subgraph = 0;
  uint32_t index = 0;  // in its subgraph
  TfliteType type = TfliteType::kFloat32;
  std::vector<uint64_t> stored_shape;
  std::vector<uint64_t> shape;  // as PyTorch shows it (see TfliteLayout)
  TfliteLayout layout = TfliteLayout::kAsStored;
  uint64_t element_count = 0;
  bool has_data = false;           // a constant (else an activation or input: nothing to read)
  bool sparse = false;             // TFLite sparsity: densified by read_f32
  const void* sparsity = nullptr;  // its verified SparsityParameters, inside the file's flatbuffer
  bool readable = false;           // read_f32 converts it
  std::string unreadable_reason;   // why not, when !readable
  // Where the bytes are: in the flatbuffer (inline) or at a file offset (Buffer.offset).
  bool inline_data = true;
  uint64_t data_offset = 0;  // inline: offset in the flatbuffer memory; else: offset in the file
  uint64_t byte_size = 0;
  // Quantization (readable integer types): value = scale[c] * (q - zero_point[c]), c the index along
  // quantized_dimension (in stored order); one entry = per tensor.
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  uint32_t quantized_dimension = 0;
};

class TfliteFile {
 public:
  TfliteFile() = default;
  TfliteFile(TfliteFile&&) noexcept = default;
  TfliteFile& operator=(TfliteFile&&) noexcept = default;

  static TfliteStatus open(const std::string& path, TfliteFile* out, const TfliteLimits& limits = {});
  // A caller-owned buffer, which must outlive *out (copied when not 8-byte aligned).
  static TfliteStatus from_buffer(std::string label, const uint8_t* data, size_t size, TfliteFile* out,
                                  const TfliteLimits& limits = {});

  const std::string& label() const { return label_; }
  uint32_t version() const { return version_; }
  const std::string& description() const { return description_; }
  const std::vector<TfliteTensorInfo>& tensors() const { return tensors_; }
  // Model.metadata entries whose buffer holds inline data of at most kMaxMetadataValueBytes (by name, the
  // first of a repeated name kept); entries naming a missing or offset buffer, or a larger one, are not kept
  // (metadata never makes a file unreadable). nullptr if absent.
  static constexpr uint64_t kMaxMetadataValueBytes = uint64_t{1} << 20;
  const std::string* metadata_string(const std::string& name) const;

  // Elements [first, first + count) in the shown (PyTorch row-major) order, as float32.
  TfliteStatus read_f32(const TfliteTensorInfo& tensor, uint64_t first, uint64_t count, float* out) const;

 private:
  TfliteStatus parse(const TfliteLimits& limits);
  TfliteStatus load_flatbuffer(const TfliteLimits& limits);
  TfliteStatus check_sparsity(const TfliteTensorInfo& t, const void* sparsity, const std::string& where) const;
  // parse()'s steps (tflite.cpp); the FlatBuffers types are tflite.cpp's own, so they pass as void*.
  void read_metadata(const void* model);
  TfliteStatus check_counts(const void* model, const TfliteLimits& limits, uint64_t* tensors) const;
  TfliteStatus check_buffers(const void* buffers) const;
  TfliteStatus read_tensor(uint32_t subgraph, uint32_t index, const void* tensor, const TfliteLimits& limits,
                           TfliteTensorInfo* out) const;
  TfliteStatus check_unique_names(uint32_t subgraph, size_t first, uint32_t count) const;
  TfliteStatus check_operators(const void* model, const void* graph, uint32_t subgraph, uint32_t count,
                               std::vector<int32_t>* producer) const;
  void set_kernel_layouts(const void* model, const void* graph, size_t first, uint32_t count,
                          const std::vector<int32_t>& producer);

  std::string label_;
  ByteSource source_;
  std::vector<uint8_t> owned_;   // the flatbuffer when read from a file (or copied for alignment)
  const uint8_t* fb_ = nullptr;  // the verified flatbuffer
  size_t fb_size_ = 0;
  uint32_t version_ = 0;
  std::string description_;
  std::vector<std::pair<std::string, std::string>> metadata_;  // sorted by name
  std::vector<TfliteTensorInfo> tensors_;
};

}  // namespace probex
