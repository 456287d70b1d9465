// Strict reader for ONNX model files (a protobuf ModelProto, https://github.com/onnx/onnx/blob/main/onnx/onnx.proto),
// behind the model-file interface (model_file.h, format "onnx"). Internal to runtime/formats.
//
// No libprotobuf: it would be a large dependency on every device, and its parser allocates the whole
// message tree (weights included) for hostile input of any size. This reader knows exactly the messages
// and fields that locate weights, walks the wire format by offset (a file is never mapped nor loaded
// whole), and keeps only where each tensor's bytes are.
//
// Trust boundary: everything in the file (and in external data files) is hostile until open returns kOk.
// Wire rules (onnx.cpp): varints of at most 10 bytes within 64 bits, every length inside its enclosing
// message, groups (wire types 3, 4) and wire types 6, 7 refused, known fields with their declared wire
// type only, unknown fields skipped by wire type, subgraph nesting bounded (no unbounded recursion),
// counts bounded by ModelLimits. Errors are a closed set (OnnxError), mapped onto ModelStatus with the
// name as detail and a message naming the file, the tensor if any, and the byte offset.
//
// Which tensors are listed, their names, shapes and how they read: docs/formats.md, section "ONNX".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/formats/model_file.h"

namespace probex {

enum class OnnxError {
  kOk = 0,
  kIo,                     // cannot read the file, or an external data file is missing or unreadable
  kTruncated,              // a field or length runs past its enclosing message or the end of the file
  kBadVarint,              // a varint longer than 10 bytes or above 64 bits
  kBadWireType,            // wire type 3, 4 (groups), 6 or 7, or a known field with another wire type
  kNestingTooDeep,         // subgraphs nested deeper than the limit
  kLimitExceeded,          // file size, tensor count, node count, dimension count, name length
  kNoGraph,                // the ModelProto has no graph
  kBadDims,                // a negative dimension, or an element count above 2^63
  kUnknownDataType,        // a data_type ONNX does not define (or UNDEFINED)
  kDataSize,               // the stored data does not hold prod(dims) values of the type
  kBadName,                // a tensor with an empty or non-UTF-8 name
  kBadExternalData,        // external_data entries missing, repeated, non-numeric or unknown data_location
  kExternalOutsideFolder,  // an external location that is absolute, has '..', or leads outside the folder
  kExternalOutOfFile,      // offset + length past the end of the external file
};

const char* onnx_error_name(OnnxError code);  // "truncated", "bad_varint", ...

// Whether `source`'s content is an ONNX ModelProto: field 1 (ir_version, a varint from 1 to 255) first,
// then well-formed top-level fields (numbers 1 to 25, varint or length-delimited, inside the file) up to
// a graph (field 7, length-delimited; its length is the reader's to check, so a truncated file gets
// "truncated", not "not a model"). Reads only top-level tags and lengths, never the graph.
bool looks_like_onnx(const uint8_t* data, size_t size);
bool looks_like_onnx_file(const std::string& path);

ModelStatus open_onnx_model(const std::string& path, const ModelLimits& limits, std::unique_ptr<ModelFile>* out);
// From a caller buffer (which must outlive *out). Tensors with external data are listed but not readable
// (there is no folder to find their files in).
ModelStatus onnx_model_from_buffer(std::string label, const uint8_t* data, size_t size, const ModelLimits& limits,
                                   std::unique_ptr<ModelFile>* out);

}  // namespace probex
