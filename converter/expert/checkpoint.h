// ProbeX expert checkpoints as safetensors with the authors' parameter names, so a state dict saved
// from the authors' PyTorch model (safetensors.torch.save_file(model.state_dict(), ...)) loads the same
// way as ours. Our checkpoints add metadata: tree, layer (name, shape, shaping rule), labels (a
// Python-list literal, in head order), hyper-parameters and metrics.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "converter/expert/mvprobe_expert.h"
#include "converter/expert/probex_expert.h"

namespace probex::convert {

// `extra` holds further parameters saved beside the expert's (the zero-shot text projection).
bool save_probex_checkpoint(const ProbexExpert& expert, const std::map<std::string, std::string>& metadata,
                            const std::string& path, std::string* error, const std::vector<Param*>& extra = {});

// The zero-shot text projection (`regression_head.weight` [r_T, d_text], `.bias` [r_T]) a checkpoint of
// either reader may hold beside its expert.
struct TextProjectionWeights {
  size_t text_dimension = 0;  // 0: none
  std::vector<float> text_weight, text_bias;
};

struct LoadedCheckpoint : TextProjectionWeights {
  std::unique_ptr<ProbexExpert> expert;         // without a head (d_Y = 0) for a zero-shot checkpoint
  std::map<std::string, std::string> metadata;  // empty for a bare authors' state dict
  std::vector<std::string> labels;              // from metadata "labels", else label_0, label_1, ...
};

// Shapes are inferred from the tensors and must agree with each other (r_U, r_V, r_T, d_Y, d_text).
// The classification head may be absent only when the text projection is present (a zero-shot
// expert); then `labels` are the classes it was trained on. Errors name the file and tensor. An MVProbe
// checkpoint (metadata format probex-mvprobe-expert/*, or the authors' MVProbe tensor names) is refused
// with an error saying so (load it with load_mvprobe_checkpoint; probex-convert takes both).
bool load_probex_checkpoint(const std::string& path, LoadedCheckpoint* out, std::string* error);

// MVProbe experts (mvprobe_expert.h): the same file format with the authors' MVProbe names; our checkpoints
// carry metadata format "probex-mvprobe-expert/1" so that no ProbeX reader mistakes them for its own.
constexpr const char* kMvProbeCheckpointFormat = "probex-mvprobe-expert/1";
// `extra` as for save_probex_checkpoint (the zero-shot text projection).
bool save_mvprobe_checkpoint(const MvProbeExpert& expert, const std::map<std::string, std::string>& metadata,
                             const std::string& path, std::string* error, const std::vector<Param*>& extra = {});

struct LoadedMvProbeCheckpoint : TextProjectionWeights {
  std::unique_ptr<MvProbeExpert> expert;        // without a head (d_Y = 0) for a zero-shot checkpoint
  std::map<std::string, std::string> metadata;  // empty for a bare authors' state dict
  std::vector<std::string> labels;              // from metadata "labels", else label_0, label_1, ...
};
// Shapes are inferred from the tensors and must agree. As for ProbeX, the head may be absent only when the
// text projection is present (a zero-shot expert, probex-train --task detector --expert mvprobe).
// Metadata "views" (save_mvprobe_checkpoint's callers write it, e.g. "xxtu,xtxu") sets the expert's view
// mask; without it every view is computed (an authors' state dict).
bool load_mvprobe_checkpoint(const std::string& path, LoadedMvProbeCheckpoint* out, std::string* error);

// True when the file at `path` is an MVProbe checkpoint (by metadata format or tensor names); false when it
// is not or cannot be read.
bool is_mvprobe_checkpoint(const std::string& path);

}  // namespace probex::convert
