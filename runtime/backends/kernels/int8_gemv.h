// y = W x + b with W stored as the bundle stores int8 matrices: int8 [rows, cols] with one float scale
// per (row, block of block_size columns) (block_size 0: one per row). Step 3 of an int8 bundle's expert
// (the encoder M, r_T x r_U*r_V, 2 M weights at r = 128) runs here from the bundle's own bytes, so an int8
// bundle costs int8 bytes in RAM and in memory bandwidth instead of a float32 copy four times larger.
//
// Within each block the dot product is summed in float32 over 32 independent lanes, then scaled: a
// different rounding order from a float32 GEMV of the dequantized weights, within ~1e-6 relative (tested
// against a double-precision sum). On x86-64 the function is compiled for AVX-512, AVX2+FMA and the
// baseline, the loader choosing by the CPU's features (GCC/clang target_clones); ARM uses its baseline
// NEON (aarch64) or VFP/NEON as the toolchain sets.
#pragma once

#include <cstddef>
#include <cstdint>

namespace probex {

// w: rows * cols int8; scales: rows * ceil(cols / block_size) (or rows when block_size is 0); bias: rows
// floats or null; x: cols floats; y: rows floats.
void gemv_int8(const int8_t* w, const float* scales, size_t block_size, const float* bias, const float* x, size_t rows,
               size_t cols, float* y);

}  // namespace probex
