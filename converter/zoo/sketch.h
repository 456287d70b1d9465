// One model's probed layer as the router sees it: the sketch of runtime/math/layer_sketch.h, read from a
// model file. The router (bundle/router.h) sketches roots and calibration models with it; tree discovery
// (zoo/discover.h) clusters the same sketches, so what it groups is what the router would tell apart.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/math/layer_sketch.h"

namespace probex::convert {

// The router's sketch unless told otherwise (probex-convert --sketch): 64x16 floats, 4 KB per tree.
inline constexpr SketchSpec kDefaultSketch{0x70be5ull, 64, 16};

// The sketch of one model's probed layer; the layer must read as [d_h, d_w] and hold finite values.
bool sketch_model(const std::string& path, const std::string& layer, uint32_t d_h, uint32_t d_w, const SketchSpec& spec,
                  std::vector<float>* sketch, std::string* error);

}  // namespace probex::convert
