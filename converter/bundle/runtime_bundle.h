// The device runtime on bundle bytes the converter just serialized: the converter checks what it writes
// with the code that will read it (quantization budget, self-test tolerances, routing report).
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bundle/bundle.h"
#include "executor/auditor.h"

namespace probex::convert {

struct RuntimeBundle {
  std::vector<uint64_t> storage;  // an 8-byte aligned copy of the bytes
  Bundle bundle;
  std::unique_ptr<Auditor> auditor;

  bool open(const std::vector<uint8_t>& bytes, std::string* error) {
    storage.assign((bytes.size() + 7) / 8, 0);
    std::memcpy(storage.data(), bytes.data(), bytes.size());
    std::string message;
    probex_status st = Bundle::open_buffer(reinterpret_cast<const uint8_t*>(storage.data()), bytes.size(),
                                           "the new bundle", &bundle, &message);
    if (st == PROBEX_OK) {
      probex_auditor_options options;
      probex_auditor_options_init(&options, sizeof options);
      st = Auditor::create(bundle, options, nullptr, &auditor, &message);
    }
    if (st != PROBEX_OK) *error = "the runtime rejects the bundle just written: " + message;
    return st == PROBEX_OK;
  }
};

}  // namespace probex::convert
