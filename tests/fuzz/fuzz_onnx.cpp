// libFuzzer: the ONNX reader (runtime/formats/onnx.h) on arbitrary bytes through the model-file interface:
// protobuf wire validation, subgraph walking, tensor checks, then every tensor read by rows and by a range
// that cuts rows (transposed MatMul weights and packed varints included), then the ProbeX layer lookup.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/formats/model_file.h"
#include "tests/fuzz/probed_layer_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<probex::ModelFile> model;
  if (!probex::model_file_from_buffer("fuzz", data, size, &model).ok()) return 0;
  std::vector<float> row;
  for (const probex::ModelTensor& t : model->tensors()) {
    const uint64_t n = t.row_length();
    if (n > (1u << 16)) continue;
    row.resize(static_cast<size_t>(n) + 1);
    // Unreadable tensors must be refused, not read.
    for (uint64_t r = 0; r < t.rows() && r < 4; ++r) (void)model->read_rows_f32(t, r, 1, row.data());
    if (t.element_count > 2) (void)model->read_f32(t, 1, std::min<uint64_t>(t.element_count - 2, n), row.data());
  }
  probex::fuzz::probed_layers(data, size);
  return 0;
}
