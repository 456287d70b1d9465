// Writes TFLite files for tests, through the generated FlatBuffers builders of schema/tflite_subset.fbs:
// a model is described field by field (TflModel), so a test or a malformed case can set any field to a
// wrong value. Buffers marked `external` are appended after the flatbuffer (16-aligned) and referenced by
// Buffer.offset/size, as TFLite does for files over 2 GB.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "tflite_subset_generated.h"

namespace probex::test {

struct TflSparseDim {
  bool csr = false;
  int32_t dense_size = 0;
  std::vector<int32_t> segments, indices;  // Int32Vector; empty + csr = left out
  bool dense_size_negative = false;
};

struct TflTensor {
  std::string name;
  std::vector<int32_t> shape;
  int8_t type = 0;  // TensorType: 0 FLOAT32, 1 FLOAT16, 2 INT32, 3 UINT8, 7 INT16, 9 INT8, ...
  uint32_t buffer = 0;
  bool quantized = false;
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int32_t quantized_dimension = 0;
  bool custom_quantization = false;
  bool sparse = false;
  std::vector<int32_t> traversal_order, block_map;
  std::vector<TflSparseDim> dim_metadata;
};

struct TflOp {
  uint32_t opcode_index = 0;
  std::vector<int32_t> inputs, outputs;
};

struct TflSubgraph {
  std::vector<TflTensor> tensors;
  std::vector<TflOp> ops;
};

struct TflBuffer {
  std::vector<uint8_t> data;
  bool external = false;  // appended after the flatbuffer, referenced by offset/size
  uint64_t offset = 0;    // when nonzero: written as is (no data appended)
  uint64_t size = 0;      // with `offset`
};

struct TflModel {
  std::vector<int32_t> builtin_codes;  // one OperatorCode each (deprecated_builtin_code too when < 127)
  std::vector<TflSubgraph> subgraphs;
  std::vector<TflBuffer> buffers;
  bool no_subgraphs = false, no_buffers = false;
  std::vector<std::pair<std::string, uint32_t>> metadata;  // Model.metadata entries: name, buffer index
};

inline std::vector<uint8_t> tflite_flatbuffer(const TflModel& m, const std::vector<uint64_t>& external_offsets) {
  namespace t = probex_tflite;
  flatbuffers::FlatBufferBuilder b;
  b.ForceDefaults(true);
  std::vector<flatbuffers::Offset<t::Buffer>> buffers;
  for (size_t i = 0; i < m.buffers.size(); ++i) {
    const TflBuffer& buf = m.buffers[i];
    if (buf.offset != 0) {
      auto data = buf.data.empty() ? 0 : b.CreateVector(buf.data);
      buffers.push_back(t::CreateBuffer(b, data, buf.offset, buf.size));
    } else if (buf.external) {
      buffers.push_back(t::CreateBuffer(b, 0, external_offsets[i], buf.data.size()));
    } else {
      b.ForceVectorAlignment(buf.data.size(), 1, 16);  // TFLite aligns buffer data to 16
      const auto data = b.CreateVector(buf.data);
      buffers.push_back(t::CreateBuffer(b, data, 0, 0));
    }
  }
  std::vector<flatbuffers::Offset<t::OperatorCode>> codes;
  for (int32_t c : m.builtin_codes) {
    codes.push_back(t::CreateOperatorCode(b, static_cast<int8_t>(c < 127 ? c : 127), 0, 1, c));
  }
  std::vector<flatbuffers::Offset<t::SubGraph>> subgraphs;
  for (const TflSubgraph& g : m.subgraphs) {
    std::vector<flatbuffers::Offset<t::Tensor>> tensors;
    for (const TflTensor& x : g.tensors) {
      flatbuffers::Offset<t::QuantizationParameters> q = 0;
      if (x.quantized) {
        flatbuffers::Offset<void> details = 0;
        if (x.custom_quantization) details = t::CreateCustomQuantizationDirect(b, nullptr).Union();
        q = t::CreateQuantizationParametersDirect(b, nullptr, nullptr, &x.scale,
                                                  x.zero_point.empty() ? nullptr : &x.zero_point,
                                                  x.custom_quantization ? t::QuantizationDetails::CustomQuantization
                                                                        : t::QuantizationDetails::NONE,
                                                  details, x.quantized_dimension);
      }
      flatbuffers::Offset<t::SparsityParameters> sp = 0;
      if (x.sparse) {
        std::vector<flatbuffers::Offset<t::DimensionMetadata>> dims;
        for (const TflSparseDim& d : x.dim_metadata) {
          flatbuffers::Offset<void> seg = 0, idx = 0;
          if (d.csr && !d.segments.empty()) seg = t::CreateInt32VectorDirect(b, &d.segments).Union();
          if (d.csr && !d.indices.empty()) idx = t::CreateInt32VectorDirect(b, &d.indices).Union();
          dims.push_back(t::CreateDimensionMetadata(
              b, d.csr ? t::DimensionType::SPARSE_CSR : t::DimensionType::DENSE,
              d.dense_size_negative ? -1 : d.dense_size,
              seg.IsNull() ? t::SparseIndexVector::NONE : t::SparseIndexVector::Int32Vector, seg,
              idx.IsNull() ? t::SparseIndexVector::NONE : t::SparseIndexVector::Int32Vector, idx));
        }
        sp = t::CreateSparsityParametersDirect(b, &x.traversal_order, &x.block_map, &dims);
      }
      tensors.push_back(t::CreateTensorDirect(b, &x.shape, static_cast<t::TensorType>(x.type), x.buffer, x.name.c_str(),
                                              q, false, sp));
    }
    std::vector<flatbuffers::Offset<t::Operator>> ops;
    for (const TflOp& o : g.ops) ops.push_back(t::CreateOperatorDirect(b, o.opcode_index, &o.inputs, &o.outputs));
    subgraphs.push_back(t::CreateSubGraphDirect(b, &tensors, nullptr, nullptr, &ops, "main"));
  }
  std::vector<flatbuffers::Offset<t::Metadata>> metadata;
  for (const auto& [name, buffer] : m.metadata) metadata.push_back(t::CreateMetadataDirect(b, name.c_str(), buffer));
  const auto model = t::CreateModelDirect(b, 3, &codes, m.no_subgraphs ? nullptr : &subgraphs, "probex test",
                                          m.no_buffers ? nullptr : &buffers, nullptr,
                                          m.metadata.empty() ? nullptr : &metadata);
  t::FinishModelBuffer(b, model);
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

// The file: the flatbuffer, then the external buffers' data (16-aligned). Built twice: the offsets depend on
// the flatbuffer's size, which does not depend on their values (scalars written even when default).
inline std::vector<uint8_t> build_tflite(const TflModel& m) {
  std::vector<uint64_t> offsets(m.buffers.size(), uint64_t{1} << 40);
  std::vector<uint8_t> bytes = tflite_flatbuffer(m, offsets);
  uint64_t end = bytes.size();
  for (size_t i = 0; i < m.buffers.size(); ++i) {
    if (!m.buffers[i].external || m.buffers[i].offset != 0) continue;
    end = (end + 15) / 16 * 16;
    offsets[i] = end;
    end += m.buffers[i].data.size();
  }
  bytes = tflite_flatbuffer(m, offsets);
  for (size_t i = 0; i < m.buffers.size(); ++i) {
    if (!m.buffers[i].external || m.buffers[i].offset != 0) continue;
    bytes.resize(static_cast<size_t>(offsets[i]), 0);
    bytes.insert(bytes.end(), m.buffers[i].data.begin(), m.buffers[i].data.end());
  }
  return bytes;
}

inline std::vector<uint8_t> halves(const std::vector<uint16_t>& h) {
  std::vector<uint8_t> out;
  for (uint16_t v : h) {
    out.push_back(static_cast<uint8_t>(v & 0xFF));
    out.push_back(static_cast<uint8_t>(v >> 8));
  }
  return out;
}

inline std::vector<uint8_t> floats(const std::vector<float>& f) {
  std::vector<uint8_t> out(f.size() * 4);
  if (!f.empty()) std::memcpy(out.data(), f.data(), out.size());
  return out;
}

// The small valid model every test starts from. Subgraph 0:
//   0 input    [1, 4, 4, 4]  FLOAT32, no data
//   1 conv/w16 [3, 2, 1, 4]  FLOAT16 (buffer 1): stored [O, H, W, I]; element s holds the half of s
//   2 conv/w   [3, 2, 1, 4]  FLOAT32, DEQUANTIZE's output (no data): the Conv2D's kernel
//   3 conv/out [1, 3, 4, 3]  FLOAT32, no data
//   4 dw/w     [1, 2, 2, 3]  FLOAT32 (buffer 2): a depthwise kernel, element s holds s / 2
//   5 dw/out   [1, 3, 4, 3]
//   6 fc/w     [2, 3]        INT8 (buffer 3), per channel: scale {0.5, 0.25}, zero point {1, -2}, dimension 0
//   7 fc/out   [1, 2]
//   8 shape    [2]           INT32 (buffer 4), no quantization
// Operators: DEQUANTIZE(1) -> 2; CONV_2D(0, 2, -1) -> 3; DEPTHWISE_CONV_2D(3, 4) -> 5; FULLY_CONNECTED(5, 6) -> 7.
// With `external`, buffers 1..4 are stored after the flatbuffer.
inline TflModel base_tflite(bool external = false) {
  TflModel m;
  m.builtin_codes = {6, 3, 4, 9};
  TflSubgraph g;
  g.tensors = {
      {"input", {1, 4, 4, 4}, 0, 0, false, {}, {}, 0, false, false, {}, {}, {}},
      {"conv/w16", {3, 2, 1, 4}, 1, 1, false, {}, {}, 0, false, false, {}, {}, {}},
      {"conv/w", {3, 2, 1, 4}, 0, 0, false, {}, {}, 0, false, false, {}, {}, {}},
      {"conv/out", {1, 3, 4, 3}, 0, 0, false, {}, {}, 0, false, false, {}, {}, {}},
      {"dw/w", {1, 2, 2, 3}, 0, 2, false, {}, {}, 0, false, false, {}, {}, {}},
      {"dw/out", {1, 3, 4, 3}, 0, 0, false, {}, {}, 0, false, false, {}, {}, {}},
      {"fc/w", {2, 3}, 9, 3, true, {0.5f, 0.25f}, {1, -2}, 0, false, false, {}, {}, {}},
      {"fc/out", {1, 2}, 0, 0, false, {}, {}, 0, false, false, {}, {}, {}},
      {"shape", {2}, 2, 4, false, {}, {}, 0, false, false, {}, {}, {}},
  };
  g.ops = {{0, {1}, {2}}, {1, {0, 2, -1}, {3}}, {2, {3, 4}, {5}}, {3, {5, 6}, {7}}};
  m.subgraphs = {g};
  std::vector<uint16_t> h;
  for (int s = 0; s < 24; ++s) {
    // The half of s: exact for small integers (0 is 0x0000; else exponent and mantissa of s).
    uint16_t v = 0;
    if (s > 0) {
      int e = 0;
      while ((2 << e) <= s) ++e;
      v = static_cast<uint16_t>(((15 + e) << 10) | ((s << (10 - e)) & 0x3FF));
    }
    h.push_back(v);
  }
  std::vector<float> dw;
  for (int s = 0; s < 12; ++s) dw.push_back(static_cast<float>(s) / 2);
  const std::vector<uint8_t> fc = {5, 3, 0xFF, 0x80, 0x7F, 0};  // int8 5 3 -1 -128 127 0
  m.buffers = {{},
               {halves(h), external, 0, 0},
               {floats(dw), external, 0, 0},
               {fc, external, 0, 0},
               {{2, 0, 0, 0, 7, 0, 0, 0}, external, 0, 0}};
  return m;
}

}  // namespace probex::test
