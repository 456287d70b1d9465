// probex-convert --report: what each storage type costs and saves, as one HTML page (report/html.h):
// the bundle size and, per tree, how far the runtime's outputs on the zoo's held-out layers are from the
// float expert's (label flips, largest probability change, smallest embedding cosine), the quantities
// of probex-convert's budget check.
#pragma once

#include <string>
#include <vector>

#include "converter/bundle/bundle_writer.h"
#include "converter/bundle/quantize.h"
#include "converter/expert/checkpoint.h"
#include "converter/expert/layer_dataset.h"
#include "converter/report/html.h"

namespace probex::convert::report {

struct QuantCost {
  std::string quant;  // quant_spec_name
  size_t bundle_bytes = 0;
  std::vector<std::string> trees;
  std::vector<QuantComparison> comparisons;  // per tree, runtime vs float on the held-out layers
};

// For each spec, the classification experts as one bundle of that storage (int8 probes calibrated on the
// held-out layers, as probex-convert does; no self-tests, router or zero-shot experts, which do not
// change with --quant except in size) and the runtime's difference from the float experts.
bool measure_quantizations(std::vector<LoadedCheckpoint>& floats, const std::vector<std::string>& paths,
                           const std::vector<LoadedSplit>& held_out, const std::vector<QuantSpec>& specs,
                           std::vector<QuantCost>* out, std::string* error);

std::string quantization_report_html(const Facts& facts, const std::vector<QuantCost>& costs);

// What probex-convert calls: f32, f16, int8 and int8-b32 measured, the page written to DIR/index.html.
bool write_quantization_report(const std::string& dir, const std::string& zoo, const std::string& split,
                               std::vector<LoadedCheckpoint>& floats, const std::vector<std::string>& paths,
                               const std::vector<LoadedSplit>& held_out, std::string* error);

}  // namespace probex::convert::report
