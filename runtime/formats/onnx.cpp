// The ONNX reader (onnx.h). Rules, all checked at open (the first violation found is the error):
//  1. The file is at most limits.max_file_bytes. Wire format: every varint ends within 10 bytes and fits
//     64 bits (kBadVarint); every length-delimited field, fixed32 and fixed64 lies inside its enclosing
//     message (kTruncated); wire types 3 and 4 (groups), 6 and 7, and field number 0 are refused, and the
//     fields read here must have their declared wire type (packed or not for repeated numbers) (kBadWireType).
//     Unknown fields are skipped by wire type without being read.
//  2. ModelProto has exactly one graph (field 7). Subgraphs (attributes g and graphs) nest at most
//     kMaxGraphDepth deep (kNestingTooDeep): recursion is bounded by that, since unknown and skipped
//     messages are never entered. Nodes, tensors and dims per tensor are bounded (kLimitExceeded).
//  3. Each listed tensor: a data_type ONNX defines (1..24); dims non-negative with a product below 2^63;
//     a non-empty UTF-8 name of at most kMaxNameBytes; its values in exactly one place: raw_data, the
//     typed field of its type (float_data, int32_data, ...), or external data (data_location 1 with
//     "location", optional "offset" and "length" as decimal strings). For types of fixed size the stored
//     bytes (or, for FLOAT16/BFLOAT16 in int32_data, the number of values, each below 2^16) match prod(dims)
//     exactly (kDataSize).
//  4. External data (files only): the location is relative, without '..', with no NUL or backslash, and its
//     real path (symbolic links resolved) lies in the model's folder (kExternalOutsideFolder); the file
//     exists (kIo, "external_missing") and offset + length lies inside it (kExternalOutOfFile).
//  5. Names are unique (model_file.cpp: "duplicate_name").
// After these, MatMul/Gemm weights are marked transposed and integer inputs of DequantizeLinear nodes get
// their scales and zero points (docs/formats.md, "ONNX"): what cannot be followed leaves a tensor listed
// but unreadable, never an open error.
#include "runtime/formats/onnx.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "probex/platform/paths.h"
#include "runtime/formats/byte_source.h"
#include "runtime/formats/json_reader.h"
#include "runtime/formats/model_folder.h"
#include "runtime/math/checked_math.h"
#include "runtime/math/float_formats.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "ONNX raw_data and fixed32/fixed64 are little-endian; a big-endian port needs byte swaps");

namespace probex {

const char* onnx_error_name(OnnxError code) {
  switch (code) {
    case OnnxError::kOk: return "ok";
    case OnnxError::kIo: return "io";
    case OnnxError::kTruncated: return "truncated";
    case OnnxError::kBadVarint: return "bad_varint";
    case OnnxError::kBadWireType: return "bad_wire_type";
    case OnnxError::kNestingTooDeep: return "nesting_too_deep";
    case OnnxError::kLimitExceeded: return "limit_exceeded";
    case OnnxError::kNoGraph: return "no_graph";
    case OnnxError::kBadDims: return "bad_dims";
    case OnnxError::kUnknownDataType: return "unknown_data_type";
    case OnnxError::kDataSize: return "data_size";
    case OnnxError::kBadName: return "bad_name";
    case OnnxError::kBadExternalData: return "bad_external_data";
    case OnnxError::kExternalOutsideFolder: return "external_outside_folder";
    case OnnxError::kExternalOutOfFile: return "external_out_of_file";
  }
  return "?";
}

namespace {

constexpr uint32_t kMaxGraphDepth = 32;       // subgraphs inside subgraphs; real models use 1 or 2
constexpr uint64_t kMaxNameBytes = 1u << 16;  // tensor, node, attribute names and external locations
constexpr size_t kMaxMetadataEntries = 4096;  // ModelProto.metadata_props kept
constexpr uint64_t kMaxNodes = 1u << 24;
// Subgraph paths are copied into every scope and tensor name below them: a small file of deep, long-named,
// repeated subgraphs could otherwise ask for gigabytes. Paths and full names are bounded each and in total.
constexpr uint64_t kMaxTotalNameBytes = 64u << 20;
constexpr size_t kWindow = 1u << 16;  // bytes buffered while parsing a file
constexpr size_t kChunkBytes = 8192;  // bytes read per call to the file while converting

// ONNX TensorProto.DataType, numbered as in onnx.proto.
enum class Field : uint8_t { kNone, kFloat, kInt32, kInt64, kDouble, kUint64, kString };
struct DataType {
  const char* name;
  uint32_t bits;  // per element; 0 for STRING (no fixed size)
  Field field;    // the typed field that holds it when not raw
  bool readable;  // converted to float32 here
};
constexpr DataType kTypes[] = {
    {"UNDEFINED", 0, Field::kNone, false},       {"FLOAT", 32, Field::kFloat, true},
    {"UINT8", 8, Field::kInt32, false},          {"INT8", 8, Field::kInt32, false},
    {"UINT16", 16, Field::kInt32, false},        {"INT16", 16, Field::kInt32, false},
    {"INT32", 32, Field::kInt32, false},         {"INT64", 64, Field::kInt64, false},
    {"STRING", 0, Field::kString, false},        {"BOOL", 8, Field::kInt32, false},
    {"FLOAT16", 16, Field::kInt32, true},        {"DOUBLE", 64, Field::kDouble, true},
    {"UINT32", 32, Field::kUint64, false},       {"UINT64", 64, Field::kUint64, false},
    {"COMPLEX64", 64, Field::kFloat, false},     {"COMPLEX128", 128, Field::kDouble, false},
    {"BFLOAT16", 16, Field::kInt32, true},       {"FLOAT8E4M3FN", 8, Field::kInt32, false},
    {"FLOAT8E4M3FNUZ", 8, Field::kInt32, false}, {"FLOAT8E5M2", 8, Field::kInt32, false},
    {"FLOAT8E5M2FNUZ", 8, Field::kInt32, false}, {"UINT4", 4, Field::kInt32, false},
    {"INT4", 4, Field::kInt32, false},           {"FLOAT4E2M1", 4, Field::kInt32, false},
    {"FLOAT8E8M0", 8, Field::kInt32, false},
};
constexpr uint32_t kFloat = 1, kFloat16 = 10, kDouble = 11, kBfloat16 = 16;
constexpr uint64_t kTypeCount = sizeof(kTypes) / sizeof(kTypes[0]);

enum class Storage : uint8_t {
  kNone,      // no values (an empty tensor)
  kFixed,     // little-endian values of the type's size, contiguous: raw_data, packed float/double_data
  kVarint,    // packed varints (int32_data): FLOAT16/BFLOAT16 bits in the low 16 bits
  kExternal,  // contiguous little-endian values in an external file
};

struct OnnxTensor {
  uint32_t data_type = 0;
  std::vector<uint64_t> dims;
  uint64_t element_count = 0;
  Storage storage = Storage::kNone;
  uint64_t offset = 0, length = 0;  // of the values, in the model file or the external file
  size_t external = 0;              // index into the model's external files (kExternal)
  std::string location;             // kExternal: as written in the file
  bool transposed = false;          // presented [dims[1], dims[0]]
  std::string unreadable;           // why read_f32 refuses it (empty if it converts)
  // An integer tensor read through the DequantizeLinear node that consumes it: y = (q - zero) * scale.
  bool dequantized = false;
  uint64_t dq_inner = 1, dq_channels = 1;  // element e's channel: (e / dq_inner) % dq_channels
  std::vector<float> dq_scale;             // per channel
  std::vector<int64_t> dq_zero;            // per channel (zeros when the node has no zero point)
};

// A DequantizeLinear node whose input x, x_scale and x_zero_point are listed tensors (indices; kNone if
// absent or not found).
constexpr size_t kNoTensor = static_cast<size_t>(-1);
struct DequantLink {
  size_t x = kNoTensor, scale = kNoTensor, zero = kNoTensor;
  int64_t axis = 1;
  bool blocked = false;  // block_size set (opset 21 blocked quantization): not supported
};

// The bytes of the file, through a window while parsing (a varint or tag costs no system call).
class Bytes {
 public:
  explicit Bytes(const ByteSource& source) : source_(source) {}
  uint64_t size() const { return source_.size(); }
  // Makes [offset, offset + n) (n <= kWindow, inside the file) available at *p.
  bool peek(uint64_t offset, size_t n, const uint8_t** p, std::string* error) {
    if (source_.buffer() != nullptr) {
      *p = source_.buffer() + offset;
      return true;
    }
    if (offset < window_offset_ || offset + n > window_offset_ + window_.size()) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(kWindow, source_.size() - offset));
      window_.resize(len);
      window_offset_ = offset;
      if (!source_.read(offset, window_.data(), len, error)) {
        window_.clear();
        return false;
      }
    }
    *p = window_.data() + (offset - window_offset_);
    return true;
  }
  bool read(uint64_t offset, void* out, size_t n, std::string* error) const {
    return source_.read(offset, out, n, error);
  }

 private:
  const ByteSource& source_;
  std::vector<uint8_t> window_;
  uint64_t window_offset_ = 0;
};

// One field of a message: its number, wire type and value (a varint) or payload range.
struct Wire {
  uint32_t number = 0;
  uint32_t type = 0;
  uint64_t value = 0;           // wire type 0
  uint64_t begin = 0, end = 0;  // wire types 1, 2, 5: the bytes (for 2: the payload)
};

// Reads one varint at *pos, ending before `end`. 0 ok, 1 truncated, 2 too long / above 64 bits.
int read_varint(Bytes& in, uint64_t* pos, uint64_t end, uint64_t* value, std::string* io_error, bool* io) {
  const size_t avail = static_cast<size_t>(std::min<uint64_t>(10, end - *pos));
  const uint8_t* p = nullptr;
  *io = false;
  if (avail == 0) return 1;
  if (!in.peek(*pos, avail, &p, io_error)) {
    *io = true;
    return 1;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < avail; ++i) {
    const uint8_t b = p[i];
    if (i == 9 && b > 1) return 2;  // the tenth byte holds bit 63 only
    v |= static_cast<uint64_t>(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) {
      *pos += i + 1;
      *value = v;
      return 0;
    }
  }
  return avail == 10 ? 2 : 1;
}

class Parser {
 public:
  Parser(std::string label, Bytes& in, const ModelLimits& limits, std::vector<OnnxTensor>* tensors,
         std::vector<std::string>* names)
      : label_(std::move(label)), in_(in), limits_(limits), tensors_(*tensors), names_(*names) {}

  OnnxError code = OnnxError::kOk;
  std::string message;
  // ModelProto.metadata_props (field 14), in file order: entries whose key and value fit kMaxNameBytes,
  // at most kMaxMetadataEntries of them (others are skipped, never an error).
  std::vector<std::pair<std::string, std::string>> metadata;

  bool model();
  // After model(): marks MatMul weights transposed, and returns the DequantizeLinear nodes' tensors.
  void resolve_matmul_weights();
  std::vector<DequantLink> resolve_dequant() const;

 private:
  struct Scope {
    std::string prefix;
    size_t parent;
  };
  struct Usage {
    size_t scope;
    std::string name;
  };
  struct Dequant {
    size_t scope;
    std::string x, scale, zero, output;
    int64_t axis;
    bool blocked;
  };
  void build_index();
  size_t lookup(size_t scope, const std::string& name) const;  // innermost enclosing scope first; kNoTensor
  size_t find_name(const std::string& full) const;
  const Dequant* dequant_producing(size_t scope, const std::string& output) const;
  struct Attribute {
    std::string name;
    uint64_t i = 0;
    bool has_i = false;
    uint64_t t_begin = 0, t_end = 0;
    bool has_t = false;
    std::vector<std::pair<uint64_t, uint64_t>> graphs;  // g, then graphs[k]
    bool single_g = false;
  };

  bool fail(OnnxError c, uint64_t at, const std::string& what) {
    if (code == OnnxError::kOk) {
      code = c;
      message = label_ + ": byte " + std::to_string(at) + ": " + what;
    }
    return false;
  }
  bool fail_tensor(OnnxError c, const std::string& name, const std::string& what) {
    if (code == OnnxError::kOk) {
      code = c;
      message = label_ + ": tensor '" + name + "': " + what;
    }
    return false;
  }
  bool varint(uint64_t* pos, uint64_t end, uint64_t* v, const char* what) {
    const uint64_t at = *pos;
    std::string error;
    bool io = false;
    switch (read_varint(in_, pos, end, v, &error, &io)) {
      case 0: return true;
      case 1:
        if (io) return fail(OnnxError::kIo, at, error);
        return fail(OnnxError::kTruncated, at,
                    std::string(what) + ": a varint runs past the end of its message at byte " + std::to_string(end));
      default:
        return fail(OnnxError::kBadVarint, at, std::string(what) + ": a varint longer than 10 bytes or above 64 bits");
    }
  }
  // The next field of a message ending at `end`. Messages are built on failure only (no allocation per field).
  bool next(uint64_t* pos, uint64_t end, Wire* w, const char* message_name) {
    const uint64_t at = *pos;
    uint64_t tag = 0;
    if (!varint(pos, end, &tag, message_name)) return false;
    if (tag >> 3 == 0 || tag >> 3 > 0x1FFFFFFF)
      return fail(OnnxError::kBadWireType, at,
                  std::string(message_name) + ": field number " + std::to_string(tag >> 3));
    w->number = static_cast<uint32_t>(tag >> 3);
    w->type = static_cast<uint32_t>(tag & 7);
    const auto field = [&] { return std::string(message_name) + " field " + std::to_string(w->number); };
    uint64_t len = 0;
    switch (w->type) {
      case 0:
        w->begin = w->end = at;
        if (!varint(pos, end, &w->value, message_name)) {
          message += " (" + field() + ")";
          return false;
        }
        return true;
      case 1: len = 8; break;
      case 5: len = 4; break;
      case 2:
        if (!varint(pos, end, &len, message_name)) {
          message += " (" + field() + ")";
          return false;
        }
        break;
      default:
        return fail(OnnxError::kBadWireType, at,
                    field() + ": wire type " + std::to_string(w->type) +
                        (w->type == 3 || w->type == 4 ? " (a group, not used by ONNX)" : " (undefined)"));
    }
    if (len > end - *pos)
      return fail(OnnxError::kTruncated, at,
                  field() + ": " + std::to_string(len) + " bytes run past the end of its message at byte " +
                      std::to_string(end));
    w->begin = *pos;
    w->end = *pos + len;
    *pos = w->end;
    return true;
  }
  bool expect(const Wire& w, uint32_t type, const char* what) {
    if (w.type == type) return true;
    return fail(OnnxError::kBadWireType, w.begin,
                std::string(what) + " (field " + std::to_string(w.number) + ") has wire type " +
                    std::to_string(w.type) + ", not " + std::to_string(type));
  }
  bool string(const Wire& w, const char* what, std::string* out) {
    if (!expect(w, 2, what)) return false;
    if (w.end - w.begin > kMaxNameBytes)
      return fail(OnnxError::kLimitExceeded, w.begin,
                  std::string(what) + ": " + std::to_string(w.end - w.begin) + " bytes, above the limit of " +
                      std::to_string(kMaxNameBytes));
    out->resize(static_cast<size_t>(w.end - w.begin));
    std::string error;
    if (!in_.read(w.begin, &(*out)[0], out->size(), &error)) return fail(OnnxError::kIo, w.begin, error);
    return true;
  }

  bool graph(uint64_t begin, uint64_t end, size_t scope, uint32_t depth);
  bool node(uint64_t begin, uint64_t end, size_t scope, uint32_t depth, uint64_t index);
  bool attribute(uint64_t begin, uint64_t end, Attribute* a);
  bool tensor(uint64_t begin, uint64_t end, size_t scope, const std::string* forced_name);
  bool external_entry(uint64_t begin, uint64_t end, std::string* key, std::string* value);
  bool metadata_entry(uint64_t begin, uint64_t end);
  bool count_varints(const Wire& w, const char* field, const std::string& name, bool check16, uint64_t* count);

  std::string label_;
  Bytes& in_;
  const ModelLimits& limits_;
  std::vector<OnnxTensor>& tensors_;
  std::vector<std::string>& names_;
  std::vector<Scope> scopes_;
  std::vector<Usage> matmul_weights_;
  std::vector<Dequant> dequants_;
  std::vector<size_t> order_;          // tensors by full name
  std::vector<size_t> dequant_order_;  // dequants_ by (scope, output)
  uint64_t nodes_ = 0;
  uint64_t name_bytes_ = 0;  // scope prefixes and full tensor names kept
  bool count_name(uint64_t at, const std::string& what, uint64_t bytes) {
    if (bytes > kMaxNameBytes)
      return fail(OnnxError::kLimitExceeded, at,
                  what + " of " + std::to_string(bytes) + " bytes, above the limit of " +
                      std::to_string(kMaxNameBytes));
    name_bytes_ += bytes;
    if (name_bytes_ > kMaxTotalNameBytes)
      return fail(OnnxError::kLimitExceeded, at,
                  "tensor names and subgraph paths above " + std::to_string(kMaxTotalNameBytes) + " bytes in total");
    return true;
  }
};

bool Parser::model() {
  if (in_.size() > limits_.max_file_bytes)
    return fail(OnnxError::kLimitExceeded, 0,
                "the file has " + std::to_string(in_.size()) + " bytes, above the configured limit of " +
                    std::to_string(limits_.max_file_bytes));
  uint64_t pos = 0;
  const uint64_t end = in_.size();
  uint64_t graph_begin = 0, graph_end = 0;
  int graphs = 0;
  while (pos < end) {
    Wire w;
    if (!next(&pos, end, &w, "ModelProto")) return false;
    if (w.number == 1 && !expect(w, 0, "ModelProto.ir_version")) return false;
    if (w.number == 14) {
      if (!expect(w, 2, "ModelProto.metadata_props")) return false;
      if (!metadata_entry(w.begin, w.end)) return false;
    }
    if (w.number == 7) {
      if (!expect(w, 2, "ModelProto.graph")) return false;
      graph_begin = w.begin;
      graph_end = w.end;
      ++graphs;
    }
  }
  if (graphs != 1)
    return fail(OnnxError::kNoGraph, 0,
                graphs == 0 ? "the ModelProto has no graph (field 7)"
                            : "the ModelProto has " + std::to_string(graphs) + " graphs (field 7)");
  scopes_.push_back({"", 0});
  return graph(graph_begin, graph_end, 0, 1);
}

bool Parser::graph(uint64_t begin, uint64_t end, size_t scope, uint32_t depth) {
  if (depth > kMaxGraphDepth)
    return fail(OnnxError::kNestingTooDeep, begin, "subgraphs nested deeper than " + std::to_string(kMaxGraphDepth));
  uint64_t pos = begin, index = 0;
  while (pos < end) {
    Wire w;
    if (!next(&pos, end, &w, "GraphProto")) return false;
    if (w.number == 1) {
      if (!expect(w, 2, "GraphProto.node") || !node(w.begin, w.end, scope, depth, index++)) return false;
    } else if (w.number == 5) {
      if (!expect(w, 2, "GraphProto.initializer") || !tensor(w.begin, w.end, scope, nullptr)) return false;
    }
  }
  return true;
}

bool Parser::attribute(uint64_t begin, uint64_t end, Attribute* a) {
  uint64_t pos = begin;
  while (pos < end) {
    Wire w;
    if (!next(&pos, end, &w, "AttributeProto")) return false;
    switch (w.number) {
      case 1:
        if (!string(w, "AttributeProto.name", &a->name)) return false;
        break;
      case 3:
        if (!expect(w, 0, "AttributeProto.i")) return false;
        a->i = w.value;
        a->has_i = true;
        break;
      case 5:
        if (!expect(w, 2, "AttributeProto.t")) return false;
        a->t_begin = w.begin;
        a->t_end = w.end;
        a->has_t = true;
        break;
      case 6:
        if (!expect(w, 2, "AttributeProto.g")) return false;
        if (a->single_g) return fail(OnnxError::kBadWireType, w.begin, "AttributeProto.g appears twice");
        a->graphs.insert(a->graphs.begin(), {w.begin, w.end});
        a->single_g = true;
        break;
      case 11:
        if (!expect(w, 2, "AttributeProto.graphs")) return false;
        a->graphs.emplace_back(w.begin, w.end);
        break;
      case 20:
        if (!expect(w, 0, "AttributeProto.type")) return false;
        break;
      default: break;
    }
  }
  return true;
}

bool Parser::node(uint64_t begin, uint64_t end, size_t scope, uint32_t depth, uint64_t index) {
  if (++nodes_ > kMaxNodes)
    return fail(OnnxError::kLimitExceeded, begin, "more than " + std::to_string(kMaxNodes) + " nodes");
  std::string name, op_type, domain, first_output, input_names[3], s;
  uint64_t inputs = 0, outputs = 0;
  std::vector<Attribute> attributes;
  uint64_t pos = begin;
  while (pos < end) {
    Wire w;
    if (!next(&pos, end, &w, "NodeProto")) return false;
    switch (w.number) {
      case 1:
        if (!string(w, "NodeProto.input", &s)) return false;
        if (inputs < 3) input_names[inputs] = s;
        ++inputs;
        break;
      case 2:
        if (!string(w, "NodeProto.output", &s)) return false;
        if (outputs++ == 0) first_output = s;
        break;
      case 3:
        if (!string(w, "NodeProto.name", &name)) return false;
        break;
      case 4:
        if (!string(w, "NodeProto.op_type", &op_type)) return false;
        break;
      case 5: {
        if (!expect(w, 2, "NodeProto.attribute")) return false;
        Attribute a;
        if (!attribute(w.begin, w.end, &a)) return false;
        attributes.push_back(std::move(a));
        break;
      }
      case 7:
        if (!string(w, "NodeProto.domain", &domain)) return false;
        break;
      default: break;
    }
  }
  const bool onnx_domain = domain.empty() || domain == "ai.onnx";
  if (onnx_domain && op_type == "Constant") {
    for (const Attribute& a : attributes) {
      if (a.name != "value" || !a.has_t) continue;
      if (first_output.empty())
        return fail(OnnxError::kBadName, begin, "a Constant node ('" + name + "') has no output to name its tensor");
      if (!tensor(a.t_begin, a.t_end, scope, &first_output)) return false;
    }
  }
  if (onnx_domain && inputs >= 2 && (op_type == "MatMul" || op_type == "Gemm")) {
    bool trans_b = false;
    for (const Attribute& a : attributes)
      if (a.name == "transB" && a.has_i) trans_b = a.i != 0;
    if (!trans_b) {
      if (matmul_weights_.size() >= limits_.max_tensors)
        return fail(OnnxError::kLimitExceeded, begin,
                    "more than " + std::to_string(limits_.max_tensors) + " MatMul weights");
      matmul_weights_.push_back({scope, input_names[1]});
    }
  }
  if (onnx_domain && op_type == "DequantizeLinear" && inputs >= 2 && outputs >= 1) {
    Dequant d{scope, input_names[0], input_names[1], inputs >= 3 ? input_names[2] : std::string(), first_output,
              1,     false};
    for (const Attribute& a : attributes) {
      if (a.name == "axis" && a.has_i) d.axis = static_cast<int64_t>(a.i);
      if (a.name == "block_size" && a.has_i && a.i != 0) d.blocked = true;
    }
    if (dequants_.size() >= limits_.max_tensors)
      return fail(OnnxError::kLimitExceeded, begin,
                  "more than " + std::to_string(limits_.max_tensors) + " DequantizeLinear nodes");
    dequants_.push_back(std::move(d));
  }
  const std::string node_label = name.empty() ? op_type + "#" + std::to_string(index) : name;
  for (const Attribute& a : attributes) {
    for (size_t k = 0; k < a.graphs.size(); ++k) {
      std::string prefix = scopes_[scope].prefix + node_label + "/" + a.name;
      if (!(a.single_g && k == 0)) prefix += "[" + std::to_string(a.single_g ? k - 1 : k) + "]";
      if (!count_name(a.graphs[k].first, "a subgraph path", prefix.size() + 1)) return false;
      scopes_.push_back({prefix + "/", scope});
      if (!graph(a.graphs[k].first, a.graphs[k].second, scopes_.size() - 1, depth + 1)) return false;
    }
  }
  return true;
}

bool Parser::metadata_entry(uint64_t begin, uint64_t end) {
  uint64_t pos = begin;
  Wire key, value;
  bool has_key = false, has_value = false;
  while (pos < end) {
    Wire w;
    if (!next(&pos, end, &w, "StringStringEntryProto")) return false;
    if (w.number == 1 && !expect(w, 2, "StringStringEntryProto.key")) return false;
    if (w.number == 2 && !expect(w, 2, "StringStringEntryProto.value")) return false;
    if (w.number == 1) {
      key = w;
      has_key = true;
    } else if (w.number == 2) {
      value = w;
      has_value = true;
    }
  }
  if (!has_key || metadata.size() >= kMaxMetadataEntries) return true;
  if (key.end - key.begin > kMaxNameBytes || (has_value && value.end - value.begin > kMaxNameBytes)) return true;
  std::pair<std::string, std::string> entry;
  if (!string(key, "StringStringEntryProto.key", &entry.first)) return false;
  if (has_value && !string(value, "StringStringEntryProto.value", &entry.second)) return false;
  metadata.push_back(std::move(entry));
  return true;
}

bool Parser::external_entry(uint64_t begin, uint64_t end, std::string* key, std::string* value) {
  uint64_t pos = begin;
  while (pos < end) {
    Wire w;
    if (!next(&pos, end, &w, "StringStringEntryProto")) return false;
    if (w.number == 1 && !string(w, "StringStringEntryProto.key", key)) return false;
    if (w.number == 2 && !string(w, "StringStringEntryProto.value", value)) return false;
  }
  return true;
}

// Counts the varints of a packed field (checked to lie inside it), each below 2^16 if check16.
bool Parser::count_varints(const Wire& w, const char* field, const std::string& name, bool check16, uint64_t* count) {
  uint64_t pos = w.begin, v = 0;
  *count = 0;
  while (pos < w.end) {
    if (!varint(&pos, w.end, &v, field)) return false;
    if (check16 && v > 0xFFFF)
      return fail_tensor(OnnxError::kDataSize, name,
                         std::string(field) + " value " + std::to_string(*count) + " is " + std::to_string(v) +
                             ", not 16 bits");
    ++*count;
  }
  return true;
}

bool parse_decimal(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9' || !checked_mul(v, 10, &v) || !checked_add(v, static_cast<uint64_t>(c - '0'), &v))
      return false;
  }
  *out = v;
  return true;
}

bool Parser::tensor(uint64_t begin, uint64_t end, size_t scope, const std::string* forced_name) {
  if (tensors_.size() >= limits_.max_tensors)
    return fail(OnnxError::kLimitExceeded, begin, "more than " + std::to_string(limits_.max_tensors) + " tensors");
  OnnxTensor t;
  std::string name;
  bool has_type = false;
  uint64_t data_location = 0;
  // The places values can be: raw_data, float_data, int32_data, int64_data, double_data, uint64_data, string_data.
  struct Place {
    const char* field;
    uint64_t pieces = 0;    // packed occurrences
    uint64_t unpacked = 0;  // unpacked occurrences (one value each)
    Wire last;
  };
  Place raw{"raw_data", 0, 0, {}}, floats{"float_data", 0, 0, {}}, int32s{"int32_data", 0, 0, {}},
      int64s{"int64_data", 0, 0, {}}, doubles{"double_data", 0, 0, {}}, uint64s{"uint64_data", 0, 0, {}},
      strings{"string_data", 0, 0, {}};
  bool has_location = false, has_offset = false, has_length = false;
  std::string location;
  uint64_t ext_offset = 0, ext_length = 0;
  uint64_t pos = begin;
  const auto place = [&](Place* p, const Wire& w, uint32_t unpacked_type) {
    if (w.type == 2) {
      ++p->pieces;
      p->last = w;
      return true;
    }
    if (w.type == unpacked_type) {
      ++p->unpacked;
      return true;
    }
    return expect(w, 2, (std::string("TensorProto.") + p->field).c_str());
  };
  while (pos < end) {
    Wire w;
    if (!next(&pos, end, &w, "TensorProto")) return false;
    switch (w.number) {
      case 1:
        if (w.type == 0) {
          if (t.dims.size() >= limits_.max_dims)
            return fail(OnnxError::kLimitExceeded, w.begin,
                        "a tensor has more than " + std::to_string(limits_.max_dims) + " dims");
          t.dims.push_back(w.value);
        } else {
          if (!expect(w, 2, "TensorProto.dims")) return false;
          uint64_t p = w.begin, v = 0;
          while (p < w.end) {
            if (!varint(&p, w.end, &v, "TensorProto.dims")) return false;
            if (t.dims.size() >= limits_.max_dims)
              return fail(OnnxError::kLimitExceeded, w.begin,
                          "a tensor has more than " + std::to_string(limits_.max_dims) + " dims");
            t.dims.push_back(v);
          }
        }
        break;
      case 2:
        if (!expect(w, 0, "TensorProto.data_type")) return false;
        if (w.value > 0xFFFFFFFFu)
          return fail(OnnxError::kUnknownDataType, w.begin, "data_type " + std::to_string(w.value));
        t.data_type = static_cast<uint32_t>(w.value);
        has_type = true;
        break;
      case 4:
        if (!place(&floats, w, 5)) return false;
        break;
      case 5:
        if (!place(&int32s, w, 0)) return false;
        break;
      case 6:
        if (!expect(w, 2, "TensorProto.string_data")) return false;
        ++strings.unpacked;
        break;
      case 7:
        if (!place(&int64s, w, 0)) return false;
        break;
      case 8:
        if (!string(w, "TensorProto.name", &name)) return false;
        break;
      case 9:
        if (!expect(w, 2, "TensorProto.raw_data")) return false;
        ++raw.pieces;
        raw.last = w;
        break;
      case 10:
        if (!place(&doubles, w, 1)) return false;
        break;
      case 11:
        if (!place(&uint64s, w, 0)) return false;
        break;
      case 13: {
        if (!expect(w, 2, "TensorProto.external_data")) return false;
        std::string key, value;
        if (!external_entry(w.begin, w.end, &key, &value)) return false;
        bool* seen = key == "location" ? &has_location
                     : key == "offset" ? &has_offset
                     : key == "length" ? &has_length
                                       : nullptr;
        if (seen == nullptr) break;  // "checksum" and others: not interpreted
        if (*seen) return fail(OnnxError::kBadExternalData, w.begin, "external_data key '" + key + "' appears twice");
        *seen = true;
        if (key == "location") {
          location = value;
        } else if (!parse_decimal(value, key == "offset" ? &ext_offset : &ext_length)) {
          return fail(OnnxError::kBadExternalData, w.begin,
                      "external_data '" + key + "' is '" + value + "', not a decimal number");
        }
        break;
      }
      case 14:
        if (!expect(w, 0, "TensorProto.data_location")) return false;
        if (w.value > 1)
          return fail(OnnxError::kBadExternalData, w.begin,
                      "data_location " + std::to_string(w.value) + " is neither 0 nor 1");
        data_location = w.value;
        break;
      default: break;
    }
  }
  if (forced_name != nullptr) name = *forced_name;
  size_t bad = 0;
  const std::string full = scopes_[scope].prefix + name;
  if (name.empty() || !json::is_valid_utf8(full, &bad))  // node and attribute names in the path are checked too
    return fail(OnnxError::kBadName, begin, "a tensor has an empty or non-UTF-8 name");
  if (!count_name(begin, "a tensor name", full.size())) return false;
  if (!has_type || t.data_type == 0 || t.data_type >= kTypeCount)
    return fail_tensor(OnnxError::kUnknownDataType, full,
                       has_type ? "data_type " + std::to_string(t.data_type) + " is not one ONNX defines"
                                : "no data_type");
  const DataType& type = kTypes[t.data_type];
  t.element_count = 1;
  for (uint64_t d : t.dims) {
    if (d > static_cast<uint64_t>(INT64_MAX))
      return fail_tensor(OnnxError::kBadDims, full,
                         "a negative dimension (" + std::to_string(static_cast<int64_t>(d)) + ")");
    if (!checked_mul(t.element_count, d, &t.element_count) || t.element_count > static_cast<uint64_t>(INT64_MAX))
      return fail_tensor(OnnxError::kBadDims, full, "the element count overflows 63 bits");
  }
  // Bytes of the values when stored raw (types of fixed size).
  uint64_t bits = 0, bytes = 0;
  const bool sized = type.bits != 0 && checked_mul(t.element_count, type.bits, &bits);
  if (type.bits != 0 && !sized) return fail_tensor(OnnxError::kBadDims, full, "the byte size overflows 64 bits");
  bytes = bits / 8 + (bits % 8 != 0 ? 1 : 0);

  const Place* places[] = {&raw, &floats, &int32s, &int64s, &doubles, &uint64s, &strings};
  const Place* used = nullptr;
  int used_count = 0;
  for (const Place* p : places) {
    if (p->pieces + p->unpacked == 0) continue;
    ++used_count;
    used = p;
  }
  const std::string type_name = type.name;
  if (data_location == 1) {
    if (used_count != 0)
      return fail_tensor(OnnxError::kBadExternalData, full, std::string("has external data and ") + used->field);
    if (!has_location) return fail_tensor(OnnxError::kBadExternalData, full, "external data without a 'location'");
    if (type.bits == 0) return fail_tensor(OnnxError::kBadExternalData, full, "external data of type " + type_name);
    if (has_length && ext_length != bytes)
      return fail_tensor(OnnxError::kDataSize, full,
                         "external data of " + std::to_string(ext_length) + " bytes, not the " + std::to_string(bytes) +
                             " that " + std::to_string(t.element_count) + " " + type_name + " values take");
    t.storage = Storage::kExternal;
    t.offset = ext_offset;
    t.length = bytes;
    t.location = location;
  } else if (has_location || has_offset || has_length) {
    return fail_tensor(OnnxError::kBadExternalData, full,
                       "external_data entries but data_location is not EXTERNAL (1)");
  } else if (used_count > 1) {
    return fail_tensor(OnnxError::kDataSize, full, "values in more than one field");
  } else if (used_count == 0) {
    if (t.element_count != 0)
      return fail_tensor(OnnxError::kDataSize, full,
                         "no values for its " + std::to_string(t.element_count) + " elements");
  } else if (used == &strings) {
    if (t.data_type != 8)
      return fail_tensor(OnnxError::kDataSize, full, "string_data in a tensor of type " + type_name);
    t.unreadable = "type STRING has no float32 conversion";
  } else if (used == &raw) {
    if (raw.pieces > 1)
      return fail_tensor(OnnxError::kDataSize, full, "raw_data appears " + std::to_string(raw.pieces) + " times");
    if (type.bits == 0) return fail_tensor(OnnxError::kDataSize, full, "raw_data in a tensor of type " + type_name);
    if (raw.last.end - raw.last.begin != bytes)
      return fail_tensor(OnnxError::kDataSize, full,
                         "raw_data of " + std::to_string(raw.last.end - raw.last.begin) + " bytes, not the " +
                             std::to_string(bytes) + " that " + std::to_string(t.element_count) + " " + type_name +
                             " values take");
    t.storage = Storage::kFixed;
    t.offset = raw.last.begin;
    t.length = bytes;
  } else {
    const Field field = used == &floats    ? Field::kFloat
                        : used == &int32s  ? Field::kInt32
                        : used == &int64s  ? Field::kInt64
                        : used == &doubles ? Field::kDouble
                                           : Field::kUint64;
    if (field != type.field)
      return fail_tensor(OnnxError::kDataSize, full, std::string(used->field) + " in a tensor of type " + type_name);
    if (used->pieces + used->unpacked > 1) {
      t.unreadable = std::string("its ") + used->field + " is stored in " +
                     std::to_string(used->pieces + used->unpacked) +
                     " pieces (not packed once), which this reader does not convert";
    } else if (field == Field::kFloat || field == Field::kDouble) {
      const uint64_t len = used->last.end - used->last.begin;
      if (len != bytes)
        return fail_tensor(OnnxError::kDataSize, full,
                           std::string(used->field) + " of " + std::to_string(len) + " bytes, not the " +
                               std::to_string(bytes) + " that " + std::to_string(t.element_count) + " " + type_name +
                               " values take");
      t.storage = Storage::kFixed;
      t.offset = used->last.begin;
      t.length = len;
    } else {
      uint64_t count = 0;
      const bool half = t.data_type == kFloat16 || t.data_type == kBfloat16;
      if (!count_varints(used->last, used->field, full, half, &count)) return false;
      // Sub-byte types (INT4, UINT4, FLOAT4E2M1) pack several values per stored value: not counted.
      if (type.bits >= 8 && count != t.element_count)
        return fail_tensor(OnnxError::kDataSize, full,
                           std::string(used->field) + " holds " + std::to_string(count) + " values, not " +
                               std::to_string(t.element_count));
      t.storage = Storage::kVarint;
      t.offset = used->last.begin;
      t.length = used->last.end - used->last.begin;
    }
  }
  if (!type.readable && t.unreadable.empty()) t.unreadable = "type " + type_name + " has no float32 conversion here";
  tensors_.push_back(std::move(t));
  names_.push_back(full);
  return true;
}

void Parser::build_index() {
  order_.resize(names_.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  std::sort(order_.begin(), order_.end(), [this](size_t a, size_t b) { return names_[a] < names_[b]; });
  dequant_order_.resize(dequants_.size());
  for (size_t i = 0; i < dequant_order_.size(); ++i) dequant_order_[i] = i;
  std::sort(dequant_order_.begin(), dequant_order_.end(), [this](size_t a, size_t b) {
    const Dequant &x = dequants_[a], &y = dequants_[b];
    return x.scope != y.scope ? x.scope < y.scope : x.output < y.output;
  });
}

size_t Parser::find_name(const std::string& full) const {
  const auto it = std::lower_bound(order_.begin(), order_.end(), full,
                                   [this](size_t i, const std::string& x) { return names_[i] < x; });
  return it != order_.end() && names_[*it] == full ? *it : kNoTensor;
}

// Names resolve like ONNX's scoping: the innermost enclosing graph that has the name.
size_t Parser::lookup(size_t scope, const std::string& name) const {
  if (name.empty()) return kNoTensor;
  for (size_t s = scope;; s = scopes_[s].parent) {
    const size_t i = find_name(scopes_[s].prefix + name);
    if (i != kNoTensor || s == 0) return i;
  }
}

const Parser::Dequant* Parser::dequant_producing(size_t scope, const std::string& output) const {
  const auto it = std::lower_bound(dequant_order_.begin(), dequant_order_.end(), std::make_pair(scope, &output),
                                   [this](size_t i, const std::pair<size_t, const std::string*>& key) {
                                     const Dequant& d = dequants_[i];
                                     return d.scope != key.first ? d.scope < key.first : d.output < *key.second;
                                   });
  if (it == dequant_order_.end() || dequants_[*it].scope != scope || dequants_[*it].output != output) return nullptr;
  return &dequants_[*it];
}

// A weight used as MatMul's second input (or Gemm's B without transB) is [in, out]: presented [out, in]. The
// input may be a listed tensor, or the output of a DequantizeLinear node of a listed tensor.
void Parser::resolve_matmul_weights() {
  build_index();
  for (const Usage& u : matmul_weights_) {
    for (size_t s = u.scope;; s = scopes_[s].parent) {
      size_t i = find_name(scopes_[s].prefix + u.name);
      if (i == kNoTensor) {
        if (const Dequant* d = dequant_producing(s, u.name)) i = lookup(d->scope, d->x);
      }
      if (i != kNoTensor) {
        if (tensors_[i].dims.size() == 2) tensors_[i].transposed = true;
        break;
      }
      if (s == 0) break;
    }
  }
}

std::vector<DequantLink> Parser::resolve_dequant() const {
  std::vector<DequantLink> links;
  for (const Dequant& d : dequants_) {
    DequantLink l;
    l.x = lookup(d.scope, d.x);
    if (l.x == kNoTensor) continue;
    l.scale = lookup(d.scope, d.scale);
    l.zero = lookup(d.scope, d.zero);
    l.axis = d.axis;
    l.blocked = d.blocked;
    links.push_back(l);
  }
  return links;
}

ModelStatus status_of(OnnxError code, std::string message) {
  ModelError e = ModelError::kInvalid;
  if (code == OnnxError::kIo) e = ModelError::kIo;
  if (code == OnnxError::kLimitExceeded || code == OnnxError::kNestingTooDeep) e = ModelError::kLimitExceeded;
  return {e, onnx_error_name(code), std::move(message)};
}

float decode_one(uint32_t data_type, const uint8_t* p) {
  switch (data_type) {
    case kFloat: {
      float f;
      std::memcpy(&f, p, sizeof f);
      return f;
    }
    case kDouble: {
      double d;
      std::memcpy(&d, p, sizeof d);
      return f64_to_f32(d);
    }
    case kFloat16: return f16_to_f32(load_le16(p));
    default: return bf16_to_f32(load_le16(p));
  }
}

uint64_t element_bytes(uint32_t data_type) { return kTypes[data_type].bits / 8; }

constexpr uint32_t kUint8 = 2, kInt8 = 3, kUint16 = 4, kInt16 = 5, kInt32 = 6;
bool dequantizable(uint32_t data_type) { return data_type >= kUint8 && data_type <= kInt32; }
int64_t decode_int(uint32_t data_type, const uint8_t* p) {
  switch (data_type) {
    case kUint8: return p[0];
    case kInt8: return static_cast<int8_t>(p[0]);
    case kUint16: return load_le16(p);
    case kInt16: return static_cast<int16_t>(load_le16(p));
    default: {
      uint32_t u = 0;
      std::memcpy(&u, p, sizeof u);
      return static_cast<int32_t>(u);
    }
  }
}
constexpr uint64_t kMaxDequantParams = 1u << 24;  // scales and zero points kept in memory, all tensors

class OnnxModel final : public ModelFile {
 public:
  explicit OnnxModel(std::string label) : ModelFile(ModelFormat::kOnnx, std::move(label)) {}

  ModelStatus parse(const ModelLimits& limits, const std::string* folder) {
    Bytes bytes(source_);
    std::vector<std::string> names;
    Parser p(label_, bytes, limits, &infos_, &names);
    if (!p.model()) return status_of(p.code, p.message);
    // The first entry of a key (ONNX's checker refuses repeated keys), sorted for lookup.
    metadata_ = std::move(p.metadata);
    std::stable_sort(metadata_.begin(), metadata_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    metadata_.erase(std::unique(metadata_.begin(), metadata_.end(),
                                [](const auto& a, const auto& b) { return a.first == b.first; }),
                    metadata_.end());
    p.resolve_matmul_weights();
    const std::vector<DequantLink> dequant = p.resolve_dequant();
    std::string canonical_folder, error;
    if (folder != nullptr && !platform::canonical_path(*folder, &canonical_folder, &error))
      return status_of(OnnxError::kIo, error);
    tensors_.reserve(infos_.size());
    for (size_t i = 0; i < infos_.size(); ++i) {
      OnnxTensor& t = infos_[i];
      if (t.storage == Storage::kExternal) {
        const ModelStatus st = folder != nullptr ? attach_external(&t, names[i], *folder, canonical_folder, limits)
                                                 : ModelStatus{};
        if (!st.ok()) return st;
        if (folder == nullptr) {
          t.unreadable = "its values are in an external file ('" + t.location + "'), which a buffer has no folder for";
          t.storage = Storage::kNone;  // never read, nor used as a scale or zero point
        }
      }
    }
    uint64_t params = 0;
    for (const DequantLink& link : dequant) {
      const ModelStatus st = attach_dequant(link, names, &params);
      if (!st.ok()) return st;
    }
    for (size_t i = 0; i < infos_.size(); ++i) {
      OnnxTensor& t = infos_[i];
      ModelTensor m;
      m.name = names[i];
      m.shape = t.dims;
      if (t.transposed) {
        std::swap(m.shape[0], m.shape[1]);
        m.layout = "stored [" + std::to_string(t.dims[0]) + ", " + std::to_string(t.dims[1]) +
                   "] as MatMul's [in, out], shown transposed [out, in]";
      }
      m.dtype = kTypes[t.data_type].name;
      m.readable = t.unreadable.empty();
      m.element_count = t.element_count;
      m.native = i;
      tensors_.push_back(std::move(m));
    }
    return index_tensors();
  }

  ModelStatus read_f32(const ModelTensor& mt, uint64_t first, uint64_t count, float* out) const override {
    const OnnxTensor& t = infos_[mt.native];
    if (!t.unreadable.empty())
      return {ModelError::kUnsupportedConversion, "", label_ + ": tensor '" + mt.name + "': " + t.unreadable};
    uint64_t last = 0;
    if (!checked_add(first, count, &last) || last > t.element_count) return out_of_range(mt, first, count);
    if (count == 0) return {};
    if (!t.transposed) return read_stored(mt.name, t, first, count, out);
    // Stored [R, C] (in, out), presented [C, R]: presented (i, j) is stored (j, i). Presented rows i0..i1 hold
    // the wanted range, i.e. stored columns i0..i1, contiguous in each stored row. A tile of kTileRows stored
    // rows x kTileCols columns is read (one read per stored row) into the stack, then written out column by
    // column: kTileRows consecutive floats of the output each (a blocked transpose; scattering single floats
    // with a stride of R was 10x slower for a 4096 x 4096 weight).
    constexpr uint64_t kTileRows = 8, kTileCols = 512;  // 16 KiB
    float tile[kTileRows * kTileCols];
    const uint64_t rows = t.dims[0], cols = t.dims[1];
    const uint64_t i0 = first / rows, i1 = (last - 1) / rows;
    // Stored rows needed: all, unless the range lies inside one presented row.
    const uint64_t j_begin = i0 == i1 ? first - i0 * rows : 0, j_end = i0 == i1 ? last - i0 * rows : rows;
    for (uint64_t j0 = j_begin; j0 < j_end; j0 += kTileRows) {
      const uint64_t tj = std::min(kTileRows, j_end - j0);
      for (uint64_t c0 = i0; c0 <= i1; c0 += kTileCols) {
        const uint64_t tc = std::min(kTileCols, i1 + 1 - c0);
        for (uint64_t j = 0; j < tj; ++j) {
          const ModelStatus st = read_stored(mt.name, t, (j0 + j) * cols + c0, tc, tile + j * kTileCols);
          if (!st.ok()) return st;
        }
        for (uint64_t c = 0; c < tc; ++c) {
          const uint64_t base = (c0 + c) * rows + j0;  // presented index of (c0 + c, j0)
          if (base >= first && base + tj <= last) {
            float* o = out + (base - first);
            for (uint64_t j = 0; j < tj; ++j) o[j] = tile[j * kTileCols + c];
          } else {
            for (uint64_t j = 0; j < tj; ++j) {
              if (base + j >= first && base + j < last) out[base + j - first] = tile[j * kTileCols + c];
            }
          }
        }
      }
    }
    return {};
  }

  // ModelProto.metadata_props by key (probex's ONNX writer stores each safetensors __metadata__ entry so).
  const std::string* metadata_string(std::string_view key) const override {
    const auto it = std::lower_bound(metadata_.begin(), metadata_.end(), key,
                                     [](const auto& entry, std::string_view k) { return entry.first < k; });
    return it != metadata_.end() && it->first == key ? &it->second : nullptr;
  }

  ByteSource source_;

 private:
  std::vector<std::pair<std::string, std::string>> metadata_;  // sorted by key
  ModelStatus attach_external(OnnxTensor* t, const std::string& name, const std::string& folder,
                              const std::string& canonical_folder, const ModelLimits& limits) {
    const std::string& loc = t->location;
    const auto fail = [&](OnnxError code, const std::string& what) {
      return status_of(code, label_ + ": tensor '" + name + "': external data '" + loc + "': " + what);
    };
    if (loc.empty() || loc.find('\0') != std::string::npos || loc.find('\\') != std::string::npos)
      return fail(OnnxError::kBadExternalData, "an empty location, or one holding NUL or a backslash");
    if (loc[0] == '/') return fail(OnnxError::kExternalOutsideFolder, "an absolute path");
    for (size_t b = 0;;) {
      const size_t slash = loc.find('/', b);
      const size_t e = slash == std::string::npos ? loc.size() : slash;
      if (loc.compare(b, e - b, "..") == 0) return fail(OnnxError::kExternalOutsideFolder, "has a '..' component");
      if (slash == std::string::npos) break;
      b = slash + 1;
    }
    std::string real, error;
    switch (folder::resolve_in_folder(folder, canonical_folder, loc, &real, &error)) {
      case folder::Resolved::kMissing: {
        ModelStatus st = fail(OnnxError::kIo, "missing (" + error + ")");
        st.detail = "external_missing";
        return st;
      }
      case folder::Resolved::kOutside:
        return fail(OnnxError::kExternalOutsideFolder,
                    "leads to " + real + ", outside the model's folder " + canonical_folder);
      case folder::Resolved::kNotAFile: {
        ModelStatus st = fail(OnnxError::kIo, "not a regular file");
        st.detail = "external_missing";
        return st;
      }
      case folder::Resolved::kOk: break;
    }
    size_t index = 0;
    while (index < external_names_.size() && external_names_[index] != real) ++index;
    if (index == external_names_.size()) {
      if (external_names_.size() >= limits.max_shards)
        return fail(OnnxError::kLimitExceeded,
                    "more than " + std::to_string(limits.max_shards) + " external data files");
      auto source = std::make_unique<ByteSource>();
      if (!source->open(real, &error)) return fail(OnnxError::kIo, error);
      if (source->size() > limits.max_file_bytes)
        return fail(OnnxError::kLimitExceeded, "the file has " + std::to_string(source->size()) +
                                                   " bytes, above the configured limit of " +
                                                   std::to_string(limits.max_file_bytes));
      external_names_.push_back(real);
      externals_.push_back(std::move(source));
    }
    const uint64_t size = externals_[index]->size();
    uint64_t end = 0;
    if (!checked_add(t->offset, t->length, &end) || end > size)
      return fail(OnnxError::kExternalOutOfFile, "bytes [" + std::to_string(t->offset) + ", +" +
                                                     std::to_string(t->length) + ") run past the end of the file at " +
                                                     std::to_string(size));
    t->external = index;
    return {};
  }

  // The DequantizeLinear node of an integer tensor: its scales and zero points are loaded (kept in memory:
  // one or dims[axis] each). A node that does not fit (blocked, a scale of another shape or type, a zero
  // point of another type) leaves the tensor unreadable, saying why.
  ModelStatus attach_dequant(const DequantLink& link, const std::vector<std::string>& names, uint64_t* params) {
    OnnxTensor& x = infos_[link.x];
    if (x.dequantized || !dequantizable(x.data_type) ||
        (x.storage != Storage::kFixed && x.storage != Storage::kExternal))
      return {};
    const auto refuse = [&](const std::string& why) {
      x.unreadable = "its DequantizeLinear node " + why;
      return ModelStatus{};
    };
    if (link.blocked) return refuse("has a block_size (blocked quantization), which this reader does not convert");
    if (link.scale == kNoTensor) return refuse("has a scale that is not a stored tensor");
    const OnnxTensor& scale = infos_[link.scale];
    if (!scale.unreadable.empty() || !kTypes[scale.data_type].readable)
      return refuse("has a scale that is not a readable float tensor");
    const OnnxTensor* zero = link.zero == kNoTensor ? nullptr : &infos_[link.zero];
    if (zero != nullptr &&
        (zero->data_type != x.data_type || (zero->storage != Storage::kFixed && zero->storage != Storage::kExternal)))
      return refuse("has a zero point of another type than its input, or not stored as raw_data");
    uint64_t channels = 1, inner = 1;
    if (scale.element_count != 1) {
      const int64_t rank = static_cast<int64_t>(x.dims.size());
      const int64_t axis = link.axis < 0 ? link.axis + rank : link.axis;
      if (scale.dims.size() != 1 || axis < 0 || axis >= rank || scale.dims[0] != x.dims[static_cast<size_t>(axis)])
        return refuse("has a scale of " + std::to_string(scale.element_count) + " values, neither 1 nor dims[axis]");
      channels = scale.dims[0];
      if (channels == 0) return refuse("has an empty scale");
      for (size_t d = static_cast<size_t>(axis) + 1; d < x.dims.size(); ++d) inner *= x.dims[d];
    }
    if (zero != nullptr && zero->element_count != channels)
      return refuse("has a zero point of " + std::to_string(zero->element_count) + " values, not " +
                    std::to_string(channels));
    if (channels > kMaxDequantParams - *params) return refuse("has more scales than this reader keeps");
    *params += channels;
    x.dq_scale.resize(static_cast<size_t>(channels));
    ModelStatus st = read_stored(names[link.scale], scale, 0, channels, x.dq_scale.data());
    if (!st.ok()) return st;
    x.dq_zero.assign(static_cast<size_t>(channels), 0);
    if (zero != nullptr) {
      const ByteSource& src = zero->storage == Storage::kExternal ? *externals_[zero->external] : source_;
      const uint64_t es = element_bytes(zero->data_type);
      uint8_t raw[8];
      std::string error;
      for (uint64_t c = 0; c < channels; ++c) {
        if (!src.read(zero->offset + c * es, raw, static_cast<size_t>(es), &error))
          return status_of(OnnxError::kIo, label_ + ": tensor '" + names[link.zero] + "': " + error);
        x.dq_zero[static_cast<size_t>(c)] = decode_int(zero->data_type, raw);
      }
    }
    x.dq_channels = channels;
    x.dq_inner = inner;
    x.dequantized = true;
    x.unreadable.clear();
    return {};
  }

  // Elements [first, first + count) in storage order into out.
  ModelStatus read_stored(const std::string& name, const OnnxTensor& t, uint64_t first, uint64_t count,
                          float* out) const {
    const ByteSource& src = t.storage == Storage::kExternal ? *externals_[t.external] : source_;
    std::string error;
    uint8_t raw[kChunkBytes];
    if (t.storage == Storage::kVarint) {
      // Packed varints: scanned from the field's start (validated at open: every value is 16 bits).
      uint64_t pos = t.offset, index = 0;
      const uint64_t end = t.offset + t.length, last = first + count;
      while (index < last) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, end - pos));
        if (n == 0 || !src.read(pos, raw, n, &error)) break;
        size_t k = 0;
        // Whole varints only: stop when one might cross the chunk's end (unless the field ends there).
        while (index < last && k < n && (n - k >= 10 || pos + n == end)) {
          const size_t start = k;
          uint64_t v = 0;
          int shift = 0;
          while (k < n && (raw[k] & 0x80) != 0 && shift < 63) {
            v |= static_cast<uint64_t>(raw[k++] & 0x7F) << shift;
            shift += 7;
          }
          if (k >= n) {
            k = start;  // a varint cut by the field's end: only if the file changed since open
            break;
          }
          v |= static_cast<uint64_t>(raw[k++] & 0x7F) << shift;
          if (index >= first) {
            const uint16_t h = static_cast<uint16_t>(v);
            out[index - first] = t.data_type == kFloat16 ? f16_to_f32(h) : bf16_to_f32(h);
          }
          ++index;
        }
        pos += k;
        if (k == 0) break;
      }
      if (index < last)
        return {ModelError::kIo, "io",
                label_ + ": tensor '" + name + "': int32_data changed since the file was opened" +
                    (error.empty() ? "" : " (" + error + ")")};
      return {};
    }
    const uint64_t es = element_bytes(t.data_type);
    const uint64_t per_chunk = kChunkBytes / es;
    for (uint64_t done = 0; done < count;) {
      const uint64_t n = std::min(per_chunk, count - done);
      if (!src.read(t.offset + (first + done) * es, raw, static_cast<size_t>(n * es), &error))
        return {ModelError::kIo, "io", label_ + ": tensor '" + name + "': " + error};
      if (t.dequantized) {
        for (uint64_t k = 0; k < n; ++k) {
          const size_t c = static_cast<size_t>((first + done + k) / t.dq_inner % t.dq_channels);
          out[done + k] = static_cast<float>(decode_int(t.data_type, raw + k * es) - t.dq_zero[c]) * t.dq_scale[c];
        }
      } else if (t.data_type == kFloat) {
        std::memcpy(out + done, raw, static_cast<size_t>(n) * sizeof(float));
      } else {
        for (uint64_t k = 0; k < n; ++k) out[done + k] = decode_one(t.data_type, raw + k * es);
      }
      done += n;
    }
    return {};
  }

  std::vector<OnnxTensor> infos_;
  std::vector<std::string> external_names_;
  std::vector<std::unique_ptr<ByteSource>> externals_;
};

template <typename Source>
bool sniff_onnx(Source& in) {
  std::string error;
  uint64_t pos = 0, v = 0;
  bool io = false;
  const uint64_t end = in.size();
  const uint8_t* p = nullptr;
  if (end < 4 || !in.peek(0, 1, &p, &error) || p[0] != 0x08) return false;
  pos = 1;
  if (read_varint(in, &pos, end, &v, &error, &io) != 0 || v == 0 || v > 255) return false;
  while (pos < end) {
    uint64_t tag = 0, len = 0;
    if (read_varint(in, &pos, end, &tag, &error, &io) != 0) return false;
    const uint64_t number = tag >> 3, wire = tag & 7;
    // ModelProto's fields: 1-8, 14, 20, 25 (and reserved numbers); others mean this is not a ModelProto.
    if (number == 0 || number > 25) return false;
    if (wire == 0) {
      if (read_varint(in, &pos, end, &v, &error, &io) != 0) return false;
      continue;
    }
    if (wire != 2 || read_varint(in, &pos, end, &len, &error, &io) != 0) return false;
    if (number == 7) return true;  // even if it runs past the end: the reader then says "truncated"
    if (len > end - pos) return false;
    pos += len;
  }
  return false;
}

}  // namespace

bool looks_like_onnx(const uint8_t* data, size_t size) {
  ByteSource source;
  source.set_buffer(data, size);
  Bytes in(source);
  return sniff_onnx(in);
}

bool looks_like_onnx_file(const std::string& path) {
  ByteSource source;
  std::string error;
  if (!source.open(path, &error)) return false;
  Bytes in(source);
  return sniff_onnx(in);
}

ModelStatus open_onnx_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out) {
  auto model = std::make_unique<OnnxModel>(path);
  std::string error;
  if (!model->source_.open(path, &error)) return status_of(OnnxError::kIo, error);
  const std::string folder = platform::parent_folder(path);
  ModelStatus st = model->parse(limits, &folder);
  if (st.ok()) *out = std::move(model);
  return st;
}

ModelStatus onnx_model_from_buffer(std::string label, const uint8_t* data, size_t size, const ModelLimits& limits,
                                   std::unique_ptr<ModelFile>* out) {
  auto model = std::make_unique<OnnxModel>(std::move(label));
  model->source_.set_buffer(data, size);
  ModelStatus st = model->parse(limits, nullptr);
  if (st.ok()) *out = std::move(model);
  return st;
}

}  // namespace probex
