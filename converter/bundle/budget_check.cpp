#include "converter/bundle/budget_check.h"

#include <algorithm>
#include <utility>

namespace probex::convert {

namespace {

// Checks trees `which` of the bundle *bytes (built from *trees) into out->trees[i] and out->zero_shot[i],
// falling back to a float step 1 where an int8 one is over budget (rebuilding *bytes).
bool check_trees(std::vector<BundleTree>* trees, const std::vector<size_t>& which, const BudgetReference& reference,
                 const QuantBudget& budget, const std::string& producer, const SketchSpec& router,
                 std::vector<uint8_t>* bytes, BudgetCheck* out, std::string* error) {
  const auto build = [&] { return build_bundle(*trees, producer, bytes, error, router); };
  for (const size_t i : which) {
    TreeBudgetCheck& r = out->trees[i];
    const auto check = [&] {
      return compare_with_runtime(*bytes, i, *reference.floats[i], (*reference.held_out)[i].data, &r.comparison, error);
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
  for (const size_t i : which) {
    const ZeroShotFloat zs = i < reference.zero_shot.size() ? reference.zero_shot[i] : ZeroShotFloat();
    if (zs.model == nullptr) continue;
    ZeroShotBudgetCheck& r = out->zero_shot[i];
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
  return true;
}

BudgetCheck sized_check(size_t trees) {
  BudgetCheck c;
  c.trees.resize(trees);
  c.zero_shot.resize(trees);
  return c;
}

}  // namespace

bool BudgetCheck::within() const {
  return std::all_of(trees.begin(), trees.end(), [](const TreeBudgetCheck& t) { return t.within; }) &&
         std::all_of(zero_shot.begin(), zero_shot.end(), [](const ZeroShotBudgetCheck& z) { return z.within; });
}

bool check_quant_budget(std::vector<BundleTree>* trees, const BudgetReference& reference, const QuantBudget& budget,
                        const std::string& producer, const SketchSpec& router, std::vector<uint8_t>* bytes,
                        BudgetCheck* out, std::string* error) {
  if (!build_bundle(*trees, producer, bytes, error, router)) return false;
  BudgetCheck result = sized_check(trees->size());
  std::vector<size_t> all(trees->size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  if (!check_trees(trees, all, reference, budget, producer, router, bytes, &result, error)) return false;
  *out = std::move(result);
  return true;
}

bool find_finer_types(std::vector<BundleTree>* trees, const BudgetReference& reference, const QuantBudget& budget,
                      const std::string& producer, const SketchSpec& router, const QuantSpec& spec,
                      const MakeTree& make, bool fallback, std::vector<uint8_t>* bytes, BudgetCheck* check,
                      std::vector<FinerTypes>* out, std::string* error) {
  std::vector<FinerTypes> result;
  for (size_t i = 0; i < trees->size(); ++i) {
    if (check->trees[i].within && check->zero_shot[i].within) continue;
    FinerTypes f;
    f.tree = i;
    for (QuantSpec s = spec; !f.passing() && finer_quant_spec(s, &s);) {
      BundleTree candidate;
      if (!make(i, s, &candidate, error)) return false;
      // The router's fields come from the zoo's models, not from the expert's weights.
      candidate.root_sketch = (*trees)[i].root_sketch;
      candidate.accept_distance = (*trees)[i].accept_distance;
      std::swap((*trees)[i], candidate);
      // A tree's outputs depend only on its own part of the bundle: the others need no new check.
      BudgetCheck c = sized_check(trees->size());
      if (!build_bundle(*trees, producer, bytes, error, router) ||
          !check_trees(trees, {i}, reference, budget, producer, router, bytes, &c, error))
        return false;
      f.tried.push_back({s, c.trees[i], c.zero_shot[i]});
      if (fallback && f.passing()) {
        check->trees[i] = c.trees[i];
        check->zero_shot[i] = c.zero_shot[i];
        f.applied = true;
      } else {
        std::swap((*trees)[i], candidate);
      }
    }
    result.push_back(std::move(f));
  }
  if (!result.empty() && !build_bundle(*trees, producer, bytes, error, router)) return false;
  *out = std::move(result);
  return true;
}

}  // namespace probex::convert
