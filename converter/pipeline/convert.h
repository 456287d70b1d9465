// The conversion pipeline of probex-convert: trainer checkpoints -> one bundle's bytes. It pairs each tree's
// classification checkpoint with its zero-shot one, quantizes, calibrates int8 step 1 and the router on the
// zoo, checks the quantized experts against the float ones within the budget (trying finer types for the
// trees over it), sets the self-tests' tolerances from this machine's own difference, and signs. The CLI
// parses arguments, prints the report's texts and writes the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "converter/bundle/budget_check.h"
#include "converter/bundle/bundle_writer.h"
#include "converter/bundle/router.h"
#include "converter/zoo/layout.h"

namespace probex::convert {

struct ConvertOptions {
  std::vector<std::string> checkpoints;  // classification ones make the trees, in order; zero-shot ones join theirs
  std::string zoo;                       // "" = no budget check, no router, no int8 calibration
  std::string split = "test";            // the zoo's held-out split the budget is checked on
  QuantSpec spec;
  QuantBudget budget;
  bool quant_fallback = false;  // write the finer type that passes for a tree over budget
  size_t self_tests = 3;
  bool router = true;  // with a zoo: fit the router
  SketchSpec sketch = kDefaultSketch;
  std::string report_dir;                 // the quantization report (ProbeX experts only; needs the zoo)
  std::string text_table, text_names;     // the label texts' embeddings, for zero-shot checkpoints
  std::vector<std::string> extra_labels;  // further zero-shot label texts
  std::string sign_key;                   // "" = unsigned
  std::string producer;                   // the bundle's producer string
};

enum class ConvertOutcome {
  kWritten,     // report.bytes is the bundle
  kOverBudget,  // no bundle: report.over_budget says why and what passes
  kBadRequest,  // the options contradict the checkpoints (error names it; the CLI's exit code 2)
  kFailed,      // a file could not be read or a step failed (error)
};

struct ConvertReport {
  std::vector<BundleTree> trees;
  std::vector<ZooFile> files;  // the zoo's models (for the routing report)
  bool with_router = false;
  std::vector<TreeCalibration> calibration;  // the router's, per tree
  BudgetCheck budget_check;                  // empty without a zoo
  std::vector<FinerTypes> finer;             // the trees over budget and the finer types tried
  std::vector<std::string> tree_types;       // each tree's storage type as written
  std::string over_budget;                   // kOverBudget: the refusal
  double worst_self_test = 0;                // this machine's worst self-test difference
  float int8_tolerance = 0;                  // the self-tests' tolerance for int8 step 1
  std::vector<uint8_t> bytes;                // the bundle (signed if sign_key)
  size_t unsigned_size = 0;
};

ConvertOutcome convert_bundle(const ConvertOptions& options, ConvertReport* report, std::string* error);

// The report as probex-convert prints it: the router's calibration, each tree's budget check (and the
// finer types tried), and, once written, the self-tests' tolerance and the table of tensors.
std::string router_text(const ConvertOptions& options, const ConvertReport& report);
std::string budget_text(const ConvertOptions& options, const ConvertReport& report, bool quiet);
std::string written_text(const ConvertOptions& options, const ConvertReport& report, const std::string& out);

// --add-labels: label texts appended to the zero-shot trees of a bundle (or only to `only_tree`), which is
// read back, rebuilt, self-tested and signed anew. Self-tests keep their zero-shot scores for the labels
// they had; new prototypes are checked by their unit norm.
struct AddLabelsReport {
  std::vector<std::string> lines;     // per tree: its label count
  std::vector<std::string> warnings;  // a tree whose labels were embedded with another table
  double worst_self_test = 0;
  std::vector<uint8_t> bytes;
};
bool add_labels_to_bundle(const std::string& bundle, const std::string& only_tree, const std::string& text_table,
                          const std::string& text_names, const std::vector<std::string>& labels,
                          const std::string& sign_key, const std::string& producer, AddLabelsReport* report,
                          std::string* error);

}  // namespace probex::convert
