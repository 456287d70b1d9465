// Building, reading and summarising a model zoo.
//
// Layout written by build_zoo (the "probex" layout):
//   <zoo>/<tree>/root/model.safetensors
//   <zoo>/<tree>/<split>/<model>/model.safetensors      model = "subset-0007", "detector-0012", ...
//   <zoo>/manifest.jsonl                                  one JSON object per model
// With the Hugging Face cache layout (as Model-J is downloaded), each model folder instead holds
// refs/main (a ref) and snapshots/<ref>/model.safetensors. A zoo of GGUF files (ZooFormat::kGguf) has
// model.gguf in place of model.safetensors, one of TFLite or ONNX files model.tflite or model.onnx, and
// the manifest names those.
//
// Every model file's __metadata__ carries: tree, root, architecture, task, split, dataset_chosen_targets
// (a Python-list literal of class names in head order, as Model-J has), class_indices, head ("fresh"
// or "root"), every fine-tuning hyper-parameter, and the model's own test accuracy on its task
// (test_metric, test_accuracy, test_chance). A GGUF file carries the same entries as strings named
// "probex.<key>" (model_writer.h says what else), its tensors the same names and PyTorch shapes; a TFLite
// file as Model.metadata entries and an ONNX file as metadata_props, each under its own key.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "converter/data/fashion_mnist.h"
#include "converter/io/gguf_writer.h"
#include "converter/io/tflite_writer.h"
#include "converter/zoo/config.h"

namespace probex::convert {

enum class ZooLayout { kProbex, kHuggingFace };
enum class ZooFormat { kSafetensors, kGguf, kTflite, kOnnx };

struct ZooBuildOptions {
  std::string out_dir;
  ZooLayout layout = ZooLayout::kProbex;
  ZooFormat format = ZooFormat::kSafetensors;
  // GGUF only: the type asked for; each tensor is stored as gguf_storage_type says (1-D tensors F32, rows
  // that are not whole blocks of the type in a fallback type, as llama.cpp does).
  GgufType gguf_type = GgufType::kF16;
  // TFLite only: the weights' type (model_writer.h).
  TfliteWeightType tflite_type = TfliteWeightType::kFloat32;
  int threads = 2;
  bool progress = true;
  bool overwrite = false;  // replace an existing zoo at out_dir
};

// One model of a zoo: its file (relative to the zoo folder) and its metadata.
struct ZooModel {
  std::string path;
  std::map<std::string, std::string> metadata;
  const std::string& get(const std::string& key) const;  // "" if absent
};

// Trains the roots and all children and writes the zoo. The zoo is assembled in "<out_dir>.partial"
// and renamed into place only when complete, so an interrupted build never looks like a zoo.
bool build_zoo(const ZooConfig& config, const FashionMnist& data, const ZooBuildOptions& options,
               std::vector<ZooModel>* models, std::string* error);

struct ZooExportOptions {
  std::string out_dir;
  ZooFormat format = ZooFormat::kGguf;  // the copy's files: GGUF, TFLite or ONNX (not safetensors)
  GgufType gguf_type = GgufType::kF16;  // as ZooBuildOptions::gguf_type
  TfliteWeightType tflite_type = TfliteWeightType::kFloat32;  // as ZooBuildOptions::tflite_type
  int threads = 2;
  bool progress = true;
  bool overwrite = false;  // replace an existing folder at out_dir
};

// Writes a copy of the safetensors zoo at `src_dir` (either layout; no retraining) in options.format: every
// model file becomes model.gguf, model.tflite or model.onnx beside where model.safetensors was (the same
// bytes as build_zoo with that format would write for those weights and metadata); a Hugging Face layout
// model gets the ref
// of its new bytes (refs/main and the snapshot folder); manifest.jsonl is copied with only each "path"
// value changed; every other file is copied unchanged. Assembled in "<out_dir>.partial", renamed when
// complete. *models: the exported models (paths relative to out_dir, metadata as read).
bool export_zoo(const std::string& src_dir, const ZooExportOptions& options, std::vector<ZooModel>* models,
                std::string* error);
// The GGUF export's earlier name: export_zoo with options.format as given (kGguf by default).
inline bool export_zoo_gguf(const std::string& src_dir, const ZooExportOptions& options, std::vector<ZooModel>* models,
                            std::string* error) {
  return export_zoo(src_dir, options, models, error);
}

// Reads every model of the zoo at `dir` (either layout, see layout.h) with the strict reader.
bool scan_zoo(const std::string& dir, std::vector<ZooModel>* models, std::string* error);

// A human-readable table: per tree and task, model counts per split and the distribution of the
// children's own test accuracy against chance.
std::string summarize_zoo(const std::vector<ZooModel>& models);

}  // namespace probex::convert
