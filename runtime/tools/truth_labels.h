// probex-audit --truth: the labels a model file's own metadata names (a Python-list literal, as zoos store
// them), to measure the audit against. This is the one part of probex-audit below the public API: the C API
// does not expose a model's metadata, so it reads the file with the library's own readers
// (runtime/formats/model_file.h) and label parser (runtime/formats/python_literal.h).
#pragma once

#include <string>
#include <vector>

namespace probex::tools {

// The labels of metadata `key`; false with *error naming the file and the problem.
bool truth_labels(const std::string& path, const std::string& key, std::vector<std::string>* out, std::string* error);

}  // namespace probex::tools
