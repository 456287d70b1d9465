#include "converter/zoo/model_writer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "converter/io/gguf_writer.h"
#include "converter/io/onnx_writer.h"
#include "converter/io/safetensors_writer.h"

namespace fs = std::filesystem;

namespace probex::convert {
namespace {

// A 40-hex-digit ref for the Hugging Face layout, derived from the file bytes (FNV-1a, five lanes).
std::string content_ref(const std::vector<uint8_t>& bytes) {
  std::string ref;
  for (uint64_t lane = 0; lane < 5; ++lane) {
    uint64_t h = 0xcbf29ce484222325ull ^ (lane * 0x9E3779B97F4A7C15ull);
    for (uint8_t b : bytes) h = (h ^ b) * 0x100000001b3ull;
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(h ^ (h >> 32)));
    ref += buf;
  }
  return ref;
}

}  // namespace

const char* zoo_model_file_name(ZooFormat format) {
  switch (format) {
    case ZooFormat::kGguf: return "model.gguf";
    case ZooFormat::kTflite: return "model.tflite";
    case ZooFormat::kOnnx: return "model.onnx";
    case ZooFormat::kSafetensors: break;
  }
  return "model.safetensors";
}

bool mlp_layers(const std::vector<TensorView>& tensors, std::vector<DenseLayer>* layers, std::string* error) {
  // Layer rank: fcK -> K, head -> after every fcK.
  const auto rank = [](const std::string& layer, uint64_t* out) {
    if (layer == "head") {
      *out = UINT64_MAX;
      return true;
    }
    if (layer.size() < 3 || layer.compare(0, 2, "fc") != 0 ||
        layer.find_first_not_of("0123456789", 2) != std::string::npos || layer.size() > 12) {
      return false;
    }
    *out = std::strtoull(layer.c_str() + 2, nullptr, 10);
    return true;
  };
  struct Found {
    uint64_t rank;
    DenseLayer layer;
    bool has_weight = false, has_bias = false;
  };
  std::map<std::string, Found> found;
  for (const TensorView& t : tensors) {
    const size_t dot = t.name.rfind('.');
    const std::string layer = dot == std::string::npos ? t.name : t.name.substr(0, dot);
    const std::string kind = dot == std::string::npos ? "" : t.name.substr(dot + 1);
    uint64_t r = 0;
    if (!rank(layer, &r) || (kind != "weight" && kind != "bias")) {
      *error = "tensor '" + t.name +
               "' is not a layer of the zoo's MLP (fc<N>.weight, fc<N>.bias, head.weight, head.bias)";
      return false;
    }
    Found& f = found[layer];
    f.rank = r;
    f.layer.name = layer;
    if (kind == "weight") {
      if (t.shape.size() != 2 || t.count != t.shape[0] * t.shape[1]) {
        *error = "tensor '" + t.name + "' is not a [out, in] matrix";
        return false;
      }
      f.layer.out = t.shape[0];
      f.layer.in = t.shape[1];
      f.layer.weight = t.values;
      f.has_weight = true;
    } else {
      if (t.shape.size() != 1) {
        *error = "tensor '" + t.name + "' is not a vector";
        return false;
      }
      f.layer.bias = t.values;
      f.has_bias = true;
    }
  }
  std::vector<Found> ordered;
  for (auto& [layer, f] : found) {
    if (!f.has_weight || !f.has_bias) {
      *error = "layer '" + layer + "' lacks its " + (f.has_weight ? "bias" : "weight");
      return false;
    }
    ordered.push_back(f);
  }
  std::sort(ordered.begin(), ordered.end(), [](const Found& a, const Found& b) { return a.rank < b.rank; });
  layers->clear();
  for (size_t i = 0; i < ordered.size(); ++i) {
    DenseLayer l = ordered[i].layer;
    l.relu = i + 1 < ordered.size();
    const TensorView* bias = nullptr;
    for (const TensorView& t : tensors)
      if (t.name == l.name + ".bias") bias = &t;
    if (bias == nullptr || bias->count != l.out) {
      *error = "layer '" + l.name + "': its bias does not have " + std::to_string(l.out) + " values";
      return false;
    }
    if (!layers->empty() && layers->back().out != l.in) {
      *error = "layer '" + l.name + "' takes " + std::to_string(l.in) + " inputs, '" + layers->back().name +
               "' gives " + std::to_string(layers->back().out);
      return false;
    }
    layers->push_back(l);
  }
  if (layers->empty()) {
    *error = "no layers";
    return false;
  }
  return true;
}

bool encode_zoo_model(const std::vector<TensorView>& tensors, const std::map<std::string, std::string>& metadata,
                      ZooFormat format, GgufType gguf_type, TfliteWeightType tflite_type, const std::string& name,
                      std::vector<uint8_t>* bytes, std::string* error) {
  if (format == ZooFormat::kTflite || format == ZooFormat::kOnnx) {
    std::vector<DenseLayer> layers;
    if (!mlp_layers(tensors, &layers, error)) return false;
    return format == ZooFormat::kTflite ? encode_tflite_mlp(layers, tflite_type, metadata, name, bytes, error)
                                        : encode_onnx_mlp(layers, metadata, bytes, error);
  }
  if (format == ZooFormat::kSafetensors) {
    SafetensorsWriter writer;
    for (const TensorView& t : tensors) {
      if (!writer.add_f32(t.name, Dtype::kF32, t.shape, t.values, error)) return false;
    }
    for (const auto& [k, v] : metadata) writer.set_metadata(k, v);
    *bytes = writer.serialize();
    return true;
  }
  GgufWriter writer;
  writer.set_string("general.architecture", "mlp");
  writer.set_string("general.name", name);
  bool quantized = false;
  for (const TensorView& t : tensors) {
    const GgufType type = gguf_storage_type(gguf_type, t.shape);
    quantized |= gguf_type_block_size(type) > 1;
    if (!writer.add_f32(t.name, type, t.shape, t.values, t.count, error)) return false;
  }
  if (quantized) writer.set_uint32("general.quantization_version", 2);  // ggml's GGML_QNT_VERSION
  for (const auto& [k, v] : metadata) writer.set_string("probex." + k, v);
  *bytes = writer.serialize();
  return true;
}

bool place_zoo_model(const fs::path& root_dir, const std::string& model_dir, const std::vector<uint8_t>& bytes,
                     ZooLayout layout, ZooFormat format, std::string* rel_path, std::string* error) {
  std::string rel = model_dir;
  std::error_code ec;
  if (layout == ZooLayout::kHuggingFace) {
    const std::string ref = content_ref(bytes);
    fs::create_directories(root_dir / model_dir / "refs", ec);
    if (ec) {
      *error = (root_dir / model_dir).string() + ": cannot create folder: " + ec.message();
      return false;
    }
    if (!write_file_atomically((root_dir / model_dir / "refs" / "main").string(), ref.data(), ref.size(), error)) {
      return false;
    }
    rel += "/snapshots/" + ref;
  }
  fs::create_directories(root_dir / rel, ec);
  if (ec) {
    *error = (root_dir / rel).string() + ": cannot create folder: " + ec.message();
    return false;
  }
  rel += "/";
  rel += zoo_model_file_name(format);
  *rel_path = rel;
  return write_file_atomically((root_dir / rel).string(), bytes.data(), bytes.size(), error);
}

}  // namespace probex::convert
