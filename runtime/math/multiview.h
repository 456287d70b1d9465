// The views of a layer X [d_H, d_W] a multi-view expert reads (MVProbe, docs/mvprobe.md; schema: View).
// Shared by the bundle's checks, the backends and the converter, so the shapes are said in one place.
#pragma once

#include <cstdint>

namespace probex {

enum class ViewKind : uint8_t {
  kXU = 0,    // S = X U         U [d_W, r]  S [d_H, r]
  kXXtU = 1,  // S = X (X^T U)   U [d_H, r]  S [d_H, r]
  kXtU = 2,   // S = X^T U       U [d_H, r]  S [d_W, r]
  kXtXU = 3,  // S = X^T (X U)   U [d_W, r]  S [d_W, r]
};
constexpr uint8_t kViewKinds = 4;

// The length of a view's probe vectors: the dimension of X its first product reduces over.
inline uint32_t view_probe_length(ViewKind k, uint32_t d_h, uint32_t d_w) {
  return k == ViewKind::kXU || k == ViewKind::kXtXU ? d_w : d_h;
}
// The rows of its response S (the projection's input width).
inline uint32_t view_response_rows(ViewKind k, uint32_t d_h, uint32_t d_w) {
  return k == ViewKind::kXU || k == ViewKind::kXXtU ? d_h : d_w;
}
inline const char* view_name(ViewKind k) {
  switch (k) {
    case ViewKind::kXU: return "xu";
    case ViewKind::kXXtU: return "xxtu";
    case ViewKind::kXtU: return "xtu";
    case ViewKind::kXtXU: return "xtxu";
  }
  return "?";
}

}  // namespace probex
