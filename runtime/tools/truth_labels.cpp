#include "runtime/tools/truth_labels.h"

#include <memory>

#include "runtime/formats/model_file.h"
#include "runtime/formats/python_literal.h"

namespace probex::tools {

bool truth_labels(const std::string& path, const std::string& key, std::vector<std::string>* out, std::string* error) {
  std::unique_ptr<ModelFile> file;
  const ModelStatus s = open_model_file(path, &file);
  if (!s.ok()) {
    *error = s.message;
    return false;
  }
  const std::string* value = file->metadata_string(key);
  if (!value) {
    *error = path + ": no metadata '" + key + "'";
    return false;
  }
  std::string why;
  if (!parse_python_string_list(*value, out, &why)) {
    *error = path + ": metadata '" + key + "' is " + why;
    return false;
  }
  return true;
}

}  // namespace probex::tools
