// The malformed-file corpus of the safetensors reader: hand-made files, each breaking one rule, with the
// error and a message fragment the reader must give. The reader's tests check every case; the fuzz
// script writes them as seeds (tests/fuzz/write_malformed_corpus.cpp).
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "runtime/formats/safetensors.h"
#include "tests/test_util.h"

namespace probex::test {

using probex::SafetensorsError;

struct MalformedCase {
  const char* name;
  std::vector<uint8_t> bytes;
  SafetensorsError expected;
  const char* message_part;  // must appear in the message (tensor name or the problem)
};

inline std::vector<uint8_t> raw(std::initializer_list<uint8_t> bytes) { return bytes; }

inline std::vector<uint8_t> with_length(uint64_t n, const std::string& rest) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

// A one-tensor header for tensor `w` with the given entry body.
inline std::string one(const std::string& entry) { return "{\"w\":" + entry + "}"; }

inline std::vector<MalformedCase> malformed_safetensors_corpus() {
  const std::string ok_entry = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  std::vector<MalformedCase> c = {
      {"empty file", {}, SafetensorsError::kHeaderTooSmall, "fewer than the 8-byte"},
      {"seven bytes", raw({2, 0, 0, 0, 0, 0, 0}), SafetensorsError::kHeaderTooSmall, "7 bytes"},
      {"header length zero", with_length(0, ""), SafetensorsError::kHeaderTooSmall, "below 2"},
      {"header length one", with_length(1, "{"), SafetensorsError::kHeaderTooSmall, "below 2"},
      {"header length 2^63", with_length(1ull << 63, "{}"), SafetensorsError::kFileTruncated,
       "9223372036854775808 but only 2"},
      {"header length just over 100 MB", with_length(100000001, "{}"), SafetensorsError::kFileTruncated, "100000001"},
      {"header longer than file", with_length(64, "{}"), SafetensorsError::kFileTruncated, "only 2 bytes follow"},
      {"invalid UTF-8 byte", safetensors_bytes("{\"w\xff\":1}", 0), SafetensorsError::kHeaderNotUtf8, "UTF-8"},
      {"overlong UTF-8", safetensors_bytes("{\"\xc0\xaf\":1}", 0), SafetensorsError::kHeaderNotUtf8, "at byte 10"},
      {"UTF-8 surrogate", safetensors_bytes("{\"\xed\xa0\x80\":1}", 0), SafetensorsError::kHeaderNotUtf8, "UTF-8"},
      {"header is an array", safetensors_bytes("[]", 0), SafetensorsError::kHeaderNotObject, "start with '{'"},
      {"header starts with space", safetensors_bytes(" {}", 0), SafetensorsError::kHeaderNotObject, "start with '{'"},
      {"truncated JSON", safetensors_bytes("{\"w\":", 0), SafetensorsError::kHeaderInvalidJson, "unexpected end"},
      {"garbage after object", safetensors_bytes("{} x", 0), SafetensorsError::kHeaderInvalidJson,
       "after the JSON value"},
      {"nested too deeply", safetensors_bytes("{\"__metadata__\":{\"k\":[[[[[[[[[1]]]]]]]]]}}", 0),
       SafetensorsError::kHeaderInvalidJson, "too deeply"},
      {"lone surrogate escape", safetensors_bytes("{\"\\ud800\":1}", 0), SafetensorsError::kHeaderInvalidJson,
       "surrogate"},
      {"control character in string", safetensors_bytes("{\"a\tb\":1}", 0), SafetensorsError::kHeaderInvalidJson,
       "control"},
      {"trailing comma", safetensors_bytes("{\"w\":" + ok_entry + ",}", 8), SafetensorsError::kHeaderInvalidJson,
       "string key"},
      {"metadata not an object", safetensors_bytes("{\"__metadata__\":[]}", 0), SafetensorsError::kInvalidMetadata,
       "not an object"},
      {"metadata value not a string", safetensors_bytes("{\"__metadata__\":{\"k\":1}}", 0),
       SafetensorsError::kInvalidMetadata, "'k' is not a string"},
      {"metadata repeats a key", safetensors_bytes("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0),
       SafetensorsError::kInvalidMetadata, "repeats the key 'k'"},
      {"metadata twice", safetensors_bytes("{\"__metadata__\":{},\"__metadata__\":{}}", 0),
       SafetensorsError::kDuplicateName, "__metadata__ appears twice"},
      {"entry is a number", safetensors_bytes(one("1"), 0), SafetensorsError::kBadEntry,
       "tensor 'w': entry is not an object"},
      {"entry is an array", safetensors_bytes(one("[]"), 0), SafetensorsError::kBadEntry, "tensor 'w'"},
      {"missing dtype", safetensors_bytes(one(R"({"shape":[2],"data_offsets":[0,8]})"), 8), SafetensorsError::kBadEntry,
       "missing the field 'dtype'"},
      {"missing shape", safetensors_bytes(one(R"({"dtype":"F32","data_offsets":[0,8]})"), 8),
       SafetensorsError::kBadEntry, "missing the field 'shape'"},
      {"missing data_offsets", safetensors_bytes(one(R"({"dtype":"F32","shape":[2]})"), 8), SafetensorsError::kBadEntry,
       "missing the field 'data_offsets'"},
      {"unknown field", safetensors_bytes(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"scale":1})"), 8),
       SafetensorsError::kBadEntry, "unknown field 'scale'"},
      {"repeated field", safetensors_bytes(one(R"({"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]})"), 8),
       SafetensorsError::kBadEntry, "repeats the field 'dtype'"},
      {"empty tensor name", safetensors_bytes("{\"\":" + ok_entry + "}", 8), SafetensorsError::kBadEntry, "empty name"},
      {"dtype not a string", safetensors_bytes(one(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})"), 8),
       SafetensorsError::kBadEntry, "dtype is not a string"},
      {"unknown dtype", safetensors_bytes(one(R"({"dtype":"F128","shape":[2],"data_offsets":[0,8]})"), 8),
       SafetensorsError::kUnknownDtype, "unknown dtype 'F128'"},
      {"lower-case dtype", safetensors_bytes(one(R"({"dtype":"f32","shape":[2],"data_offsets":[0,8]})"), 8),
       SafetensorsError::kUnknownDtype, "'f32'"},
      {"shape not an array", safetensors_bytes(one(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})"), 8),
       SafetensorsError::kInvalidShape, "not an array"},
      {"negative dimension", safetensors_bytes(one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), 8),
       SafetensorsError::kInvalidShape, "non-negative integer"},
      {"fractional dimension", safetensors_bytes(one(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), 8),
       SafetensorsError::kInvalidShape, "non-negative integer"},
      {"string dimension", safetensors_bytes(one(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"), 8),
       SafetensorsError::kInvalidShape, "non-negative integer"},
      {"nine dimensions",
       safetensors_bytes(one(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]})"), 8),
       SafetensorsError::kLimitExceeded, "more than 8"},
      {"dimension above 2^64",
       safetensors_bytes(one(R"({"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]})"), 8),
       SafetensorsError::kOverflow, "64 bits"},
      {"element count overflows",
       safetensors_bytes(one(R"({"dtype":"U8","shape":[4294967296,4294967296,2],"data_offsets":[0,8]})"), 8),
       SafetensorsError::kOverflow, "element count"},
      {"byte size overflows",
       safetensors_bytes(one(R"({"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]})"), 8),
       SafetensorsError::kOverflow, "byte size"},
      {"offsets with three values", safetensors_bytes(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8,16]})"), 8),
       SafetensorsError::kInvalidOffsets, "[begin, end]"},
      {"offsets with one value", safetensors_bytes(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8]})"), 8),
       SafetensorsError::kInvalidOffsets, "[begin, end]"},
      {"offsets reversed", safetensors_bytes(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"), 8),
       SafetensorsError::kInvalidOffsets, "begin 8 is after end 0"},
      {"offset above 2^64",
       safetensors_bytes(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,99999999999999999999]})"), 8),
       SafetensorsError::kOverflow, "64 bits"},
      {"size mismatch", safetensors_bytes(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), 8),
       SafetensorsError::kSizeMismatch, "needs 12 bytes but data_offsets span 8"},
      {"offsets overlap",
       safetensors_bytes(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
           12),
       SafetensorsError::kOffsetsOverlap, "tensor 'b'"},
      {"hole between tensors",
       safetensors_bytes(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
           20),
       SafetensorsError::kOffsetsHole, "bytes 8..12"},
      {"first tensor not at 0", safetensors_bytes(one(R"({"dtype":"F32","shape":[2],"data_offsets":[4,12]})"), 12),
       SafetensorsError::kOffsetsHole, "bytes 0..4"},
      {"data truncated", safetensors_bytes(one(ok_entry), 5), SafetensorsError::kFileTruncated, "only 5 data bytes"},
      {"trailing bytes", safetensors_bytes(one(ok_entry), 9), SafetensorsError::kTrailingBytes,
       "1 bytes after the last tensor"},
      {"duplicate tensor name",
       safetensors_bytes(
           R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           8),
       SafetensorsError::kDuplicateName, "tensor 'a': name appears twice"},
  };
  return c;
}

}  // namespace probex::test
