// Helpers for the libFuzzer targets.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace probex::fuzz {

// For parsers that take a path: the input written to a per-process file (in /dev/shm when it exists,
// so it stays in memory).
inline std::string input_file(const uint8_t* data, size_t size, const char* suffix) {
  const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  const std::string path = std::string(dir) + "/probex-fuzz-" + std::to_string(getpid()) + suffix;
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  return path;
}

}  // namespace probex::fuzz
