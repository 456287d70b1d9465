// libFuzzer: the strict safetensors reader on arbitrary bytes: header validation, then every accessor a
// caller uses (conversion of each tensor to float32 by rows, metadata, the ProbeX layer lookup).
#include <cstdint>
#include <vector>

#include "core/probed_layer.h"
#include "core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  probex::SafetensorsFile file;
  if (!probex::SafetensorsFile::from_buffer("fuzz", data, size, &file).ok()) return 0;
  std::vector<float> row;
  for (const probex::TensorInfo& t : file.tensors()) {
    if (!probex::dtype_converts_to_f32(t.dtype) || t.row_length() > (1u << 16)) continue;
    row.resize(static_cast<size_t>(t.row_length()));
    for (uint64_t r = 0; r < t.rows() && r < 4; ++r) (void)file.read_rows_f32(t, r, 1, row.data());
    probex::ProbedLayer layer;
    if (probex::find_probed_layer(file, t.name, &layer).ok() && layer.cols <= (1u << 16)) {
      std::vector<float> scratch, x(static_cast<size_t>(layer.cols));
      (void)probex::ProbedRowReader(file, layer, &scratch).read(0, 1, x.data());
    }
  }
  (void)file.metadata_value("dataset_chosen_targets");
  return 0;
}
