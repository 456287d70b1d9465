// Folder formats behind open_model_file (model_file.h): Hugging Face sharded safetensors checkpoints and
// PEFT LoRA adapters. Their JSON (the index, the adapter config) is parsed from a buffer by the functions
// here, so it can be fuzzed and tested without a file system; open_sharded_model and open_peft_adapter
// (model_formats.h) add the files. Rules, strictness choices and error details: docs/formats.md.
//
// Trust boundary: the JSON and every name in it are hostile. Shard file names are refused when absolute,
// empty, holding NUL or a backslash, or with a ".." component, and a shard whose real path (symbolic links
// resolved) is not inside the index's folder is refused too (one exception, the Hugging Face hub cache:
// see resolve_in_folder in model_folder.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/formats/model_file.h"

namespace probex {

// model.safetensors.index.json: {"metadata": {...}, "weight_map": {"tensor": "shard file", ...}}.
struct ShardIndex {
  struct Entry {
    std::string tensor;
    uint32_t shard = 0;  // index into `shards`
  };
  std::vector<std::string> shards;  // distinct shard file names (relative, checked), in order of first mention
  std::vector<Entry> entries;       // sorted by tensor name, names unique

  const Entry* find(std::string_view tensor) const;  // nullptr if the index does not map it
};

// Parses an index strictly: one JSON object (valid UTF-8, nesting at most 16) with unique keys at every
// level read; "weight_map" required, a non-empty object of string values; "metadata" optional, an object
// (its values are not interpreted); other top-level keys ignored. Bounded by limits.max_header_bytes (the
// text), max_tensors (entries) and max_shards (distinct file names). Messages start with `label`.
ModelStatus parse_shard_index(std::string_view json, const std::string& label, const ModelLimits& limits,
                              ShardIndex* out);

// How adapter_config.json's target_modules selects modules (PEFT's own semantics, peft/tuners/tuners_utils.py
// check_target_module_exists).
enum class LoraTargets : uint8_t {
  kUnset,      // null or absent: PEFT used its per-architecture default list; not checked
  kList,       // a list: a module matches an entry equal to its full name or to a "."-bounded suffix of it
  kAllLinear,  // "all-linear": every linear layer but the output head; not checked
  kFullMatch,  // a string whose only regex metacharacter is '.': PEFT's re.fullmatch, evaluated exactly
  kPattern,    // a string with other regex metacharacters: recorded, not evaluated (no regex engine here)
};

// adapter_config.json, the keys probex reads (PEFT writes dozens more; unknown keys are ignored).
struct AdapterConfig {
  uint64_t r = 0;           // "r": a positive integer
  float lora_alpha = 8.0f;  // "lora_alpha": a number (PEFT's default, 8, when absent)
  LoraTargets targets = LoraTargets::kUnset;
  std::vector<std::string> target_modules;  // kList: the entries; kFullMatch, kPattern: the one string
  std::vector<std::pair<std::string, uint64_t>> rank_pattern;  // in file order: PEFT takes the first match
  std::vector<std::string> modules_to_save;                    // modules saved whole beside the LoRA pairs
  bool saves_bias = false;  // "bias" is "all" or "lora_only": bias tensors are saved too
  std::string base_model;   // "base_model_name_or_path" (empty for null or absent)

  // Whether `module` (a full module name such as "model.layers.0.self_attn.q_proj") is a LoRA target.
  // *known is false when the config does not let probex tell (kUnset, kAllLinear, kPattern).
  bool targets_module(std::string_view module, bool* known) const;
  // The rank PEFT gives `module`: rank_pattern's first matching key, else r. False when a key that could
  // decide it is a regex probex cannot evaluate (then the rank is checked between A and B only).
  bool rank_for(std::string_view module, uint64_t* rank) const;
};

// Parses an adapter config strictly: one JSON object with unique top-level keys (and unique rank_pattern
// keys); "peft_type" must be "LORA"; "r" a positive integer; "lora_alpha" a number; "target_modules" a list
// of strings, a string or null; "rank_pattern" an object of positive integers (or null);
// "modules_to_save" a list of strings or null; "bias" a string; "base_model_name_or_path" a string or null.
ModelStatus parse_adapter_config(std::string_view json, const std::string& label, AdapterConfig* out);

// Checks an adapter's tensors against its config (the rules are in peft_adapter.cpp). `label` names the
// weights file in messages.
ModelStatus check_adapter_tensors(const AdapterConfig& config, const std::vector<ModelTensor>& tensors,
                                  const std::string& label);

// The config of a model opened as a PEFT adapter (format kPeftAdapter), for reports (r, lora_alpha);
// nullptr for any other model.
const AdapterConfig* peft_adapter_config(const ModelFile& model);

// Shared by both folder formats (model_folder.cpp).
namespace folder {

// Reads a JSON file whole, refusing one above max_bytes (kLimitExceeded, detail `too_large_detail`).
ModelStatus read_json_file(const std::string& path, uint64_t max_bytes, const char* too_large_detail,
                           std::string* text);

// Checks a relative file name taken from hostile JSON: kInvalid "shard_name_invalid" when empty or holding
// NUL or '\\', kInvalid "shard_outside_folder" when absolute or with a ".." component.
ModelStatus check_relative_name(const std::string& name, const std::string& label);

enum class Resolved { kOk, kMissing, kOutside, kNotAFile };
// Resolves `name` in `folder` (canonical_folder is its canonical path): *real is the real path to open.
// kOutside when that real path is not inside the folder (Hugging Face hub cache exception: see the .cpp).
Resolved resolve_in_folder(const std::string& folder, const std::string& canonical_folder, const std::string& name,
                           std::string* real, std::string* error);

}  // namespace folder

}  // namespace probex
