#include "model_writer.h"

#include <cstdio>

#include "io/gguf_writer.h"
#include "io/safetensors_writer.h"

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
  return format == ZooFormat::kGguf ? "model.gguf" : "model.safetensors";
}

bool encode_zoo_model(const std::vector<TensorView>& tensors, const std::map<std::string, std::string>& metadata,
                      ZooFormat format, GgufType gguf_type, const std::string& name, std::vector<uint8_t>* bytes,
                      std::string* error) {
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
