#include "probex/platform/paths.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace probex::platform {

PathKind path_kind(const std::string& path, std::string* error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return PathKind::kMissing;
  }
  if (S_ISREG(st.st_mode)) return PathKind::kFile;
  if (S_ISDIR(st.st_mode)) return PathKind::kDirectory;
  return PathKind::kOther;
}

bool canonical_path(const std::string& path, std::string* out, std::string* error) {
  // realpath with a null buffer allocates the result (POSIX.1-2008), so no PATH_MAX guess is needed.
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr), &std::free);
  if (!resolved) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  *out = resolved.get();
  return true;
}

bool path_is_inside(const std::string& folder, const std::string& inner) {
  if (inner == folder) return true;
  if (folder == "/") return !inner.empty() && inner[0] == '/';
  return inner.size() > folder.size() && inner.compare(0, folder.size(), folder) == 0 && inner[folder.size()] == '/';
}

std::string parent_folder(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace probex::platform
