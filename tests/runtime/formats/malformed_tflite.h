// The malformed-file corpus of the TFLite reader: hand-made files, each breaking one rule (most are the
// valid base model of tflite_builder.h with one field made wrong), with the error and a message fragment
// the reader must give. The reader's tests check every case through the model-file interface; the fuzz
// script writes them as seeds (tests/fuzz/write_malformed_corpus.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "runtime/formats/tflite.h"
#include "tests/runtime/formats/tflite_builder.h"

namespace probex::test {

struct MalformedTfliteCase {
  const char* name;
  std::vector<uint8_t> bytes;
  TfliteError expected;
  const char* message_part;
};

inline std::vector<uint8_t> base_with(const std::function<void(TflModel&)>& change, bool external = false) {
  TflModel m = base_tflite(external);
  change(m);
  return build_tflite(m);
}

inline std::vector<MalformedTfliteCase> malformed_tflite_corpus() {
  using E = TfliteError;
  const std::vector<uint8_t> base = build_tflite(base_tflite());
  auto cut = [&](size_t keep) { return std::vector<uint8_t>(base.begin(), base.begin() + static_cast<long>(keep)); };
  auto patched = [&](size_t at, std::vector<uint8_t> bytes) {
    std::vector<uint8_t> b = base;
    for (size_t i = 0; i < bytes.size(); ++i) b[at + i] = bytes[i];
    return b;
  };
  TflTensor& (*fc)(TflModel&) = [](TflModel& m) -> TflTensor& { return m.subgraphs[0].tensors[6]; };
  // A sparse FLOAT32 [2, 2] tensor: rows dense, columns CSR, (0, 0) and (1, 1) stored (buffer 2: 2 floats).
  auto sparse = [](std::function<void(TflTensor&)> change, size_t values = 2) {
    return base_with([&](TflModel& m) {
      TflTensor& t = m.subgraphs[0].tensors[4];
      t.shape = {2, 2};
      t.sparse = true;
      t.traversal_order = {0, 1};
      t.dim_metadata = {{false, 2, {}, {}, false}, {true, 0, {0, 1, 2}, {0, 1}, false}};
      m.buffers[2].data.resize(values * 4);
      change(t);
    });
  };
  const uint64_t big = std::numeric_limits<uint64_t>::max() / 2 + 1;
  std::vector<MalformedTfliteCase> c = {
      {"empty file", {}, E::kFileTruncated, "0 bytes, fewer than"},
      {"seven bytes", cut(7), E::kFileTruncated, "7 bytes"},
      {"identifier TFL2", patched(4, {'T', 'F', 'L', '2'}), E::kBadIdentifier, "\"TFL3\""},
      {"identifier at bytes 0..4", patched(0, {'T', 'F', 'L', '3', 0, 0, 0, 0}), E::kBadIdentifier, "bytes 4..8"},
      {"truncated to the header", cut(8), E::kVerifierFailed, "Verifier refuses"},
      {"truncated to half", cut(base.size() / 2), E::kVerifierFailed, "Verifier refuses"},
      {"root offset past the end", patched(0, {0xF0, 0xFF, 0xFF, 0x7F}), E::kVerifierFailed, "Verifier refuses"},
      {"root offset misaligned", patched(0, {0x0D, 0, 0, 0}), E::kVerifierFailed, "Verifier refuses"},
      {"no subgraphs", base_with([](TflModel& m) { m.no_subgraphs = true; }), E::kMissingField, "no subgraphs"},
      {"no buffers", base_with([](TflModel& m) { m.no_buffers = true; }), E::kMissingField, "no buffers"},
      {"buffer index out of range", base_with([&](TflModel& m) { fc(m).buffer = 7; }), E::kBadBufferIndex,
       "tensor 'fc/w': buffer index 7 is outside the model's 5 buffers"},
      {"offset buffer past the end", base_with([](TflModel& m) {
         m.buffers[3] = {{}, false, 1u << 20, 6};
       }),
       E::kDataOutOfFile, "buffer 3: bytes [1048576, 1048582) extend past the end"},
      {"offset + size overflows", base_with([&](TflModel& m) {
         m.buffers[3] = {{}, false, big, big};
       }),
       E::kOverflow, "buffer 3: offset + size overflows"},
      {"inline data and an offset", base_with([](TflModel& m) {
         m.buffers[3] = {{1, 2, 3, 4, 5, 6}, false, 64, 6};
       }),
       E::kBadBuffer, "buffer 3: has both inline data and an offset"},
      {"inline size mismatch", base_with([](TflModel& m) { m.buffers[3].data.pop_back(); }), E::kSizeMismatch,
       "tensor 'fc/w': its buffer has 5 bytes; shape [2, 3] of INT8 needs 6"},
      {"external size mismatch", base_with([](TflModel& m) { m.buffers[1].data.resize(40); }, true), E::kSizeMismatch,
       "tensor 'conv/w16': its buffer has 40 bytes; shape [3, 2, 1, 4] of FLOAT16 needs 48"},
      {"negative dimension", base_with([&](TflModel& m) {
         fc(m).shape = {2, -3};
       }),
       E::kBadShape, "tensor 'fc/w': dimension 1 is -3"},
      {"element count overflows", base_with([](TflModel& m) {
         m.subgraphs[0].tensors[0].shape = {65536, 65536, 65536, 65536};
       }),
       E::kOverflow, "tensor 'input': the element count overflows 64 bits"},
      {"byte size overflows", base_with([](TflModel& m) {
         m.subgraphs[0].tensors[4].shape = {2147483647, 2147483647, 4};
       }),
       E::kOverflow, "tensor 'dw/w': the byte size overflows 64 bits"},
      {"nine dimensions", base_with([](TflModel& m) { m.subgraphs[0].tensors[3].shape = {1, 1, 1, 1, 1, 1, 1, 1, 1}; }),
       E::kLimitExceeded, "tensor 'conv/out': 9 dimensions exceed the limit of 8"},
      {"per-channel scale count", base_with([&](TflModel& m) {
         fc(m).scale = {1, 2, 3};
         fc(m).zero_point = {0, 0, 0};
       }),
       E::kBadQuantization, "tensor 'fc/w': 3 scales for dimension 0 of size 2"},
      {"quantized_dimension past the rank", base_with([&](TflModel& m) { fc(m).quantized_dimension = 2; }),
       E::kBadQuantization, "quantized_dimension 2 is not a dimension of a tensor of rank 2"},
      {"negative quantized_dimension", base_with([&](TflModel& m) { fc(m).quantized_dimension = -1; }),
       E::kBadQuantization, "quantized_dimension -1"},
      {"zero point count", base_with([&](TflModel& m) { fc(m).zero_point = {0}; }), E::kBadQuantization,
       "2 scales but 1 zero points"},
      {"NaN scale", base_with([&](TflModel& m) { fc(m).scale[1] = std::numeric_limits<float>::quiet_NaN(); }),
       E::kBadQuantization, "scale 1 is not finite"},
      {"zero point outside int32", base_with([&](TflModel& m) { fc(m).zero_point[0] = int64_t{1} << 32; }),
       E::kBadQuantization, "zero point 4294967296 is outside int32"},
      {"sparse traversal_order not a permutation", sparse([](TflTensor& t) {
         t.traversal_order = {1, 1};
       }),
       E::kBadSparsity, "traversal_order is not a permutation"},
      {"sparse traversal_order shorter than the rank", sparse([](TflTensor& t) { t.traversal_order = {0}; }),
       E::kBadSparsity, "traversal_order has 1 entries for a tensor of rank 2"},
      {"sparse block dimension first", sparse([](TflTensor& t) {
         t.traversal_order = {2, 0, 1};
         t.block_map = {0};
       }),
       E::kBadSparsity, "with the dense dimensions first"},
      {"sparse block_map count", sparse([](TflTensor& t) { t.block_map = {0}; }), E::kBadSparsity,
       "block_map has 1 entries, not 0"},
      {"sparse block_map entry", sparse([](TflTensor& t) {
         t.traversal_order = {0, 1, 2};
         t.block_map = {5};
         t.dim_metadata.push_back({false, 1, {}, {}, false});
       }),
       E::kBadSparsity, "block_map entry 5"},
      {"sparse dim_metadata count", sparse([](TflTensor& t) { t.dim_metadata.pop_back(); }), E::kBadSparsity,
       "dim_metadata has 1 entries, not 2"},
      {"sparse CSR without indices", sparse([](TflTensor& t) { t.dim_metadata[1].indices.clear(); }), E::kBadSparsity,
       "dim_metadata 1 is SPARSE_CSR without"},
      {"sparse negative dense_size", sparse([](TflTensor& t) { t.dim_metadata[0].dense_size_negative = true; }),
       E::kBadSparsity, "dim_metadata 0 is neither DENSE"},
      {"sparse dense_size not the dimension's", sparse([](TflTensor& t) { t.dim_metadata[0].dense_size = 3; }),
       E::kBadSparsity, "level 0: dense_size 3, but the dimension has 2"},
      {"sparse segments count", sparse([](TflTensor& t) {
         t.dim_metadata[1].segments = {0, 2};
       }),
       E::kBadSparsity, "level 1: 2 array_segments for 2 positions (needs 3)"},
      {"sparse segments not from 0", sparse([](TflTensor& t) {
         t.dim_metadata[1].segments = {1, 1, 2};
       }),
       E::kBadSparsity, "array_segments do not run from 0 to the 2 array_indices"},
      {"sparse segment past the indices", sparse([](TflTensor& t) {
         t.dim_metadata[1].segments = {0, 3, 2};
         t.dim_metadata[1].indices = {0, 1};
       }),
       E::kBadSparsity, "array_segments are not non-decreasing within [0, 2] at 1"},
      {"sparse index outside the dimension", sparse([](TflTensor& t) {
         t.dim_metadata[1].indices = {0, 2};
       }),
       E::kBadSparsity, "level 1: index 2 is outside the dimension's 2"},
      {"sparse negative index", sparse([](TflTensor& t) {
         t.dim_metadata[1].indices = {-1, 0};
       }),
       E::kBadSparsity, "index -1 is outside"},
      {"sparse index twice in a segment", sparse([](TflTensor& t) {
         t.dim_metadata[1].segments = {0, 2, 2};
         t.dim_metadata[1].indices = {1, 1};
       }),
       E::kBadSparsity, "indices do not increase within segment 0"},
      {"sparse values beyond the buffer", sparse([](TflTensor&) {}, 1), E::kBadSparsity,
       "2 stored values, but the buffer holds 4 bytes of FLOAT32"},
      {"sparse block size not dividing", sparse([](TflTensor& t) {
         t.shape = {2, 3};
         t.traversal_order = {0, 1, 2};
         t.block_map = {1};
         t.dim_metadata.push_back({false, 2, {}, {}, false});
       }),
       E::kBadSparsity, "block size 2 does not divide dimension 1 of size 3"},
      {"sparse block level CSR", sparse([](TflTensor& t) {
         t.traversal_order = {0, 1, 2};
         t.block_map = {1};
         t.dim_metadata.push_back({true, 0, {0, 1}, {0}, false});
       }),
       E::kBadSparsity, "block level 2 is not DENSE with a positive block size"},
      {"opcode index out of range", base_with([](TflModel& m) { m.subgraphs[0].ops[2].opcode_index = 9; }),
       E::kBadOperator, "subgraph 0, operator 2: opcode index 9 is outside the 4 operator codes"},
      {"operator input out of range", base_with([](TflModel& m) { m.subgraphs[0].ops[1].inputs[1] = 17; }),
       E::kBadOperator, "operator 1: tensor index 17 is outside the subgraph's 9 tensors"},
      {"operator input -2", base_with([](TflModel& m) { m.subgraphs[0].ops[3].inputs[0] = -2; }), E::kBadOperator,
       "operator 3: tensor index -2"},
      {"operator output out of range", base_with([](TflModel& m) { m.subgraphs[0].ops[0].outputs[0] = 9; }),
       E::kBadOperator, "operator 0: tensor index 9"},
      {"duplicate tensor names", base_with([](TflModel& m) { m.subgraphs[0].tensors[3].name = "conv/w"; }),
       E::kDuplicateName, "tensor 'conv/w': name appears twice in subgraph 0"},
  };
  return c;
}

}  // namespace probex::test
