// Where the models of a zoo are. The folder structure decides tree, split and model, so zoos without
// probex metadata (such as Model-J) list the same way:
//   <zoo>/<tree>/<split>/<model>/model.safetensors                              (probex)
//   <zoo>/<tree>/<split>/<model>/refs/main + snapshots/<ref>/model.safetensors  (Hugging Face cache)
//   <zoo>/<tree>/root/... holds the tree's root (split and model "root").
// A model file is model.safetensors, or in a folder without one the first of model.gguf, model.tflite,
// model.onnx there (a zoo written as GGUF, TFLite or ONNX: probex-zoo --format or --export).
#pragma once

#include <string>
#include <vector>

namespace probex::convert {

struct ZooFile {
  std::string path;  // the model.safetensors (or model.gguf, .tflite, .onnx) file
  std::string tree, split, model;
};

// Lists the models of a zoo in either layout, sorted by (tree, split, model). For the Hugging Face
// layout, refs/main decides the snapshot (a ref must be a plain name: no '/' or "..").
bool list_zoo_files(const std::string& zoo_dir, std::vector<ZooFile>* out, std::string* error);

// The trees of a zoo listing, sorted.
std::vector<std::string> zoo_trees(const std::vector<ZooFile>& files);

}  // namespace probex::convert
