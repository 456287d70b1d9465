// libFuzzer: the strict TFLite reader on arbitrary bytes: the FlatBuffers Verifier and the semantic pass,
// then every readable tensor read by rows and by a range that cuts rows (the gathers of the Conv2D and
// depthwise layouts), then the same bytes through the model-file interface and the ProbeX layer lookup.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "runtime/formats/tflite.h"
#include "tests/fuzz/probed_layer_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  probex::TfliteFile file;
  if (!probex::TfliteFile::from_buffer("fuzz", data, size, &file).ok()) return 0;
  std::vector<float> row;
  for (const probex::TfliteTensorInfo& t : file.tensors()) {
    const uint64_t n = t.shape.size() < 2 ? t.element_count : t.element_count / std::max<uint64_t>(t.shape[0], 1);
    if (n > (1u << 16)) continue;
    row.resize(static_cast<size_t>(n) + 1);
    // Unreadable tensors must be refused, not read.
    for (uint64_t r = 0; r < 4 && (r + 1) * n <= t.element_count; ++r) (void)file.read_f32(t, r * n, n, row.data());
    if (t.element_count > 2) (void)file.read_f32(t, 1, std::min<uint64_t>(t.element_count - 2, n), row.data());
  }
  probex::fuzz::probed_layers(data, size);
  return 0;
}
