// Label spaces and multi-hot targets for expert training.
#pragma once

#include <string>
#include <vector>

namespace probex::convert {

// The sorted union of all names: a deterministic label order for an expert.
std::vector<std::string> label_space(const std::vector<std::vector<std::string>>& per_model);

// A multi-hot row for `names` over `space`; false (with *error naming the label) if a name is not in
// the space.
bool multi_hot(const std::vector<std::string>& names, const std::vector<std::string>& space, float* row,
               std::string* error);

}  // namespace probex::convert
