// A read-only file read by offset, for files that another process may change while they are open.
//
// The runtime reads model files and bundles through this class and never memory-maps them: when a mapped
// file is truncated by someone else, the next access to a page past the new end raises SIGBUS and kills
// the audit agent, and a signed bundle that is mapped could be rewritten after its signature was checked.
// A read by offset instead fails with a sentence ("changed while being read") or copies bytes that are
// then the only ones used. (MappedFile remains for the converter's large workstation inputs.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace probex::platform {

class ReadOnlyFile {
 public:
  ReadOnlyFile() = default;
  ~ReadOnlyFile();
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;
  ReadOnlyFile(ReadOnlyFile&& other) noexcept;
  ReadOnlyFile& operator=(ReadOnlyFile&& other) noexcept;

  // Opens a regular file. On failure returns false and sets *error to a sentence naming the path and the
  // OS's reason; *this is left closed.
  bool open(const std::string& path, std::string* error);

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }  // when opened
  bool is_open() const { return handle_ >= 0; }

  // Reads exactly `count` bytes at `offset` into `out`. False (and *error naming the path) if the OS
  // fails or the file now ends before offset + count, i.e. it changed since it was opened.
  bool read_at(uint64_t offset, void* out, size_t count, std::string* error) const;

 private:
  void close();

  std::string path_;
  int handle_ = -1;
  uint64_t size_ = 0;
};

// Bytes owned in memory, 64-byte aligned (FlatBuffers needs 8; the bundle's tensors are 32-aligned).
struct AlignedDelete {
  void operator()(uint8_t* p) const;
};
using AlignedBytes = std::unique_ptr<uint8_t[], AlignedDelete>;
constexpr size_t kAlignedBytesAlignment = 64;

enum class ReadResult { kOk, kIoError, kTooLarge, kOutOfMemory };

// Reads the whole of `path` into *out (*size bytes). Files above `max_bytes` are refused before anything
// is allocated. Any result but kOk sets *error to a sentence naming the path.
ReadResult read_whole_file(const std::string& path, uint64_t max_bytes, AlignedBytes* out, size_t* size,
                           std::string* error);

}  // namespace probex::platform
