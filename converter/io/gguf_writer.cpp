#include "gguf_writer.h"

#include <algorithm>
#include <cmath>

#include "core/float_formats.h"
#include "io/safetensors_writer.h"

namespace probex::convert {

namespace {

// GGUF metadata value types.
constexpr uint32_t kTypeUint32 = 4;
constexpr uint32_t kTypeFloat32 = 6;
constexpr uint32_t kTypeString = 8;
constexpr uint32_t kTypeArray = 9;

constexpr size_t kQ8Block = 32;
constexpr size_t kQ8BlockBytes = 2 + kQ8Block;

// Little-endian appenders (GGUF is little-endian).
void put_u32(std::vector<uint8_t>* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_u64(std::vector<uint8_t>* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_string(std::vector<uint8_t>* out, const std::string& s) {
  put_u64(out, s.size());
  out->insert(out->end(), s.begin(), s.end());
}

uint64_t padded(uint64_t n) { return (n + GgufWriter::kAlignment - 1) / GgufWriter::kAlignment * GgufWriter::kAlignment; }

}  // namespace

const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::kF32: return "F32";
    case GgufType::kF16: return "F16";
    case GgufType::kQ8_0: return "Q8_0";
  }
  return "?";
}

bool parse_gguf_type(const std::string& name, GgufType* out) {
  for (GgufType t : {GgufType::kF32, GgufType::kF16, GgufType::kQ8_0}) {
    if (name == gguf_type_name(t)) {
      *out = t;
      return true;
    }
  }
  return false;
}

void quantize_q8_0_block(const float* x, uint8_t* out) {
  float amax = 0.0f;
  for (size_t j = 0; j < kQ8Block; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const uint16_t d16 = f32_to_f16(d);
  out[0] = static_cast<uint8_t>(d16);
  out[1] = static_cast<uint8_t>(d16 >> 8);
  for (size_t j = 0; j < kQ8Block; ++j) {
    out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::lround(x[j] * id)));
  }
}

void GgufWriter::set_string(const std::string& key, const std::string& value) {
  std::vector<uint8_t> v;
  put_u32(&v, kTypeString);
  put_string(&v, value);
  metadata_[key] = std::move(v);
}

void GgufWriter::set_uint32(const std::string& key, uint32_t value) {
  std::vector<uint8_t> v;
  put_u32(&v, kTypeUint32);
  put_u32(&v, value);
  metadata_[key] = std::move(v);
}

void GgufWriter::set_float32(const std::string& key, float value) {
  std::vector<uint8_t> v;
  put_u32(&v, kTypeFloat32);
  put_u32(&v, f32_to_bits(value));
  metadata_[key] = std::move(v);
}

void GgufWriter::set_strings(const std::string& key, const std::vector<std::string>& values) {
  std::vector<uint8_t> v;
  put_u32(&v, kTypeArray);
  put_u32(&v, kTypeString);
  put_u64(&v, values.size());
  for (const std::string& s : values) put_string(&v, s);
  metadata_[key] = std::move(v);
}

bool GgufWriter::add_f32(const std::string& name, GgufType type, const std::vector<uint64_t>& shape,
                         const float* values, size_t count, std::string* error) {
  auto fail = [&](const std::string& what) {
    *error = "GGUF tensor '" + name + "': " + what;
    return false;
  };
  if (tensors_.count(name)) return fail("added twice");
  if (shape.empty() || shape.size() > 4) return fail("needs 1 to 4 dimensions");
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  if (n != count) return fail("shape holds " + std::to_string(n) + " values, " + std::to_string(count) + " given");
  Tensor t;
  t.ne.assign(shape.rbegin(), shape.rend());
  t.type = type;
  switch (type) {
    case GgufType::kF32:
      for (size_t i = 0; i < count; ++i) put_u32(&t.bytes, f32_to_bits(values[i]));
      break;
    case GgufType::kF16:
      for (size_t i = 0; i < count; ++i) {
        const uint16_t h = f32_to_f16(values[i]);
        t.bytes.push_back(static_cast<uint8_t>(h));
        t.bytes.push_back(static_cast<uint8_t>(h >> 8));
      }
      break;
    case GgufType::kQ8_0: {
      if (t.ne[0] % kQ8Block != 0) return fail("Q8_0 needs a row length that is a multiple of 32, not " + std::to_string(t.ne[0]));
      t.bytes.resize(count / kQ8Block * kQ8BlockBytes);
      for (size_t b = 0; b < count / kQ8Block; ++b) quantize_q8_0_block(values + b * kQ8Block, &t.bytes[b * kQ8BlockBytes]);
      break;
    }
  }
  tensors_[name] = std::move(t);
  return true;
}

std::vector<GgufWriter::Placement> GgufWriter::layout() const {
  std::vector<Placement> out;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors_) {
    out.push_back({name, t.ne, t.type, offset});
    offset = padded(offset + t.bytes.size());
  }
  return out;
}

std::vector<uint8_t> GgufWriter::serialize() const {
  std::map<std::string, std::vector<uint8_t>> metadata = metadata_;
  std::vector<uint8_t> alignment;
  put_u32(&alignment, kTypeUint32);
  put_u32(&alignment, kAlignment);
  metadata["general.alignment"] = alignment;

  std::vector<uint8_t> out = {'G', 'G', 'U', 'F'};
  put_u32(&out, 3);
  put_u64(&out, tensors_.size());
  put_u64(&out, metadata.size());
  for (const auto& [key, value] : metadata) {
    put_string(&out, key);
    out.insert(out.end(), value.begin(), value.end());
  }
  const std::vector<Placement> places = layout();
  for (const Placement& p : places) {
    put_string(&out, p.name);
    put_u32(&out, static_cast<uint32_t>(p.ne.size()));
    for (uint64_t d : p.ne) put_u64(&out, d);
    put_u32(&out, static_cast<uint32_t>(p.type));
    put_u64(&out, p.offset);
  }
  out.resize(padded(out.size()), 0);
  const size_t data = out.size();
  for (const Placement& p : places) {
    const std::vector<uint8_t>& bytes = tensors_.at(p.name).bytes;
    out.resize(data + p.offset, 0);
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  return out;
}

bool GgufWriter::write_file(const std::string& path, std::string* error) const {
  const std::vector<uint8_t> bytes = serialize();
  return write_file_atomically(path, bytes.data(), bytes.size(), error);
}

}  // namespace probex::convert
