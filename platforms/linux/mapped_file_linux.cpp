#include "probex/platform/mapped_file.h"

#include "platforms/linux/open_regular_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace probex::platform {

MappedFile::~MappedFile() { release(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
      is_open_(std::exchange(other.is_open_, false)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    is_open_ = std::exchange(other.is_open_, false);
  }
  return *this;
}

void MappedFile::release() {
  if (data_ != nullptr) {
    munmap(const_cast<uint8_t*>(data_), size_);
  }
  data_ = nullptr;
  size_ = 0;
  is_open_ = false;
}

bool MappedFile::open(const std::string& path, std::string* error) {
  release();
  int fd = -1;
  uint64_t file_size = 0;
  if (!open_regular_file(path, &fd, &file_size, error)) return false;
  if (file_size == 0) {  // mmap rejects length 0; an empty file is still a valid (empty) view
    ::close(fd);
    is_open_ = true;
    return true;
  }
  void* addr = mmap(nullptr, static_cast<size_t>(file_size), PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps its own reference to the file
  if (addr == MAP_FAILED) {
    *error = path + ": cannot map: " + std::strerror(map_errno);
    return false;
  }
  data_ = static_cast<const uint8_t*>(addr);
  size_ = static_cast<size_t>(file_size);
  is_open_ = true;
  return true;
}

}  // namespace probex::platform
