// Validation rules (all must hold, or open() fails with the first violation found):
//  1. The file is at most limits.max_file_bytes, has at least 8 bytes, and bytes 4..8 are "TFL3".
//  2. The FlatBuffers Verifier accepts the flatbuffer (every offset, vector and string inside it, aligned,
//     tables nested at most max_depth deep, at most max_tables tables). For a file over 2 GB (FlatBuffers'
//     limit) the flatbuffer is a prefix of the file: the smallest verifying prefix of 64 KB x 2^k is kept.
//  3. The model has subgraphs and buffers; subgraph, buffer, tensor and operator counts are within limits.
//  4. A buffer holds inline `data` or an `offset` (> 1) and `size` into the file, not both; offset + size
//     lies inside the file (overflow-checked).
//  5. Each tensor: at most max_dims dimensions, none negative, prod(shape) without overflow; its buffer index
//     is one of the model's buffers; a constant's byte size is prod(shape) x the element size of its type
//     (overflow-checked; types of no fixed size, STRING INT4 RESOURCE VARIANT, and sparse tensors excepted).
//  6. Quantization: scale and zero_point of equal counts (zero_point may be absent: zeros), 1 (per tensor)
//     or shape[quantized_dimension] (per channel); quantized_dimension in [0, rank); scales finite; zero
//     points within int32.
//  7. Sparsity: traversal_order a permutation of [0, n) with n >= rank whose first rank entries are the
//     dense dimensions; block_map of n - rank dimensions < rank; one dim_metadata per traversal entry;
//     DENSE entries with dense_size >= 0, SPARSE_CSR entries with both index vectors; then the structure
//     (check_sparsity): level sizes, segments, indices in range and strictly increasing, and the stored
//     values counted through the levels equal to the buffer's size. Sparse tensors are densified on reading.
//  8. Operators: opcode_index among the operator codes; every input and output -1 (optional, absent) or a
//     tensor of the subgraph.
//  9. Tensor names are unique within a subgraph (an unnamed tensor is named "#" + its index).
#include "runtime/formats/tflite.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "runtime/math/checked_math.h"
#include "runtime/math/float_formats.h"
#include "tflite_subset_generated.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "TFLite buffers are little-endian");

namespace probex {
namespace {

namespace fb = probex_tflite;

constexpr int kConv2d = 3, kDepthwiseConv2d = 4, kDequantize = 6, kDensify = 124;
constexpr size_t kFirstPrefix = 64u << 10;
constexpr size_t kChunkElements = 1024;
constexpr size_t kChunkBytes = 8192;  // kChunkElements x the largest readable element (8 bytes)

// Bytes per element of a fixed-size type; 0 for STRING, INT4, RESOURCE, VARIANT and unknown numbers.
uint64_t element_size(TfliteType t) {
  switch (t) {
    case TfliteType::kBool:
    case TfliteType::kInt8:
    case TfliteType::kUint8: return 1;
    case TfliteType::kFloat16:
    case TfliteType::kInt16:
    case TfliteType::kUint16:
    case TfliteType::kBfloat16: return 2;
    case TfliteType::kFloat32:
    case TfliteType::kInt32:
    case TfliteType::kUint32: return 4;
    case TfliteType::kInt64:
    case TfliteType::kUint64:
    case TfliteType::kFloat64:
    case TfliteType::kComplex64: return 8;
    case TfliteType::kComplex128: return 16;
    default: return 0;
  }
}

bool is_float(TfliteType t) {
  return t == TfliteType::kFloat32 || t == TfliteType::kFloat16 || t == TfliteType::kBfloat16 ||
         t == TfliteType::kFloat64;
}
bool is_quantizable(TfliteType t) {
  return t == TfliteType::kInt8 || t == TfliteType::kUint8 || t == TfliteType::kInt16 || t == TfliteType::kInt32;
}

std::string dims_text(const std::vector<uint64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

int builtin_code(const fb::OperatorCode* c) {
  // TFLite's rule (schema_utils.cc GetBuiltinCode): the larger of the two fields; deprecated_builtin_code
  // holds 127 for codes that no longer fit a byte.
  return std::max<int>(c->deprecated_builtin_code(), c->builtin_code());
}

// Decodes n elements of `t` starting at stored index s0 from `src` into y.
void decode(const TfliteTensorInfo& t, const uint8_t* src, uint64_t s0, size_t n, float* y) {
  switch (t.type) {
    case TfliteType::kFloat32: std::memcpy(y, src, n * sizeof(float)); return;
    case TfliteType::kFloat16:
      for (size_t i = 0; i < n; ++i) y[i] = f16_to_f32(load_le16(src + 2 * i));
      return;
    case TfliteType::kBfloat16:
      for (size_t i = 0; i < n; ++i) y[i] = bf16_to_f32(load_le16(src + 2 * i));
      return;
    case TfliteType::kFloat64:
      for (size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, sizeof d);
        y[i] = f64_to_f32(d);
      }
      return;
    default: break;
  }
  // Quantized integers: value = scale[c] * (q - zero_point[c]), as TFLite's reference Dequantize computes it
  // (the difference in integers, the product in double).
  uint64_t inner = 1, channels = 1;
  if (t.scale.size() > 1) {
    channels = t.stored_shape[t.quantized_dimension];
    for (size_t d = t.quantized_dimension + 1; d < t.stored_shape.size(); ++d) inner *= t.stored_shape[d];
  }
  for (size_t i = 0; i < n; ++i) {
    int64_t q = 0;
    switch (t.type) {
      case TfliteType::kInt8: q = static_cast<int8_t>(src[i]); break;
      case TfliteType::kUint8: q = src[i]; break;
      case TfliteType::kInt16: q = static_cast<int16_t>(load_le16(src + 2 * i)); break;
      default: {
        uint32_t u;
        std::memcpy(&u, src + 4 * i, sizeof u);
        q = static_cast<int32_t>(u);
        break;
      }
    }
    const size_t c = channels > 1 ? static_cast<size_t>((s0 + i) / inner % channels) : 0;
    const int64_t zp = t.zero_point.empty() ? 0 : t.zero_point[c];
    y[i] = static_cast<float>(static_cast<double>(t.scale[c]) * static_cast<double>(q - zp));
  }
}

// Where a stored element lands in the shown (PyTorch) order.
uint64_t shown_index(const TfliteTensorInfo& t, uint64_t s) {
  const auto& d = t.stored_shape;
  switch (t.layout) {
    case TfliteLayout::kAsStored: return s;
    case TfliteLayout::kConv2d: {  // stored [O, H, W, I] -> shown [O, I, H, W]
      const uint64_t hw = d[1] * d[2], in = d[3], row = hw * in;
      const uint64_t o = s / row, rem = s % row;
      return o * row + (rem % in) * hw + rem / in;
    }
    case TfliteLayout::kDepthwise: {  // stored [1, H, W, C] -> shown [C, 1, H, W]
      const uint64_t c = d[3], hw = d[1] * d[2];
      return (s % c) * hw + s / c;
    }
  }
  return s;
}

TfliteStatus fail(const std::string& label, TfliteError code, const std::string& what) {
  return {code, label + ": " + what};
}

// One CSR index array (an Int32Vector, Uint16Vector or Uint8Vector), or none.
struct IndexArray {
  const flatbuffers::Vector<int32_t>* i32 = nullptr;
  const flatbuffers::Vector<uint16_t>* u16 = nullptr;
  const flatbuffers::Vector<uint8_t>* u8 = nullptr;
  bool present() const { return i32 != nullptr || u16 != nullptr || u8 != nullptr; }
  uint32_t size() const {
    if (i32 != nullptr) return i32->size();
    if (u16 != nullptr) return u16->size();
    return u8 != nullptr ? u8->size() : 0;
  }
  int64_t at(uint32_t i) const {
    if (i32 != nullptr) return i32->Get(i);
    if (u16 != nullptr) return u16->Get(i);
    return u8 != nullptr ? u8->Get(i) : 0;
  }
};

IndexArray segments_of(const fb::DimensionMetadata* m) {
  IndexArray a;
  if (const auto* v = m->array_segments_as_Int32Vector()) a.i32 = v->values();
  if (const auto* v = m->array_segments_as_Uint16Vector()) a.u16 = v->values();
  if (const auto* v = m->array_segments_as_Uint8Vector()) a.u8 = v->values();
  return a;
}

IndexArray indices_of(const fb::DimensionMetadata* m) {
  IndexArray a;
  if (const auto* v = m->array_indices_as_Int32Vector()) a.i32 = v->values();
  if (const auto* v = m->array_indices_as_Uint16Vector()) a.u16 = v->values();
  if (const auto* v = m->array_indices_as_Uint8Vector()) a.u8 = v->values();
  return a;
}

constexpr uint32_t kMaxSparseLevels = 64;

// Entry i of an int vector the semantic pass has checked (0 if absent: never, after the checks).
int32_t entry(const flatbuffers::Vector<int32_t>* v, uint32_t i) {
  return v != nullptr && i < v->size() ? v->Get(i) : 0;
}

// Walks a validated sparse tensor in storage order (TFLite's FormatConverter::Populate, iteratively
// bounded by the level count): calls emit(dense stored index, value index) once per stored value.
template <typename Emit>
void walk_sparse(const TfliteTensorInfo& t, const fb::SparsityParameters* sp, uint32_t level, uint64_t prev_pos,
                 uint64_t* idx, uint64_t* next_value, Emit& emit) {
  const auto* order = sp->traversal_order();
  const auto* meta = sp->dim_metadata();
  if (order == nullptr || meta == nullptr) return;  // never: checked at open
  const uint32_t n = order->size();
  const size_t rank = t.stored_shape.size();
  if (level == n) {
    uint64_t orig[kMaxSparseLevels] = {};
    for (uint32_t i = 0; i < rank; ++i) orig[entry(order, i)] = idx[i];
    for (uint32_t i = static_cast<uint32_t>(rank); i < n; ++i) {
      const uint32_t b = static_cast<uint32_t>(entry(order, i)) - static_cast<uint32_t>(rank);
      const uint32_t d = static_cast<uint32_t>(entry(sp->block_map(), b));
      orig[d] = orig[d] * static_cast<uint64_t>(meta->Get(i)->dense_size()) + idx[i];
    }
    uint64_t flat = 0;
    for (size_t d = 0; d < rank; ++d) flat = flat * t.stored_shape[d] + orig[d];
    emit(flat, (*next_value)++);
    return;
  }
  const fb::DimensionMetadata* m = meta->Get(level);
  if (m == nullptr) return;  // never: a vector of tables holds no nulls
  if (m->format() == fb::DimensionType::DENSE) {
    const uint64_t size = static_cast<uint64_t>(m->dense_size());
    for (uint64_t i = 0; i < size; ++i) {
      idx[level] = i;
      walk_sparse(t, sp, level + 1, prev_pos * size + i, idx, next_value, emit);
    }
    return;
  }
  const IndexArray segments = segments_of(m), indices = indices_of(m);
  const auto begin = static_cast<uint32_t>(segments.at(static_cast<uint32_t>(prev_pos)));
  const auto end = static_cast<uint32_t>(segments.at(static_cast<uint32_t>(prev_pos + 1)));
  for (uint32_t k = begin; k < end; ++k) {
    idx[level] = static_cast<uint64_t>(indices.at(k));
    walk_sparse(t, sp, level + 1, k, idx, next_value, emit);
  }
}

}  // namespace

const char* tflite_error_name(TfliteError code) {
  switch (code) {
    case TfliteError::kOk: return "ok";
    case TfliteError::kIo: return "io";
    case TfliteError::kFileTruncated: return "file_truncated";
    case TfliteError::kBadIdentifier: return "bad_identifier";
    case TfliteError::kLimitExceeded: return "limit_exceeded";
    case TfliteError::kVerifierFailed: return "verifier_failed";
    case TfliteError::kMissingField: return "missing_field";
    case TfliteError::kBadBufferIndex: return "bad_buffer_index";
    case TfliteError::kBadBuffer: return "bad_buffer";
    case TfliteError::kDataOutOfFile: return "data_out_of_file";
    case TfliteError::kBadShape: return "bad_shape";
    case TfliteError::kOverflow: return "overflow";
    case TfliteError::kSizeMismatch: return "size_mismatch";
    case TfliteError::kBadQuantization: return "bad_quantization";
    case TfliteError::kBadSparsity: return "bad_sparsity";
    case TfliteError::kBadOperator: return "bad_operator";
    case TfliteError::kDuplicateName: return "duplicate_name";
    case TfliteError::kTensorNotFound: return "tensor_not_found";
    case TfliteError::kUnsupportedType: return "unsupported_type";
    case TfliteError::kOutOfRange: return "out_of_range";
  }
  return "?";
}

const char* tflite_type_name(TfliteType type) {
  switch (type) {
    case TfliteType::kFloat32: return "FLOAT32";
    case TfliteType::kFloat16: return "FLOAT16";
    case TfliteType::kInt32: return "INT32";
    case TfliteType::kUint8: return "UINT8";
    case TfliteType::kInt64: return "INT64";
    case TfliteType::kString: return "STRING";
    case TfliteType::kBool: return "BOOL";
    case TfliteType::kInt16: return "INT16";
    case TfliteType::kComplex64: return "COMPLEX64";
    case TfliteType::kInt8: return "INT8";
    case TfliteType::kFloat64: return "FLOAT64";
    case TfliteType::kComplex128: return "COMPLEX128";
    case TfliteType::kUint64: return "UINT64";
    case TfliteType::kResource: return "RESOURCE";
    case TfliteType::kVariant: return "VARIANT";
    case TfliteType::kUint32: return "UINT32";
    case TfliteType::kUint16: return "UINT16";
    case TfliteType::kInt4: return "INT4";
    case TfliteType::kBfloat16: return "BFLOAT16";
  }
  return "UNKNOWN";
}

TfliteStatus TfliteFile::open(const std::string& path, TfliteFile* out, const TfliteLimits& limits) {
  *out = TfliteFile();
  TfliteFile f;
  f.label_ = path;
  std::string error;
  if (!f.source_.open(path, &error)) return {TfliteError::kIo, error};
  TfliteStatus st = f.parse(limits);
  if (st.ok()) *out = std::move(f);
  return st;
}

TfliteStatus TfliteFile::from_buffer(std::string label, const uint8_t* data, size_t size, TfliteFile* out,
                                     const TfliteLimits& limits) {
  *out = TfliteFile();
  TfliteFile f;
  f.label_ = std::move(label);
  f.source_.set_buffer(data, size);
  TfliteStatus st = f.parse(limits);
  if (st.ok()) *out = std::move(f);
  return st;
}

TfliteStatus TfliteFile::load_flatbuffer(const TfliteLimits& limits) {
  const uint64_t size = source_.size();
  if (size > limits.max_file_bytes) {
    return fail(label_, TfliteError::kLimitExceeded,
                std::to_string(size) + " bytes, above the configured limit of " +
                    std::to_string(limits.max_file_bytes));
  }
  if (size < 8) {
    return fail(label_, TfliteError::kFileTruncated,
                std::to_string(size) + " bytes, fewer than a FlatBuffers root offset and the \"TFL3\" identifier");
  }
  uint8_t head[8];
  std::string error;
  if (!source_.read(0, head, 8, &error)) return {TfliteError::kIo, error};
  if (std::memcmp(head + 4, "TFL3", 4) != 0) {
    return fail(label_, TfliteError::kBadIdentifier, "bytes 4..8 are not the TFLite identifier \"TFL3\"");
  }
  const uint64_t cap = std::min<uint64_t>(size, std::min<uint64_t>(limits.max_flatbuffer_bytes, 0x7FFFFFFEu));
  const bool in_place = source_.buffer() != nullptr && reinterpret_cast<uintptr_t>(source_.buffer()) % 8 == 0;
  // The verifier on growing prefixes: a file under 2 GB verifies only whole (its data is inline); a larger
  // file's flatbuffer part is found without reading its offset buffers. A caller buffer is verified in place.
  uint64_t n = in_place ? cap : std::min<uint64_t>(cap, kFirstPrefix);
  for (;;) {
    if (!in_place) {
      const size_t have = owned_.size();
      owned_.resize(static_cast<size_t>(n));
      if (!source_.read(have, owned_.data() + have, static_cast<size_t>(n) - have, &error))
        return {TfliteError::kIo, error};
      fb_ = owned_.data();
    } else {
      fb_ = source_.buffer();
    }
    fb_size_ = static_cast<size_t>(n);
    flatbuffers::Verifier verifier(fb_, fb_size_, limits.max_depth, limits.max_tables);
    if (fb::VerifyModelBuffer(verifier)) return {};
    if (n >= cap) break;
    n = std::min<uint64_t>(cap, 2 * n);
  }
  owned_.clear();
  owned_.shrink_to_fit();
  fb_ = nullptr;
  fb_size_ = 0;
  return fail(label_, TfliteError::kVerifierFailed,
              "the FlatBuffers Verifier refuses the model (an offset, vector or string outside the " +
                  std::to_string(cap) + " bytes verified, misaligned, or tables nested deeper than " +
                  std::to_string(limits.max_depth) + " or more than " + std::to_string(limits.max_tables) + ")");
}

// Rule 7, the structure: level sizes agree with the shape and block sizes, every CSR level's segments
// cover exactly the previous level's positions (non-decreasing, from 0 to its index count), indices lie
// inside their level and increase strictly within a segment (no element twice), and the stored values
// counted through the levels are exactly what the buffer holds. The walk (walk_sparse) then stays inside.
TfliteStatus TfliteFile::check_sparsity(const TfliteTensorInfo& t, const void* sparsity,
                                        const std::string& where) const {
  const auto* sp = static_cast<const fb::SparsityParameters*>(sparsity);
  const auto* order = sp->traversal_order();
  const auto* meta = sp->dim_metadata();
  const auto* block_map = sp->block_map();
  auto bad = [&](const std::string& what) { return fail(label_, TfliteError::kBadSparsity, where + what); };
  if (order == nullptr || meta == nullptr) return bad("no traversal_order or dim_metadata");  // never: checked
  const uint32_t n = order->size();
  const uint32_t rank = static_cast<uint32_t>(t.stored_shape.size());
  uint64_t block_of[kMaxSparseLevels] = {};  // per dimension: its block size (1: not blocked)
  for (uint32_t d = 0; d < rank; ++d) block_of[d] = 1;
  for (uint32_t i = rank; i < n; ++i) {
    const fb::DimensionMetadata* m = meta->Get(i);
    const uint32_t b = static_cast<uint32_t>(entry(order, i)) - rank;
    const uint32_t dim = static_cast<uint32_t>(entry(block_map, b));
    if (m->format() != fb::DimensionType::DENSE || m->dense_size() <= 0) {
      return bad("block level " + std::to_string(i) + " is not DENSE with a positive block size");
    }
    if (block_of[dim] != 1) return bad("dimension " + std::to_string(dim) + " is blocked twice");
    block_of[dim] = static_cast<uint64_t>(m->dense_size());
    if (t.stored_shape[dim] % block_of[dim] != 0) {
      return bad("block size " + std::to_string(block_of[dim]) + " does not divide dimension " + std::to_string(dim) +
                 " of size " + std::to_string(t.stored_shape[dim]));
    }
  }
  uint64_t positions = 1;
  for (uint32_t i = 0; i < n; ++i) {
    const fb::DimensionMetadata* m = meta->Get(i);
    const uint32_t v = static_cast<uint32_t>(entry(order, i));
    const uint64_t size = i < rank ? t.stored_shape[v] / block_of[v] : block_of[entry(block_map, v - rank)];
    const std::string lv = "level " + std::to_string(i) + ": ";
    if (m->format() == fb::DimensionType::DENSE) {
      if (static_cast<uint64_t>(m->dense_size()) != size) {
        return bad(lv + "dense_size " + std::to_string(m->dense_size()) + ", but the dimension has " +
                   std::to_string(size));
      }
      if (!checked_mul(positions, size, &positions) || positions > t.element_count) {
        return bad(lv + "more positions than the tensor's " + std::to_string(t.element_count) + " elements");
      }
      continue;
    }
    const IndexArray segments = segments_of(m), indices = indices_of(m);
    if (segments.size() != positions + 1) {
      return bad(lv + std::to_string(segments.size()) + " array_segments for " + std::to_string(positions) +
                 " positions (needs " + std::to_string(positions + 1) + ")");
    }
    if (segments.at(0) != 0 || segments.at(segments.size() - 1) != indices.size()) {
      return bad(lv + "array_segments do not run from 0 to the " + std::to_string(indices.size()) + " array_indices");
    }
    for (uint32_t k = 0; k + 1 < segments.size(); ++k) {
      const int64_t from = segments.at(k), to = segments.at(k + 1);
      if (to < from || to > static_cast<int64_t>(indices.size())) {  // before any index is read
        return bad(lv + "array_segments are not non-decreasing within [0, " + std::to_string(indices.size()) + "] at " +
                   std::to_string(k + 1));
      }
      for (int64_t j = from; j < to; ++j) {
        const int64_t x = indices.at(static_cast<uint32_t>(j));
        if (x < 0 || static_cast<uint64_t>(x) >= size) {
          return bad(lv + "index " + std::to_string(x) + " is outside the dimension's " + std::to_string(size));
        }
        if (j > from && x <= indices.at(static_cast<uint32_t>(j - 1))) {
          return bad(lv + "indices do not increase within segment " + std::to_string(k));
        }
      }
    }
    positions = indices.size();
  }
  uint64_t bytes = 0;
  if (!checked_mul(positions, element_size(t.type), &bytes) || (element_size(t.type) != 0 && bytes != t.byte_size)) {
    return bad(std::to_string(positions) + " stored values, but the buffer holds " + std::to_string(t.byte_size) +
               " bytes of " + tflite_type_name(t.type));
  }
  return {};
}

const std::string* TfliteFile::metadata_string(const std::string& name) const {
  const auto it = std::lower_bound(metadata_.begin(), metadata_.end(), name,
                                   [](const auto& entry, const std::string& key) { return entry.first < key; });
  return it != metadata_.end() && it->first == name ? &it->second : nullptr;
}

// The checks of the rules above, each in its own step; the first violation found is the error.
TfliteStatus TfliteFile::parse(const TfliteLimits& limits) {
  TfliteStatus st = load_flatbuffer(limits);  // rules 1 and 2
  if (!st.ok()) return st;
  const fb::Model* model = fb::GetModel(fb_);
  version_ = model->version();
  if (model->description() != nullptr) description_ = model->description()->str();
  const auto* subgraphs = model->subgraphs();
  const auto* buffers = model->buffers();
  read_metadata(model);
  uint64_t tensor_total = 0;
  if (!(st = check_counts(model, limits, &tensor_total)).ok() || !(st = check_buffers(buffers)).ok()) return st;
  tensors_.reserve(static_cast<size_t>(tensor_total));
  for (uint32_t g = 0; g < subgraphs->size(); ++g) {
    const fb::SubGraph* graph = subgraphs->Get(g);
    const size_t first = tensors_.size();
    const auto* gtensors = graph->tensors();
    const uint32_t count = gtensors != nullptr ? gtensors->size() : 0;
    for (uint32_t k = 0; k < count; ++k) {
      TfliteTensorInfo t;
      if (!(st = read_tensor(g, k, gtensors->Get(k), limits, &t)).ok()) return st;
      tensors_.push_back(std::move(t));
    }
    std::vector<int32_t> producer;  // the operator whose output each tensor is
    if (!(st = check_unique_names(g, first, count)).ok() ||
        !(st = check_operators(model, graph, g, count, &producer)).ok())
      return st;
    set_kernel_layouts(model, graph, first, count, producer);
  }
  return {};
}

// Model.metadata entries (never an error: metadata never makes a file unreadable).
void TfliteFile::read_metadata(const void* fb_model) {
  const auto* model = static_cast<const fb::Model*>(fb_model);
  const auto* buffers = model->buffers();
  metadata_.clear();
  if (model->metadata() == nullptr || buffers == nullptr) return;
  for (const fb::Metadata* m : *model->metadata()) {
    const flatbuffers::String* name = m != nullptr ? m->name() : nullptr;
    if (name == nullptr || m->buffer() >= buffers->size()) continue;
    const fb::Buffer* buf = buffers->Get(m->buffer());
    const auto* data = buf != nullptr ? buf->data() : nullptr;
    if (data == nullptr || data->size() > kMaxMetadataValueBytes) continue;
    metadata_.emplace_back(std::string(name->c_str(), name->size()),
                           std::string(reinterpret_cast<const char*>(data->data()), data->size()));
  }
  std::stable_sort(metadata_.begin(), metadata_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  metadata_.erase(std::unique(metadata_.begin(), metadata_.end(),
                              [](const auto& a, const auto& b) { return a.first == b.first; }),
                  metadata_.end());
}

// Rule 3: the model's subgraphs and buffers, and its counts within the limits.
TfliteStatus TfliteFile::check_counts(const void* fb_model, const TfliteLimits& limits, uint64_t* tensors) const {
  const auto* model = static_cast<const fb::Model*>(fb_model);
  const auto* subgraphs = model->subgraphs();
  const auto* buffers = model->buffers();
  if (subgraphs == nullptr) return fail(label_, TfliteError::kMissingField, "the model has no subgraphs");
  if (buffers == nullptr) return fail(label_, TfliteError::kMissingField, "the model has no buffers");
  if (subgraphs->size() > limits.max_subgraphs) {
    return fail(label_, TfliteError::kLimitExceeded,
                std::to_string(subgraphs->size()) + " subgraphs exceed the limit of " +
                    std::to_string(limits.max_subgraphs));
  }
  if (buffers->size() > limits.max_buffers) {
    return fail(label_, TfliteError::kLimitExceeded,
                std::to_string(buffers->size()) + " buffers exceed the limit of " + std::to_string(limits.max_buffers));
  }
  uint64_t tensor_total = 0, operator_total = 0;
  for (const fb::SubGraph* g : *subgraphs) {
    tensor_total += g->tensors() ? g->tensors()->size() : 0;
    operator_total += g->operators() ? g->operators()->size() : 0;
  }
  if (tensor_total > limits.max_tensors) {
    return fail(label_, TfliteError::kLimitExceeded,
                std::to_string(tensor_total) + " tensors exceed the limit of " + std::to_string(limits.max_tensors));
  }
  if (operator_total > limits.max_operators) {
    return fail(label_, TfliteError::kLimitExceeded,
                std::to_string(operator_total) + " operators exceed the limit of " +
                    std::to_string(limits.max_operators));
  }

  *tensors = tensor_total;
  return {};
}

// Rule 4: each buffer inline or an offset and size inside the file, not both.
TfliteStatus TfliteFile::check_buffers(const void* fb_buffers) const {
  const auto* buffers = static_cast<const flatbuffers::Vector<flatbuffers::Offset<fb::Buffer>>*>(fb_buffers);
  for (uint32_t b = 0; b < buffers->size(); ++b) {
    const fb::Buffer* buf = buffers->Get(b);
    if (buf->offset() <= 1) continue;
    const std::string where = "buffer " + std::to_string(b) + ": ";
    if (buf->data() != nullptr && buf->data()->size() > 0) {
      return fail(label_, TfliteError::kBadBuffer,
                  where + "has both inline data and an offset (" + std::to_string(buf->offset()) + ")");
    }
    uint64_t end = 0;
    if (!checked_add(buf->offset(), buf->size(), &end)) {
      return fail(label_, TfliteError::kOverflow, where + "offset + size overflows 64 bits");
    }
    if (end > source_.size()) {
      return fail(label_, TfliteError::kDataOutOfFile,
                  where + "bytes [" + std::to_string(buf->offset()) + ", " + std::to_string(end) +
                      ") extend past the end of the file at " + std::to_string(source_.size()));
    }
  }
  return {};
}

// Rules 5, 7 and 6 for tensor k of subgraph g: its shape and data, its sparsity, its quantization; then
// whether it reads as float32, and why not.
TfliteStatus TfliteFile::read_tensor(uint32_t g, uint32_t k, const void* fb_tensor, const TfliteLimits& limits,
                                     TfliteTensorInfo* out) const {
  const auto* ft = static_cast<const fb::Tensor*>(fb_tensor);
  const auto* buffers = fb::GetModel(fb_)->buffers();
  const std::string prefix = g == 0 ? std::string() : std::to_string(g) + ":";
  TfliteStatus st;
  TfliteTensorInfo& t = *out;
  t.subgraph = g;
  t.index = k;
  t.name = prefix + (ft->name() != nullptr && ft->name()->size() > 0 ? ft->name()->str() : "#" + std::to_string(k));
  t.type = static_cast<TfliteType>(static_cast<int8_t>(ft->type()));
  const std::string where = "tensor '" + t.name + "': ";
  // Rule 5: shape.
  const auto* shape = ft->shape();
  const uint32_t rank = shape ? shape->size() : 0;
  if (rank > limits.max_dims) {
    return fail(label_, TfliteError::kLimitExceeded,
                where + std::to_string(rank) + " dimensions exceed the limit of " + std::to_string(limits.max_dims));
  }
  t.element_count = 1;
  for (uint32_t d = 0; d < rank; ++d) {
    const int32_t v = shape->Get(d);
    if (v < 0) {
      return fail(label_, TfliteError::kBadShape,
                  where + "dimension " + std::to_string(d) + " is " + std::to_string(v));
    }
    t.stored_shape.push_back(static_cast<uint64_t>(v));
    if (!checked_mul(t.element_count, static_cast<uint64_t>(v), &t.element_count)) {
      return fail(label_, TfliteError::kOverflow, where + "the element count overflows 64 bits");
    }
  }
  t.shape = t.stored_shape;
  if (ft->buffer() >= buffers->size()) {
    return fail(label_, TfliteError::kBadBufferIndex,
                where + "buffer index " + std::to_string(ft->buffer()) + " is outside the model's " +
                    std::to_string(buffers->size()) + " buffers");
  }
  const fb::Buffer* buf = buffers->Get(ft->buffer());
  if (buf->offset() > 1) {
    t.inline_data = false;
    t.data_offset = buf->offset();
    t.byte_size = buf->size();
  } else if (buf->data() != nullptr) {
    t.data_offset = static_cast<uint64_t>(buf->data()->data() - fb_);
    t.byte_size = buf->data()->size();
  }
  t.has_data = t.byte_size > 0;
  // Rule 7: sparsity.
  if (const fb::SparsityParameters* sp = ft->sparsity()) {
    t.sparse = true;
    t.sparsity = sp;
    const auto* order = sp->traversal_order();
    const auto* meta = sp->dim_metadata();
    const uint32_t n = order ? order->size() : 0;
    if (n < rank || n > std::min<uint64_t>(limits.max_dims * 2, 64)) {
      return fail(label_, TfliteError::kBadSparsity,
                  where + "traversal_order has " + std::to_string(n) + " entries for a tensor of rank " +
                      std::to_string(rank));
    }
    bool seen[64] = {};
    for (uint32_t i = 0; i < n; ++i) {
      const int32_t v = order->Get(i);
      if (v < 0 || static_cast<uint32_t>(v) >= n || seen[v] || (i < rank) != (static_cast<uint32_t>(v) < rank)) {
        return fail(label_, TfliteError::kBadSparsity,
                    where + "traversal_order is not a permutation of [0, " + std::to_string(n) +
                        ") with the dense dimensions first");
      }
      seen[v] = true;
    }
    const auto* block_map = sp->block_map();
    const uint32_t blocks = block_map != nullptr ? block_map->size() : 0;
    if (blocks != n - rank) {
      return fail(label_, TfliteError::kBadSparsity,
                  where + "block_map has " + std::to_string(blocks) + " entries, not " + std::to_string(n - rank));
    }
    for (uint32_t i = 0; i < blocks; ++i) {
      const int32_t v = block_map->Get(i);
      if (v < 0 || static_cast<uint32_t>(v) >= rank) {
        return fail(label_, TfliteError::kBadSparsity,
                    where + "block_map entry " + std::to_string(v) + " is not a dimension of the tensor");
      }
    }
    if ((meta ? meta->size() : 0) != n) {
      return fail(label_, TfliteError::kBadSparsity,
                  where + "dim_metadata has " + std::to_string(meta ? meta->size() : 0) + " entries, not " +
                      std::to_string(n));
    }
    for (uint32_t i = 0; i < n; ++i) {
      const fb::DimensionMetadata* m = meta->Get(i);
      const bool csr = m->format() == fb::DimensionType::SPARSE_CSR;
      if (!csr && (m->format() != fb::DimensionType::DENSE || m->dense_size() < 0)) {
        return fail(label_, TfliteError::kBadSparsity,
                    where + "dim_metadata " + std::to_string(i) +
                        " is neither DENSE with dense_size >= 0 nor SPARSE_CSR");
      }
      if (csr && (!segments_of(m).present() || !indices_of(m).present())) {
        return fail(label_, TfliteError::kBadSparsity,
                    where + "dim_metadata " + std::to_string(i) +
                        " is SPARSE_CSR without array_segments and array_indices");
      }
    }
    st = check_sparsity(t, sp, where);
    if (!st.ok()) return st;
  }
  const uint64_t esize = element_size(t.type);
  if (t.has_data && !t.sparse && esize != 0) {
    uint64_t expected = 0;
    if (!checked_mul(t.element_count, esize, &expected)) {
      return fail(label_, TfliteError::kOverflow, where + "the byte size overflows 64 bits");
    }
    if (expected != t.byte_size) {
      return fail(label_, TfliteError::kSizeMismatch,
                  where + "its buffer has " + std::to_string(t.byte_size) + " bytes; shape " +
                      dims_text(t.stored_shape) + " of " + tflite_type_name(t.type) + " needs " +
                      std::to_string(expected));
    }
  }
  // Rule 6: quantization.
  bool custom_quantization = false;
  if (const fb::QuantizationParameters* q = ft->quantization()) {
    custom_quantization = q->details_type() != fb::QuantizationDetails::NONE;
    const auto* scale = q->scale();
    const auto* zp = q->zero_point();
    const uint32_t ns = scale ? scale->size() : 0, nz = zp ? zp->size() : 0;
    if (nz != 0 && nz != ns) {
      return fail(label_, TfliteError::kBadQuantization,
                  where + std::to_string(ns) + " scales but " + std::to_string(nz) + " zero points");
    }
    const int32_t qd = q->quantized_dimension();
    if (qd < 0 || (rank > 0 && static_cast<uint32_t>(qd) >= rank) || (rank == 0 && qd != 0)) {
      return fail(label_, TfliteError::kBadQuantization,
                  where + "quantized_dimension " + std::to_string(qd) + " is not a dimension of a tensor of rank " +
                      std::to_string(rank));
    }
    if (ns > 1 && (rank == 0 || ns != t.stored_shape[static_cast<size_t>(qd)])) {
      return fail(label_, TfliteError::kBadQuantization,
                  where + std::to_string(ns) + " scales for dimension " + std::to_string(qd) + " of size " +
                      (rank == 0 ? std::string("(none: a scalar)")
                                 : std::to_string(t.stored_shape[static_cast<size_t>(qd)])));
    }
    for (uint32_t i = 0; i < ns; ++i) {
      if (!std::isfinite(scale->Get(i))) {
        return fail(label_, TfliteError::kBadQuantization, where + "scale " + std::to_string(i) + " is not finite");
      }
      t.scale.push_back(scale->Get(i));
    }
    for (uint32_t i = 0; i < nz; ++i) {
      // Copied, not read as int64: FlatBuffers 2.0.8's Verifier checks a vector's alignment for its
      // 4-byte length only, so 8-byte elements may sit misaligned (found by fuzz_tflite).
      int64_t z = 0;
      std::memcpy(&z, zp->Data() + size_t{8} * i, sizeof z);
      if (z < INT32_MIN || z > INT32_MAX) {
        return fail(label_, TfliteError::kBadQuantization,
                    where + "zero point " + std::to_string(z) + " is outside int32");
      }
      t.zero_point.push_back(z);
    }
    t.quantized_dimension = static_cast<uint32_t>(qd);
  }
  // Readability.
  if (!t.has_data) {
    t.unreadable_reason = "has no data (an activation or an input, not a constant)";
  } else if (custom_quantization) {
    t.unreadable_reason = "uses custom quantization";
  } else if (is_float(t.type)) {
    t.readable = true;
  } else if (is_quantizable(t.type) && !t.scale.empty()) {
    t.readable = true;
  } else if (is_quantizable(t.type)) {
    t.unreadable_reason = std::string("is ") + tflite_type_name(t.type) + " without quantization parameters";
  } else {
    t.unreadable_reason = std::string("has type ") + tflite_type_name(t.type) + " (" +
                          std::to_string(static_cast<int>(t.type)) + "), which has no float32 conversion here";
  }
  return {};
}

// Rule 9: tensor names unique within subgraph g (tensors [first, first + count)).
TfliteStatus TfliteFile::check_unique_names(uint32_t g, size_t first, uint32_t count) const {
  std::vector<size_t> order(count);
  for (size_t i = 0; i < order.size(); ++i) order[i] = first + i;
  std::sort(order.begin(), order.end(), [this](size_t a, size_t b) { return tensors_[a].name < tensors_[b].name; });
  for (size_t i = 1; i < order.size(); ++i) {
    if (tensors_[order[i]].name == tensors_[order[i - 1]].name) {
      return fail(label_, TfliteError::kDuplicateName,
                  "tensor '" + tensors_[order[i]].name + "': name appears twice in subgraph " + std::to_string(g));
    }
  }

  return {};
}

// Rule 8: every operator's code and tensor indices; *producer: the operator whose output each tensor is.
TfliteStatus TfliteFile::check_operators(const void* fb_model, const void* fb_graph, uint32_t g, uint32_t count,
                                         std::vector<int32_t>* producer_out) const {
  const auto* codes = static_cast<const fb::Model*>(fb_model)->operator_codes();
  const auto* graph = static_cast<const fb::SubGraph*>(fb_graph);
  const auto* gops = graph->operators();
  const uint32_t ops = gops != nullptr ? gops->size() : 0;
  const uint32_t ncodes = codes ? codes->size() : 0;
  std::vector<int32_t>& producer = *producer_out;
  producer.assign(count, -1);
  for (uint32_t o = 0; o < ops; ++o) {
    const fb::Operator* op = gops->Get(o);
    const std::string where = "subgraph " + std::to_string(g) + ", operator " + std::to_string(o) + ": ";
    if (op->opcode_index() >= ncodes) {
      return fail(label_, TfliteError::kBadOperator,
                  where + "opcode index " + std::to_string(op->opcode_index()) + " is outside the " +
                      std::to_string(ncodes) + " operator codes");
    }
    for (const auto* list : {op->inputs(), op->outputs()}) {
      if (list == nullptr) continue;
      for (const int32_t i : *list) {
        if (i < -1 || i >= static_cast<int64_t>(count)) {
          return fail(label_, TfliteError::kBadOperator,
                      where + "tensor index " + std::to_string(i) + " is outside the subgraph's " +
                          std::to_string(count) + " tensors");
        }
      }
    }
    if (op->outputs() != nullptr) {
      for (const int32_t i : *op->outputs()) {
        if (i >= 0) producer[static_cast<size_t>(i)] = static_cast<int32_t>(o);
      }
    }
  }
  return {};
}

// The layouts the operators imply for their weights (tflite.h's TfliteLayout).
void TfliteFile::set_kernel_layouts(const void* fb_model, const void* fb_graph, size_t first, uint32_t count,
                                    const std::vector<int32_t>& producer) {
  const auto* codes = static_cast<const fb::Model*>(fb_model)->operator_codes();
  const auto* gops = static_cast<const fb::SubGraph*>(fb_graph)->operators();
  const uint32_t ops = gops != nullptr ? gops->size() : 0;
  // A Conv2D's or depthwise Conv2D's input 1 is its kernel, either a constant or the output of a
  // DEQUANTIZE of one (FLOAT16 and INT8 weights). A kernel used in two roles keeps its stored order.
  std::vector<uint8_t> role(count, 0);                      // 0 none, 1 conv, 2 depthwise, 3 conflicting
  for (uint32_t o = 0; codes != nullptr && o < ops; ++o) {  // operators imply codes: checked above
    const fb::Operator* op = gops->Get(o);
    const int code = builtin_code(codes->Get(op->opcode_index()));
    const auto* inputs = op->inputs();
    if ((code != kConv2d && code != kDepthwiseConv2d) || inputs == nullptr || inputs->size() < 2) continue;
    int32_t w = inputs->Get(1);
    if (w < 0) continue;
    // Up to two producers: a sparse FLOAT16 kernel goes through DENSIFY, then DEQUANTIZE.
    for (int hop = 0;
         hop < 2 && !tensors_[first + static_cast<size_t>(w)].has_data && producer[static_cast<size_t>(w)] >= 0;
         ++hop) {
      const fb::Operator* p = gops->Get(static_cast<uint32_t>(producer[static_cast<size_t>(w)]));
      const auto* p_inputs = p->inputs();
      const int p_code = builtin_code(codes->Get(p->opcode_index()));
      if ((p_code != kDequantize && p_code != kDensify) || p_inputs == nullptr || p_inputs->size() < 1 ||
          p_inputs->Get(0) < 0)
        break;
      w = p_inputs->Get(0);
    }
    const uint8_t r = code == kConv2d ? 1 : 2;
    uint8_t& current = role[static_cast<size_t>(w)];
    current = current == 0 || current == r ? r : 3;
  }
  for (uint32_t k = 0; k < count; ++k) {
    TfliteTensorInfo& t = tensors_[first + k];
    const auto& d = t.stored_shape;
    if (!t.has_data || d.size() != 4) continue;
    if (role[k] == 1) {
      t.layout = TfliteLayout::kConv2d;
      t.shape = {d[0], d[3], d[1], d[2]};
    } else if (role[k] == 2 && d[0] == 1) {
      t.layout = TfliteLayout::kDepthwise;
      t.shape = {d[3], 1, d[1], d[2]};
    }
  }
}

TfliteStatus TfliteFile::read_f32(const TfliteTensorInfo& t, uint64_t first, uint64_t count, float* out) const {
  if (!t.readable) {
    return {TfliteError::kUnsupportedType, label_ + ": tensor '" + t.name + "' " + t.unreadable_reason};
  }
  uint64_t last = 0;
  if (!checked_add(first, count, &last) || last > t.element_count) {
    return {TfliteError::kOutOfRange, label_ + ": tensor '" + t.name + "': elements [" + std::to_string(first) + ", +" +
                                          std::to_string(count) + ") are outside its " +
                                          std::to_string(t.element_count)};
  }
  if (count == 0) return {};
  const uint64_t esize = element_size(t.type);
  const auto& d = t.stored_shape;
  if (t.sparse) {
    // Densified into the caller's range: zeros, then every stored value whose shown place is wanted. The
    // whole index structure is walked per call (no heap; cost = the stored values).
    std::fill(out, out + count, 0.0f);
    const auto* sp = static_cast<const fb::SparsityParameters*>(t.sparsity);
    if (sp == nullptr) return {TfliteError::kUnsupportedType, label_ + ": tensor '" + t.name + "' has no sparsity"};
    uint64_t idx[kMaxSparseLevels] = {};
    uint64_t next_value = 0;
    bool io_ok = true;
    std::string error;
    auto emit = [&](uint64_t s, uint64_t v) {
      const uint64_t shown = shown_index(t, s);
      if (shown < first || shown >= last || !io_ok) return;
      uint8_t raw[8];
      const uint8_t* src = raw;
      if (t.inline_data) {
        src = fb_ + static_cast<size_t>(t.data_offset + v * esize);
      } else {
        io_ok = source_.read(t.data_offset + v * esize, raw, static_cast<size_t>(esize), &error);
      }
      if (io_ok) decode(t, src, s, 1, out + (shown - first));
    };
    walk_sparse(t, sp, 0, 0, idx, &next_value, emit);
    if (!io_ok) return {TfliteError::kIo, error};
    return {};
  }
  if (t.inline_data && t.layout != TfliteLayout::kAsStored) {
    // In memory, a permuted layout is a plain gather: each wanted element from its stored place.
    const uint8_t* base = fb_ + static_cast<size_t>(t.data_offset);  // inside the verified flatbuffer
    const uint64_t hw = d[1] * d[2];
    for (uint64_t j = first; j < last; ++j) {
      uint64_t s = 0;
      if (t.layout == TfliteLayout::kConv2d) {  // shown (o, i, p) with p = h * W + w; stored (o, p, i)
        const uint64_t in = d[3], row = hw * in, o = j / row, rem = j % row;
        s = o * row + (rem % hw) * in + rem / hw;
      } else {  // depthwise: shown (c, p); stored (p, c)
        s = (j % hw) * d[3] + j / hw;
      }
      decode(t, base + static_cast<size_t>(s * esize), s, 1, out + (j - first));
    }
    return {};
  }
  // Read by offset (files over 2 GB): the stored range holding the wanted elements: itself as stored; whole stored rows [O] for a Conv2D
  // kernel (a shown row is a transposed stored row); for a depthwise kernel, from the first wanted channel
  // of the first position to the last wanted channel of the last one.
  uint64_t s_begin = first, s_end = last;
  if (t.layout == TfliteLayout::kConv2d) {
    const uint64_t row = d[1] * d[2] * d[3];
    s_begin = first / row * row;
    s_end = ((last - 1) / row + 1) * row;
  } else if (t.layout == TfliteLayout::kDepthwise) {
    const uint64_t hw = d[1] * d[2], c = d[3];
    s_begin = first / hw;
    s_end = (hw - 1) * c + (last - 1) / hw + 1;  // a depthwise kernel read by rows reads it whole each time
  }
  uint8_t raw[kChunkBytes];
  float decoded[kChunkElements];
  for (uint64_t s = s_begin; s < s_end;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunkElements, s_end - s));
    const uint8_t* src = nullptr;
    if (t.inline_data) {
      src = fb_ + static_cast<size_t>(t.data_offset + s * esize);  // inside the verified flatbuffer
    } else {
      std::string error;
      if (!source_.read(t.data_offset + s * esize, raw, n * static_cast<size_t>(esize), &error)) {
        return {TfliteError::kIo, error};
      }
      src = raw;
    }
    if (t.layout == TfliteLayout::kAsStored) {
      decode(t, src, s, n, out + (s - first));
    } else {
      // A gather written as a scatter: each stored element goes to its shown place when it is wanted.
      decode(t, src, s, n, decoded);
      for (size_t i = 0; i < n; ++i) {
        const uint64_t shown = shown_index(t, s + i);
        if (shown >= first && shown < last) out[shown - first] = decoded[i];
      }
    }
    s += n;
  }
  return {};
}

}  // namespace probex
