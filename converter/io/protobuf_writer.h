// A protobuf message being written, field by field (no libprotobuf): what the ONNX writer
// (onnx_writer.cpp) and the hand-made ONNX files of the tests (tests/runtime/formats/onnx_writer.h) encode with.
// Header-only, so the runtime's tests use it without the converter library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace probex::convert {

struct Pb {
  std::vector<uint8_t> bytes;

  // Appends bytes as they are (no tag): a payload already encoded.
  Pb& raw(const std::vector<uint8_t>& b) {
    bytes.insert(bytes.end(), b.begin(), b.end());
    return *this;
  }
  Pb& varint(uint64_t v) {
    while (v >= 0x80) {
      bytes.push_back(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    bytes.push_back(static_cast<uint8_t>(v));
    return *this;
  }
  Pb& tag(uint32_t field, uint32_t wire) { return varint(uint64_t{field} << 3 | wire); }
  Pb& u(uint32_t field, uint64_t v) { return tag(field, 0).varint(v); }
  // A length-delimited field (wire type 2).
  Pb& len(uint32_t field, const uint8_t* data, size_t size) {
    tag(field, 2).varint(size);
    bytes.insert(bytes.end(), data, data + size);
    return *this;
  }
  Pb& len(uint32_t field, const std::vector<uint8_t>& b) { return len(field, b.data(), b.size()); }
  Pb& str(uint32_t field, const std::string& s) {
    return len(field, reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  Pb& msg(uint32_t field, const Pb& m) { return len(field, m.bytes); }
  Pb& fixed32(uint32_t field, uint32_t v) {
    tag(field, 5);
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
};

}  // namespace probex::convert
