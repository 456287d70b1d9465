// probex-train --expert auto: the candidate experts of one tree, their sizes against a byte budget, and the
// choice among those a device can run (docs/mvprobe.md, "Choosing the expert").
//
// A candidate's size is its parameter count x 4 bytes: float32, the largest a bundle stores (f16 and int8
// bundles are smaller). The Dense expert is always listed, for an honest record, but never chosen: the
// device runtime cannot run it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "converter/expert/metrics.h"

namespace probex::convert {

// 64 MiB: a quarter of the runtime's default bundle-size limit (256 MiB, docs/runtime.md), so a bundle of
// four trees' experts fits even at float32. At a 768x768 layer (r = p = 128, r_T = 128, 100 labels) it
// admits ProbeX (8.8 MiB), MVProbe (35.0 MiB) and its second-order views alone (17.5 MiB), and refuses the
// Dense expert (288 MiB) and MVProbe at the authors' r_T = 512 (131 MiB).
constexpr uint64_t kDefaultExpertBudget = uint64_t{64} << 20;

// The candidates' names, in training order.
constexpr const char* kExpertProbex = "probex";
constexpr const char* kExpertMvProbe = "mvprobe";    // MVProbe, its four views
constexpr const char* kExpertMvProbe2 = "mvprobe2";  // MVProbe, the second-order views xxtu, xtxu only
constexpr const char* kExpertDense = "dense";

struct ExpertCandidate {
  std::string expert;      // one of the names above
  std::string views;       // MVProbe candidates: the views computed ("xxtu,xtxu"); else ""
  size_t parameters = 0;   // what a bundle stores for it (an MVProbe with masked views: its live views only)
  uint64_t bytes = 0;      // parameters x 4 (float32)
  bool fits = false;       // bytes <= the budget
  bool runnable = false;   // the device runtime can run it (the Dense expert: no)
  bool trained = false;    // val_bit and test hold its figures (a expert over the budget is not trained)
  double val_bit = 0.0;    // bit accuracy on val of the kept parameters
  MultiLabelMetrics test;  // on the test split
};

struct ExpertChoice {
  uint64_t budget_bytes = 0;
  std::vector<ExpertCandidate> candidates;
  std::string chosen;  // a candidate's expert; "" until choose_expert succeeds
  std::string reason;  // one line, as in the checkpoint's metadata "reader_reason"
};

// Parameters of the Dense expert (train_tree's baseline): inputs -> r_T -> d_Y, with biases.
size_t dense_parameter_count(size_t inputs, size_t r_t, size_t d_y);

// A candidate sized and checked against `budget_bytes` (not trained yet).
ExpertCandidate sized_candidate(const std::string& expert, size_t parameters, bool runnable, uint64_t budget_bytes);

// Before training: true when some runnable candidate fits the budget; else false with an error naming the
// tree, the budget and each candidate's size.
bool some_expert_fits(const ExpertChoice& choice, const std::string& tree, std::string* error);

// After training: chooses, among the trained candidates that fit and are runnable, the best bit accuracy
// on val; a tie goes to fewer bytes, then to the earlier candidate. Sets `chosen` and `reason`. False (with
// the error of some_expert_fits) when there is none.
bool choose_expert(ExpertChoice* choice, const std::string& tree, std::string* error);

// What the record says of a candidate: "chosen", "not chosen (lower val bit accuracy)", "refused by the
// budget", "not runnable on devices".
std::string candidate_status(const ExpertCandidate& c, const std::string& chosen);

// A byte count as given on the command line: digits with an optional suffix K, M or G, powers of 1024
// (also KiB, MiB, GiB; B for plain bytes; case-insensitive): 64M, 512K, 67108864. False for anything else
// (no fractions, no decimal kB/MB), 0, or a value over 2^63.
bool parse_byte_size(const std::string& text, uint64_t* bytes);

// "64 MiB", "35.0 MiB", "812 bytes": binary units, one decimal unless exact.
std::string format_bytes(uint64_t bytes);

}  // namespace probex::convert
