// Python-list literals of strings, as Model-J stores class names in `dataset_chosen_targets`
// (e.g. "['Bag', 'Coat']"). Parsed as data, never evaluated.
#pragma once

#include <string>
#include <vector>

namespace probex {

// Python-list literal of strings, e.g. ['Bag', 'Coat'] (quotes and backslashes escaped).
std::string python_list_literal(const std::vector<std::string>& items);

// Parses a Python list of string literals: ['a', "b", 'it\'s'] (single or double quotes, escapes
// \\ \' \" \n \t \r \xNN \uNNNN, optional trailing comma). Returns false with *error saying what is
// wrong and where (offset) for anything else, including non-string items.
bool parse_python_string_list(const std::string& text, std::vector<std::string>* out, std::string* error);

}  // namespace probex
