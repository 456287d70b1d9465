// Finding the probed layer in a model file and reading it as the matrix X [d_H, d_W] that the ProbeX
// expert takes, by the authors' shaping rules (docs/method.md section 2):
//   2-D [o, i]              X = the tensor as stored, [o, i]
//   4-D [o, i, 1, 1]        squeezed to [o, i]
//   4-D [o, i, kh, kw]      the flat data reshaped row-major to [i*kh*kw, o] (a raw reshape, no transpose)
//   1-D [d]                 [d, 1]
//   LoRA pair               X = B A with B = up [out, r], A = down [r, in] (no alpha/rank scaling)
// A LoRA pair is found by the layer name plus ".lora_up.weight"/".lora_down.weight" (kohya/diffusers)
// or ".lora_B.weight"/".lora_A.weight" (PEFT; a PEFT adapter file prefixes them with "base_model.model.").
// X is read by row blocks, so it never has to be whole. Any model file format works (model_file.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/formats/model_file.h"

namespace probex {

enum class LayerRule { kMatrix, kConv1x1, kConvReshape, kVector, kLoraProduct };
const char* layer_rule_name(LayerRule rule);  // "matrix", "conv1x1", "conv_reshape", "vector", "lora"

struct ProbedLayer {
  LayerRule rule = LayerRule::kMatrix;
  const ModelTensor* tensor = nullptr;     // the weight, or the LoRA up (B) tensor
  const ModelTensor* lora_down = nullptr;  // the LoRA down (A) tensor
  uint64_t rows = 0;                       // d_H
  uint64_t cols = 0;                       // d_W
};

// A LoRA layer's down matrix [rank, cols] is held in memory while its rows are read, so its rank is
// bounded (real LoRAs use 4-256).
constexpr uint64_t kDefaultMaxLoraRank = 1024;

// Resolves `name` in `file` by the rules above. Errors: kTensorNotFound (neither the tensor nor a LoRA
// pair), kUnsupportedConversion (not a float dtype), kLayerShape (a shape no rule covers, or a LoRA pair
// whose ranks disagree), kLimitExceeded (a LoRA rank above max_lora_rank).
ModelStatus find_probed_layer(const ModelFile& file, std::string_view name, ProbedLayer* out,
                              uint64_t max_lora_rank = kDefaultMaxLoraRank);

// Reads rows of X from one file. A LoRA layer's down matrix is read on first use and kept while the
// reader lives. `storage` may be reused by the next reader (so same-sized layers do not reallocate): the
// constructor clears it, so no reader can see another file's matrix.
class ProbedRowReader {
 public:
  ProbedRowReader(const ModelFile& file, const ProbedLayer& layer, std::vector<float>* storage)
      : file_(file), layer_(layer), storage_(storage) {
    storage_->clear();
  }
  // Writes rows [first, first + count) of X (count * cols floats) into `out`.
  ModelStatus read(uint64_t first, uint64_t count, float* out);

 private:
  const ModelFile& file_;
  const ProbedLayer& layer_;
  std::vector<float>* storage_;  // LoRA: the down matrix [rank, cols], then one up row [rank]
};

}  // namespace probex
