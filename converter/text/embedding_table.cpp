#include "converter/text/embedding_table.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "converter/io/safetensors_writer.h"
#include "probex/platform/mapped_file.h"
#include "runtime/formats/json_reader.h"
#include "runtime/formats/safetensors.h"
#include "runtime/math/float_formats.h"

namespace probex::convert {
namespace {

const char* const kTensorName = "embeddings";

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits at any of `separators`, dropping empty pieces.
std::vector<std::string> split_any(std::string_view s, std::string_view separators) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || separators.find(s[i]) != std::string_view::npos) {
      if (i > start) out.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

bool read_names(const std::string& path, std::vector<std::string>* names, std::string* error) {
  platform::MappedFile file;
  if (!file.open(path, error)) return false;
  const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  size_t bad = 0;
  if (!json::is_valid_utf8(text, &bad)) {
    *error = path + ": not UTF-8 (byte " + std::to_string(bad) + ")";
    return false;
  }
  names->clear();
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    names->emplace_back(line);
    start = end + 1;
  }
  return true;
}

}  // namespace

const float* EmbeddingTable::find(std::string_view name) const {
  const auto it = index.find(std::string(name));
  return it == index.end() ? nullptr : row(it->second);
}

std::string default_names_path(const std::string& tensor_path) {
  const std::string ext = ".safetensors";
  if (tensor_path.size() > ext.size() && tensor_path.compare(tensor_path.size() - ext.size(), ext.size(), ext) == 0) {
    return tensor_path.substr(0, tensor_path.size() - ext.size()) + ".names.txt";
  }
  return tensor_path + ".names.txt";
}

bool index_embedding_table(EmbeddingTable* t, std::string* error) {
  t->index.clear();
  t->index.reserve(t->names.size());
  for (size_t i = 0; i < t->names.size(); ++i) {
    if (t->names[i].empty()) {
      *error = t->source + ": name " + std::to_string(i + 1) + " is empty";
      return false;
    }
    const auto [it, inserted] = t->index.emplace(t->names[i], i);
    if (!inserted) {
      *error = t->source + ": name '" + t->names[i] + "' appears twice (lines " + std::to_string(it->second + 1) +
               " and " + std::to_string(i + 1) + ")";
      return false;
    }
  }
  return true;
}

bool load_embedding_table(const std::string& tensor_path, const std::string& names_path_in, EmbeddingTable* out,
                          std::string* error) {
  const std::string names_path = names_path_in.empty() ? default_names_path(tensor_path) : names_path_in;
  *out = EmbeddingTable();
  out->source = tensor_path;
  SafetensorsFile file;
  const SafetensorsStatus st = SafetensorsFile::open(tensor_path, &file);
  if (!st.ok()) {
    *error = st.message;
    return false;
  }
  const TensorInfo* tensor = file.find(kTensorName);
  if (tensor == nullptr && file.tensors().size() == 1) tensor = &file.tensors().front();
  if (tensor == nullptr) {
    *error = tensor_path + ": no tensor '" + kTensorName + "' (and not exactly one tensor to take instead)";
    return false;
  }
  if (tensor->shape.size() != 2 || tensor->shape[0] == 0 || tensor->shape[1] == 0 ||
      !dtype_converts_to_f32(tensor->dtype)) {
    *error = tensor_path + ": tensor '" + tensor->name + "' must be a non-empty 2-D float tensor [names, dimension]";
    return false;
  }
  out->dimension = static_cast<size_t>(tensor->shape[1]);
  out->vectors.resize(static_cast<size_t>(tensor->element_count));
  const SafetensorsStatus read = file.read_f32(*tensor, 0, tensor->element_count, out->vectors.data());
  if (!read.ok()) {
    *error = read.message;
    return false;
  }
  if (!all_finite(out->vectors.data(), out->vectors.size())) {
    *error = tensor_path + ": tensor '" + tensor->name + "' holds NaN or Inf";
    return false;
  }
  if (!read_names(names_path, &out->names, error)) return false;
  if (out->names.size() != tensor->shape[0]) {
    *error = names_path + ": " + std::to_string(out->names.size()) + " names for the " +
             std::to_string(tensor->shape[0]) + " rows of " + tensor_path;
    return false;
  }
  out->source = names_path;
  if (!index_embedding_table(out, error)) return false;
  out->source = tensor_path;
  return true;
}

bool save_embedding_table(const EmbeddingTable& t, const std::string& tensor_path, const std::string& names_path_in,
                          std::string* error) {
  const std::string names_path = names_path_in.empty() ? default_names_path(tensor_path) : names_path_in;
  SafetensorsWriter writer;
  if (!writer.add_f32(kTensorName, Dtype::kF32, {t.names.size(), t.dimension}, t.vectors.data(), error)) return false;
  writer.set_metadata("format", "probex-text-table/1");
  std::string names;
  for (const std::string& n : t.names) {
    if (n.find('\n') != std::string::npos) {
      *error = "name '" + n + "' holds a line break; a names list cannot store it";
      return false;
    }
    names += n;
    names += '\n';
  }
  return writer.write_file(tensor_path, error) && write_file_atomically(names_path, names.data(), names.size(), error);
}

bool embed_label(const EmbeddingTable& table, const std::string& label, LabelEmbedding* out, std::string* error) {
  *out = LabelEmbedding();
  for (const std::string& whole : {label, lower_ascii(label)}) {
    if (const float* v = table.find(whole)) {
      out->vector.assign(v, v + table.dimension);
      out->words = {whole};
      return true;
    }
  }
  std::vector<const float*> rows;
  for (const std::string& part : split_any(lower_ascii(label), " \t/")) {
    if (const float* v = table.find(part)) {
      rows.push_back(v);
      out->words.push_back(part);
      continue;
    }
    for (const std::string& piece : split_any(part, "-")) {
      if (const float* v = table.find(piece)) {
        rows.push_back(v);
        out->words.push_back(piece);
      } else {
        out->unknown_words.push_back(piece);
      }
    }
  }
  if (rows.empty()) {
    *error = "label '" + label + "': no word of it is in the text table " + table.source;
    return false;
  }
  out->vector.assign(table.dimension, 0.0f);
  for (const float* v : rows) {
    for (size_t j = 0; j < table.dimension; ++j) out->vector[j] += v[j];
  }
  const float scale = 1.0f / static_cast<float>(rows.size());
  for (float& x : out->vector) x *= scale;
  return true;
}

}  // namespace probex::convert
