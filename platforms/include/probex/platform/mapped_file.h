// A read-only view of a whole file, memory-mapped where the OS allows it.
//
// For the converter's large workstation inputs (the GloVe JSON, text tables). The runtime never maps a
// file (read_only_file.h says why), so a board without mmap needs only read_only_file's implementation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace probex::platform {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  // Maps `path` read-only. On failure returns false and sets *error to a sentence naming the path and
  // the OS's reason; *this is left empty. An empty file maps successfully with size() == 0.
  bool open(const std::string& path, std::string* error);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool is_open() const { return is_open_; }

 private:
  void release();

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool is_open_ = false;
};

}  // namespace probex::platform
