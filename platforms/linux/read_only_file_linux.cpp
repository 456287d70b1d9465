#include "probex/platform/read_only_file.h"

#include "platforms/linux/open_regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

namespace probex::platform {

ReadOnlyFile::~ReadOnlyFile() { close(); }

ReadOnlyFile::ReadOnlyFile(ReadOnlyFile&& other) noexcept
    : path_(std::move(other.path_)), handle_(std::exchange(other.handle_, -1)), size_(std::exchange(other.size_, 0)) {}

ReadOnlyFile& ReadOnlyFile::operator=(ReadOnlyFile&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    handle_ = std::exchange(other.handle_, -1);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void ReadOnlyFile::close() {
  if (handle_ >= 0) ::close(handle_);
  handle_ = -1;
  size_ = 0;
}

bool ReadOnlyFile::open(const std::string& path, std::string* error) {
  close();
  int fd = -1;
  uint64_t size = 0;
  if (!open_regular_file(path, &fd, &size, error)) return false;
  path_ = path;
  handle_ = fd;
  size_ = size;
  return true;
}

bool ReadOnlyFile::read_at(uint64_t offset, void* out, size_t count, std::string* error) const {
  auto* dst = static_cast<uint8_t*>(out);
  while (count > 0) {
    if (offset > static_cast<uint64_t>(INT64_MAX)) {
      *error = path_ + ": offset " + std::to_string(offset) + " is beyond what a file can hold";
      return false;
    }
    // At most 1 GiB per call: a read must stay below SSIZE_MAX on 32-bit targets.
    const size_t chunk = count < (size_t{1} << 30) ? count : (size_t{1} << 30);
    const ssize_t n = ::pread(handle_, dst, chunk, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = path_ + ": cannot read at byte " + std::to_string(offset) + ": " + std::strerror(errno);
      return false;
    }
    if (n == 0) {
      *error = path_ + ": changed while being read: it now ends before byte " + std::to_string(offset + count) +
               " (it had " + std::to_string(size_) + " bytes when opened)";
      return false;
    }
    dst += n;
    offset += static_cast<uint64_t>(n);
    count -= static_cast<size_t>(n);
  }
  return true;
}

void AlignedDelete::operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t(kAlignedBytesAlignment)); }

ReadResult read_whole_file(const std::string& path, uint64_t max_bytes, AlignedBytes* out, size_t* size,
                           std::string* error) {
  ReadOnlyFile file;
  if (!file.open(path, error)) return ReadResult::kIoError;
  if (file.size() > max_bytes || file.size() > SIZE_MAX) {
    *error = path + ": " + std::to_string(file.size()) + " bytes, above the limit of " + std::to_string(max_bytes) +
             " bytes";
    return ReadResult::kTooLarge;
  }
  const auto n = static_cast<size_t>(file.size());
  // nothrow: an allocation failure is an error to report, not an exception to escape the C API.
  AlignedBytes bytes(
      static_cast<uint8_t*>(::operator new[](n == 0 ? 1 : n, std::align_val_t(kAlignedBytesAlignment), std::nothrow)));
  if (!bytes) {
    *error = path + ": out of memory for its " + std::to_string(n) + " bytes";
    return ReadResult::kOutOfMemory;
  }
  if (n > 0 && !file.read_at(0, bytes.get(), n, error)) return ReadResult::kIoError;
  *out = std::move(bytes);
  *size = n;
  return ReadResult::kOk;
}

}  // namespace probex::platform
