// Hugging Face sharded safetensors checkpoints: model.safetensors.index.json names, for every tensor, the
// shard file (in the index's folder) that holds it. The model lists the tensors of all shards, in the
// order of the shards' first mention in the index and each shard's data order, with the shapes the
// safetensors reader gives (already PyTorch's); read_f32 delegates to the shard's reader. Every shard
// stays open (one file handle each) for the model's lifetime, so reading allocates nothing.
//
// Strictness. The index and the shards must agree exactly, both ways:
//   - every tensor of the weight_map is in the shard it names        (else "index_tensor_missing");
//   - no tensor is in two shards                                      (else "shard_duplicate_tensor");
//   - every tensor of a shard is mapped, and to that shard            (else "shard_tensor_unindexed",
//                                                                      "index_shard_mismatch").
// Hugging Face's loaders read the shards the index names and may then keep a shard's unmapped tensors or
// drop them, depending on the library and its version; which weights "are the model" would then be
// ambiguous, and an auditor must not guess (nor hide weights a loader would use). save_pretrained never
// writes such a checkpoint, so one is an edited or broken file: refused. Files of the folder that the
// index does not name are ignored (a loader never opens them).
#include <algorithm>

#include "probex/platform/paths.h"
#include "runtime/formats/json_reader.h"
#include "runtime/formats/model_folder.h"
#include "runtime/formats/model_formats.h"

namespace probex {

const ShardIndex::Entry* ShardIndex::find(std::string_view tensor) const {
  const auto it = std::lower_bound(entries.begin(), entries.end(), tensor,
                                   [](const Entry& e, std::string_view n) { return e.tensor < n; });
  if (it == entries.end() || it->tensor != tensor) return nullptr;
  return &*it;
}

namespace {

constexpr int kMaxJsonDepth = 16;

ModelStatus invalid(const char* detail, const std::string& message) { return {ModelError::kInvalid, detail, message}; }

// Reads the members of the object at the cursor (validated JSON) into sorted keys to find duplicates:
// `on_member` reads each value.
template <typename OnMember>
ModelStatus read_object(json::JsonCursor& cur, const std::string& label, const char* where, OnMember on_member) {
  std::vector<std::string> keys;
  std::string key;
  cur.consume('{');
  if (!cur.consume('}')) {
    do {
      cur.read_string(&key);
      cur.consume(':');
      ModelStatus st = on_member(key);
      if (!st.ok()) return st;
      keys.push_back(key);
    } while (cur.consume(','));
    cur.consume('}');
  }
  std::sort(keys.begin(), keys.end());
  for (size_t i = 1; i < keys.size(); ++i) {
    if (keys[i] == keys[i - 1])
      return invalid("index_duplicate_key", label + ": " + where + " repeats the key '" + keys[i] + "'");
  }
  return {};
}

}  // namespace

ModelStatus parse_shard_index(std::string_view json, const std::string& label, const ModelLimits& limits,
                              ShardIndex* out) {
  *out = {};
  if (json.size() > limits.max_header_bytes)
    return {ModelError::kLimitExceeded, "index_too_large",
            label + ": an index of " + std::to_string(json.size()) + " bytes is above the configured limit of " +
                std::to_string(limits.max_header_bytes)};
  size_t bad = 0;
  const char* what = nullptr;
  if (!json::is_valid_utf8(json, &bad))
    return invalid("index_invalid_json", label + ": the index is not valid UTF-8 at byte " + std::to_string(bad));
  if (!json::validate_json(json, kMaxJsonDepth, &bad, &what))
    return invalid("index_invalid_json",
                   label + ": the index is not valid JSON: " + what + " at byte " + std::to_string(bad));
  json::JsonCursor cur(json);
  if (cur.peek() != '{') return invalid("index_not_object", label + ": the index is not a JSON object");

  ShardIndex index;
  bool has_map = false;
  std::vector<std::pair<std::string, uint32_t>> shard_ids;  // name -> index into index.shards, sorted by name
  const auto shard_id = [&](const std::string& name, uint32_t* id) -> ModelStatus {
    const auto it = std::lower_bound(shard_ids.begin(), shard_ids.end(), name,
                                     [](const auto& p, const std::string& n) { return p.first < n; });
    if (it != shard_ids.end() && it->first == name) {
      *id = it->second;
      return {};
    }
    ModelStatus st = folder::check_relative_name(name, label);
    if (!st.ok()) return st;
    if (index.shards.size() >= limits.max_shards)
      return {ModelError::kLimitExceeded, "too_many_shards",
              label + ": the index names more than " + std::to_string(limits.max_shards) + " shard files"};
    *id = static_cast<uint32_t>(index.shards.size());
    index.shards.push_back(name);
    shard_ids.insert(it, {name, *id});
    return {};
  };

  ModelStatus st = read_object(cur, label, "the index", [&](const std::string& key) -> ModelStatus {
    if (key == "metadata") {
      if (cur.peek() != '{') return invalid("metadata_not_object", label + ": \"metadata\" is not an object");
      return read_object(cur, label, "\"metadata\"", [&](const std::string&) -> ModelStatus {
        cur.skip_value();  // total_size and the like: not interpreted
        return {};
      });
    }
    if (key != "weight_map") {
      cur.skip_value();  // no other key is written by transformers; a new one cannot change the tensors
      return {};
    }
    has_map = true;
    if (cur.peek() != '{') return invalid("weight_map_not_object", label + ": \"weight_map\" is not an object");
    std::string file;
    return read_object(cur, label, "\"weight_map\"", [&](const std::string& tensor) -> ModelStatus {
      if (!cur.read_string(&file)) {
        cur.skip_value();
        return invalid("weight_map_value_not_string",
                       label + ": \"weight_map\": tensor '" + tensor + "' is not mapped to a file name (a string)");
      }
      if (index.entries.size() >= limits.max_tensors)
        return {ModelError::kLimitExceeded, "too_many_tensors",
                label + ": the index maps more than " + std::to_string(limits.max_tensors) + " tensors"};
      uint32_t id = 0;
      ModelStatus s = shard_id(file, &id);
      if (!s.ok()) return s;
      index.entries.push_back({tensor, id});
      return {};
    });
  });
  if (!st.ok()) return st;
  if (!has_map) return invalid("weight_map_missing", label + ": the index has no \"weight_map\"");
  if (index.entries.empty()) return invalid("weight_map_empty", label + ": \"weight_map\" maps no tensor");
  // read_object refused repeated keys, so tensor names are unique.
  std::sort(index.entries.begin(), index.entries.end(),
            [](const ShardIndex::Entry& a, const ShardIndex::Entry& b) { return a.tensor < b.tensor; });
  *out = std::move(index);
  return {};
}

namespace {

class ShardedModel final : public ModelFile {
 public:
  explicit ShardedModel(std::string label) : ModelFile(ModelFormat::kShardedSafetensors, std::move(label)) {}

  ModelStatus read_f32(const ModelTensor& t, uint64_t first, uint64_t count, float* out) const override {
    const Ref& ref = refs_[t.native];
    const SafetensorsFile& shard = shards_[ref.shard];
    return model_status(shard.read_f32(shard.tensors()[ref.tensor], first, count, out));
  }

  ModelStatus build(const std::string& index_path, const ModelLimits& limits) {
    std::string text;
    ModelStatus st = folder::read_json_file(index_path, limits.max_header_bytes, "index_too_large", &text);
    if (!st.ok()) return st;
    ShardIndex index;
    st = parse_shard_index(text, index_path, limits, &index);
    if (!st.ok()) return st;

    const std::string folder = platform::parent_folder(index_path);
    std::string canonical_folder, error;
    if (!platform::canonical_path(folder, &canonical_folder, &error)) return {ModelError::kIo, "", error};
    // Shards by real path: two spellings of one file ("a.safetensors", "./a.safetensors") open it once.
    std::vector<std::string> real_paths;
    std::vector<uint32_t> shard_of_name(index.shards.size());
    for (size_t i = 0; i < index.shards.size(); ++i) {
      const std::string& name = index.shards[i];
      std::string real;
      const auto named = [&](const std::string& what) { return index_path + ": shard '" + name + "': " + what; };
      switch (folder::resolve_in_folder(folder, canonical_folder, name, &real, &error)) {
        case folder::Resolved::kMissing:
          return {ModelError::kIo, "shard_missing", named("missing or unreadable (" + error + ")")};
        case folder::Resolved::kOutside:
          return invalid("shard_outside_folder",
                         named("leads to " + real + ", outside the index's folder " + canonical_folder));
        case folder::Resolved::kNotAFile: return invalid("shard_not_a_file", named("not a regular file"));
        case folder::Resolved::kOk: break;
      }
      const auto same = std::find(real_paths.begin(), real_paths.end(), real);
      shard_of_name[i] = static_cast<uint32_t>(same - real_paths.begin());
      if (same != real_paths.end()) continue;
      SafetensorsFile shard;
      const SafetensorsStatus opened = SafetensorsFile::open(real, &shard, safetensors_limits(limits));
      if (!opened.ok()) {
        ModelStatus mapped = model_status(opened);
        mapped.message = named(mapped.message);
        return mapped;
      }
      real_paths.push_back(real);
      shards_.push_back(std::move(shard));
      names_.push_back(name);
    }

    uint64_t total = 0;
    for (const SafetensorsFile& s : shards_) total += s.tensors().size();
    if (total > limits.max_tensors)
      return {ModelError::kLimitExceeded, "too_many_tensors",
              index_path + ": the shards hold " + std::to_string(total) + " tensors, above the configured limit of " +
                  std::to_string(limits.max_tensors)};
    refs_.reserve(static_cast<size_t>(total));
    tensors_.reserve(static_cast<size_t>(total));
    for (uint32_t s = 0; s < shards_.size(); ++s) {
      const auto& infos = shards_[s].tensors();
      for (size_t i = 0; i < infos.size(); ++i) {
        const TensorInfo& t = infos[i];
        tensors_.push_back(
            {t.name, t.shape, dtype_name(t.dtype), dtype_converts_to_f32(t.dtype), t.element_count, refs_.size(), ""});
        refs_.push_back({s, i});
      }
    }

    // No tensor in two shards (checked before the index, whose error would be less clear).
    std::vector<size_t> by_name(tensors_.size());
    for (size_t i = 0; i < by_name.size(); ++i) by_name[i] = i;
    std::sort(by_name.begin(), by_name.end(),
              [this](size_t a, size_t b) { return tensors_[a].name < tensors_[b].name; });
    for (size_t i = 1; i < by_name.size(); ++i) {
      const ModelTensor& a = tensors_[by_name[i - 1]];
      const ModelTensor& b = tensors_[by_name[i]];
      if (a.name == b.name)
        return invalid("shard_duplicate_tensor", index_path + ": tensor '" + a.name + "' is in two shards, '" +
                                                     names_[refs_[a.native].shard] + "' and '" +
                                                     names_[refs_[b.native].shard] + "'");
    }
    // Every shard tensor is mapped to its shard.
    for (const ModelTensor& t : tensors_) {
      const std::string& here = names_[refs_[t.native].shard];
      const ShardIndex::Entry* e = index.find(t.name);
      if (e == nullptr)
        return invalid("shard_tensor_unindexed", index_path + ": tensor '" + t.name + "' of shard '" + here +
                                                     "' is not in the index's weight_map");
      if (shard_of_name[e->shard] != refs_[t.native].shard)
        return invalid("index_shard_mismatch", index_path + ": tensor '" + t.name + "' is in shard '" + here +
                                                   "' but the index maps it to '" + index.shards[e->shard] + "'");
    }
    // Every mapped tensor is in its shard. (Each shard tensor is mapped, so a count mismatch means some
    // entry's tensor is in no shard: find it.)
    if (index.entries.size() != tensors_.size()) {
      for (const ShardIndex::Entry& e : index.entries) {
        const SafetensorsFile& shard = shards_[shard_of_name[e.shard]];
        if (shard.find(e.tensor) == nullptr)
          return invalid("index_tensor_missing", index_path + ": tensor '" + e.tensor + "' is mapped to shard '" +
                                                     index.shards[e.shard] + "', which does not hold it");
      }
    }
    return index_tensors();
  }

 private:
  struct Ref {
    uint32_t shard;
    size_t tensor;
  };
  std::vector<SafetensorsFile> shards_;
  std::vector<std::string> names_;  // each shard's name as the index first gives it
  std::vector<Ref> refs_;           // by ModelTensor::native
};

}  // namespace

ModelStatus open_sharded_model(const std::string& index_path, const ModelLimits& limits,
                               std::unique_ptr<ModelFile>* out) {
  auto model = std::make_unique<ShardedModel>(index_path);
  ModelStatus st = model->build(index_path, limits);
  if (st.ok()) *out = std::move(model);
  return st;
}

}  // namespace probex
