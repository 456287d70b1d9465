// libFuzzer: the strict GGUF reader on arbitrary bytes: header, metadata and tensor-info validation, then
// every accessor a caller uses (metadata lookups, dequantization of each tensor by rows and by a range that
// cuts blocks), then the same bytes through the model-file interface and the ProbeX layer lookup.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "runtime/formats/gguf.h"
#include "tests/fuzz/probed_layer_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  probex::GgufFile file;
  if (!probex::GgufFile::from_buffer("fuzz", data, size, &file).ok()) return 0;
  std::vector<float> row;
  for (const probex::GgufTensorInfo& t : file.tensors()) {
    const uint64_t n = t.row_length();
    if (n > (1u << 16)) continue;
    row.resize(static_cast<size_t>(n) + 1);
    // Unsupported types must be refused, not read.
    for (uint64_t r = 0; r < t.rows() && r < 4; ++r) (void)file.read_rows_f32(t, r, 1, row.data());
    if (t.element_count > 2) (void)file.read_f32(t, 1, std::min<uint64_t>(t.element_count - 2, n), row.data());
  }
  for (const auto& [key, value] : file.metadata()) {
    double d = 0;
    (void)value.as_f64(&d);
    (void)value.number_at(0, &d);
    (void)file.metadata_value(key);
  }
  (void)file.metadata_string("general.architecture");
  probex::fuzz::probed_layers(data, size);
  return 0;
}
