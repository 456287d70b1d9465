// libFuzzer: a bundle on arbitrary bytes: verification, then (if it verifies) an auditor on the reference
// backend, every self-test and one audit of a generated layer, bounded in size so the fuzzer explores
// the parser rather than allocating. Seeds: bundles from the converter (scripts/fuzz.sh makes them).
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "runtime/bundle/bundle.h"
#include "runtime/executor/auditor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint64_t> aligned((size + 7) / 8);  // caller buffers must be 8-byte aligned
  if (size) std::memcpy(aligned.data(), data, size);
  probex::Bundle bundle;
  std::string message;
  if (probex::Bundle::open_buffer(reinterpret_cast<const uint8_t*>(aligned.data()), size, "fuzz", &bundle, &message) !=
      PROBEX_OK)
    return 0;
  for (const probex::TreeView& t : bundle.trees()) {
    const uint64_t work = static_cast<uint64_t>(t.d_h) * t.d_w + static_cast<uint64_t>(t.feature_size()) * t.r_t;
    if (work > (1u << 22)) return 0;  // large but valid: not what this target is for
  }
  std::unique_ptr<probex::Auditor> auditor;
  probex_auditor_options options;
  probex_auditor_options_init(&options, sizeof options);
  options.backend = PROBEX_BACKEND_REFERENCE;
  options.rows_per_block = 4;
  if (probex::Auditor::create(bundle, options, nullptr, &auditor, &message) != PROBEX_OK) return 0;
  double worst = 0;
  (void)auditor->self_test(&worst, &message);
  const probex::TreeView& t = bundle.trees().front();
  std::vector<float> x(static_cast<size_t>(t.d_h) * t.d_w, 0.01f);
  probex_audit_result r{};
  (void)auditor->audit_matrix(0, x.data(), t.d_h, t.d_w, &r, &message);
  return 0;
}
