// Writes safetensors files, workstation side. Output bytes depend only on the tensors and metadata
// given (not on insertion order or the machine), so a zoo built twice is identical byte for byte:
// header keys are sorted ("__metadata__" first, then tensor names), tensor data follows in name
// order, and the header is padded with spaces to a multiple of 8 bytes so the data area is aligned.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/formats/safetensors.h"

namespace probex::convert {

class SafetensorsWriter {
 public:
  // Adds a tensor from raw little-endian bytes; bytes.size() must equal prod(shape) * dtype size.
  // Returns false (and sets *error) on a size mismatch or a repeated name.
  bool add_raw(const std::string& name, Dtype dtype, std::vector<uint64_t> shape, std::vector<uint8_t> bytes,
               std::string* error);
  // Adds float32 values stored as `dtype` (F32, F16, BF16 or F64), rounding to nearest even.
  bool add_f32(const std::string& name, Dtype dtype, std::vector<uint64_t> shape, const float* values,
               std::string* error);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  // The complete file contents.
  std::vector<uint8_t> serialize() const;
  // Writes to `path` through a temporary file and a rename, so a crash never leaves half a file.
  bool write_file(const std::string& path, std::string* error) const;

 private:
  struct Entry {
    Dtype dtype;
    std::vector<uint64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::map<std::string, Entry> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes `bytes` to `path` via "<path>.tmp" and rename(2).
bool write_file_atomically(const std::string& path, const void* bytes, size_t size, std::string* error);

}  // namespace probex::convert
