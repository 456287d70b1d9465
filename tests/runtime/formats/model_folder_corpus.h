// Folder formats in tests: writing small safetensors files and model folders, and the malformed-folder
// corpora of the sharded-checkpoint and PEFT-adapter readers: hand-made folders, each breaking one rule,
// with the error, detail and a message fragment open_model_file must give. test_model_folder.cpp checks
// every case; the fuzz script writes their index and config JSON as seeds (write_malformed_corpus.cpp).
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "runtime/formats/model_file.h"
#include "tests/test_util.h"

namespace probex::test {

// One tensor of a test safetensors file. F32 tensors hold `values` (or first + 0.5 * i when empty); any
// other dtype holds zero bytes.
struct StTensor {
  std::string name;
  std::vector<uint64_t> shape;
  float first = 0.0f;
  std::string dtype = "F32";
  std::vector<float> values = {};
};

inline uint64_t element_count(const std::vector<uint64_t>& shape) {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

inline std::vector<float> tensor_values(const StTensor& t) {
  if (!t.values.empty()) return t.values;
  std::vector<float> v(static_cast<size_t>(element_count(t.shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.first + 0.5f * static_cast<float>(i);
  return v;
}

inline std::vector<uint8_t> st_file(const std::vector<StTensor>& tensors) {
  std::string header = "{";
  std::vector<uint8_t> data;
  for (const StTensor& t : tensors) {
    const size_t begin = data.size();
    if (t.dtype == "F32") {
      for (float f : tensor_values(t)) {
        uint8_t b[4];
        std::memcpy(b, &f, 4);
        data.insert(data.end(), b, b + 4);
      }
    } else {
      const size_t size = t.dtype == "I32" ? 4 : t.dtype == "F16" || t.dtype == "BF16" ? 2 : 1;
      data.resize(data.size() + size * static_cast<size_t>(element_count(t.shape)), 0);
    }
    if (header.size() > 1) header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
  }
  header += "}";
  std::vector<uint8_t> out = safetensors_bytes(header, 0);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

inline std::vector<uint8_t> text(const std::string& s) { return {s.begin(), s.end()}; }

// A file of a test folder, or a symbolic link (`link` non-empty: the link's target, as written).
struct FolderFile {
  std::string name;  // relative to the folder; "../x" lands beside it, "sub/x" makes sub
  std::vector<uint8_t> bytes = {};
  std::string link = {};
};

inline bool write_folder(const std::string& folder, const std::vector<FolderFile>& files) {
  if (mkdir(folder.c_str(), 0755) != 0) return false;
  for (const FolderFile& f : files) {
    const std::string path = folder + "/" + f.name;
    const size_t slash = f.name.rfind('/', f.name.size() - 2);
    if (slash != std::string::npos && f.name.compare(0, 3, "../") != 0) {
      mkdir((folder + "/" + f.name.substr(0, slash)).c_str(), 0755);
    }
    if (!f.link.empty()) {
      if (symlink(f.link.c_str(), path.c_str()) != 0) return false;
    } else if (f.name.back() == '/') {
      if (mkdir(path.c_str(), 0755) != 0) return false;
    } else if (!write_bytes(path, f.bytes)) {
      return false;
    }
  }
  return true;
}

struct MalformedFolderCase {
  const char* name;
  std::vector<FolderFile> files;
  ModelError expected;
  const char* detail;
  const char* message_part;
  ModelLimits limits = {};
};

// ---- Sharded checkpoints ----

constexpr const char* kShard1 = "model-00001-of-00002.safetensors";
constexpr const char* kShard2 = "model-00002-of-00002.safetensors";

inline std::vector<uint8_t> shard1_bytes() { return st_file({{"a", {2, 3}, 1.0f}, {"b", {4}, -3.0f}}); }
inline std::vector<uint8_t> shard2_bytes() { return st_file({{"c", {3, 2}, 100.0f}}); }

// An index whose weight_map body is `map` (the part between the braces).
inline std::string index_json(const std::string& map) {
  return "{\"metadata\": {\"total_size\": 56}, \"weight_map\": {" + map + "}}";
}
inline std::string valid_map() {
  return std::string("\"a\": \"") + kShard1 + "\", \"b\": \"" + kShard1 + "\", \"c\": \"" + kShard2 + "\"";
}

// The valid 2-shard folder, with the index text replaced.
inline std::vector<FolderFile> sharded_folder(const std::string& index) {
  return {{"model.safetensors.index.json", text(index)}, {kShard1, shard1_bytes()}, {kShard2, shard2_bytes()}};
}

inline std::vector<MalformedFolderCase> malformed_sharded_corpus() {
  using E = ModelError;
  const std::string map1 = std::string("\"a\": \"") + kShard1 + "\", \"b\": \"" + kShard1 + "\"";  // shard 1 alone
  const auto one_shard = [&](const std::string& name) {  // a, b in shard 1, c in `name`
    return index_json(map1 + ", \"c\": \"" + name + "\"");
  };
  const auto with = [](std::vector<FolderFile> files, FolderFile extra) {
    files.push_back(std::move(extra));
    return files;
  };
  ModelLimits two_shards;
  two_shards.max_shards = 1;
  ModelLimits two_tensors;
  two_tensors.max_tensors = 2;
  ModelLimits small_header;
  small_header.max_header_bytes = 64;
  ModelLimits small_files;
  small_files.max_file_bytes = 40;
  ModelLimits three_tensors;
  three_tensors.max_tensors = 3;
  std::vector<MalformedFolderCase> c = {
      {"index not JSON", sharded_folder("{\"weight_map\": "), E::kInvalid, "index_invalid_json", "not valid JSON"},
      {"index not UTF-8", sharded_folder("{\"weight_map\": {\"\xff\": \"x\"}}"), E::kInvalid, "index_invalid_json",
       "not valid UTF-8 at byte 17"},
      {"index is an array", sharded_folder("[]"), E::kInvalid, "index_not_object", "not a JSON object"},
      {"index is a string", sharded_folder("\"weight_map\""), E::kInvalid, "index_not_object", "not a JSON object"},
      {"index nested too deeply", sharded_folder("{\"metadata\": {\"x\": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}"),
       E::kInvalid, "index_invalid_json", "too deeply"},
      {"weight_map twice",
       sharded_folder("{\"weight_map\": {" + valid_map() + "}, \"weight_map\": {" + valid_map() + "}}"), E::kInvalid,
       "index_duplicate_key", "the index repeats the key 'weight_map'"},
      {"tensor twice in weight_map", sharded_folder(index_json(valid_map() + ", \"a\": \"" + kShard1 + "\"")),
       E::kInvalid, "index_duplicate_key", "\"weight_map\" repeats the key 'a'"},
      {"metadata repeats a key",
       sharded_folder("{\"metadata\": {\"k\": 1, \"k\": 2}, \"weight_map\": {" + valid_map() + "}}"), E::kInvalid,
       "index_duplicate_key", "\"metadata\" repeats the key 'k'"},
      {"metadata not an object", sharded_folder("{\"metadata\": 56, \"weight_map\": {" + valid_map() + "}}"),
       E::kInvalid, "metadata_not_object", "\"metadata\" is not an object"},
      {"no weight_map", sharded_folder("{\"metadata\": {}}"), E::kInvalid, "weight_map_missing", "no \"weight_map\""},
      {"weight_map is an array", sharded_folder("{\"weight_map\": [\"a\"]}"), E::kInvalid, "weight_map_not_object",
       "\"weight_map\" is not an object"},
      {"weight_map value a number", sharded_folder(index_json(map1 + ", \"c\": 2")), E::kInvalid,
       "weight_map_value_not_string", "tensor 'c' is not mapped to a file name"},
      {"weight_map value null", sharded_folder(index_json("\"a\": null")), E::kInvalid, "weight_map_value_not_string",
       "tensor 'a'"},
      {"empty weight_map", sharded_folder(index_json("")), E::kInvalid, "weight_map_empty", "maps no tensor"},
      {"shard ../x.safetensors",
       with(sharded_folder(one_shard("../x.safetensors")), {"../x.safetensors", shard2_bytes()}), E::kInvalid,
       "shard_outside_folder", "'../x.safetensors' has a '..' component"},
      {"shard /etc/passwd", sharded_folder(one_shard("/etc/passwd")), E::kInvalid, "shard_outside_folder",
       "'/etc/passwd' is an absolute path"},
      {"shard a/../../x", sharded_folder(one_shard("a/../../x.safetensors")), E::kInvalid, "shard_outside_folder",
       "'a/../../x.safetensors' has a '..' component"},
      {"shard ending in ..", sharded_folder(one_shard("sub/..")), E::kInvalid, "shard_outside_folder",
       "'..' component"},
      {"empty shard name", sharded_folder(one_shard("")), E::kInvalid, "shard_name_invalid", "'' is empty"},
      {"shard name with NUL", sharded_folder(one_shard("x\\u0000.safetensors")), E::kInvalid, "shard_name_invalid",
       "holds a NUL byte"},
      {"shard name with a backslash", sharded_folder(one_shard("..\\\\x.safetensors")), E::kInvalid,
       "shard_name_invalid", "holds a backslash"},
      {"shard symlink out of the folder",
       {{"model.safetensors.index.json", text(index_json(valid_map()))},
        {kShard1, shard1_bytes()},
        {"../outside.safetensors", shard2_bytes()},
        {kShard2, {}, "../outside.safetensors"}},
       E::kInvalid,
       "shard_outside_folder",
       "outside the index's folder"},
      {"folder symlink out of the folder",
       {{"model.safetensors.index.json", text(one_shard("up/outside.safetensors"))},
        {kShard1, shard1_bytes()},
        {"../outside.safetensors", shard2_bytes()},
        {"up", {}, ".."}},
       E::kInvalid,
       "shard_outside_folder",
       "shard 'up/outside.safetensors': leads to"},
      {"missing shard",
       {{"model.safetensors.index.json", text(index_json(valid_map()))}, {kShard1, shard1_bytes()}},
       E::kIo,
       "shard_missing",
       "model.safetensors.index.json: shard 'model-00002-of-00002.safetensors': missing"},
      {"dangling shard symlink",
       with(sharded_folder(one_shard("gone.safetensors")), {"gone.safetensors", {}, "nowhere"}), E::kIo,
       "shard_missing", "shard 'gone.safetensors': missing"},
      {"shard is a folder", with(sharded_folder(one_shard("sub")), {"sub/", {}}), E::kInvalid, "shard_not_a_file",
       "shard 'sub': not a regular file"},
      {"shard is the folder itself", sharded_folder(one_shard(".")), E::kInvalid, "shard_not_a_file", "shard '.'"},
      {"shard malformed",
       with(sharded_folder(one_shard("bad.safetensors")), {"bad.safetensors", text("not a safetensors file")}),
       E::kInvalid, "file_truncated", "shard 'bad.safetensors': "},
      {"shard header invalid JSON",
       with(sharded_folder(one_shard("bad.safetensors")), {"bad.safetensors", safetensors_bytes("{\"c\":", 0)}),
       E::kInvalid, "header_invalid_json", "shard 'bad.safetensors'"},
      {"tensor absent from its shard", sharded_folder(index_json(valid_map() + ", \"z\": \"" + kShard1 + "\"")),
       E::kInvalid, "index_tensor_missing",
       "tensor 'z' is mapped to shard 'model-00001-of-00002.safetensors', which does not hold it"},
      {"tensor in two shards",
       {{"model.safetensors.index.json", text(index_json(valid_map()))},
        {kShard1, shard1_bytes()},
        {kShard2, st_file({{"c", {3, 2}}, {"a", {2, 3}}})}},
       E::kInvalid,
       "shard_duplicate_tensor",
       "tensor 'a' is in two shards"},
      {"tensor mapped to the other shard",
       sharded_folder(index_json(std::string("\"a\": \"") + kShard2 + "\", \"b\": \"" + kShard1 + "\", \"c\": \"" +
                                 kShard2 + "\"")),
       E::kInvalid, "index_shard_mismatch",
       "tensor 'a' is in shard 'model-00001-of-00002.safetensors' but the index maps it to 'model-00002-of-00002.safetensors'"},
      {"shard tensor not in the index",
       sharded_folder(index_json(std::string("\"a\": \"") + kShard1 + "\", \"c\": \"" + kShard2 + "\"")), E::kInvalid,
       "shard_tensor_unindexed", "tensor 'b' of shard 'model-00001-of-00002.safetensors' is not in the index"},
      {"too many shards", sharded_folder(index_json(valid_map())), E::kLimitExceeded, "too_many_shards",
       "more than 1 shard files", two_shards},
      {"too many tensors in the index", sharded_folder(index_json(valid_map())), E::kLimitExceeded, "too_many_tensors",
       "the index maps more than 2 tensors", two_tensors},
      {"too many tensors in the shards",
       {{"model.safetensors.index.json", text(index_json(valid_map()))},
        {kShard1, shard1_bytes()},
        {kShard2, st_file({{"c", {3, 2}}, {"d", {1}}})}},
       E::kLimitExceeded,
       "too_many_tensors",
       "the shards hold 4 tensors",
       three_tensors},
      {"index too large", sharded_folder(index_json(valid_map())), E::kLimitExceeded, "index_too_large",
       "above the configured limit of 64", small_header},
      {"shard too large", sharded_folder(index_json(valid_map())), E::kLimitExceeded, "limit_exceeded",
       "shard 'model-00001-of-00002.safetensors'", small_files},
  };
  return c;
}

// ---- PEFT adapters ----

constexpr const char* kQ = "base_model.model.model.layers.0.self_attn.q_proj";
constexpr const char* kV = "base_model.model.model.layers.0.self_attn.v_proj";

// A config with r 2 targeting q_proj and v_proj; `extra` is inserted as more members (", ..." form) and
// `r` replaces the r member's value.
inline std::string adapter_config(const std::string& extra = "", const std::string& r = "2") {
  return "{\"alpha_pattern\": {}, \"base_model_name_or_path\": \"org/base-7b\", \"bias\": \"none\", "
         "\"fan_in_fan_out\": false, \"inference_mode\": true, \"lora_alpha\": 16, \"lora_dropout\": 0.05, "
         "\"peft_type\": \"LORA\", \"r\": " +
         r +
         ", \"task_type\": \"CAUSAL_LM\", "
         "\"target_modules\": [\"q_proj\", \"v_proj\"], \"use_rslora\": false" +
         extra + "}";
}

inline std::vector<StTensor> adapter_tensors(uint64_t r = 2) {
  return {{std::string(kQ) + ".lora_A.weight", {r, 4}, 1.0f},
          {std::string(kQ) + ".lora_B.weight", {3, r}, -1.0f},
          {std::string(kV) + ".lora_A.weight", {r, 4}, 10.0f},
          {std::string(kV) + ".lora_B.weight", {5, r}, 20.0f}};
}

inline std::vector<FolderFile> adapter_folder(const std::string& config, const std::vector<StTensor>& tensors) {
  return {{"adapter_config.json", text(config)}, {"adapter_model.safetensors", st_file(tensors)}};
}

// The PEFT corpus: every case's config has the base config's keys unless the case is about them.
inline std::vector<MalformedFolderCase> malformed_peft_corpus() {
  using E = ModelError;
  const auto cfg = [](const std::string& extra) { return adapter_folder(adapter_config(extra), adapter_tensors()); };
  // A config with the given members only (plus the tensors of the base case).
  const auto only = [](const std::string& members) { return adapter_folder("{" + members + "}", adapter_tensors()); };
  const auto tensors = [](std::vector<StTensor> t) { return adapter_folder(adapter_config(), t); };
  const auto without = [](size_t index) {
    auto t = adapter_tensors();
    t.erase(t.begin() + static_cast<std::ptrdiff_t>(index));
    return t;
  };
  const auto plus = [](StTensor extra) {
    auto t = adapter_tensors();
    t.push_back(std::move(extra));
    return t;
  };
  const std::string qa = std::string(kQ) + ".lora_A.weight", qb = std::string(kQ) + ".lora_B.weight";
  const std::string va = std::string(kV) + ".lora_A.weight", vb = std::string(kV) + ".lora_B.weight";
  ModelLimits small_header;
  small_header.max_header_bytes = 100;
  std::vector<MalformedFolderCase> c = {
      {"config not JSON", adapter_folder("{\"peft_type\": \"LORA\",", adapter_tensors()), E::kInvalid,
       "config_invalid_json", "adapter_config.json: the config is not valid JSON"},
      {"config not UTF-8", adapter_folder("{\"peft_type\": \"LOR\xc0\xc1\"}", adapter_tensors()), E::kInvalid,
       "config_invalid_json", "not valid UTF-8"},
      {"config is an array", adapter_folder("[{\"peft_type\": \"LORA\"}]", adapter_tensors()), E::kInvalid,
       "config_not_object", "not a JSON object"},
      {"config repeats a key", cfg(", \"r\": 2"), E::kInvalid, "config_duplicate_key", "repeats the key 'r'"},
      {"peft_type LOHA", only("\"peft_type\": \"LOHA\", \"r\": 2"), E::kInvalid, "peft_type_not_lora",
       "peft_type is 'LOHA'"},
      {"peft_type lower case", only("\"peft_type\": \"lora\", \"r\": 2"), E::kInvalid, "peft_type_not_lora", "'lora'"},
      {"peft_type not a string", only("\"peft_type\": 1, \"r\": 2"), E::kInvalid, "config_field_type",
       "\"peft_type\" is not a string"},
      {"peft_type missing", only("\"r\": 2, \"lora_alpha\": 16"), E::kInvalid, "config_field_missing",
       "no \"peft_type\""},
      {"r missing", only("\"peft_type\": \"LORA\", \"lora_alpha\": 16"), E::kInvalid, "config_field_missing",
       "no \"r\""},
      {"r zero", adapter_folder(adapter_config("", "0"), adapter_tensors()), E::kInvalid, "rank_invalid",
       "r is 0, not a positive integer"},
      {"r negative", adapter_folder(adapter_config("", "-8"), adapter_tensors()), E::kInvalid, "rank_invalid",
       "r is -8"},
      {"r fractional", adapter_folder(adapter_config("", "2.0"), adapter_tensors()), E::kInvalid, "rank_invalid",
       "r is 2.0"},
      {"r a string", adapter_folder(adapter_config("", "\"2\""), adapter_tensors()), E::kInvalid, "rank_invalid",
       "r is \"2\""},
      {"r above 2^64", adapter_folder(adapter_config("", "18446744073709551616"), adapter_tensors()), E::kInvalid,
       "rank_invalid", "18446744073709551616"},
      {"lora_alpha a string", only("\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": \"16\""), E::kInvalid,
       "config_field_type", "\"lora_alpha\" is not a number"},
      {"lora_alpha beyond float", only("\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 1e39"), E::kInvalid,
       "config_field_type", "\"lora_alpha\""},
      {"target_modules a number", only("\"peft_type\": \"LORA\", \"r\": 2, \"target_modules\": 3"), E::kInvalid,
       "config_field_type", "\"target_modules\" is not a list of strings, a string or null"},
      {"target_modules holds a number", only("\"peft_type\": \"LORA\", \"r\": 2, \"target_modules\": [\"q_proj\", 1]"),
       E::kInvalid, "config_field_type", "\"target_modules\" is not a list of strings"},
      {"base model not a string", only("\"peft_type\": \"LORA\", \"r\": 2, \"base_model_name_or_path\": 7"),
       E::kInvalid, "config_field_type", "\"base_model_name_or_path\" is not a string or null"},
      {"rank_pattern value zero", cfg(", \"rank_pattern\": {\"q_proj\": 0}"), E::kInvalid, "rank_invalid",
       "rank_pattern 'q_proj' is 0"},
      {"rank_pattern repeats a key", cfg(", \"rank_pattern\": {\"q_proj\": 2, \"q_proj\": 4}"), E::kInvalid,
       "config_duplicate_key", "rank_pattern repeats the key 'q_proj'"},
      {"rank_pattern a list", cfg(", \"rank_pattern\": [2]"), E::kInvalid, "config_field_type",
       "\"rank_pattern\" is not an object"},
      {"modules_to_save a string", cfg(", \"modules_to_save\": \"score\""), E::kInvalid, "config_field_type",
       "\"modules_to_save\" is not a list of strings or null"},
      {"bias not a string", only("\"peft_type\": \"LORA\", \"r\": 2, \"bias\": false"), E::kInvalid,
       "config_field_type", "\"bias\" is not a string"},
      {"config too large", cfg(""), E::kLimitExceeded, "config_too_large", "above the configured limit of 100",
       small_header},
      {"A without B", tensors(without(3)), E::kInvalid, "lora_b_missing", "v_proj.lora_A.weight' has no matching B"},
      {"B without A", tensors(without(0)), E::kInvalid, "lora_a_missing", "q_proj.lora_B.weight' has no matching A"},
      {"embedding A without B", tensors(plus({"base_model.model.model.embed_tokens.lora_embedding_A", {2, 10}})),
       E::kInvalid, "lora_b_missing", "embed_tokens.lora_embedding_A' has no matching B"},
      {"A and B ranks differ", tensors({{qa, {2, 4}}, {qb, {3, 3}}, {va, {2, 4}}, {vb, {5, 2}}}), E::kInvalid,
       "lora_rank_mismatch", "module 'model.layers.0.self_attn.q_proj': A [2, 4] and B [3, 3] disagree"},
      {"rank is not r", adapter_folder(adapter_config(), adapter_tensors(4)), E::kInvalid, "lora_rank_not_config",
       "rank 4 but the config (r, rank_pattern) gives it 2"},
      {"rank is not rank_pattern's",
       adapter_folder(adapter_config(", \"rank_pattern\": {\"model.layers.0.self_attn.v_proj\": 8}"),
                      adapter_tensors()),
       E::kInvalid, "lora_rank_not_config", "v_proj': rank 2 but the config (r, rank_pattern) gives it 8"},
      {"module not targeted",
       tensors({{qa, {2, 4}},
                {qb, {3, 2}},
                {"base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", {2, 4}},
                {"base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight", {3, 2}}}),
       E::kInvalid, "lora_module_not_targeted", "module 'model.layers.0.self_attn.k_proj' has LoRA tensors but is not"},
      {"module not the full-match target",
       adapter_folder("{\"peft_type\": \"LORA\", \"r\": 2, \"target_modules\": \"q_proj\"}", adapter_tensors()),
       E::kInvalid, "lora_module_not_targeted", "module 'model.layers.0.self_attn.q_proj'"},
      {"target suffix not at a dot",
       adapter_folder("{\"peft_type\": \"LORA\", \"r\": 2, \"target_modules\": [\"proj\"]}", adapter_tensors()),
       E::kInvalid, "lora_module_not_targeted", "not in the config's target_modules"},
      {"A is 1-D", tensors({{qa, {8}}, {qb, {3, 2}}, {va, {2, 4}}, {vb, {5, 2}}}), E::kInvalid, "lora_shape_invalid",
       "q_proj.lora_A.weight' has shape [8]: a LoRA half must be 2-D"},
      {"Conv2d LoRA", tensors({{qa, {2, 4, 3, 3}}, {qb, {3, 2, 1, 1}}, {va, {2, 4}}, {vb, {5, 2}}}), E::kInvalid,
       "lora_shape_invalid", "[2, 4, 3, 3]"},
      {"A of integers", tensors({{qa, {2, 4}, 0, "I32"}, {qb, {3, 2}}, {va, {2, 4}}, {vb, {5, 2}}}), E::kInvalid,
       "lora_dtype_invalid", "has dtype I32, not a float type"},
      {"stray tensor", tensors(plus({"base_model.model.model.norm.weight", {4}})), E::kInvalid, "stray_tensor",
       "'base_model.model.model.norm.weight' is neither a LoRA tensor nor part of a module"},
      {"tensor without the PEFT prefix", tensors(plus({"model.layers.0.mlp.lora_A.weight", {2, 4}})), E::kInvalid,
       "stray_tensor", "is not named \"base_model.model.<module>...\""},
      {"LoRA tensor still named by its adapter", tensors(plus({std::string(kQ) + ".lora_A.default.weight", {2, 4}})),
       E::kInvalid, "stray_tensor", "is not a LoRA tensor probex reads"},
      {"bias saved with bias none", tensors(plus({std::string(kQ) + ".bias", {3}})), E::kInvalid, "stray_tensor",
       "q_proj.bias'"},
      {"module not in modules_to_save",
       adapter_folder(adapter_config(", \"modules_to_save\": [\"classifier\"]"),
                      plus({"base_model.model.score.weight", {2, 4}})),
       E::kInvalid, "stray_tensor", "nor part of a module the config's modules_to_save names"},
      {"DoRA magnitude", tensors(plus({std::string(kQ) + ".lora_magnitude_vector", {3}})), E::kInvalid,
       "dora_unsupported", "DoRA magnitude"},
      {"no LoRA tensor", tensors({}), E::kInvalid, "adapter_no_lora", "holds no LoRA pair"},
      {"weights missing",
       {{"adapter_config.json", text(adapter_config())}},
       E::kIo,
       "adapter_weights_missing",
       "adapter_model.safetensors: missing"},
      {"only adapter_model.bin",
       {{"adapter_config.json", text(adapter_config())}, {"adapter_model.bin", text("PK\x03\x04")}},
       E::kNotAModel,
       "adapter_weights_pickle",
       "adapter_model.bin, a Python pickle, which probex does not read"},
      {"weights symlink out of the folder",
       {{"adapter_config.json", text(adapter_config())},
        {"../outside-adapter.safetensors", st_file(adapter_tensors())},
        {"adapter_model.safetensors", {}, "../outside-adapter.safetensors"}},
       E::kInvalid,
       "adapter_weights_outside_folder",
       "outside the folder"},
      {"weights are a folder",
       {{"adapter_config.json", text(adapter_config())}, {"adapter_model.safetensors/", {}}},
       E::kInvalid,
       "adapter_weights_not_a_file",
       "not a regular file"},
      {"weights malformed",
       {{"adapter_config.json", text(adapter_config())}, {"adapter_model.safetensors", text("1234567")}},
       E::kInvalid,
       "header_too_small",
       "adapter_model.safetensors: file has 7 bytes"},
  };
  return c;
}

}  // namespace probex::test
