// Small helpers shared by the runtime's CLIs: trusted keys, JSON text (the parser is cli/args.h).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include <cstdint>
#include <vector>

#include "probex/probex.h"
#include "runtime/bundle/signature.h"
#include "runtime/cli/args.h"
#include "runtime/formats/json_writer.h"

namespace probex::cli {

// --trusted-key FILE...: the public keys in `files` (hex, as probex-keygen writes them), one after the
// other in *keys; false with *error set if one cannot be read.
inline bool read_trusted_keys(const std::vector<std::string>& files, std::vector<uint8_t>* keys, std::string* error) {
  for (const std::string& file : files) {
    uint8_t key[kPublicKeyBytes];
    if (!read_key_file(file.c_str(), sizeof key, key, error)) return false;
    keys->insert(keys->end(), key, key + sizeof key);
  }
  return true;
}

// --backend xnnpack|reference, set in *options as it is parsed.
inline void add_backend_option(ArgParser* args, probex_auditor_options* options) {
  args->custom("--backend", "xnnpack or reference", [options](const std::string& v, std::string* message) {
    if (v != "xnnpack" && v != "reference") {
      *message = "--backend takes xnnpack or reference, not '" + v + "'";
      return false;
    }
    options->backend = v == "xnnpack" ? PROBEX_BACKEND_XNNPACK : PROBEX_BACKEND_REFERENCE;
    return true;
  });
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
