#include "converter/text/wink_json.h"

#include <cmath>
#include <string_view>

#include "probex/platform/mapped_file.h"
#include "runtime/formats/json_reader.h"

namespace probex::convert {
namespace {

class WinkParser {
 public:
  WinkParser(const std::string& path, std::string_view text) : path_(path), c_(text) {}

  bool parse(EmbeddingTable* out, std::string* error) {
    error_ = error;
    if (!c_.consume('{')) return fail("the top level is not an object");
    bool have_dimensions = false, have_size = false, have_words = false, have_vectors = false;
    uint64_t size = 0;
    std::vector<std::string> words;
    while (!c_.consume('}')) {
      std::string key;
      if (!c_.read_string(&key) || !c_.consume(':')) return fail("expected a key");
      if (key == "dimensions") {
        if (!read_count(key, &dimensions_)) return false;
        have_dimensions = true;
      } else if (key == "size") {
        if (!read_count(key, &size)) return false;
        have_size = true;
      } else if (key == "words") {
        if (!read_words(&words)) return false;
        have_words = true;
      } else if (key == "vectors") {
        if (!read_vectors(out)) return false;
        have_vectors = true;
      } else {
        c_.skip_value();  // precision, l2NormIndex, wordIndex, unkVector: not needed
      }
      c_.consume(',');
    }
    if (!have_dimensions || !have_size || !have_words || !have_vectors) {
      return fail("it lacks one of 'dimensions', 'size', 'words', 'vectors' (not a wink embeddings file?)");
    }
    if (dimensions_ == 0 || size == 0) return fail("'dimensions' and 'size' must be positive");
    if (out->dimension != dimensions_) {
      return fail("vectors hold " + std::to_string(out->dimension) + " values, 'dimensions' says " +
                  std::to_string(dimensions_));
    }
    if (words.size() != size || out->names.size() != size) {
      return fail("'size' is " + std::to_string(size) + " but there are " + std::to_string(words.size()) +
                  " words and " + std::to_string(out->names.size()) + " vectors");
    }
    for (size_t i = 0; i < words.size(); ++i) {
      if (words[i] != out->names[i]) {
        return fail("vector " + std::to_string(i) + " is for '" + out->names[i] + "' but words[" + std::to_string(i) +
                    "] is '" + words[i] + "'");
      }
    }
    out->source = path_;
    return index_embedding_table(out, error);
  }

 private:
  bool fail(const std::string& why) {
    *error_ = path_ + ": " + why;
    return false;
  }

  bool read_count(const std::string& key, uint64_t* value) {
    json::NumberKind kind;
    if (!c_.read_number(&kind, value) || kind != json::NumberKind::kUnsignedInteger || *value > (1ull << 32)) {
      return fail("'" + key + "' is not a count");
    }
    return true;
  }

  bool read_words(std::vector<std::string>* words) {
    if (!c_.consume('[')) return fail("'words' is not an array");
    while (!c_.consume(']')) {
      std::string w;
      if (!c_.read_string(&w)) return fail("'words' holds a non-string");
      words->push_back(std::move(w));
      c_.consume(',');
    }
    return true;
  }

  // Each entry: D floats, the L2 norm, the row index. The dimension is taken from the first entry
  // (the file need not give 'dimensions' first) and checked against 'dimensions' at the end.
  bool read_vectors(EmbeddingTable* out) {
    if (!c_.consume('{')) return fail("'vectors' is not an object");
    std::vector<float> values;
    while (!c_.consume('}')) {
      std::string word;
      if (!c_.read_string(&word) || !c_.consume(':') || !c_.consume('[')) {
        return fail("'vectors' entry " + std::to_string(out->names.size()) + " is not \"word\": [numbers]");
      }
      values.clear();
      float v = 0.0f;
      while (!c_.consume(']')) {
        if (!c_.read_float(&v) || !std::isfinite(v)) return fail("the vector of '" + word + "' holds a non-number");
        values.push_back(v);
        c_.consume(',');
      }
      if (values.size() < 3) return fail("the vector of '" + word + "' is too short");
      const size_t dimension = values.size() - 2;
      if (out->names.empty()) out->dimension = dimension;
      if (dimension != out->dimension) {
        return fail("the vector of '" + word + "' has " + std::to_string(dimension) + " values, the first had " +
                    std::to_string(out->dimension));
      }
      if (values.back() != static_cast<float>(out->names.size())) {
        return fail("the vector of '" + word + "' gives row index " + std::to_string(values.back()) +
                    ", but it is entry " + std::to_string(out->names.size()));
      }
      out->vectors.insert(out->vectors.end(), values.begin(), values.begin() + static_cast<std::ptrdiff_t>(dimension));
      out->names.push_back(std::move(word));
      c_.consume(',');
    }
    return true;
  }

  const std::string& path_;
  json::JsonCursor c_;
  std::string* error_ = nullptr;
  uint64_t dimensions_ = 0;
};

}  // namespace

bool read_wink_embeddings(const std::string& json_path, EmbeddingTable* out, std::string* error) {
  *out = EmbeddingTable();
  platform::MappedFile file;
  if (!file.open(json_path, error)) return false;
  const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  size_t offset = 0;
  const char* why = nullptr;
  if (!json::validate_json(text, 8, &offset, &why)) {
    *error = json_path + ": not valid JSON at byte " + std::to_string(offset) + ": " + why;
    return false;
  }
  return WinkParser(json_path, text).parse(out, error);
}

}  // namespace probex::convert
