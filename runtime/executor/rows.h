// Where an audit's rows come from: a model file (through its format's reader and the layer's shaping
// rule), a matrix in the caller's memory, or a self-test's generator. The executor reads each row block
// once (executor/auditor.cpp) and hands it to every consumer of the pass.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "probex/probex.h"
#include "runtime/formats/model_file.h"
#include "runtime/formats/probed_layer.h"
#include "runtime/math/self_test_input.h"

namespace probex {

// The C API status of a model-file error.
probex_status status_of(ModelError e);

// Fills rows [first, first + count) of X (count * d_w floats). Passes read blocks in order from row 0.
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual probex_status read(uint32_t first, uint32_t count, float* out, std::string* message) = 0;
};

class FileRows final : public RowSource {
 public:
  // storage: a LoRA layer's down matrix, reused across audits.
  FileRows(const ModelFile& file, const ProbedLayer& layer, std::vector<float>* storage)
      : reader_(file, layer, storage) {}
  probex_status read(uint32_t first, uint32_t count, float* out, std::string* message) override;

 private:
  ProbedRowReader reader_;
};

class MatrixRows final : public RowSource {
 public:
  MatrixRows(const float* x, uint32_t cols) : x_(x), cols_(cols) {}
  probex_status read(uint32_t first, uint32_t count, float* out, std::string* message) override;

 private:
  const float* x_;
  uint32_t cols_;
};

// A self-test's layer: the generator's values in row order, restarted when a pass starts at row 0.
class GeneratedRows final : public RowSource {
 public:
  GeneratedRows(uint64_t seed, float amplitude, uint32_t cols)
      : seed_(seed), amplitude_(amplitude), input_(seed, amplitude), cols_(cols) {}
  probex_status read(uint32_t first, uint32_t count, float* out, std::string* message) override;

 private:
  uint64_t seed_;
  float amplitude_;
  SelfTestInput input_;
  uint32_t cols_;
};

}  // namespace probex
