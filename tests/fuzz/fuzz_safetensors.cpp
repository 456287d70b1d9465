// libFuzzer: the strict safetensors reader on arbitrary bytes: header validation, then every accessor a
// caller uses (conversion of each tensor to float32 by rows, metadata), then the same bytes through the
// model-file interface (format by content) and the ProbeX layer lookup on every tensor.
#include <cstdint>
#include <vector>

#include "runtime/formats/safetensors.h"
#include "tests/fuzz/probed_layer_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  probex::SafetensorsFile file;
  if (!probex::SafetensorsFile::from_buffer("fuzz", data, size, &file).ok()) return 0;
  std::vector<float> row;
  for (const probex::TensorInfo& t : file.tensors()) {
    if (!probex::dtype_converts_to_f32(t.dtype) || t.row_length() > (1u << 16)) continue;
    row.resize(static_cast<size_t>(t.row_length()));
    for (uint64_t r = 0; r < t.rows() && r < 4; ++r) (void)file.read_rows_f32(t, r, 1, row.data());
  }
  (void)file.metadata_value("dataset_chosen_targets");
  probex::fuzz::probed_layers(data, size);
  return 0;
}
