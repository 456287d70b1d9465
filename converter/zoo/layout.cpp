#include "converter/zoo/layout.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

namespace fs = std::filesystem;

namespace probex::convert {
namespace {

// The model file of a folder: model.safetensors, else the first of model.gguf, model.tflite, model.onnx
// that exists.
fs::path model_file_in(const fs::path& dir) {
  const fs::path safetensors = dir / "model.safetensors";
  if (fs::exists(safetensors)) return safetensors;
  for (const char* name : {"model.gguf", "model.tflite", "model.onnx"}) {
    if (fs::exists(dir / name)) return dir / name;
  }
  return safetensors;
}

}  // namespace

bool list_zoo_files(const std::string& zoo_dir, std::vector<ZooFile>* out, std::string* error) {
  std::error_code ec;
  if (!fs::is_directory(zoo_dir, ec)) {
    *error = zoo_dir + ": not a folder";
    return false;
  }
  out->clear();
  for (const auto& tree : fs::directory_iterator(zoo_dir, ec)) {
    if (!tree.is_directory()) continue;
    for (const auto& split : fs::directory_iterator(tree.path(), ec)) {
      if (!split.is_directory()) continue;
      const bool root = split.path().filename() == "root";
      // A root folder is itself the model folder; a split folder holds model folders.
      std::vector<fs::path> model_dirs;
      if (root) {
        model_dirs.push_back(split.path());
      } else {
        for (const auto& m : fs::directory_iterator(split.path(), ec)) {
          if (m.is_directory()) model_dirs.push_back(m.path());
        }
      }
      for (const fs::path& dir : model_dirs) {
        fs::path file = model_file_in(dir);
        if (!fs::exists(file) && fs::exists(dir / "refs" / "main")) {
          std::ifstream ref_file(dir / "refs" / "main");
          std::string ref;
          std::getline(ref_file, ref);
          while (!ref.empty() && (ref.back() == '\r' || ref.back() == ' ')) ref.pop_back();
          if (ref.empty() || ref.find('/') != std::string::npos || ref.find("..") != std::string::npos) {
            *error = (dir / "refs" / "main").string() + ": not a valid ref '" + ref + "'";
            return false;
          }
          file = model_file_in(dir / "snapshots" / ref);
        }
        if (!fs::exists(file)) continue;
        out->push_back({file.string(), tree.path().filename().string(),
                        root ? "root" : split.path().filename().string(), root ? "root" : dir.filename().string()});
      }
    }
  }
  if (ec) {
    *error = zoo_dir + ": cannot list: " + ec.message();
    return false;
  }
  std::sort(out->begin(), out->end(), [](const ZooFile& a, const ZooFile& b) {
    return std::tie(a.tree, a.split, a.model) < std::tie(b.tree, b.split, b.model);
  });
  return true;
}

std::vector<std::string> zoo_trees(const std::vector<ZooFile>& files) {
  std::set<std::string> trees;
  for (const ZooFile& f : files) trees.insert(f.tree);
  return {trees.begin(), trees.end()};
}

}  // namespace probex::convert
