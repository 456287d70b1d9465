// Text-embedding tables: the wink JSON reader, the table files, label embedding, and their bad inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "converter/io/safetensors_writer.h"
#include "converter/text/embedding_table.h"
#include "converter/text/wink_json.h"
#include "runtime/math/cosine.h"
#include "tests/test_util.h"

using namespace probex::convert;
using probex::Dtype;
using probex::test::TempDir;

namespace {

void write_text(const std::string& path, const std::string& text) {
  REQUIRE(probex::test::write_bytes(path, std::vector<uint8_t>(text.begin(), text.end())));
}

// A wink file of 3 words in 2 dimensions (each vector: values, norm, row index).
const char* const kWink =
    R"({"precision":8,"l2NormIndex":2,"wordIndex":3,"size":3,"dimensions":2,"words":["boot","t-shirt","top"],)"
    R"("vectors":{"boot":[1,0,1,0],"t-shirt":[0.5,-2.5e-1,0.559,1],"top":[0,3,3,2]},"unkVector":[0,0,0,-1]})";

std::string wink_error(const std::string& text) {
  TempDir dir;
  write_text(dir.file("w.json"), text);
  EmbeddingTable table;
  std::string error;
  CHECK_FALSE(read_wink_embeddings(dir.file("w.json"), &table, &error));
  return error;
}

}  // namespace

TEST_CASE("wink JSON: words, values and order are read exactly, and the table round-trips") {
  TempDir dir;
  write_text(dir.file("w.json"), kWink);
  EmbeddingTable table;
  std::string error;
  REQUIRE_MESSAGE(read_wink_embeddings(dir.file("w.json"), &table, &error), error);
  CHECK(table.dimension == 2);
  REQUIRE(table.names == std::vector<std::string>{"boot", "t-shirt", "top"});
  CHECK(table.vectors == std::vector<float>{1.0f, 0.0f, 0.5f, -0.25f, 0.0f, 3.0f});

  REQUIRE_MESSAGE(save_embedding_table(table, dir.file("t.safetensors"), "", &error), error);
  EmbeddingTable loaded;
  REQUIRE_MESSAGE(load_embedding_table(dir.file("t.safetensors"), "", &loaded, &error), error);
  CHECK(loaded.names == table.names);
  CHECK(loaded.vectors == table.vectors);
  CHECK(loaded.find("top") == loaded.row(2));
  CHECK(loaded.find("shoe") == nullptr);
}

TEST_CASE("wink JSON: inconsistent files are errors naming the file and the problem") {
  const std::string good = kWink;
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  CHECK(wink_error("{\"size\":3").find("not valid JSON") != std::string::npos);
  CHECK(wink_error("[1,2]").find("top level is not an object") != std::string::npos);
  CHECK(wink_error("{\"size\":3}").find("lacks one of") != std::string::npos);
  CHECK(wink_error(with("\"size\":3", "\"size\":4")).find("'size' is 4 but there are 3 words and 3 vectors") !=
        std::string::npos);
  CHECK(wink_error(with("\"dimensions\":2", "\"dimensions\":3")).find("vectors hold 2 values, 'dimensions' says 3") !=
        std::string::npos);
  CHECK(wink_error(with("[0,3,3,2]", "[0,3,3,5]")).find("'top' gives row index 5") != std::string::npos);
  CHECK(wink_error(with("[0,3,3,2]", "[0,3,2]")).find("'top' has 1 values, the first had 2") != std::string::npos);
  CHECK(wink_error(with("[0,3,3,2]", "[0,\"x\",3,2]")).find("'top' holds a non-number") != std::string::npos);
  CHECK(wink_error(with("[0,3,3,2]", "[0,1e39,3,2]")).find("'top' holds a non-number") != std::string::npos);
  CHECK(wink_error(with("\"words\":[\"boot\"", "\"words\":[\"shoe\"")).find("vector 0 is for 'boot' but words[0]") !=
        std::string::npos);
  CHECK(wink_error(with("\"top\":[0,3,3,2]", "\"boot\":[0,3,3,2]")).find("vector 2 is for 'boot'") !=
        std::string::npos);
  CHECK(wink_error(with("\"size\":3", "\"size\":-3")).find("'size' is not a count") != std::string::npos);
  TempDir dir;
  EmbeddingTable table;
  std::string error;
  CHECK_FALSE(read_wink_embeddings(dir.file("missing.json"), &table, &error));
  CHECK(error.find("missing.json") != std::string::npos);
}

TEST_CASE("table files: shape, values and names are validated") {
  TempDir dir;
  const std::string t = dir.file("t.safetensors");
  auto tensor = [&](std::vector<uint64_t> shape, std::vector<float> values, const std::string& name = "embeddings") {
    SafetensorsWriter w;
    std::string error;
    REQUIRE(w.add_f32(name, Dtype::kF32, shape, values.data(), &error));
    REQUIRE(w.write_file(t, &error));
  };
  auto load_error = [&](const std::string& names) {
    write_text(dir.file("t.names.txt"), names);
    EmbeddingTable table;
    std::string error;
    CHECK_FALSE(load_embedding_table(t, "", &table, &error));
    return error;
  };
  tensor({2, 2}, {1, 2, 3, 4});
  CHECK(load_error("a\n").find("1 names for the 2 rows") != std::string::npos);
  CHECK(load_error("a\na\n").find("name 'a' appears twice (lines 1 and 2)") != std::string::npos);
  CHECK(load_error("a\n\n").find("name 2 is empty") != std::string::npos);
  CHECK(load_error("a\n\xff\n").find("not UTF-8") != std::string::npos);
  tensor({4}, {1, 2, 3, 4});
  CHECK(load_error("a\nb\n").find("non-empty 2-D float tensor") != std::string::npos);
  tensor({2, 2}, {1, NAN, 3, 4});
  CHECK(load_error("a\nb\n").find("NaN or Inf") != std::string::npos);
  std::remove(dir.file("t.names.txt").c_str());
  tensor({2, 2}, {1, 2, 3, 4}, "other");  // one tensor of any name is taken; CRLF names are accepted
  write_text(dir.file("names"), "a\r\nb\r\n");
  EmbeddingTable table;
  std::string error;
  REQUIRE_MESSAGE(load_embedding_table(t, dir.file("names"), &table, &error), error);
  CHECK(table.find("b") == table.row(1));
  CHECK_FALSE(load_embedding_table(t, "", &table, &error));  // the default names file does not exist
  CHECK(error.find("t.names.txt") != std::string::npos);
}

TEST_CASE("label embedding: whole entries first, else the mean of the known words, else an error") {
  EmbeddingTable table;
  table.source = "table";
  table.dimension = 2;
  table.names = {"ankle", "boot", "t-shirt", "top", "Sea Lion"};
  table.vectors = {1, 0, 0, 1, 2, 2, 4, 0, 9, 9};
  std::string error;
  REQUIRE(index_embedding_table(&table, &error));
  LabelEmbedding e;
  REQUIRE(embed_label(table, "Ankle boot", &e, &error));
  CHECK(e.vector == std::vector<float>{0.5f, 0.5f});
  CHECK(e.words == std::vector<std::string>{"ankle", "boot"});
  REQUIRE(embed_label(table, "T-shirt/top", &e, &error));  // "t-shirt" is an entry, so it is not split
  CHECK(e.vector == std::vector<float>{3.0f, 1.0f});
  REQUIRE(embed_label(table, "top-boot", &e, &error));  // not an entry: split at '-'
  CHECK(e.vector == std::vector<float>{2.0f, 0.5f});
  REQUIRE(embed_label(table, "Sea Lion", &e, &error));  // a whole entry, as given
  CHECK(e.vector == std::vector<float>{9.0f, 9.0f});
  REQUIRE(embed_label(table, "muddy boot", &e, &error));
  CHECK(e.unknown_words == std::vector<std::string>{"muddy"});
  CHECK(e.vector == std::vector<float>{0.0f, 1.0f});
  CHECK_FALSE(embed_label(table, "sandal", &e, &error));
  CHECK(error == "label 'sandal': no word of it is in the text table table");
  CHECK_FALSE(embed_label(table, " / ", &e, &error));
  CHECK(std::fabs(probex::cosine(table.row(0), table.row(1), 2)) < 1e-12);
  CHECK(probex::cosine(table.row(2), table.row(4), 2) == doctest::Approx(1.0));
}
