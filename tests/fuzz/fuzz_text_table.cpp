// libFuzzer: the text-embedding readers: the wink JSON (GloVe) converter and label embedding on what it
// reads; the table files themselves go through the safetensors reader (fuzz_safetensors).
#include <cstdint>

#include "converter/text/embedding_table.h"
#include "converter/text/wink_json.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = probex::fuzz::input_file(data, size, ".json");
  probex::convert::EmbeddingTable table;
  std::string error;
  if (!probex::convert::read_wink_embeddings(path, &table, &error)) return 0;
  probex::convert::LabelEmbedding e;
  for (const char* label : {"T-shirt/top", "Ankle boot", "bag"})
    (void)probex::convert::embed_label(table, label, &e, &error);
  return 0;
}
