// The malformed-file corpus of the GGUF reader: hand-made files, each breaking one rule, with the error
// and a message fragment the reader must give. The reader's tests check every case; the fuzz script writes
// them as seeds (tests/fuzz/write_malformed_corpus.cpp).
#pragma once

#include <string>
#include <vector>

#include "runtime/formats/gguf.h"
#include "tests/runtime/formats/gguf_writer.h"

namespace probex::test {

struct MalformedGgufCase {
  const char* name;
  std::vector<uint8_t> bytes;
  GgufError expected;
  const char* message_part;  // must appear in the message (tensor name or the problem)
};

inline std::vector<uint8_t> truncated(std::vector<uint8_t> bytes, size_t keep) {
  bytes.resize(keep);
  return bytes;
}

inline std::vector<MalformedGgufCase> malformed_gguf_corpus() {
  using T = GgmlType;
  using V = GgufValueType;
  using E = GgufError;
  // The valid base: one F32 tensor "w" of 2 elements, no metadata. Header 24 bytes, tensor info 33 (name at
  // 24, n_dims at 33, ne at 37, type at 45, offset at 49), data at 64..72.
  const std::vector<uint8_t> base = one_tensor_gguf("w", {2}, T::kF32, std::vector<uint8_t>(8, 0));
  // One metadata entry, then that tensor: `value` writes the entry's key, type and value.
  auto with_kv = [](auto value) {
    GgufWriter w(1, 1);
    value(w);
    return w.tensor("w", {2}, T::kF32, 0).pad().zeros(8).bytes;
  };
  // Tensors only: each (name, ne, type, offset), then `data` bytes after the aligned data start.
  struct Info {
    std::string name;
    std::vector<uint64_t> ne;
    GgmlType type;
    uint64_t offset;
  };
  auto tensors = [](const std::vector<Info>& infos, size_t data) {
    GgufWriter w(infos.size(), 0);
    for (const Info& i : infos) w.tensor(i.name, i.ne, i.type, i.offset);
    return w.pad().zeros(data).bytes;
  };
  std::vector<MalformedGgufCase> c = {
      {"empty file", {}, E::kFileTruncated, "the magic"},
      {"three bytes", GgufWriter().raw("GGU").bytes, E::kFileTruncated, "the magic"},
      {"wrong magic", GgufWriter().raw("GGML").u32(3).u64(0).u64(0).bytes, E::kBadMagic, "\"GGUF\""},
      {"lowercase magic", GgufWriter().raw("gguf").u32(3).u64(0).u64(0).bytes, E::kBadMagic, "\"GGUF\""},
      {"version 1", GgufWriter(0, 0, 1).bytes, E::kUnsupportedVersion, "v1"},
      {"version 4", GgufWriter(0, 0, 4).bytes, E::kUnsupportedVersion, "version 4 is not 2 or 3"},
      {"version 0", GgufWriter(0, 0, 0).bytes, E::kUnsupportedVersion, "version 0"},
      {"big-endian version 3", GgufWriter(0, 0, 0x03000000).bytes, E::kUnsupportedVersion, "big-endian"},
      {"truncated in the version", truncated(base, 6), E::kFileTruncated, "the version"},
      {"truncated in the tensor count", truncated(base, 12), E::kFileTruncated, "the tensor count"},
      {"truncated in the metadata count", truncated(base, 20), E::kFileTruncated, "the metadata count"},
      {"tensor count 2^63", GgufWriter(1ull << 63, 0).bytes, E::kLimitExceeded, "9223372036854775808 tensors"},
      {"metadata count 2^40", GgufWriter(0, 1ull << 40).bytes, E::kLimitExceeded, "metadata entries exceed"},
      {"metadata missing", GgufWriter(0, 1).bytes, E::kFileTruncated, "a metadata key"},
      {"key length beyond the file", GgufWriter(0, 1).u64(100).raw("abc").bytes, E::kFileTruncated,
       "a metadata key of 100 bytes"},
      {"key length 2^64-1", GgufWriter(0, 1).u64(~0ull).bytes, E::kFileTruncated, "18446744073709551615"},
      {"empty key", GgufWriter(0, 1).kv_u32("", 1).bytes, E::kBadString, "metadata key 0"},
      {"key not UTF-8", GgufWriter(0, 1).kv_u32("a\xff", 1).bytes, E::kBadString, "not UTF-8"},
      {"truncated in the value type", GgufWriter(0, 1).str("k").u16(4).bytes, E::kFileTruncated, "value type"},
      {"unknown value type 13", GgufWriter(0, 1).str("k").u32(13).u32(0).bytes, E::kBadValueType,
       "'k': unknown value type 13"},
      {"truncated uint32 value", GgufWriter(0, 1).key("k", V::kU32).u16(1).bytes, E::kFileTruncated,
       "a metadata value"},
      {"truncated float64 value", GgufWriter(0, 1).key("k", V::kF64).u32(0).bytes, E::kFileTruncated,
       "a metadata value"},
      {"string value beyond the file", GgufWriter(0, 1).key("k", V::kString).u64(5).raw("ab").bytes, E::kFileTruncated,
       "a string value of 5 bytes"},
      {"bool value 2", GgufWriter(0, 1).key("flag", V::kBool).u8(2).bytes, E::kBadValueType, "'flag': bool value 2"},
      {"array of unknown type", GgufWriter(0, 1).key("a", V::kArray).u32(99).u64(0).bytes, E::kBadValueType,
       "unknown value type 99"},
      {"array count beyond the file", GgufWriter(0, 1).key("a", V::kArray).type(V::kU32).u64(1ull << 62).bytes,
       E::kFileTruncated, "array of 4611686018427387904 uint32"},
      {"string array element beyond the file",
       GgufWriter(0, 1).key("a", V::kArray).type(V::kString).u64(2).str("x").u64(9).bytes, E::kFileTruncated,
       "a string in an array"},
      {"bool array holding 7", GgufWriter(0, 1).key("a", V::kArray).type(V::kBool).u64(2).u8(1).u8(7).bytes,
       E::kBadValueType, "bool value 7"},
      {"arrays nested 5 deep",
       GgufWriter(0, 1)
           .key("deep", V::kArray)
           .type(V::kArray)
           .u64(1)
           .type(V::kArray)
           .u64(1)
           .type(V::kArray)
           .u64(1)
           .type(V::kArray)
           .u64(1)
           .type(V::kU8)
           .u64(0)
           .bytes,
       E::kNestingTooDeep, "'deep': arrays nested deeper than 4"},
      {"duplicate key", GgufWriter(0, 2).kv_u32("k", 1).kv_str("k", "x").bytes, E::kDuplicateKey, "'k' appears twice"},
      {"alignment 48", with_kv([](GgufWriter& w) { w.kv_u32("general.alignment", 48); }), E::kBadAlignment,
       "48, not a power of two"},
      {"alignment 0", with_kv([](GgufWriter& w) { w.kv_u32("general.alignment", 0); }), E::kBadAlignment,
       "0, not a power of two"},
      {"alignment as uint64", with_kv([](GgufWriter& w) { w.key("general.alignment", V::kU64).u64(32); }),
       E::kBadAlignment, "not a uint32"},
      {"tensor infos missing", GgufWriter(1, 0).bytes, E::kFileTruncated, "a tensor name"},
      {"truncated in the dimension count", truncated(base, 35), E::kFileTruncated, "a dimension count"},
      {"truncated in a dimension", truncated(base, 40), E::kFileTruncated, "a dimension at byte 37"},
      {"truncated in the type", truncated(base, 47), E::kFileTruncated, "a tensor type"},
      {"truncated in the offset", truncated(base, 52), E::kFileTruncated, "a tensor offset"},
      {"empty tensor name", tensors({{"", {2}, T::kF32, 0}}, 8), E::kBadString, "tensor 0's name"},
      {"tensor name of 65 bytes", tensors({{std::string(65, 'n'), {2}, T::kF32, 0}}, 8), E::kBadString,
       "over 64 bytes"},
      {"zero dimensions", tensors({{"w", {}, T::kF32, 0}}, 8), E::kBadDimensions, "'w': 0 dimensions"},
      {"five dimensions", tensors({{"w", {1, 1, 1, 1, 2}, T::kF32, 0}}, 8), E::kBadDimensions, "'w': 5 dimensions"},
      {"element count overflows", tensors({{"w", {1ull << 32, 1ull << 32}, T::kF32, 0}}, 8), E::kOverflow,
       "'w': the element count"},
      {"dimension above int64", tensors({{"w", {1ull << 63}, T::kF32, 0}}, 8), E::kOverflow, "'w'"},
      {"byte size overflows", tensors({{"w", {1ull << 61}, T::kF64, 0}}, 8), E::kOverflow, "'w': the byte size"},
      {"removed type 4 (Q4_2)", tensors({{"w", {32}, static_cast<GgmlType>(4), 0}}, 32), E::kUnknownType,
       "'w': unknown ggml type 4"},
      {"type 1000", tensors({{"w", {2}, static_cast<GgmlType>(1000), 0}}, 8), E::kUnknownType,
       "unknown ggml type 1000"},
      {"Q4_0 row of 33", tensors({{"w", {33, 2}, T::kQ4_0, 0}}, 64), E::kRowNotBlockMultiple,
       "'w': row length ne[0] = 33 is not a multiple of Q4_0's block of 32"},
      {"Q4_K row of 32", tensors({{"w", {32}, T::kQ4_K, 0}}, 144), E::kRowNotBlockMultiple, "Q4_K's block of 256"},
      {"misaligned offset", tensors({{"w", {2}, T::kF32, 4}}, 16), E::kMisalignedOffset,
       "'w': offset 4 is not a multiple of the alignment 32"},
      {"offset beyond the file", tensors({{"w", {2}, T::kF32, 1024}}, 8), E::kDataOutOfFile, "'w': bytes [1088, 1096)"},
      {"data one byte short", truncated(base, 71), E::kDataOutOfFile, "extend past the end of the file at 71"},
      {"data section start beyond a tiny file", truncated(base, 60), E::kDataOutOfFile, "'w'"},
      {"offset near 2^64", tensors({{"w", {2}, T::kF32, ~0ull - 31}}, 8), E::kOverflow, "'w': offset + size"},
      {"overlapping tensors", tensors({{"a", {16}, T::kF32, 0}, {"b", {2}, T::kF32, 32}}, 64), E::kTensorsOverlap,
       "'b': bytes from offset 32 overlap tensor 'a', which ends at 64"},
      {"overlap across an empty tensor",
       tensors({{"big", {16}, T::kF32, 0}, {"empty", {0}, T::kF32, 32}, {"c", {2}, T::kF32, 32}}, 64),
       E::kTensorsOverlap, "'c': bytes from offset 32 overlap tensor 'big'"},
      {"same offset twice", tensors({{"a", {2}, T::kF32, 0}, {"b", {2}, T::kF32, 0}}, 8), E::kTensorsOverlap,
       "overlap tensor"},
      {"duplicate tensor name", tensors({{"w", {2}, T::kF32, 0}, {"w", {2}, T::kF32, 32}}, 40), E::kDuplicateName,
       "'w': name appears twice"},
  };
  return c;
}

}  // namespace probex::test
