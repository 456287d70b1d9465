// Shared by the model-file fuzz targets: a buffer opened through the model-file interface (the format by
// content), every tensor looked up as a ProbeX layer and its first row of X read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/formats/model_file.h"
#include "runtime/formats/probed_layer.h"

namespace probex::fuzz {

inline void probed_layers(const uint8_t* data, size_t size) {
  std::unique_ptr<ModelFile> model;
  if (!model_file_from_buffer("fuzz", data, size, &model).ok()) return;
  std::vector<float> scratch, x;
  for (const ModelTensor& t : model->tensors()) {
    ProbedLayer layer;
    if (!find_probed_layer(*model, t.name, &layer).ok() || layer.cols > (1u << 16)) continue;
    x.resize(static_cast<size_t>(layer.cols));
    (void)ProbedRowReader(*model, layer, &scratch).read(0, 1, x.data());
  }
  (void)model->metadata_string("dataset_chosen_targets");
}

}  // namespace probex::fuzz
