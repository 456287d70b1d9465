#include "converter/io/safetensors_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "runtime/formats/json_writer.h"
#include "runtime/math/checked_math.h"
#include "runtime/math/float_formats.h"

namespace probex::convert {

bool SafetensorsWriter::add_raw(const std::string& name, Dtype dtype, std::vector<uint64_t> shape,
                                std::vector<uint8_t> bytes, std::string* error) {
  uint64_t count = 1;
  for (uint64_t d : shape) {
    if (!checked_mul(count, d, &count)) {
      *error = "tensor '" + name + "': shape overflows";
      return false;
    }
  }
  uint64_t expected = 0;
  if (!checked_mul(count, dtype_size(dtype), &expected) || expected != bytes.size()) {
    *error = "tensor '" + name + "': " + std::to_string(bytes.size()) + " bytes do not match its shape and dtype";
    return false;
  }
  if (name.empty() || name == "__metadata__" || tensors_.count(name)) {
    *error = "tensor name '" + name + "' is empty, reserved or already used";
    return false;
  }
  tensors_.emplace(name, Entry{dtype, std::move(shape), std::move(bytes)});
  return true;
}

bool SafetensorsWriter::add_f32(const std::string& name, Dtype dtype, std::vector<uint64_t> shape, const float* values,
                                std::string* error) {
  uint64_t count = 1;
  for (uint64_t d : shape) {
    if (!checked_mul(count, d, &count)) {
      *error = "tensor '" + name + "': shape overflows";
      return false;
    }
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(count) * dtype_size(dtype));
  uint8_t* p = bytes.data();
  for (uint64_t i = 0; i < count; ++i) {
    switch (dtype) {
      case Dtype::kF32: std::memcpy(p + 4 * i, &values[i], 4); break;
      case Dtype::kF64: {
        const double d = values[i];
        std::memcpy(p + 8 * i, &d, 8);
        break;
      }
      case Dtype::kF16:
      case Dtype::kBF16: {
        const uint16_t h = dtype == Dtype::kF16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
        p[2 * i] = static_cast<uint8_t>(h & 0xFF);
        p[2 * i + 1] = static_cast<uint8_t>(h >> 8);
        break;
      }
      default: *error = "tensor '" + name + "': add_f32 cannot store " + dtype_name(dtype); return false;
    }
  }
  return add_raw(name, dtype, std::move(shape), std::move(bytes), error);
}

std::vector<uint8_t> SafetensorsWriter::serialize() const {
  std::string header = "{";
  bool first = true;
  if (!metadata_.empty()) {
    header += "\"__metadata__\":{";
    for (const auto& [key, value] : metadata_) {
      if (!first) header += ",";
      first = false;
      append_json_string(&header, key);
      header += ":";
      append_json_string(&header, value);
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (const auto& [name, entry] : tensors_) {
    if (!header.empty() && header.back() != '{') header += ",";
    append_json_string(&header, name);
    header += ":{\"dtype\":\"";
    header += dtype_name(entry.dtype);
    header += "\",\"shape\":[";
    for (size_t i = 0; i < entry.shape.size(); ++i) {
      if (i) header += ",";
      header += std::to_string(entry.shape[i]);
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + entry.bytes.size()) +
              "]}";
    offset += entry.bytes.size();
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';

  std::vector<uint8_t> out;
  out.reserve(8 + header.size() + offset);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  for (const auto& [name, entry] : tensors_) out.insert(out.end(), entry.bytes.begin(), entry.bytes.end());
  return out;
}

bool SafetensorsWriter::write_file(const std::string& path, std::string* error) const {
  const std::vector<uint8_t> bytes = serialize();
  return write_file_atomically(path, bytes.data(), bytes.size(), error);
}

bool write_file_atomically(const std::string& path, const void* bytes, size_t size, std::string* error) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    *error = tmp + ": cannot create: " + std::strerror(errno);
    return false;
  }
  const bool written = std::fwrite(bytes, 1, size, f) == size;
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed) {
    *error = tmp + ": write failed: " + std::strerror(errno);
    std::remove(tmp.c_str());
    return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = path + ": cannot rename into place: " + std::strerror(errno);
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace probex::convert
