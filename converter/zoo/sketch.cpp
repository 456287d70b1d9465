#include "converter/zoo/sketch.h"

#include <memory>

#include "runtime/formats/model_file.h"
#include "runtime/formats/probed_layer.h"
#include "runtime/math/float_formats.h"

namespace probex::convert {

bool sketch_model(const std::string& path, const std::string& layer_name, uint32_t d_h, uint32_t d_w,
                  const SketchSpec& spec, std::vector<float>* sketch, std::string* error) {
  std::unique_ptr<ModelFile> file;
  ModelStatus st = open_model_file(path, &file);
  ProbedLayer layer;
  if (st.ok()) st = find_probed_layer(*file, layer_name, &layer);
  if (!st.ok()) {
    *error = st.message;
    return false;
  }
  if (layer.rows != d_h || layer.cols != d_w) {
    *error = path + ": layer '" + layer_name + "' is [" + std::to_string(layer.rows) + ", " +
             std::to_string(layer.cols) + "], expected [" + std::to_string(d_h) + ", " + std::to_string(d_w) + "]";
    return false;
  }
  std::vector<float> x(static_cast<size_t>(d_h) * d_w), scratch;
  st = ProbedRowReader(*file, layer, &scratch).read(0, d_h, x.data());
  if (!st.ok()) {
    *error = st.message;
    return false;
  }
  if (!all_finite(x.data(), x.size())) {
    *error = path + ": layer '" + layer_name + "' holds NaN or Inf";
    return false;
  }
  *sketch = sketch_layer(spec, x.data(), d_h, d_w);
  return true;
}

}  // namespace probex::convert
