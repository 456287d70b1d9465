// Writes a GGUF file with the converter's writer (tensors of every type it writes, 1 to 4 dimensions,
// metadata of each kind it writes) and prints what an independent parser must find in it, one line per
// item, in the format tests/helpers/gguf_peer_dump.js prints:
//   meta KEY VALUE                 (strings and numbers; string arrays joined with '|')
//   tensor NAME ne0,ne1,.. TYPE OFFSET   (TYPE by name: F32, F16, Q8_0, Q5_0, Q4_K)
// Usage: write_gguf_sample FILE
#include <cstdio>
#include <string>
#include <vector>

#include "converter/io/gguf_writer.h"

using namespace probex::convert;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: write_gguf_sample FILE\n");
    return 2;
  }
  GgufWriter w;
  w.set_string("general.architecture", "mlp");
  w.set_string("general.name", "probex sample: \"quoted\" & unicode \xc3\xa9");
  w.set_uint32("probex.rows", 128);
  w.set_float32("probex.scale", 0.5f);
  w.set_strings("probex.labels", {"T-shirt/top", "Ankle boot", ""});
  struct Spec {
    const char* name;
    GgufType type;
    std::vector<uint64_t> shape;
  };
  const std::vector<Spec> specs = {
      {"fc1.weight", GgufType::kF32, {3, 5}},        {"fc1.bias", GgufType::kF32, {7}},
      {"fc2.weight", GgufType::kF16, {4, 8}},        {"fc3.weight", GgufType::kQ8_0, {3, 64}},
      {"fc4.weight", GgufType::kQ4_K, {3, 512}},     {"fc5.weight", GgufType::kQ5_0, {2, 96}},
      {"conv.weight", GgufType::kF16, {2, 3, 1, 1}},
  };
  std::string error;
  for (const Spec& s : specs) {
    size_t n = 1;
    for (uint64_t d : s.shape) n *= static_cast<size_t>(d);
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 17) * 0.125f - 1.0f;
    if (!w.add_f32(s.name, s.type, s.shape, v.data(), n, &error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
  }
  if (!w.write_file(argv[1], &error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::printf("meta general.alignment 32\nmeta general.architecture mlp\n");
  std::printf("meta general.name probex sample: \"quoted\" & unicode \xc3\xa9\n");
  std::printf("meta probex.labels T-shirt/top|Ankle boot|\nmeta probex.rows 128\nmeta probex.scale 0.5\n");
  for (const GgufWriter::Placement& p : w.layout()) {
    std::string ne;
    for (uint64_t d : p.ne) ne += (ne.empty() ? "" : ",") + std::to_string(d);
    std::printf("tensor %s %s %s %llu\n", p.name.c_str(), ne.c_str(), gguf_type_name(p.type),
                static_cast<unsigned long long>(p.offset));
  }
  return 0;
}
