#include "converter/expert/checkpoint.h"

#include <algorithm>

#include "converter/expert/labels.h"
#include "converter/io/safetensors_writer.h"
#include "runtime/formats/python_literal.h"
#include "runtime/formats/safetensors.h"

namespace probex::convert {
namespace {

bool looks_like_mvprobe(const SafetensorsFile& file) {
  const std::string* format = file.metadata_value("format");
  if (format != nullptr && format->rfind("probex-mvprobe-expert/", 0) == 0) return true;
  return file.find("probes_xu.weight") != nullptr || file.find("concat_all4_encoder.weight") != nullptr;
}

bool read_labels(const std::string& path, const std::map<std::string, std::string>& metadata, size_t d_y,
                 std::vector<std::string>* labels, std::string* error) {
  labels->clear();
  auto it = metadata.find("labels");
  if (it == metadata.end()) {
    for (size_t i = 0; i < d_y; ++i) labels->push_back("label_" + std::to_string(i));
    return true;
  }
  std::string why;
  if (!parse_python_string_list(it->second, labels, &why)) {
    *error = path + ": metadata 'labels' is " + why;
    return false;
  }
  if (d_y > 0 && labels->size() != d_y) {  // d_Y = 0, a zero-shot expert: its training classes, any number
    *error = path + ": metadata names " + std::to_string(labels->size()) + " labels for a head of " +
             std::to_string(d_y);
    return false;
  }
  return true;
}

// The zero-shot text projection, if the file has one: regression_head.weight [r_T, d_text] and .bias [r_T].
bool read_text_projection(const SafetensorsFile& file, const std::string& path, size_t r_t, TextProjectionWeights* out,
                          std::string* error) {
  *out = TextProjectionWeights();
  const TensorInfo* text_w = file.find("regression_head.weight");
  const TensorInfo* text_b = file.find("regression_head.bias");
  if (text_w == nullptr) return true;
  if (text_b == nullptr || text_w->shape.size() != 2 || text_b->shape.size() != 1 ||
      !dtype_converts_to_f32(text_w->dtype) || !dtype_converts_to_f32(text_b->dtype) || text_w->shape[0] != r_t ||
      text_b->shape[0] != r_t || text_w->shape[1] == 0) {
    *error = path + ": regression_head.weight must be [r_T = " + std::to_string(r_t) +
             ", d_text] with regression_head.bias [r_T], both float";
    return false;
  }
  out->text_dimension = static_cast<size_t>(text_w->shape[1]);
  out->text_weight.resize(static_cast<size_t>(text_w->element_count));
  out->text_bias.resize(r_t);
  SafetensorsStatus read = file.read_f32(*text_w, 0, text_w->element_count, out->text_weight.data());
  if (read.ok()) read = file.read_f32(*text_b, 0, text_b->element_count, out->text_bias.data());
  if (!read.ok()) {
    *error = read.message;
    return false;
  }
  return true;
}

bool write_checkpoint(std::vector<const Param*> params, const std::vector<Param*>& extra,
                      const std::map<std::string, std::string>& metadata, const char* format, const std::string& path,
                      std::string* error) {
  SafetensorsWriter writer;
  params.insert(params.end(), extra.begin(), extra.end());
  for (const Param* p : params) {
    if (!writer.add_f32(p->name, Dtype::kF32, p->shape, p->value.data(), error)) return false;
  }
  for (const auto& [k, v] : metadata) writer.set_metadata(k, v);
  if (format != nullptr) writer.set_metadata("format", format);
  return writer.write_file(path, error);
}

}  // namespace

bool save_probex_checkpoint(const ProbexExpert& expert, const std::map<std::string, std::string>& metadata,
                            const std::string& path, std::string* error, const std::vector<Param*>& extra) {
  return write_checkpoint(expert.const_params(), extra, metadata, nullptr, path, error);
}

namespace {

// The named tensors of an expert's checkpoint (names[i] of rank ranks[i], a float dtype) into t[i]; the
// head's (names[head_first..]) are skipped, left nullptr, when `has_head` is false.
bool find_expert_tensors(const SafetensorsFile& file, const std::string& path, const char* const* names,
                         const size_t* ranks, size_t count, size_t head_first, bool has_head, const TensorInfo** t,
                         std::string* error) {
  for (size_t i = 0; i < count; ++i) {
    t[i] = nullptr;
    if (i >= head_first && !has_head) continue;
    const SafetensorsStatus found = file.require(names[i], &t[i]);
    if (!found.ok()) {
      *error = found.message;
      return false;
    }
    if (t[i]->shape.size() != ranks[i] || !dtype_converts_to_f32(t[i]->dtype)) {
      *error = path + ": tensor '" + names[i] + "' must be a " + std::to_string(ranks[i]) + "-D float tensor";
      return false;
    }
  }
  return true;
}

// Each found tensor into the expert's parameter of its name, whose shape (made from the others) it must have.
bool copy_expert_tensors(const SafetensorsFile& file, const std::string& path, const char* const* names,
                         const TensorInfo* const* t, size_t count, MultiLabelModel* expert, std::string* error) {
  const std::vector<Param*> params = expert->params();
  for (size_t i = 0; i < count; ++i) {
    if (t[i] == nullptr) continue;
    const auto p = std::find_if(params.begin(), params.end(), [&](const Param* q) { return q->name == names[i]; });
    if (p == params.end() || t[i]->shape != (*p)->shape) {
      std::string want, got;
      if (p != params.end())
        for (uint64_t d : (*p)->shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      for (uint64_t d : t[i]->shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      *error = path + ": tensor shapes disagree: '" + names[i] + "' is [" + got + "], the other tensors make it [" +
               want + "]";
      return false;
    }
    const SafetensorsStatus read = file.read_f32(*t[i], 0, t[i]->element_count, (*p)->value.data());
    if (!read.ok()) {
      *error = read.message;
      return false;
    }
  }
  return true;
}

}  // namespace

bool load_probex_checkpoint(const std::string& path, LoadedCheckpoint* out, std::string* error) {
  SafetensorsFile file;
  const SafetensorsStatus st = SafetensorsFile::open(path, &file);
  if (!st.ok()) {
    *error = st.message;
    return false;
  }
  if (looks_like_mvprobe(file)) {
    *error = path + ": an MVProbe expert checkpoint (probex-train --expert mvprobe), not a ProbeX one: probex-convert "
                    "makes bundles of both, but ONNX export takes ProbeX checkpoints only";
    return false;
  }
  const char* names[] = {"probes.weight",           "shared_probe_proj.weight",   "per_probe_encoders.weight",
                         "per_probe_encoders.bias", "classification_head.weight", "classification_head.bias"};
  const size_t ranks[] = {2, 2, 2, 1, 2, 1};
  const TensorInfo* t[6];
  // A zero-shot expert has the text projection and no head.
  const bool has_head = file.find(names[4]) != nullptr || file.find(names[5]) != nullptr ||
                        file.find("regression_head.weight") == nullptr;
  if (!find_expert_tensors(file, path, names, ranks, 6, 4, has_head, t, error)) return false;
  ProbexShape s;
  s.d_w = t[0]->shape[0];
  s.r_u = t[0]->shape[1];
  s.r_v = t[1]->shape[0];
  s.d_h = t[1]->shape[1];
  s.r_t = t[2]->shape[0];
  s.d_y = has_head ? t[4]->shape[0] : 0;
  const bool head_ok = !has_head || (t[4]->shape[1] == s.r_t && t[5]->shape[0] == s.d_y && s.d_y);
  const bool consistent = t[2]->shape[1] == s.r_u * s.r_v && t[3]->shape[0] == s.r_t && head_ok && s.d_w && s.r_u &&
                          s.r_v && s.d_h && s.r_t;
  if (!consistent) {
    std::string shapes = "probes [" + std::to_string(s.d_w) + ", " + std::to_string(s.r_u) + "], shared_probe_proj [" +
                         std::to_string(s.r_v) + ", " + std::to_string(s.d_h) + "], per_probe_encoders [" +
                         std::to_string(t[2]->shape[0]) + ", " + std::to_string(t[2]->shape[1]) + "]";
    if (has_head) {
      shapes += ", classification_head [" + std::to_string(t[4]->shape[0]) + ", " + std::to_string(t[4]->shape[1]) +
                "]";
    }
    *error = path + ": tensor shapes disagree (" + shapes + ")";
    return false;
  }
  if (!read_text_projection(file, path, s.r_t, out, error)) return false;
  auto expert = std::make_unique<ProbexExpert>(s);
  if (!copy_expert_tensors(file, path, names, t, 6, expert.get(), error)) return false;
  out->metadata.clear();
  for (const auto& [k, v] : file.metadata()) out->metadata[k] = v;
  if (!read_labels(path, out->metadata, s.d_y, &out->labels, error)) return false;
  out->expert = std::move(expert);
  return true;
}

bool save_mvprobe_checkpoint(const MvProbeExpert& expert, const std::map<std::string, std::string>& metadata,
                             const std::string& path, std::string* error, const std::vector<Param*>& extra) {
  return write_checkpoint(expert.const_params(), extra, metadata, kMvProbeCheckpointFormat, path, error);
}

bool is_mvprobe_checkpoint(const std::string& path) {
  SafetensorsFile file;
  return SafetensorsFile::open(path, &file).ok() && looks_like_mvprobe(file);
}

bool load_mvprobe_checkpoint(const std::string& path, LoadedMvProbeCheckpoint* out, std::string* error) {
  SafetensorsFile file;
  const SafetensorsStatus st = SafetensorsFile::open(path, &file);
  if (!st.ok()) {
    *error = st.message;
    return false;
  }
  const char* names[] = {"probes_xu.weight",
                         "probes_xxtu.weight",
                         "probes_xtu.weight",
                         "probes_xtxu.weight",
                         "shared_probe_proj_row.weight",
                         "shared_probe_proj_row2.weight",
                         "shared_probe_proj_col.weight",
                         "shared_probe_proj_col2.weight",
                         "concat_all4_encoder.weight",
                         "concat_all4_encoder.bias",
                         "classification_head.weight",
                         "classification_head.bias"};
  const TensorInfo* t[12];
  // A zero-shot expert has the text projection and no head.
  const bool has_head = file.find(names[10]) != nullptr || file.find(names[11]) != nullptr ||
                        file.find("regression_head.weight") == nullptr;
  const size_t ranks[] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 2, 1};
  if (!find_expert_tensors(file, path, names, ranks, 12, 10, has_head, t, error)) return false;
  MvProbeShape s;
  s.d_w = t[0]->shape[0];
  s.r = t[0]->shape[1];
  s.d_h = t[1]->shape[0];
  s.p = t[4]->shape[0];
  s.r_t = t[8]->shape[0];
  s.d_y = has_head ? t[10]->shape[0] : 0;
  if (s.d_w == 0 || s.d_h == 0 || s.r == 0 || s.p == 0 || s.r_t == 0 || (has_head && s.d_y == 0)) {
    *error = path + ": a tensor has a zero dimension";
    return false;
  }
  out->metadata.clear();
  for (const auto& [k, v] : file.metadata()) out->metadata[k] = v;
  // A checkpoint trained with masked views (--mv-views, --expert auto's mvprobe2) names them; its masked
  // views' tensors are stored but were never trained, and must stay masked. No "views": all four.
  if (const std::string* views = file.metadata_value("views");
      views != nullptr && !parse_mvprobe_views(*views, &s.views)) {
    *error = path + ": metadata 'views' is '" + *views + "', not a list of xu, xxtu, xtu, xtxu";
    return false;
  }
  if (!read_text_projection(file, path, s.r_t, out, error)) return false;
  auto expert = std::make_unique<MvProbeExpert>(s);
  if (!copy_expert_tensors(file, path, names, t, 12, expert.get(), error)) return false;
  if (!read_labels(path, out->metadata, s.d_y, &out->labels, error)) return false;
  out->expert = std::move(expert);
  return true;
}

}  // namespace probex::convert
