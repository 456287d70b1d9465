// Text-embedding tables: a vector per name (a word, or a whole label text), used to place label texts
// in the expert's embedding space (docs/method.md sections 2 and 8). Workstation side only: a bundle stores
// the projected label prototypes, so the device never reads a table.
//
// On disk a table is two files, so any table computed elsewhere (CLIP text embeddings, say) can be used:
//   TABLE.safetensors   one 2-D float tensor [names, dimension] (named "embeddings" if there are several)
//   TABLE.names.txt     UTF-8, one name per line, in row order (no empty or repeated names)
// The embedded default, GloVe 6B 100-d, is made by `probex-text --wink` from the npm package's JSON.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace probex::convert {

struct EmbeddingTable {
  std::string source;  // the tensor file, for messages
  size_t dimension = 0;
  std::vector<std::string> names;
  std::vector<float> vectors;                     // [names.size(), dimension]
  std::unordered_map<std::string, size_t> index;  // name -> row

  const float* row(size_t i) const { return vectors.data() + i * dimension; }
  const float* find(std::string_view name) const;
};

// "X.safetensors" -> "X.names.txt" (any other path: path + ".names.txt").
std::string default_names_path(const std::string& tensor_path);

// Loads and validates a table (shape, finite values, one name per row, no empty or repeated name).
// `names_path` empty: default_names_path(tensor_path).
bool load_embedding_table(const std::string& tensor_path, const std::string& names_path, EmbeddingTable* out,
                          std::string* error);

// Builds `index` from `names`; false (with the line of each) on an empty or repeated name.
bool index_embedding_table(EmbeddingTable* table, std::string* error);

// Writes the two files (each atomically). names_path empty: default_names_path(tensor_path).
bool save_embedding_table(const EmbeddingTable& table, const std::string& tensor_path, const std::string& names_path,
                          std::string* error);

struct LabelEmbedding {
  std::vector<float> vector;               // [dimension]
  std::vector<std::string> words;          // the table entries averaged
  std::vector<std::string> unknown_words;  // pieces of the label the table does not have (left out)
};

// The text embedding of a label: the table's entry for the whole label if it has one (as given, then
// lower-cased), else the mean of its words. Words are the label's parts split at white space and '/'
// (lower-cased); a part the table lacks is split again at '-' ("t-shirt/top" -> "t-shirt", "top").
// A label with no known word is an error naming the label and the table.
bool embed_label(const EmbeddingTable& table, const std::string& label, LabelEmbedding* out, std::string* error);

}  // namespace probex::convert
