// Validation rules (all must hold, or open() fails with the first violation found):
//  1. The file has at least 8 bytes; they hold N, the header length, little-endian.
//  2. 2 <= N, 8 + N <= file size, and N <= limits.max_header_bytes (file size <= limits.max_file_bytes).
//  3. The header is valid UTF-8, starts with '{' and is one well-formed JSON object (trailing
//     whitespace allowed, as the reference implementation pads with spaces).
//  4. "__metadata__", if present, is an object of string values with unique keys.
//  5. Every other key names a tensor (non-empty, unique) whose value is an object with exactly the
//     fields dtype (a known name), shape (at most max_dims non-negative integers) and
//     data_offsets ([begin, end], begin <= end).
//  6. prod(shape) * dtype size == end - begin, computed with overflow checks.
//  7. Sorted by offset, the tensors tile the data area exactly: the first begins at 0, each begins
//     where the previous ended, and the last ends at the end of the file.
#include "runtime/formats/safetensors.h"

#include <algorithm>
#include <cstring>

#include "runtime/formats/json_reader.h"
#include "runtime/math/checked_math.h"
#include "runtime/math/float_formats.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; a big-endian port needs byte swaps in read_f32");

namespace probex {
namespace {

struct DtypeEntry {
  Dtype dtype;
  const char* name;
  size_t size;
};

constexpr DtypeEntry kDtypes[] = {
    {Dtype::kBool, "BOOL", 1},       {Dtype::kU8, "U8", 1},   {Dtype::kI8, "I8", 1},   {Dtype::kF8_E4M3, "F8_E4M3", 1},
    {Dtype::kF8_E5M2, "F8_E5M2", 1}, {Dtype::kI16, "I16", 2}, {Dtype::kU16, "U16", 2}, {Dtype::kF16, "F16", 2},
    {Dtype::kBF16, "BF16", 2},       {Dtype::kI32, "I32", 4}, {Dtype::kU32, "U32", 4}, {Dtype::kF32, "F32", 4},
    {Dtype::kI64, "I64", 8},         {Dtype::kU64, "U64", 8}, {Dtype::kF64, "F64", 8},
};

const DtypeEntry& entry_of(Dtype dtype) {
  for (const auto& e : kDtypes) {
    if (e.dtype == dtype) return e;
  }
  return kDtypes[0];  // unreachable: every enumerator is in the table
}

std::string shape_string(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Builds errors that name the file (and the tensor, when one is involved).
class Errors {
 public:
  explicit Errors(const std::string& label) : label_(label) {}
  SafetensorsStatus operator()(SafetensorsError code, const std::string& what) const {
    return {code, label_ + ": " + what};
  }
  SafetensorsStatus tensor(SafetensorsError code, const std::string& name, const std::string& what) const {
    return {code, label_ + ": tensor '" + name + "': " + what};
  }

 private:
  const std::string& label_;
};

SafetensorsStatus parse_metadata(json::JsonCursor& cur, const Errors& err,
                                 std::vector<std::pair<std::string, std::string>>* out) {
  if (!cur.consume('{')) {
    cur.skip_value();
    return err(SafetensorsError::kInvalidMetadata, "__metadata__ is not an object");
  }
  if (cur.consume('}')) return {};
  std::string key, value;
  do {
    cur.read_string(&key);
    cur.consume(':');
    if (!cur.read_string(&value)) {
      return err(SafetensorsError::kInvalidMetadata, "__metadata__ value of '" + key + "' is not a string");
    }
    out->emplace_back(key, value);
  } while (cur.consume(','));
  cur.consume('}');
  std::sort(out->begin(), out->end());
  for (size_t i = 1; i < out->size(); ++i) {
    if ((*out)[i].first == (*out)[i - 1].first) {
      return err(SafetensorsError::kInvalidMetadata, "__metadata__ repeats the key '" + (*out)[i].first + "'");
    }
  }
  return {};
}

SafetensorsStatus parse_shape(json::JsonCursor& cur, const Errors& err, const std::string& name, size_t max_dims,
                              std::vector<uint64_t>* shape) {
  if (!cur.consume('[')) return err.tensor(SafetensorsError::kInvalidShape, name, "shape is not an array");
  if (cur.consume(']')) return {};
  do {
    json::NumberKind kind{};
    uint64_t dim = 0;
    if (!cur.read_number(&kind, &dim) || kind == json::NumberKind::kOther) {
      return err.tensor(SafetensorsError::kInvalidShape, name,
                        "shape holds something other than a non-negative integer");
    }
    if (kind == json::NumberKind::kOverflow) {
      return err.tensor(SafetensorsError::kOverflow, name, "shape dimension does not fit in 64 bits");
    }
    if (shape->size() == max_dims) {
      return err.tensor(SafetensorsError::kLimitExceeded, name,
                        "shape has more than " + std::to_string(max_dims) + " dimensions (the configured limit)");
    }
    shape->push_back(dim);
  } while (cur.consume(','));
  cur.consume(']');
  return {};
}

SafetensorsStatus parse_offsets(json::JsonCursor& cur, const Errors& err, const std::string& name, uint64_t* begin,
                                uint64_t* end) {
  const char* const form = "data_offsets is not [begin, end] of two non-negative integers";
  if (!cur.consume('[')) return err.tensor(SafetensorsError::kInvalidOffsets, name, form);
  uint64_t values[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    if (i == 1 && !cur.consume(',')) return err.tensor(SafetensorsError::kInvalidOffsets, name, form);
    json::NumberKind kind{};
    if (!cur.read_number(&kind, &values[i]) || kind == json::NumberKind::kOther) {
      return err.tensor(SafetensorsError::kInvalidOffsets, name, form);
    }
    if (kind == json::NumberKind::kOverflow) {
      return err.tensor(SafetensorsError::kOverflow, name, "data_offsets value does not fit in 64 bits");
    }
  }
  if (!cur.consume(']')) return err.tensor(SafetensorsError::kInvalidOffsets, name, form);
  if (values[0] > values[1]) {
    return err.tensor(SafetensorsError::kInvalidOffsets, name,
                      "data_offsets begin " + std::to_string(values[0]) + " is after end " + std::to_string(values[1]));
  }
  *begin = values[0];
  *end = values[1];
  return {};
}

SafetensorsStatus parse_entry(json::JsonCursor& cur, const Errors& err, const std::string& name,
                              const SafetensorsLimits& limits, TensorInfo* t) {
  t->name = name;
  if (name.empty()) return err(SafetensorsError::kBadEntry, "a tensor has an empty name");
  if (!cur.consume('{')) return err.tensor(SafetensorsError::kBadEntry, name, "entry is not an object");
  bool has_dtype = false, has_shape = false, has_offsets = false;
  std::string field;
  if (!cur.consume('}')) {
    do {
      cur.read_string(&field);
      cur.consume(':');
      SafetensorsStatus st;
      if (field == "dtype") {
        if (has_dtype) return err.tensor(SafetensorsError::kBadEntry, name, "repeats the field 'dtype'");
        has_dtype = true;
        std::string dtype;
        if (!cur.read_string(&dtype)) return err.tensor(SafetensorsError::kBadEntry, name, "dtype is not a string");
        if (!dtype_from_name(dtype, &t->dtype)) {
          return err.tensor(SafetensorsError::kUnknownDtype, name, "unknown dtype '" + dtype + "'");
        }
      } else if (field == "shape") {
        if (has_shape) return err.tensor(SafetensorsError::kBadEntry, name, "repeats the field 'shape'");
        has_shape = true;
        st = parse_shape(cur, err, name, limits.max_dims, &t->shape);
      } else if (field == "data_offsets") {
        if (has_offsets) return err.tensor(SafetensorsError::kBadEntry, name, "repeats the field 'data_offsets'");
        has_offsets = true;
        st = parse_offsets(cur, err, name, &t->begin, &t->end);
      } else {
        return err.tensor(SafetensorsError::kBadEntry, name, "unknown field '" + field + "'");
      }
      if (!st.ok()) return st;
    } while (cur.consume(','));
    cur.consume('}');
  }
  if (!has_dtype) return err.tensor(SafetensorsError::kBadEntry, name, "missing the field 'dtype'");
  if (!has_shape) return err.tensor(SafetensorsError::kBadEntry, name, "missing the field 'shape'");
  if (!has_offsets) return err.tensor(SafetensorsError::kBadEntry, name, "missing the field 'data_offsets'");

  uint64_t count = 1;
  for (uint64_t d : t->shape) {
    if (!checked_mul(count, d, &count)) {
      return err.tensor(SafetensorsError::kOverflow, name,
                        "element count of shape " + shape_string(t->shape) + " overflows");
    }
  }
  uint64_t bytes = 0;
  if (!checked_mul(count, dtype_size(t->dtype), &bytes)) {
    return err.tensor(SafetensorsError::kOverflow, name, "byte size of shape " + shape_string(t->shape) + " overflows");
  }
  if (bytes != t->end - t->begin) {
    return err.tensor(SafetensorsError::kSizeMismatch, name,
                      "shape " + shape_string(t->shape) + " of " + dtype_name(t->dtype) + " needs " +
                          std::to_string(bytes) + " bytes but data_offsets span " + std::to_string(t->end - t->begin));
  }
  t->element_count = count;
  return {};
}

// Converts k elements (element_size bytes each) at `src` into dst[0, k). The ranges must not overlap.
template <typename Convert>
void convert_chunk(const uint8_t* __restrict src, float* __restrict dst, size_t k, size_t element_size,
                   Convert convert) {
  for (size_t i = 0; i < k; ++i) dst[i] = convert(src + element_size * i);
}

// The n stored elements fill the last n * element_size bytes of out's 4n bytes; converts them into
// out[0, n) front to back. Each chunk's destination ends where the unconverted bytes begin, so source and
// destination never overlap and the chunk loop vectorizes (converting in place element by element could
// not: the compiler must assume overlap). Chunks shrink geometrically: about log2(n) of them.
template <typename Convert>
void widen_in_place(float* out, size_t n, size_t element_size, Convert convert) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(out);
  for (size_t done = 0; done < n;) {
    const size_t left = n - done;
    const uint8_t* src = bytes + 4 * n - left * element_size;
    const size_t k = left * (4 - element_size) / 4;  // 4 * (done + k) <= 4n - left * element_size
    if (k == 0) {                                    // the last element overlaps its own bytes: read it, then write
      const float v = convert(src);
      std::memcpy(out + done, &v, sizeof v);
      ++done;
      continue;
    }
    convert_chunk(src, out + done, k, element_size, convert);
    done += k;
  }
}

}  // namespace

const char* safetensors_error_name(SafetensorsError code) {
  switch (code) {
    case SafetensorsError::kOk: return "ok";
    case SafetensorsError::kIo: return "io";
    case SafetensorsError::kHeaderTooSmall: return "header_too_small";
    case SafetensorsError::kHeaderTooLarge: return "header_too_large";
    case SafetensorsError::kFileTruncated: return "file_truncated";
    case SafetensorsError::kHeaderNotUtf8: return "header_not_utf8";
    case SafetensorsError::kHeaderInvalidJson: return "header_invalid_json";
    case SafetensorsError::kHeaderNotObject: return "header_not_object";
    case SafetensorsError::kInvalidMetadata: return "invalid_metadata";
    case SafetensorsError::kBadEntry: return "bad_entry";
    case SafetensorsError::kUnknownDtype: return "unknown_dtype";
    case SafetensorsError::kInvalidShape: return "invalid_shape";
    case SafetensorsError::kInvalidOffsets: return "invalid_offsets";
    case SafetensorsError::kOffsetsOverlap: return "offsets_overlap";
    case SafetensorsError::kOffsetsHole: return "offsets_hole";
    case SafetensorsError::kSizeMismatch: return "size_mismatch";
    case SafetensorsError::kOverflow: return "overflow";
    case SafetensorsError::kDuplicateName: return "duplicate_name";
    case SafetensorsError::kTrailingBytes: return "trailing_bytes";
    case SafetensorsError::kTooManyTensors: return "too_many_tensors";
    case SafetensorsError::kTensorNotFound: return "tensor_not_found";
    case SafetensorsError::kUnsupportedConversion: return "unsupported_conversion";
    case SafetensorsError::kOutOfRange: return "out_of_range";
    case SafetensorsError::kLayerShape: return "layer_shape";
    case SafetensorsError::kLimitExceeded: return "limit_exceeded";
  }
  return "unknown";
}

const char* dtype_name(Dtype dtype) { return entry_of(dtype).name; }
size_t dtype_size(Dtype dtype) { return entry_of(dtype).size; }

bool dtype_from_name(std::string_view name, Dtype* out) {
  for (const auto& e : kDtypes) {
    if (name == e.name) {
      *out = e.dtype;
      return true;
    }
  }
  return false;
}

bool dtype_converts_to_f32(Dtype dtype) {
  switch (dtype) {
    case Dtype::kF64:
    case Dtype::kF32:
    case Dtype::kF16:
    case Dtype::kBF16:
    case Dtype::kF8_E4M3:
    case Dtype::kF8_E5M2: return true;
    default: return false;
  }
}

uint64_t TensorInfo::row_length() const {
  // element_count was overflow-checked, so the product of the trailing dims fits as well.
  uint64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

SafetensorsStatus SafetensorsFile::open(const std::string& path, SafetensorsFile* out,
                                        const SafetensorsLimits& limits) {
  SafetensorsFile f;
  f.label_ = path;
  std::string error;
  if (!f.source_.open(path, &error)) return {SafetensorsError::kIo, error};
  SafetensorsStatus st = f.parse(limits);
  if (st.ok()) *out = std::move(f);
  return st;
}

SafetensorsStatus SafetensorsFile::from_buffer(std::string label, const uint8_t* data, size_t size,
                                               SafetensorsFile* out, const SafetensorsLimits& limits) {
  SafetensorsFile f;
  f.label_ = std::move(label);
  f.source_.set_buffer(data, size);
  SafetensorsStatus st = f.parse(limits);
  if (st.ok()) *out = std::move(f);
  return st;
}

SafetensorsStatus SafetensorsFile::read_bytes(uint64_t offset, void* out, size_t count) const {
  std::string error;
  if (!source_.read(offset, out, count, &error)) return {SafetensorsError::kIo, error};
  return {};
}

SafetensorsStatus SafetensorsFile::parse(const SafetensorsLimits& limits) {
  const Errors err(label_);
  if (source_.size() > limits.max_file_bytes) {
    return err(SafetensorsError::kLimitExceeded, "file has " + std::to_string(source_.size()) +
                                                     " bytes, above the configured limit of " +
                                                     std::to_string(limits.max_file_bytes));
  }
  if (source_.size() < 8) {
    return err(SafetensorsError::kHeaderTooSmall,
               "file has " + std::to_string(source_.size()) + " bytes, fewer than the 8-byte header length");
  }
  uint8_t length_bytes[8];
  SafetensorsStatus read = read_bytes(0, length_bytes, sizeof length_bytes);
  if (!read.ok()) return read;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | length_bytes[i];
  if (n < 2) return err(SafetensorsError::kHeaderTooSmall, "header length " + std::to_string(n) + " is below 2");
  // A length the file cannot hold is a broken file; a header that is there but too long is a refusal.
  if (n > source_.size() - 8) {
    return err(SafetensorsError::kFileTruncated, "header length " + std::to_string(n) + " but only " +
                                                     std::to_string(source_.size() - 8) + " bytes follow it");
  }
  if (n > limits.max_header_bytes) {
    return err(SafetensorsError::kHeaderTooLarge, "header length " + std::to_string(n) + " exceeds the limit of " +
                                                      std::to_string(limits.max_header_bytes) + " bytes");
  }
  // A file's header is copied (at most max_header_bytes, and no more than the file holds); a buffer's is
  // read in place.
  std::string header_copy;
  std::string_view header;
  if (source_.buffer() != nullptr) {
    header = std::string_view(reinterpret_cast<const char*>(source_.buffer() + 8), static_cast<size_t>(n));
  } else {
    header_copy.resize(static_cast<size_t>(n));
    read = read_bytes(8, header_copy.data(), header_copy.size());
    if (!read.ok()) return read;
    header = header_copy;
  }
  size_t bad = 0;
  if (!json::is_valid_utf8(header, &bad)) {
    return err(SafetensorsError::kHeaderNotUtf8, "header is not valid UTF-8 at byte " + std::to_string(8 + bad));
  }
  if (header[0] != '{') return err(SafetensorsError::kHeaderNotObject, "header does not start with '{'");
  const char* what = nullptr;
  constexpr int kMaxDepth = 8;  // the schema needs 3 levels
  if (!json::validate_json(header, kMaxDepth, &bad, &what)) {
    return err(SafetensorsError::kHeaderInvalidJson,
               std::string("header is not valid JSON: ") + what + " at byte " + std::to_string(8 + bad));
  }

  json::JsonCursor cur(header);
  cur.consume('{');
  bool has_metadata = false;
  std::string key;
  if (!cur.consume('}')) {
    do {
      cur.read_string(&key);
      cur.consume(':');
      if (key == "__metadata__") {
        if (has_metadata) return err(SafetensorsError::kDuplicateName, "__metadata__ appears twice");
        has_metadata = true;
        SafetensorsStatus st = parse_metadata(cur, err, &metadata_);
        if (!st.ok()) return st;
        continue;
      }
      if (tensors_.size() >= limits.max_tensors) {
        return err(SafetensorsError::kTooManyTensors, "more than " + std::to_string(limits.max_tensors) + " tensors");
      }
      TensorInfo t;
      SafetensorsStatus st = parse_entry(cur, err, key, limits, &t);
      if (!st.ok()) return st;
      tensors_.push_back(std::move(t));
    } while (cur.consume(','));
  }

  std::vector<const TensorInfo*> by_name;
  by_name.reserve(tensors_.size());
  for (const auto& t : tensors_) by_name.push_back(&t);
  std::sort(by_name.begin(), by_name.end(), [](auto* a, auto* b) { return a->name < b->name; });
  for (size_t i = 1; i < by_name.size(); ++i) {
    if (by_name[i]->name == by_name[i - 1]->name) {
      return err.tensor(SafetensorsError::kDuplicateName, by_name[i]->name, "name appears twice");
    }
  }

  std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const uint64_t data_size = source_.size() - 8 - n;
  uint64_t running = 0;
  for (const auto& t : tensors_) {
    if (t.begin < running) {
      return err.tensor(SafetensorsError::kOffsetsOverlap, t.name,
                        "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                            "] overlap the previous tensor, which ends at " + std::to_string(running));
    }
    if (t.begin > running) {
      return err.tensor(SafetensorsError::kOffsetsHole, t.name,
                        "bytes " + std::to_string(running) + ".." + std::to_string(t.begin) +
                            " before this tensor belong to no tensor");
    }
    running = t.end;
    if (running > data_size) {
      return err.tensor(SafetensorsError::kFileTruncated, t.name,
                        "data ends at byte " + std::to_string(running) + " of the data area, but the file holds only " +
                            std::to_string(data_size) + " data bytes");
    }
  }
  if (running < data_size) {
    return err(SafetensorsError::kTrailingBytes,
               std::to_string(data_size - running) + " bytes after the last tensor belong to no tensor");
  }
  data_offset_ = 8 + n;
  return {};
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

SafetensorsStatus SafetensorsFile::require(std::string_view name, const TensorInfo** out) const {
  *out = find(name);
  if (*out == nullptr) {
    return {SafetensorsError::kTensorNotFound, label_ + ": no tensor named '" + std::string(name) + "'"};
  }
  return {};
}

const std::string* SafetensorsFile::metadata_value(std::string_view key) const {
  auto it = std::lower_bound(metadata_.begin(), metadata_.end(), key,
                             [](const auto& kv, std::string_view k) { return kv.first < k; });
  if (it == metadata_.end() || it->first != key) return nullptr;
  return &it->second;
}

SafetensorsStatus SafetensorsFile::read_f32(const TensorInfo& t, uint64_t first, uint64_t count, float* out) const {
  if (!dtype_converts_to_f32(t.dtype)) {
    return {SafetensorsError::kUnsupportedConversion,
            label_ + ": tensor '" + t.name + "': " + dtype_name(t.dtype) + " does not convert to float32"};
  }
  uint64_t last = 0;
  if (!checked_add(first, count, &last) || last > t.element_count) {
    return {SafetensorsError::kOutOfRange, label_ + ": tensor '" + t.name + "': elements [" + std::to_string(first) +
                                               ", +" + std::to_string(count) + ") are outside its " +
                                               std::to_string(t.element_count) + " elements"};
  }
  const size_t size = dtype_size(t.dtype);
  const uint64_t offset = data_offset_ + t.begin + first * size;  // inside the file: checked at open
  const auto n = static_cast<size_t>(count);
  if (t.dtype == Dtype::kF64) {
    // Wider than the output: convert through a small stack buffer.
    double chunk[256];
    for (size_t done = 0; done < n;) {
      const size_t m = std::min(n - done, sizeof chunk / sizeof chunk[0]);
      const SafetensorsStatus st = read_bytes(offset + done * 8, chunk, m * sizeof(double));
      if (!st.ok()) return st;
      for (size_t i = 0; i < m; ++i) out[done + i] = f64_to_f32(chunk[i]);
      done += m;
    }
    return {};
  }
  // 1, 2 or 4 bytes per element: read the stored bytes into the back of `out`, then widen them in place.
  auto* back = reinterpret_cast<uint8_t*>(out) + (4 - size) * n;
  const SafetensorsStatus st = read_bytes(offset, back, n * size);
  if (!st.ok() || t.dtype == Dtype::kF32) return st;
  switch (t.dtype) {
    case Dtype::kF16: widen_in_place(out, n, 2, [](const uint8_t* p) { return f16_to_f32(load_le16(p)); }); break;
    case Dtype::kBF16: widen_in_place(out, n, 2, [](const uint8_t* p) { return bf16_to_f32(load_le16(p)); }); break;
    case Dtype::kF8_E4M3: widen_in_place(out, n, 1, [](const uint8_t* p) { return f8e4m3_to_f32(*p); }); break;
    case Dtype::kF8_E5M2: widen_in_place(out, n, 1, [](const uint8_t* p) { return f8e5m2_to_f32(*p); }); break;
    default: break;  // rejected above
  }
  return {};
}

SafetensorsStatus SafetensorsFile::read_raw(const TensorInfo& t, void* out) const {
  return read_bytes(data_offset_ + t.begin, out, static_cast<size_t>(t.end - t.begin));
}

SafetensorsStatus SafetensorsFile::read_rows_f32(const TensorInfo& t, uint64_t first_row, uint64_t row_count,
                                                 float* out) const {
  uint64_t last_row = 0;
  if (!checked_add(first_row, row_count, &last_row) || last_row > t.rows()) {
    return {SafetensorsError::kOutOfRange, label_ + ": tensor '" + t.name + "': rows [" + std::to_string(first_row) +
                                               ", +" + std::to_string(row_count) + ") are outside its " +
                                               std::to_string(t.rows()) + " rows"};
  }
  const uint64_t row_length = t.row_length();
  return read_f32(t, first_row * row_length, row_count * row_length, out);
}

}  // namespace probex
