// Writes the safetensors reader's malformed-file corpus (tests/runtime/malformed_safetensors.h) into a
// folder, one file per case, as fuzzing seeds: each sits just past one validation rule, where mutations
// reach the neighbouring checks. Usage: write_malformed_corpus DIR
#include <cstdio>
#include <string>

#include "runtime/malformed_safetensors.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: write_malformed_corpus DIR\n");
    return 2;
  }
  const auto cases = probex::test::malformed_safetensors_corpus();
  int index = 0;
  for (const auto& c : cases) {
    char name[32];
    std::snprintf(name, sizeof name, "/malformed-%02d", index++);
    if (!probex::test::write_bytes(argv[1] + std::string(name), c.bytes)) {
      std::fprintf(stderr, "write_malformed_corpus: cannot write %s%s\n", argv[1], name);
      return 1;
    }
  }
  std::printf("%d malformed safetensors seeds in %s\n", index, argv[1]);
  return 0;
}
