// What a path names, and where it really leads: for model folders (sharded checkpoints, adapters), whose
// files are named by untrusted JSON and must not lead out of the folder.
#pragma once

#include <string>

namespace probex::platform {

enum class PathKind { kMissing, kFile, kDirectory, kOther };

// Follows symbolic links. kMissing also covers a path that cannot be examined (*error says why).
PathKind path_kind(const std::string& path, std::string* error);

// The canonical absolute path (symbolic links, "." and ".." resolved) of an existing path. False, with
// *error naming the path and the OS's reason, when it does not exist or cannot be resolved.
bool canonical_path(const std::string& path, std::string* out, std::string* error);

// True when canonical `inner` is `folder` itself or lies below it (both canonical).
bool path_is_inside(const std::string& folder, const std::string& inner);

// "a/b/c.json" -> "a/b"; "c.json" -> ".".
std::string parent_folder(const std::string& path);

}  // namespace probex::platform
