// Where a strict reader's bytes come from: a file read by offset, never mapped (platform/read_only_file.h
// says why), or a caller-owned buffer read in place. Shared by the safetensors and GGUF readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "probex/platform/read_only_file.h"

namespace probex {

class ByteSource {
 public:
  bool open(const std::string& path, std::string* error) {
    if (!file_.open(path, error)) return false;
    size_ = file_.size();
    return true;
  }
  // The buffer must outlive the source.
  void set_buffer(const uint8_t* data, size_t size) {
    buffer_ = data;
    size_ = size;
  }

  uint64_t size() const { return size_; }
  const uint8_t* buffer() const { return buffer_; }  // nullptr when reading a file

  // Bytes [offset, offset + count); offset + count <= size() is the caller's duty. False, with *error set,
  // when the file cannot be read (e.g. it shrank after opening).
  bool read(uint64_t offset, void* out, size_t count, std::string* error) const {
    if (count == 0) return true;  // `out` may be null then, which memcpy must not see
    if (buffer_ != nullptr) {
      std::memcpy(out, buffer_ + offset, count);
      return true;
    }
    return file_.read_at(offset, out, count, error);
  }

 private:
  platform::ReadOnlyFile file_;      // closed when reading a caller buffer
  const uint8_t* buffer_ = nullptr;  // the caller buffer, or nullptr
  uint64_t size_ = 0;
};

}  // namespace probex
