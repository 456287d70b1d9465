// The device runtime on bundle bytes the converter just serialized: the converter checks what it writes
// with the code that will read it (quantization budget, self-test tolerances, routing report). Where a
// device may compute differently (an int8 step 1: a dot-product kernel or XNNPACK's qc8 operator,
// backends/backend.h), the checks run every such path (device_paths()) and keep the worst figure.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "runtime/backends/kernels/int8_probe.h"
#include "runtime/bundle/bundle.h"
#include "runtime/executor/auditor.h"

namespace probex::convert {

struct RuntimeBundle {
  std::vector<uint64_t> storage;  // an 8-byte aligned copy of the bytes
  Bundle bundle;
  std::unique_ptr<Auditor> auditor;

  // The int8 step-1 paths devices take: XNNPACK's qc8 operator always, and this machine's dot-product
  // kernel where it has one (the kernel's sums are exact, so its result is the same on every CPU that has
  // one: tests/runtime/backends/test_int8_probe.cpp).
  static std::vector<Int8Step1> device_paths() {
    if (Int8Probe::best_path() == Int8Probe::Path::kScalar) return {Int8Step1::kXnnpackQc8};
    return {Int8Step1::kFastest, Int8Step1::kXnnpackQc8};
  }

  bool open(const std::vector<uint8_t>& bytes, std::string* error, Int8Step1 int8_step1 = Int8Step1::kFastest) {
    storage.assign((bytes.size() + 7) / 8, 0);
    std::memcpy(storage.data(), bytes.data(), bytes.size());
    std::string message;
    probex_status st = Bundle::open_buffer(reinterpret_cast<const uint8_t*>(storage.data()), bytes.size(),
                                           "the new bundle", &bundle, &message);
    if (st == PROBEX_OK) {
      probex_auditor_options options;
      probex_auditor_options_init(&options, sizeof options);
      st = Auditor::create(bundle, options, nullptr, &auditor, &message, int8_step1);
    }
    if (st != PROBEX_OK) *error = "the runtime rejects the bundle just written: " + message;
    return st == PROBEX_OK;
  }
};

}  // namespace probex::convert
