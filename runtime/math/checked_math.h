// Overflow-checked size arithmetic. Every size computed from file data goes through these, so a
// hostile shape or offset can never wrap around into a small allocation or an out-of-bounds read.
#pragma once

#include <cstdint>

namespace probex {

inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }

inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

}  // namespace probex
