// Opens a regular file read-only: the one place the Linux implementations open, stat and check a path.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace probex::platform {

// On success *fd is open (the caller closes it) and *size is the file's size; on failure *error names the
// path and the OS's reason.
inline bool open_regular_file(const std::string& path, int* fd, uint64_t* size, std::string* error) {
  const int f = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f < 0) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (fstat(f, &st) != 0) {
    *error = path + ": cannot stat: " + std::strerror(errno);
    ::close(f);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = path + ": not a regular file";
    ::close(f);
    return false;
  }
  *fd = f;
  *size = static_cast<uint64_t>(st.st_size);
  return true;
}

}  // namespace probex::platform
