// What the two folder formats (sharded_model.cpp, peft_adapter.cpp) share: reading a bounded JSON file,
// checking a file name taken from hostile JSON, and resolving it so that it cannot lead out of the folder.
#include "runtime/formats/model_folder.h"

#include "probex/platform/paths.h"
#include "probex/platform/read_only_file.h"

namespace probex::folder {

ModelStatus read_json_file(const std::string& path, uint64_t max_bytes, const char* too_large_detail,
                           std::string* text) {
  platform::ReadOnlyFile file;
  std::string error;
  if (!file.open(path, &error)) return {ModelError::kIo, "", error};
  if (file.size() > max_bytes)
    return {ModelError::kLimitExceeded, too_large_detail,
            path + ": a JSON file of " + std::to_string(file.size()) + " bytes is above the configured limit of " +
                std::to_string(max_bytes)};
  text->assign(static_cast<size_t>(file.size()), '\0');
  if (!file.read_at(0, text->data(), text->size(), &error)) return {ModelError::kIo, "", error};
  return {};
}

ModelStatus check_relative_name(const std::string& name, const std::string& label) {
  const auto invalid = [&](const char* why) {
    return ModelStatus{ModelError::kInvalid, "shard_name_invalid", label + ": shard file name '" + name + "' " + why};
  };
  if (name.empty()) return invalid("is empty");
  if (name.find('\0') != std::string::npos) return invalid("holds a NUL byte");
  // A Windows separator: never in a Hugging Face name, and a different path on another platform.
  if (name.find('\\') != std::string::npos) return invalid("holds a backslash");
  const auto outside = [&](const char* why) {
    return ModelStatus{ModelError::kInvalid, "shard_outside_folder",
                       label + ": shard file name '" + name + "' " + why + ": shards must be in the index's folder"};
  };
  if (name[0] == '/') return outside("is an absolute path");
  size_t begin = 0;
  for (;;) {
    const size_t slash = name.find('/', begin);
    const size_t end = slash == std::string::npos ? name.size() : slash;
    if (name.compare(begin, end - begin, "..") == 0) return outside("has a '..' component");
    if (slash == std::string::npos) break;
    begin = slash + 1;
  }
  return {};
}

namespace {

std::string last_component(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The Hugging Face hub cache (huggingface_hub's snapshot_download, the default for from_pretrained) keeps
// each repository as <repo>/snapshots/<revision>/<file>, every file a symbolic link to <repo>/blobs/<hash>.
// A file of such a snapshot folder may therefore lead to a direct child of its repository's blobs folder,
// and nowhere else: names from the JSON still cannot hold "..", and only the blobs folder two levels up
// from a folder named snapshots/<revision> qualifies.
bool in_hub_cache_blobs(const std::string& canonical_folder, const std::string& real) {
  const std::string snapshots = platform::parent_folder(canonical_folder);
  if (last_component(snapshots) != "snapshots" || snapshots == canonical_folder) return false;
  const std::string repo = platform::parent_folder(snapshots);
  if (repo == "/" || repo == snapshots) return false;
  const std::string blobs = repo + "/blobs/";
  return real.size() > blobs.size() && real.compare(0, blobs.size(), blobs) == 0 &&
         real.find('/', blobs.size()) == std::string::npos;
}

}  // namespace

Resolved resolve_in_folder(const std::string& folder, const std::string& canonical_folder, const std::string& name,
                           std::string* real, std::string* error) {
  const std::string path = folder + "/" + name;
  if (!platform::canonical_path(path, real, error)) return Resolved::kMissing;
  if (!platform::path_is_inside(canonical_folder, *real) && !in_hub_cache_blobs(canonical_folder, *real))
    return Resolved::kOutside;
  // A FIFO would block the open, a folder cannot be read: only regular files.
  if (platform::path_kind(*real, error) != platform::PathKind::kFile) return Resolved::kNotAFile;
  return Resolved::kOk;
}

}  // namespace probex::folder
