// Small helpers shared by the runtime's CLIs: strict numbers, JSON text.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <cstdint>
#include <vector>

#include "bundle/signature.h"
#include "core/json_writer.h"
#include "probex/platform/cpu.h"

namespace probex::cli {

inline bool parse_uint(const char* s, unsigned long lo, unsigned long hi, unsigned long* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// --threads: an integer in [1, 256], or "auto" for every processor online (platform/cpu.h).
inline bool parse_threads(const char* s, unsigned long* out) {
  if (std::string_view(s) == "auto") {
    *out = platform::online_cpu_count();
    return true;
  }
  return parse_uint(s, 1, 256, out);
}

// A byte count: digits, optionally followed by K, M, G or T (powers of 1024), at least 1.
inline bool parse_size(const char* s, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || s[0] == '-' || v == 0) return false;
  int shift = 0;
  if (*end != '\0') {
    const std::string_view units = "KMGT";
    const size_t unit = units.find(*end);
    if (unit == std::string_view::npos || end[1] != '\0') return false;
    shift = 10 * static_cast<int>(unit + 1);
  }
  if (v > (UINT64_MAX >> shift)) return false;
  *out = static_cast<uint64_t>(v) << shift;
  return true;
}

// --trusted-key FILE: appends the public key in FILE (hex, as probex-keygen writes it) to *keys.
inline bool add_trusted_key(const char* path, std::vector<uint8_t>* keys, std::string* error) {
  uint8_t key[kPublicKeyBytes];
  if (!read_key_file(path, sizeof key, key, error)) return false;
  keys->insert(keys->end(), key, key + sizeof key);
  return true;
}

inline std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(&out, s);
  return out;
}

// Nine significant digits: the runtime's values are float32, so more would print conversion noise.
inline std::string json_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

}  // namespace probex::cli
