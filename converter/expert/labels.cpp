#include "converter/expert/labels.h"

#include <algorithm>
#include <set>

namespace probex::convert {
std::vector<std::string> label_space(const std::vector<std::vector<std::string>>& per_model) {
  std::set<std::string> all;
  for (const auto& names : per_model) all.insert(names.begin(), names.end());
  return {all.begin(), all.end()};
}

bool multi_hot(const std::vector<std::string>& names, const std::vector<std::string>& space, float* row,
               std::string* error) {
  std::fill(row, row + space.size(), 0.0f);
  for (const std::string& n : names) {
    auto it = std::lower_bound(space.begin(), space.end(), n);
    if (it == space.end() || *it != n) {
      *error = "label '" + n + "' is not in the expert's label space";
      return false;
    }
    row[it - space.begin()] = 1.0f;
  }
  return true;
}

}  // namespace probex::convert
