// PEFT LoRA adapters: a folder with adapter_config.json and adapter_model.safetensors, as PEFT's
// save_pretrained writes it. The model lists the weights file's tensors under their stored names
// ("base_model.model.<module>.lora_A.weight" [r, in], "...lora_B.weight" [out, r]); the probed-layer code
// finds a LoRA pair by those names, so nothing is renamed. declared_base_model() is the config's
// base_model_name_or_path; peft_adapter_config() gives r and lora_alpha for reports.
//
// Which tensors an adapter may hold (anything else is refused as "stray_tensor"), each named
// "base_model.model.<module>..." as PEFT saves them (the adapter name, "default", is not in the names):
//   <module>.lora_A.weight, <module>.lora_B.weight          a LoRA pair of a Linear (or Conv1D) layer
//   <module>.lora_embedding_A, <module>.lora_embedding_B    a LoRA pair of an Embedding: A [r, vocab],
//                                                            B [dim, r]; listed and checked like a pair
//   <module>.<param...> where <module> ends with an entry of the config's modules_to_save (a whole module
//                                                            trained and saved beside the LoRA pairs,
//                                                            e.g. a classifier head): listed as stored
//   <module>.bias, when the config's "bias" is "all" or "lora_only"
// Refused with their own details: DoRA's lora_magnitude_vector ("dora_unsupported": DoRA rescales W + BA,
// which reading B and A alone would misreport) and LoRA tensors that are not 2-D, such as a Conv2d
// LoRA's 4-D A ("lora_shape_invalid").
//
// Rules checked for each LoRA pair, in this order: both halves present ("lora_b_missing",
// "lora_a_missing"); float dtypes ("lora_dtype_invalid"); both 2-D ("lora_shape_invalid"); A's rows equal
// B's columns ("lora_rank_mismatch"); the module is a target of the config, when the config says
// ("lora_module_not_targeted"); the rank equals the config's for that module ("lora_rank_not_config").
// An adapter without any LoRA pair is refused ("adapter_no_lora").
#include <algorithm>

#include "probex/platform/paths.h"
#include "runtime/formats/json_reader.h"
#include "runtime/formats/model_folder.h"
#include "runtime/formats/model_formats.h"

namespace probex {
namespace {

constexpr int kMaxJsonDepth = 16;
constexpr std::string_view kPrefix = "base_model.model.";

ModelStatus invalid(const char* detail, const std::string& message) { return {ModelError::kInvalid, detail, message}; }

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// `module` equals `name` or ends with "." + name: how PEFT matches target_modules list entries.
bool matches_suffix(std::string_view module, std::string_view name) {
  if (module == name) return true;
  return module.size() > name.size() && ends_with(module, name) && module[module.size() - name.size() - 1] == '.';
}

// True when `pattern` holds a regex metacharacter other than '.' (which wildcard_equal evaluates).
bool has_regex_syntax(std::string_view pattern) {
  return pattern.find_first_of("\\^$*+?{}[]|()") != std::string_view::npos;
}

// Python's re.fullmatch(pattern, text) for a pattern whose only metacharacter is '.' (any character but a
// newline). Bytes, not characters: a '.' against a multi-byte UTF-8 character is a (documented) mismatch.
bool wildcard_equal(std::string_view pattern, std::string_view text) {
  if (pattern.size() != text.size()) return false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '.' ? text[i] == '\n' : pattern[i] != text[i]) return false;
  }
  return true;
}

// PEFT's rank_pattern lookup, re.match(rf"(.*\.)?({key})$", module), for a key whose only metacharacter
// is '.': the key matches the whole module name or a part of it that follows a '.'.
bool rank_key_matches(std::string_view key, std::string_view module) {
  if (wildcard_equal(key, module)) return true;
  if (module.size() <= key.size()) return false;
  const size_t start = module.size() - key.size();
  return module[start - 1] == '.' && wildcard_equal(key, module.substr(start));
}

std::string shape_string(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

bool AdapterConfig::targets_module(std::string_view module, bool* known) const {
  *known = true;
  switch (targets) {
    case LoraTargets::kList:
      return std::any_of(target_modules.begin(), target_modules.end(),
                         [&](const std::string& t) { return matches_suffix(module, t); });
    case LoraTargets::kFullMatch: return wildcard_equal(target_modules[0], module);
    case LoraTargets::kUnset:
    case LoraTargets::kAllLinear:
    case LoraTargets::kPattern: break;
  }
  *known = false;
  return true;
}

bool AdapterConfig::rank_for(std::string_view module, uint64_t* rank) const {
  for (const auto& [key, value] : rank_pattern) {
    if (has_regex_syntax(key)) return false;  // it might match: the rank is unknown
    if (rank_key_matches(key, module)) {
      *rank = value;
      return true;
    }
  }
  *rank = r;
  return true;
}

ModelStatus parse_adapter_config(std::string_view json, const std::string& label, AdapterConfig* out) {
  *out = {};
  size_t bad = 0;
  const char* what = nullptr;
  if (!json::is_valid_utf8(json, &bad))
    return invalid("config_invalid_json", label + ": the config is not valid UTF-8 at byte " + std::to_string(bad));
  if (!json::validate_json(json, kMaxJsonDepth, &bad, &what))
    return invalid("config_invalid_json",
                   label + ": the config is not valid JSON: " + what + " at byte " + std::to_string(bad));
  json::JsonCursor cur(json);
  if (!cur.consume('{')) return invalid("config_not_object", label + ": the config is not a JSON object");

  AdapterConfig c;
  const auto type_error = [&](const std::string& key, const char* expected) {
    return invalid("config_field_type", label + ": \"" + key + "\" is not " + expected);
  };
  // A positive integer (r and rank_pattern's values).
  const auto read_rank = [&](const std::string& what_, uint64_t* value) -> ModelStatus {
    json::NumberKind kind = json::NumberKind::kOther;
    cur.peek();
    const size_t begin = cur.offset();
    if (!cur.read_number(&kind, value) || kind != json::NumberKind::kUnsignedInteger || *value == 0) {
      if (cur.offset() == begin) cur.skip_value();
      const std::string_view text = json.substr(begin, cur.offset() - begin);
      return invalid("rank_invalid",
                     label + ": " + what_ + " is " + std::string(text.substr(0, 40)) + ", not a positive integer");
    }
    return {};
  };
  // A list of strings or null.
  const auto read_names = [&](const std::string& key, std::vector<std::string>* names) -> ModelStatus {
    if (cur.consume('[')) {
      std::string s;
      if (cur.consume(']')) return {};
      do {
        if (!cur.read_string(&s)) return type_error(key, "a list of strings");
        names->push_back(s);
      } while (cur.consume(','));
      cur.consume(']');
      return {};
    }
    if (cur.peek() == 'n') {
      cur.skip_value();
      return {};
    }
    return type_error(key, "a list of strings or null");
  };

  std::vector<std::string> keys;
  bool has_type = false, has_r = false;
  std::string key, s;
  if (!cur.consume('}')) {
    do {
      cur.read_string(&key);
      cur.consume(':');
      keys.push_back(key);
      ModelStatus st;
      if (key == "peft_type") {
        if (!cur.read_string(&s)) return type_error(key, "a string");
        // PEFT writes the enum's name; a LoHa, LoKr, IA3, prefix-tuning... adapter has other weights.
        if (s != "LORA")
          return invalid("peft_type_not_lora",
                         label + ": peft_type is '" + s + "': probex reads LoRA adapters only (peft_type \"LORA\")");
        has_type = true;
      } else if (key == "r") {
        st = read_rank("r", &c.r);
        has_r = true;
      } else if (key == "lora_alpha") {
        const char p = cur.peek();
        if ((p != '-' && (p < '0' || p > '9')) || !cur.read_float(&c.lora_alpha))
          return type_error(key, "a number (within float range)");
      } else if (key == "target_modules") {
        c.target_modules.clear();
        c.targets = LoraTargets::kUnset;
        if (cur.peek() == '"') {
          cur.read_string(&s);
          c.target_modules = {s};
          c.targets = s == "all-linear"     ? LoraTargets::kAllLinear
                      : has_regex_syntax(s) ? LoraTargets::kPattern
                                            : LoraTargets::kFullMatch;
        } else if (cur.peek() == '[') {
          st = read_names(key, &c.target_modules);
          c.targets = LoraTargets::kList;
        } else if (cur.peek() == 'n') {
          cur.skip_value();
        } else {
          return type_error(key, "a list of strings, a string or null");
        }
      } else if (key == "rank_pattern") {
        if (cur.peek() == 'n') {
          cur.skip_value();
        } else if (!cur.consume('{')) {
          return type_error(key, "an object of positive integers or null");
        } else if (!cur.consume('}')) {
          std::string module;
          do {
            cur.read_string(&module);
            cur.consume(':');
            uint64_t rank = 0;
            st = read_rank("rank_pattern '" + module + "'", &rank);
            if (!st.ok()) return st;
            c.rank_pattern.push_back({module, rank});
          } while (cur.consume(','));
          cur.consume('}');
          std::vector<std::string_view> names;
          for (const auto& entry : c.rank_pattern) names.push_back(entry.first);
          std::sort(names.begin(), names.end());
          for (size_t i = 1; i < names.size(); ++i) {
            if (names[i] == names[i - 1])
              return invalid("config_duplicate_key",
                             label + ": rank_pattern repeats the key '" + std::string(names[i]) + "'");
          }
        }
      } else if (key == "modules_to_save") {
        c.modules_to_save.clear();
        st = read_names(key, &c.modules_to_save);
      } else if (key == "bias") {
        if (!cur.read_string(&s)) return type_error(key, "a string");
        c.saves_bias = s == "all" || s == "lora_only";
      } else if (key == "base_model_name_or_path") {
        if (cur.peek() == 'n') {
          cur.skip_value();
          c.base_model.clear();
        } else if (!cur.read_string(&c.base_model)) {
          return type_error(key, "a string or null");
        }
      } else {
        cur.skip_value();  // PEFT writes dozens of keys that do not change which tensors exist
      }
      if (!st.ok()) return st;
    } while (cur.consume(','));
  }
  std::sort(keys.begin(), keys.end());
  for (size_t i = 1; i < keys.size(); ++i) {
    if (keys[i] == keys[i - 1])
      return invalid("config_duplicate_key", label + ": the config repeats the key '" + keys[i] + "'");
  }
  if (!has_type) return invalid("config_field_missing", label + ": the config has no \"peft_type\"");
  if (!has_r) return invalid("config_field_missing", label + ": the config has no \"r\" (the LoRA rank)");
  *out = std::move(c);
  return {};
}

ModelStatus check_adapter_tensors(const AdapterConfig& config, const std::vector<ModelTensor>& tensors,
                                  const std::string& label) {
  struct Half {
    std::string_view module;
    bool embedding;
    bool is_b;
    const ModelTensor* tensor;
  };
  std::vector<Half> halves;
  for (const ModelTensor& t : tensors) {
    const std::string_view name = t.name;
    const auto stray = [&](const std::string& why) {
      return invalid("stray_tensor", label + ": tensor '" + t.name + "' " + why);
    };
    if (name.compare(0, kPrefix.size(), kPrefix) != 0 || name.size() == kPrefix.size())
      return stray("is not named \"base_model.model.<module>...\" as PEFT saves an adapter's tensors");
    const std::string_view path = name.substr(kPrefix.size());
    struct Suffix {
      std::string_view text;
      bool embedding, is_b;
    };
    static constexpr Suffix kSuffixes[] = {{".lora_A.weight", false, false},
                                           {".lora_B.weight", false, true},
                                           {".lora_embedding_A", true, false},
                                           {".lora_embedding_B", true, true}};
    bool lora = false;
    for (const Suffix& s : kSuffixes) {
      if (ends_with(path, s.text) && path.size() > s.text.size()) {
        halves.push_back({path.substr(0, path.size() - s.text.size()), s.embedding, s.is_b, &t});
        lora = true;
        break;
      }
    }
    if (lora) continue;
    if (ends_with(path, ".lora_magnitude_vector") || ends_with(path, ".lora_magnitude_vector.weight"))
      return invalid("dora_unsupported", label + ": tensor '" + t.name +
                                             "' is a DoRA magnitude: probex reads plain LoRA adapters (DoRA "
                                             "rescales the weight, which B and A alone do not show)");
    // modules_to_save: a saved module's parameters, "<module>.<param...>" with <module> ending with an entry.
    const std::string dotted = "." + std::string(path);
    const bool saved_module = std::any_of(config.modules_to_save.begin(), config.modules_to_save.end(),
                                          [&](const std::string& m) {
                                            return !m.empty() && dotted.find("." + m + ".") != std::string::npos;
                                          });
    if (saved_module) continue;
    if (config.saves_bias && ends_with(path, ".bias")) continue;
    if (path.find(".lora_") != std::string_view::npos)
      return stray("is not a LoRA tensor probex reads (<module>.lora_A.weight, .lora_B.weight, .lora_embedding_A, "
                   ".lora_embedding_B)");
    return stray("is neither a LoRA tensor nor part of a module the config's modules_to_save names");
  }
  std::sort(halves.begin(), halves.end(), [](const Half& a, const Half& b) {
    if (a.module != b.module) return a.module < b.module;
    if (a.embedding != b.embedding) return a.embedding < b.embedding;
    return a.is_b < b.is_b;
  });
  size_t pairs = 0;
  for (size_t i = 0; i < halves.size();) {
    const Half& first = halves[i];
    // Names are unique, so a module has at most one A and one B of each kind (sorted A first).
    const bool paired = !first.is_b && i + 1 < halves.size() && halves[i + 1].module == first.module &&
                        halves[i + 1].embedding == first.embedding && halves[i + 1].is_b;
    if (!paired) {
      return first.is_b ? invalid("lora_a_missing",
                                  label + ": tensor '" + first.tensor->name + "' has no matching A (down) tensor")
                        : invalid("lora_b_missing",
                                  label + ": tensor '" + first.tensor->name + "' has no matching B (up) tensor");
    }
    const ModelTensor& a = *first.tensor;
    const ModelTensor& b = *halves[i + 1].tensor;
    const std::string module(first.module);
    i += 2;
    ++pairs;
    for (const ModelTensor* t : {&a, &b}) {
      if (!t->readable)
        return invalid("lora_dtype_invalid",
                       label + ": tensor '" + t->name + "' has dtype " + t->dtype + ", not a float type");
      if (t->shape.size() != 2)
        return invalid("lora_shape_invalid", label + ": tensor '" + t->name + "' has shape " + shape_string(t->shape) +
                                                 ": a LoRA half must be 2-D (a Conv2d LoRA's 4-D halves are not read)");
    }
    if (a.shape[0] != b.shape[1])
      return invalid("lora_rank_mismatch", label + ": module '" + module + "': A " + shape_string(a.shape) + " and B " +
                                               shape_string(b.shape) + " disagree on the rank (A's rows, B's columns)");
    bool known = false;
    if (!config.targets_module(module, &known) && known)
      return invalid("lora_module_not_targeted",
                     label + ": module '" + module + "' has LoRA tensors but is not in the config's target_modules");
    uint64_t rank = 0;
    if (config.rank_for(module, &rank) && a.shape[0] != rank)
      return invalid("lora_rank_not_config", label + ": module '" + module + "': rank " + std::to_string(a.shape[0]) +
                                                 " but the config (r, rank_pattern) gives it " + std::to_string(rank));
  }
  if (pairs == 0) return invalid("adapter_no_lora", label + ": the adapter holds no LoRA pair");
  return {};
}

namespace {

class PeftAdapterModel final : public ModelFile {
 public:
  explicit PeftAdapterModel(std::string folder) : ModelFile(ModelFormat::kPeftAdapter, std::move(folder)) {}

  ModelStatus read_f32(const ModelTensor& t, uint64_t first, uint64_t count, float* out) const override {
    return model_status(file_.read_f32(file_.tensors()[t.native], first, count, out));
  }

  ModelStatus build(const ModelLimits& limits) {
    const std::string& folder = label_;
    const std::string config_path = folder + "/adapter_config.json";
    std::string error, text;
    if (platform::path_kind(config_path, &error) != platform::PathKind::kFile)
      return {ModelError::kIo, "adapter_config_missing", folder + ": no adapter_config.json (" + error + ")"};
    ModelStatus st = folder::read_json_file(config_path, limits.max_header_bytes, "config_too_large", &text);
    if (!st.ok()) return st;
    st = parse_adapter_config(text, config_path, &config_);
    if (!st.ok()) return st;
    declared_base_model_ = config_.base_model;

    std::string canonical_folder, real;
    if (!platform::canonical_path(folder, &canonical_folder, &error)) return {ModelError::kIo, "", error};
    const std::string weights = folder + "/adapter_model.safetensors";
    switch (folder::resolve_in_folder(folder, canonical_folder, "adapter_model.safetensors", &real, &error)) {
      case folder::Resolved::kMissing: {
        std::string unused;
        if (platform::path_kind(folder + "/adapter_model.bin", &unused) == platform::PathKind::kFile)
          return {ModelError::kNotAModel, "adapter_weights_pickle",
                  folder + ": the adapter's weights are adapter_model.bin, a Python pickle, which probex does not "
                           "read (it can run code); save the adapter with safe_serialization=True (the default) "
                           "to get adapter_model.safetensors"};
        return {ModelError::kIo, "adapter_weights_missing", weights + ": missing (" + error + ")"};
      }
      case folder::Resolved::kOutside:
        return invalid("adapter_weights_outside_folder", weights + ": leads to " + real + ", outside the folder");
      case folder::Resolved::kNotAFile: return invalid("adapter_weights_not_a_file", weights + ": not a regular file");
      case folder::Resolved::kOk: break;
    }
    const SafetensorsStatus opened = SafetensorsFile::open(real, &file_, safetensors_limits(limits));
    if (!opened.ok()) return model_status(opened);
    const auto& infos = file_.tensors();
    tensors_.reserve(infos.size());
    for (size_t i = 0; i < infos.size(); ++i) {
      const TensorInfo& t = infos[i];
      tensors_.push_back(
          {t.name, t.shape, dtype_name(t.dtype), dtype_converts_to_f32(t.dtype), t.element_count, i, ""});
    }
    st = check_adapter_tensors(config_, tensors_, weights);
    if (!st.ok()) return st;
    return index_tensors();
  }

  const AdapterConfig& config() const { return config_; }

 private:
  AdapterConfig config_;
  SafetensorsFile file_;
};

}  // namespace

const AdapterConfig* peft_adapter_config(const ModelFile& model) {
  // Every kPeftAdapter model is a PeftAdapterModel: open_peft_adapter is the only maker of that format.
  if (model.format() != ModelFormat::kPeftAdapter) return nullptr;
  return &static_cast<const PeftAdapterModel&>(model).config();
}

ModelStatus open_peft_adapter(const std::string& folder, const ModelLimits& limits, std::unique_ptr<ModelFile>* out) {
  auto model = std::make_unique<PeftAdapterModel>(folder);
  ModelStatus st = model->build(limits);
  if (st.ok()) *out = std::move(model);
  return st;
}

}  // namespace probex
