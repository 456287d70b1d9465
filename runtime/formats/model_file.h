// One interface for "a model file", whatever its format: list its tensors, read rows of one as float32.
// Everything above this file (the probed layer, the auditor, the router, the C API, the CLIs, the
// converter's training) reads models through it, so every format is audited exactly like safetensors.
//
// The format is chosen by content, never by file name (model_file.cpp, `open_model_file`):
//   a file   8-byte length + '{'  -> safetensors     "GGUF" magic -> gguf     "TFL3" at bytes 4..8 -> tflite
//            a JSON object with "weight_map" -> a sharded checkpoint's index (its folder holds the shards)
//            a JSON object with "peft_type"  -> a PEFT adapter's config (its folder holds the weights)
//            none of these, and a protobuf ModelProto (ir_version first, then a graph) -> onnx (onnx.h)
//   a folder adapter_config.json -> PEFT adapter; model.safetensors.index.json -> sharded checkpoint;
//            model.safetensors alone -> that file
// Anything else is kNotAModel ("not a model file probex reads: ...").
//
// Shapes are shown as PyTorch shows the same weight ([out, in] for a Linear), whatever the storage order,
// so an expert trained on safetensors audits the same weights in every format. Each format's mapping is
// written beside its reader and in docs/formats.md.
//
// Trust boundary: as for each reader, nothing is trusted before `open_model_file` returns kOk; reading
// rows then allocates nothing and converts straight into the caller's buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace probex {

enum class ModelFormat : uint8_t { kSafetensors, kShardedSafetensors, kPeftAdapter, kGguf, kTflite, kOnnx };
// "safetensors", "safetensors-sharded", "peft-lora", "gguf", "tflite", "onnx"
const char* model_format_name(ModelFormat format);

enum class ModelError {
  kOk = 0,
  kIo,                     // cannot open or read (or the file changed while being read)
  kNotAModel,              // the content is no format probex reads
  kInvalid,                // the content is of a known format but breaks one of its rules (detail says which)
  kLimitExceeded,          // a configured limit (file size, header, tensor count, dims, shards, LoRA rank)
  kTensorNotFound,         // lookup of a name the model does not have
  kUnsupportedConversion,  // the tensor's type has no float32 conversion here (integers, IQ* quants, ...)
  kOutOfRange,             // a requested element or row range is outside the tensor
  kLayerShape,             // a probed layer's shape has no ProbeX shaping rule (probed_layer.h)
};
const char* model_error_name(ModelError code);  // "io", "not_a_model", "invalid", ...

struct ModelStatus {
  ModelError code = ModelError::kOk;
  std::string detail;   // the format reader's own error name, e.g. "offsets_overlap" (empty if none)
  std::string message;  // names the file, the tensor if any, and the problem; empty when ok
  bool ok() const { return code == ModelError::kOk; }
};

// Limits applied while opening, shared by every format (each reader maps them onto its own).
struct ModelLimits {
  uint64_t max_file_bytes = uint64_t{64} << 30;      // each file (a shard, a GGUF file)
  uint64_t max_header_bytes = 100u * 1000u * 1000u;  // safetensors header, index or config JSON
  uint64_t max_tensors = 1u << 20;
  size_t max_dims = 8;
  uint32_t max_shards = 4096;
};

struct ModelTensor {
  std::string name;
  std::vector<uint64_t> shape;  // as PyTorch shows it
  std::string dtype;            // as the format names it: "BF16", "Q4_K", ...
  bool readable = false;        // read_f32 converts it (a float or dequantizable type)
  uint64_t element_count = 0;
  size_t native = 0;   // the implementation's own index of this tensor
  std::string layout;  // how the stored layout maps to `shape`, when it differs ("" when shown as stored)

  uint64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  uint64_t row_length() const;  // prod(shape[1:]); 1 for 0-D and 1-D tensors
};

class ModelFile {
 public:
  virtual ~ModelFile() = default;
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  ModelFormat format() const { return format_; }
  const std::string& label() const { return label_; }  // the path, or a buffer's label
  const std::vector<ModelTensor>& tensors() const { return tensors_; }
  const ModelTensor* find(std::string_view name) const;  // nullptr if absent
  // What the file declares about itself, for reports (empty when it declares nothing): a PEFT adapter's
  // base_model_name_or_path, a GGUF file's general.name.
  const std::string& declared_base_model() const { return declared_base_model_; }
  // A string metadata value (safetensors __metadata__, a GGUF string key); nullptr if absent or another type.
  virtual const std::string* metadata_string(std::string_view key) const {
    (void)key;
    return nullptr;
  }

  // Converts elements [first, first + count) of `tensor` (row-major, PyTorch order) to float32 into `out`.
  virtual ModelStatus read_f32(const ModelTensor& tensor, uint64_t first, uint64_t count, float* out) const = 0;
  // Rows [first_row, first_row + row_count) of `tensor` (row_count * row_length() floats).
  ModelStatus read_rows_f32(const ModelTensor& tensor, uint64_t first_row, uint64_t row_count, float* out) const;

 protected:
  ModelFile(ModelFormat format, std::string label) : format_(format), label_(std::move(label)) {}
  // Called once by an implementation after filling tensors_: builds the name index, refuses duplicates.
  ModelStatus index_tensors();
  ModelStatus out_of_range(const ModelTensor& tensor, uint64_t first, uint64_t count) const;

  ModelFormat format_;
  std::string label_;
  std::string declared_base_model_;
  std::vector<ModelTensor> tensors_;

 private:
  std::vector<size_t> by_name_;  // indices into tensors_, sorted by name
};

// Which format `path` holds, by content only (magic bytes, a JSON file's keys, a folder's file names),
// without validating it; *target is what that format's reader opens (the file itself, a folder's index,
// an adapter config's folder). kNotAModel for content of no format probex reads. For agents that walk
// folders: a folder that is a model is audited as one and not entered.
ModelStatus identify_model(const std::string& path, const ModelLimits& limits, ModelFormat* format,
                           std::string* target);

// Opens a model file or folder, choosing the format by content (identify_model).
ModelStatus open_model_file(const std::string& path, std::unique_ptr<ModelFile>* out, const ModelLimits& limits = {});

// Reads a single-file model from a caller buffer (which must outlive *out): safetensors, GGUF, TFLite or
// ONNX by content (ONNX external data is then listed, not readable). For fuzzing and tests; folders and
// indexes need a file system.
ModelStatus model_file_from_buffer(std::string label, const uint8_t* data, size_t size, std::unique_ptr<ModelFile>* out,
                                   const ModelLimits& limits = {});

}  // namespace probex
