#include "budget_check.h"

#include <algorithm>
#include <utility>

namespace probex::convert {

bool BudgetCheck::within() const {
  return std::all_of(trees.begin(), trees.end(), [](const TreeBudgetCheck& t) { return t.within; }) &&
         std::all_of(zero_shot.begin(), zero_shot.end(), [](const ZeroShotBudgetCheck& z) { return z.within; });
}

bool check_quant_budget(std::vector<BundleTree>* trees, const BudgetReference& reference, const QuantBudget& budget,
                        const std::string& producer, const SketchSpec& router, std::vector<uint8_t>* bytes,
                        BudgetCheck* out, std::string* error) {
  const auto build = [&] { return build_bundle(*trees, producer, bytes, error, router); };
  if (!build()) return false;
  BudgetCheck result;
  result.trees.resize(trees->size());
  result.zero_shot.resize(trees->size());
  for (size_t i = 0; i < trees->size(); ++i) {
    TreeBudgetCheck& r = result.trees[i];
    const auto check = [&] {
      return compare_with_runtime(*bytes, i, *reference.floats[i], (*reference.held_out)[i].data,
                                  &r.comparison, error);
    };
    if (!check()) return false;
    if (!within_budget(r.comparison, budget) && (*trees)[i].probe_output_ratio > 0.0f) {
      r.int8_step1 = r.comparison;
      r.fell_back = true;
      (*trees)[i].probe_output_ratio = 0.0f;
      if (!build() || !check()) return false;
    }
    r.within = within_budget(r.comparison, budget);
  }
  // Zero-shot experts after every classifier: a zero-shot fallback changes only the zero-shot part of the
  // rebuilt bundle, so the classifiers' comparisons above still hold for it.
  for (size_t i = 0; i < trees->size(); ++i) {
    const ZeroShotFloat zs = i < reference.zero_shot.size() ? reference.zero_shot[i] : ZeroShotFloat();
    if (zs.model == nullptr) continue;
    ZeroShotBudgetCheck& r = result.zero_shot[i];
    BundleTree& t = (*trees)[i];
    const auto check = [&] {
      return zero_shot_agreement(*bytes, i, zs, t, *reference.files, *reference.table, &r.seen, &r.unseen, error);
    };
    r.checked = true;
    if (!check()) return false;
    if (!within_zero_shot_budget(r.seen, r.unseen, budget) && t.zero_shot->probe_output_ratio > 0.0f) {
      r.fell_back = true;
      t.zero_shot->probe_output_ratio = 0.0f;
      if (!build() || !check()) return false;
    }
    r.within = within_zero_shot_budget(r.seen, r.unseen, budget);
  }
  *out = std::move(result);
  return true;
}

}  // namespace probex::convert
