// A test-only GGUF writer: appends the format's fields one by one, so tests can build valid files and,
// field by field, files broken in exactly one place. Little-endian, as the format.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/formats/gguf.h"

namespace probex::test {

class GgufWriter {
 public:
  // Magic, version and the two counts.
  GgufWriter(uint64_t tensor_count, uint64_t kv_count, uint32_t version = 3) {
    raw("GGUF");
    u32(version).u64(tensor_count).u64(kv_count);
  }
  GgufWriter() = default;  // no header: for hand-written prefixes

  GgufWriter& raw(const std::string& s) {
    // push_back, not insert: GCC 12's -Wstringop-overflow misfires on inserting a string into a vector.
    for (char ch : s) bytes.push_back(static_cast<uint8_t>(ch));
    return *this;
  }
  GgufWriter& raw(const std::vector<uint8_t>& b) {
    bytes.insert(bytes.end(), b.begin(), b.end());
    return *this;
  }
  GgufWriter& u8(uint8_t v) { return le(v, 1); }
  GgufWriter& u16(uint16_t v) { return le(v, 2); }
  GgufWriter& u32(uint32_t v) { return le(v, 4); }
  GgufWriter& u64(uint64_t v) { return le(v, 8); }
  GgufWriter& f32(float v) {
    uint32_t b;
    std::memcpy(&b, &v, 4);
    return u32(b);
  }
  GgufWriter& f64(double v) {
    uint64_t b;
    std::memcpy(&b, &v, 8);
    return u64(b);
  }
  GgufWriter& str(const std::string& s) { return u64(s.size()).raw(s); }
  GgufWriter& type(GgufValueType t) { return u32(static_cast<uint32_t>(t)); }

  // A key and its value type; the value follows with the calls above.
  GgufWriter& key(const std::string& k, GgufValueType t) { return str(k).type(t); }
  GgufWriter& kv_u32(const std::string& k, uint32_t v) { return key(k, GgufValueType::kU32).u32(v); }
  GgufWriter& kv_str(const std::string& k, const std::string& v) { return key(k, GgufValueType::kString).str(v); }

  // A tensor info: name, ne (as stored, ne[0] innermost), ggml type and offset in the data section.
  GgufWriter& tensor(const std::string& name, const std::vector<uint64_t>& ne, GgmlType t, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(static_cast<uint32_t>(t)).u64(offset);
  }
  GgufWriter& pad(uint64_t alignment = 32) {
    while (bytes.size() % alignment != 0) bytes.push_back(0);
    return *this;
  }
  GgufWriter& zeros(size_t n) {
    bytes.insert(bytes.end(), n, 0);
    return *this;
  }

  std::vector<uint8_t> bytes;

 private:
  GgufWriter& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
};

// A file of one tensor `name` of type `t` and stored dims `ne` whose data are `data` (no metadata).
inline std::vector<uint8_t> one_tensor_gguf(const std::string& name, const std::vector<uint64_t>& ne, GgmlType t,
                                            const std::vector<uint8_t>& data) {
  GgufWriter w(1, 0);
  w.tensor(name, ne, t, 0).pad().raw(data);
  return w.bytes;
}

}  // namespace probex::test
