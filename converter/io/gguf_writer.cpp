#include "converter/io/gguf_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "converter/io/safetensors_writer.h"
#include "runtime/math/float_formats.h"

namespace probex::convert {

namespace {

// GGUF metadata value types.
constexpr uint32_t kTypeUint32 = 4;
constexpr uint32_t kTypeFloat32 = 6;
constexpr uint32_t kTypeString = 8;
constexpr uint32_t kTypeArray = 9;

constexpr size_t kQ8Block = 32;
constexpr size_t kQ8BlockBytes = 2 + kQ8Block;
constexpr size_t kQ5Block = 32;
constexpr size_t kQ5BlockBytes = 2 + 4 + kQ5Block / 2;
constexpr size_t kQkK = 256;  // a K-quant super-block
constexpr size_t kQ4KBlockBytes = 2 + 2 + 12 + kQkK / 2;

// ggml's nearest_int: round half to even through the float adder (|v| <= 2^22), bit for bit.
int nearest_int(float v) {
  const float shifted = v + 12582912.0f;  // 1.5 * 2^23: the integer lands in the low mantissa bits
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007FFFFF) - 0x00400000;
}

void put_f16(uint8_t* out, float v) {
  const uint16_t h = f32_to_f16(v);
  out[0] = static_cast<uint8_t>(h);
  out[1] = static_cast<uint8_t>(h >> 8);
}

// ggml's make_qkx2_quants for n values into levels 0..nmax: the scale and offset (x ~ scale * L - *the_min)
// minimising the weighted squared error, searched over nstep + 1 candidate inverse scales
// (rmin + rdelta * is + nmax) / (max - min), each refined by weighted least squares. The arithmetic is
// ggml's, in its order, in float, so results match its reference quantizer bit for bit.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* levels, float* the_min,
                       uint8_t* aux, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(levels, levels + n, uint8_t{0});
    *the_min = -min;
    return 0.0f;
  }
  const float nmax_f = static_cast<float>(nmax);
  float iscale = nmax_f / (max - min);
  float scale = 1.0f / iscale;
  float best_error = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
    levels[i] = static_cast<uint8_t>(l);
    const float diff = scale * static_cast<float>(l) + min - x[i];
    best_error += weights[i] * (diff * diff);
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + nmax_f) / (max - min);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      aux[i] = static_cast<uint8_t>(l);
      const float w = weights[i], lf = static_cast<float>(l);
      sum_l += w * lf;
      sum_l2 += w * lf * lf;
      sum_xl += w * lf * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float error = 0.0f;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * static_cast<float>(aux[i]) + this_min - x[i];
        error += weights[i] * (diff * diff);
      }
      if (error < best_error) {
        std::copy(aux, aux + n, levels);
        best_error = error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// The 6-bit scale and min of sub-block j from the 12 packed bytes (ggml's get_scale_min_k4).
void scale_min_k4(int j, const uint8_t* packed, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = packed[j] & 63;
    *m = packed[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

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

uint64_t padded(uint64_t n) {
  return (n + GgufWriter::kAlignment - 1) / GgufWriter::kAlignment * GgufWriter::kAlignment;
}

}  // namespace

const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::kF32: return "F32";
    case GgufType::kF16: return "F16";
    case GgufType::kQ5_0: return "Q5_0";
    case GgufType::kQ8_0: return "Q8_0";
    case GgufType::kQ4_K: return "Q4_K";
  }
  return "?";
}

uint64_t gguf_type_block_size(GgufType type) {
  switch (type) {
    case GgufType::kF32:
    case GgufType::kF16: return 1;
    case GgufType::kQ5_0: return kQ5Block;
    case GgufType::kQ8_0: return kQ8Block;
    case GgufType::kQ4_K: return kQkK;
  }
  return 1;
}

GgufType gguf_storage_type(GgufType requested, const std::vector<uint64_t>& shape) {
  if (shape.size() <= 1) return GgufType::kF32;
  const uint64_t row = shape.back();
  const auto fits = [row](GgufType t) { return row % gguf_type_block_size(t) == 0; };
  switch (requested) {
    case GgufType::kF32:
    case GgufType::kF16: return requested;
    case GgufType::kQ5_0:
    case GgufType::kQ8_0: return fits(requested) ? requested : GgufType::kF16;
    case GgufType::kQ4_K:
      if (fits(GgufType::kQ4_K)) return GgufType::kQ4_K;
      return fits(GgufType::kQ5_0) ? GgufType::kQ5_0 : GgufType::kF16;
  }
  return GgufType::kF16;
}

bool parse_gguf_type(const std::string& name, GgufType* out) {
  for (GgufType t : {GgufType::kF32, GgufType::kF16, GgufType::kQ5_0, GgufType::kQ8_0, GgufType::kQ4_K}) {
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

void quantize_q5_0_block(const float* x, uint8_t* out) {
  float amax = 0.0f, max = 0.0f;  // the value of largest magnitude, with its sign (the first one on ties)
  for (size_t j = 0; j < kQ5Block; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float d = max / -16.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_f16(out, d);
  uint32_t qh = 0;
  uint8_t* qs = out + 6;
  for (size_t j = 0; j < kQ5Block / 2; ++j) {
    // ggml truncates x * id + 16.5 toward zero (x * id is in [-16, 16], so this rounds to nearest).
    const auto q0 = static_cast<uint32_t>(std::min(31, static_cast<int>(x[j] * id + 16.5f)));
    const auto q1 = static_cast<uint32_t>(std::min(31, static_cast<int>(x[j + 16] * id + 16.5f)));
    qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
    qh |= ((q0 >> 4) & 1u) << j;
    qh |= ((q1 >> 4) & 1u) << (j + 16);
  }
  for (int i = 0; i < 4; ++i) out[2 + i] = static_cast<uint8_t>(qh >> (8 * i));
}

void quantize_q4_k_block(const float* x, uint8_t* out) {
  uint8_t levels[kQkK];
  uint8_t aux[32];
  float weights[32];
  float scales[8], mins[8];
  float max_scale = 0.0f, max_min = 0.0f;  // the min is subtracted, so scales are positive
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0.0f;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32.0f);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = make_qkx2_quants(32, 15, xs, weights, levels + 32 * j, &mins[j], aux, -1.0f, 0.1f, 20);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  uint8_t* packed = out + 4;
  for (int j = 0; j < 8; ++j) {
    // ggml stores nearest_int into a uint8_t before capping at 63: a negative level wraps, then caps.
    const auto ls = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    const auto lm = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = static_cast<uint8_t>((ls & 0x0F) | ((lm & 0x0F) << 4));
      packed[j - 4] = static_cast<uint8_t>(packed[j - 4] | ((ls >> 4) << 6));
      packed[j] = static_cast<uint8_t>(packed[j] | ((lm >> 4) << 6));
    }
  }
  put_f16(out, max_scale / 63.0f);
  put_f16(out + 2, max_min / 63.0f);
  const float d_all = f16_to_f32(load_le16(out)), dmin_all = f16_to_f32(load_le16(out + 2));
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    scale_min_k4(j, packed, &sc, &m);
    const float d = d_all * static_cast<float>(sc);
    if (d == 0.0f) continue;  // ggml keeps the search's levels for a sub-block whose scale rounds to 0
    const float dm = dmin_all * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) {
      levels[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / d), 0, 15));
    }
  }
  uint8_t* q = out + 16;
  for (size_t j = 0; j < kQkK; j += 64, q += 32) {
    for (size_t l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(levels[j + l] | (levels[j + l + 32] << 4));
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
    case GgufType::kQ5_0:
    case GgufType::kQ8_0:
    case GgufType::kQ4_K: {
      const uint64_t block = gguf_type_block_size(type);
      if (t.ne[0] % block != 0) {
        return fail(std::string(gguf_type_name(type)) + " needs a row length that is a multiple of " +
                    std::to_string(block) + ", not " + std::to_string(t.ne[0]));
      }
      const auto per_block = static_cast<size_t>(block);
      const size_t bytes = type == GgufType::kQ5_0   ? kQ5BlockBytes
                           : type == GgufType::kQ8_0 ? kQ8BlockBytes
                                                     : kQ4KBlockBytes;
      auto* quantize = type == GgufType::kQ5_0   ? quantize_q5_0_block
                       : type == GgufType::kQ8_0 ? quantize_q8_0_block
                                                 : quantize_q4_k_block;
      t.bytes.resize(count / per_block * bytes);
      for (size_t b = 0; b < count / per_block; ++b) quantize(values + b * per_block, &t.bytes[b * bytes]);
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
  out.resize(static_cast<size_t>(padded(out.size())), 0);
  const size_t data = out.size();
  for (const Placement& p : places) {
    const std::vector<uint8_t>& bytes = tensors_.at(p.name).bytes;
    out.resize(data + static_cast<size_t>(p.offset), 0);
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  return out;
}

bool GgufWriter::write_file(const std::string& path, std::string* error) const {
  const std::vector<uint8_t> bytes = serialize();
  return write_file_atomically(path, bytes.data(), bytes.size(), error);
}

}  // namespace probex::convert
