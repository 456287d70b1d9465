#include "converter/bundle/onnx_expert.h"

#include "converter/bundle/quantize.h"
#include "converter/expert/checkpoint.h"
#include "converter/io/onnx_writer.h"

namespace probex::convert {
namespace {

// [rows, cols] int8 transposed.
std::vector<int8_t> transposed_int8(const QuantizedMatrix& m) {
  std::vector<int8_t> t(m.data.size());
  for (size_t r = 0; r < m.rows; ++r)
    for (size_t c = 0; c < m.cols; ++c) t[c * m.rows + r] = static_cast<int8_t>(m.data[r * m.cols + c]);
  return t;
}

}  // namespace

bool export_onnx_expert(const std::string& checkpoint, bool int8, std::vector<uint8_t>* bytes, std::string* summary,
                        std::string* error) {
  LoadedCheckpoint c;
  if (!load_probex_checkpoint(checkpoint, &c, error)) return false;
  ProbexExpert& e = *c.expert;
  const ProbexShape& s = e.shape();
  const auto values = [&](const char* name) { return e.find_param(name)->value.data(); };
  ExpertGraphWeights w;
  w.d_h = s.d_h;
  w.d_w = s.d_w;
  w.r_u = s.r_u;
  w.r_v = s.r_v;
  w.r_t = s.r_t;
  w.d_y = s.d_y;
  w.probes = values("probes.weight");
  w.projection = values("shared_probe_proj.weight");
  w.encoder = values("per_probe_encoders.weight");
  w.encoder_bias = values("per_probe_encoders.bias");
  if (e.has_head()) {
    w.head = values("classification_head.weight");
    w.head_bias = values("classification_head.bias");
  }
  // The bundle's quantization works on [out, reduction] matrices: U^T [r_U, d_W] and M [r_T, r_U*r_V].
  QuantSpec spec;
  spec.type = probex::StorageType::kI8;
  std::vector<float> u_t(s.r_u * s.d_w);
  for (size_t k = 0; k < s.d_w; ++k)
    for (size_t l = 0; l < s.r_u; ++l) u_t[l * s.d_w + k] = w.probes[k * s.r_u + l];
  const QuantizedMatrix probes_q = quantize_matrix("probes.weight", u_t.data(), static_cast<uint32_t>(s.r_u),
                                                   static_cast<uint32_t>(s.d_w), spec);
  const QuantizedMatrix encoder_q = quantize_matrix("per_probe_encoders.weight", w.encoder,
                                                    static_cast<uint32_t>(s.r_t), static_cast<uint32_t>(s.r_u * s.r_v),
                                                    spec);
  const std::vector<int8_t> probes_int8 = transposed_int8(probes_q), encoder_t = transposed_int8(encoder_q);
  const ExpertGraphInt8 q{probes_int8.data(), probes_q.scales.data(), encoder_t.data(), encoder_q.scales.data()};
  if (!encode_onnx_expert(w, c.metadata, bytes, error, int8 ? &q : nullptr)) {
    *error = checkpoint + ": " + *error;
    return false;
  }
  *summary = "input \"layer\" [" + std::to_string(s.d_h) + ", " + std::to_string(s.d_w) + "], outputs " +
             (e.has_head() ? "\"logits\" [1, " + std::to_string(s.d_y) + "], " : std::string()) + "\"embedding\" [1, " +
             std::to_string(s.r_t) + "]";
  return true;
}

}  // namespace probex::convert
