// Writes the safetensors reader's malformed-file corpus (tests/runtime/formats/malformed_safetensors.h) into a
// folder, one file per case, as fuzzing seeds: each sits just past one validation rule, where mutations
// reach the neighbouring checks. With a second folder, writes the GGUF reader's corpus
// (tests/runtime/formats/malformed_gguf.h) there too, with valid GGUF files: one block of every supported type and
// a file with metadata of every value type. With two more folders, writes there the index JSON of the
// sharded-checkpoint corpus and the config JSON of the PEFT-adapter corpus
// (tests/runtime/formats/model_folder_corpus.h), with the valid ones. With a fifth folder, writes the TFLite reader's
// corpus (tests/runtime/formats/malformed_tflite.h) there, with valid TFLite files (inline and offset buffers, a
// sparse tensor, two subgraphs); with a sixth, the ONNX reader's corpus (tests/runtime/formats/malformed_onnx.h) with
// valid ONNX files (every storage, Constant nodes in an If, a MatMul).
// Usage: write_malformed_corpus DIR [GGUF_DIR [SHARD_INDEX_DIR ADAPTER_CONFIG_DIR [TFLITE_DIR [ONNX_DIR]]]]
#include <cstdio>
#include <string>
#include <vector>

#include "tests/runtime/formats/gguf_writer.h"
#include "tests/runtime/formats/malformed_gguf.h"
#include "tests/runtime/formats/malformed_onnx.h"
#include "tests/runtime/formats/malformed_safetensors.h"
#include "tests/runtime/formats/malformed_tflite.h"
#include "tests/runtime/formats/model_folder_corpus.h"

namespace {

bool write_seed(const std::string& dir, const char* kind, int index, const std::vector<uint8_t>& bytes) {
  char name[48];
  std::snprintf(name, sizeof name, "/%s-%02d", kind, index);
  if (probex::test::write_bytes(dir + name, bytes)) return true;
  std::fprintf(stderr, "write_malformed_corpus: cannot write %s%s\n", dir.c_str(), name);
  return false;
}

std::vector<std::vector<uint8_t>> valid_gguf_seeds() {
  using probex::GgmlType;
  using probex::GgufValueType;
  using probex::test::GgufWriter;
  std::vector<std::vector<uint8_t>> seeds;
  // One tensor of two rows per supported type; bytes 0x3C so halves read as 1.0-ish finite values.
  for (GgmlType t : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kF64, GgmlType::kQ8_0, GgmlType::kQ4_0,
                     GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ2_K, GgmlType::kQ3_K,
                     GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kIQ4_NL}) {
    const uint64_t n = probex::ggml_type_block_size(t) == 1 ? 4 : probex::ggml_type_block_size(t);
    const uint64_t bytes = 2 * n / probex::ggml_type_block_size(t) * probex::ggml_type_block_bytes(t);
    seeds.push_back(
        probex::test::one_tensor_gguf("w", {n, 2}, t, std::vector<uint8_t>(static_cast<size_t>(bytes), 0x3C)));
  }
  GgufWriter w(2, 6);
  w.kv_str("general.architecture", "llama").kv_u32("general.alignment", 64);
  w.key("f", GgufValueType::kF32).f32(0.5f).key("b", GgufValueType::kBool).u8(1);
  w.key("tokens", GgufValueType::kArray).type(GgufValueType::kString).u64(2).str("a").str("b");
  w.key("nested", GgufValueType::kArray).type(GgufValueType::kArray).u64(1).type(GgufValueType::kI16).u64(1).u16(7);
  w.tensor("a", {3, 2}, GgmlType::kF32, 0).tensor("b", {32}, GgmlType::kQ8_0, 64).pad(64).zeros(64 + 34);
  seeds.push_back(w.bytes);
  return seeds;
}

std::vector<std::vector<uint8_t>> valid_tflite_seeds() {
  using namespace probex::test;
  std::vector<std::vector<uint8_t>> seeds = {build_tflite(base_tflite(false)), build_tflite(base_tflite(true))};
  TflModel two = base_tflite();
  two.subgraphs.push_back(two.subgraphs[0]);
  seeds.push_back(build_tflite(two));
  TflModel sparse = base_tflite();
  TflTensor& t = sparse.subgraphs[0].tensors[4];
  t.shape = {2, 2};
  t.sparse = true;
  t.traversal_order = {0, 1};
  t.dim_metadata = {{false, 2, {}, {}, false}, {true, 0, {0, 1, 2}, {0, 1}, false}};
  sparse.buffers[2].data = floats({1, 2});
  seeds.push_back(build_tflite(sparse));
  return seeds;
}

// The JSON file named `json_name` of each case, and `valid`, into `dir`.
bool write_json_seeds(const std::string& dir, const std::vector<probex::test::MalformedFolderCase>& cases,
                      const char* json_name, const std::string& valid, const char* what) {
  int index = 0;
  for (const auto& c : cases) {
    for (const auto& f : c.files) {
      if (f.name == json_name && f.link.empty() && !write_seed(dir, "malformed", index++, f.bytes)) return false;
    }
  }
  if (!write_seed(dir, "valid", 0, probex::test::text(valid))) return false;
  std::printf("%d malformed and 1 valid %s seeds in %s\n", index, what, dir.c_str());
  return true;
}

std::vector<std::vector<uint8_t>> valid_onnx_seeds() {
  using namespace probex::test;
  std::vector<std::vector<uint8_t>> seeds;
  seeds.push_back(one_initializer_onnx("w", {2, 3}, {1, 2, 3, 4, 5, 6}));
  const Pb halves = Pb().u(1, 2).u(2, 10).str(8, "h").len(5, packed_varints({0x3C00, 0xC000}));
  const Pb floats = Pb().u(1, 2).u(2, 1).str(8, "f").len(4, f32_bytes({1, 2}));
  const Pb bf16 = onnx_tensor("b", {2}, 16, {0x80, 0x3F, 0x40, 0xC0});
  const Pb w = onnx_tensor("W", {3, 2}, 1, f32_bytes({1, 2, 3, 4, 5, 6}));
  const Pb c = attribute_tensor("value", onnx_tensor("", {2, 2}, 1, f32_bytes({3, 4, 5, 6})));
  const Pb then_graph = onnx_graph({onnx_node("Constant", {}, {"k"}, "", {c}), onnx_node("MatMul", {"x", "W"}, {"y"})},
                                   {});
  seeds.push_back(onnx_model(onnx_graph(
      {onnx_node("If", {"c"}, {"o"}, "if",
                 {attribute_graph("then_branch", then_graph), attribute_graph("else_branch", onnx_graph({}, {}))}),
       onnx_node("Gemm", {"x", "W"}, {"z"}, "", {attribute_int("transB", 0)})},
      {halves, floats, bf16, w})));
  const Pb q = onnx_tensor("q", {2, 3}, 3, {1, 2, 3, 4, 5, 6});
  const Pb q_scale = onnx_tensor("q_scale", {3}, 1, f32_bytes({1, 2, 4}));
  const Pb q_zero = onnx_tensor("q_zero", {3}, 3, {0, 1, 2});
  seeds.push_back(onnx_model(
      onnx_graph({onnx_node("DequantizeLinear", {"q", "q_scale", "q_zero"}, {"q_f"}, "", {attribute_int("axis", 1)}),
                  onnx_node("MatMul", {"x", "q_f"}, {"y"})},
                 {q, q_scale, q_zero})));
  return seeds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3 && argc != 5 && argc != 6 && argc != 7) {
    std::fprintf(stderr, "usage: write_malformed_corpus DIR [GGUF_DIR [SHARD_INDEX_DIR ADAPTER_CONFIG_DIR [TFLITE_DIR "
                         "[ONNX_DIR]]]]\n");
    return 2;
  }
  int index = 0;
  for (const auto& c : probex::test::malformed_safetensors_corpus()) {
    if (!write_seed(argv[1], "malformed", index++, c.bytes)) return 1;
  }
  std::printf("%d malformed safetensors seeds in %s\n", index, argv[1]);
  if (argc >= 3) {
    int malformed = 0, valid = 0;
    for (const auto& c : probex::test::malformed_gguf_corpus()) {
      if (!write_seed(argv[2], "malformed", malformed++, c.bytes)) return 1;
    }
    for (const auto& bytes : valid_gguf_seeds()) {
      if (!write_seed(argv[2], "valid", valid++, bytes)) return 1;
    }
    std::printf("%d malformed and %d valid GGUF seeds in %s\n", malformed, valid, argv[2]);
  }
  if (argc >= 5) {
    using namespace probex::test;
    if (!write_json_seeds(argv[3], malformed_sharded_corpus(), "model.safetensors.index.json", index_json(valid_map()),
                          "shard index"))
      return 1;
    const std::string config = adapter_config(
        ", \"rank_pattern\": {\"layers.0.self_attn.q_proj\": 4}, \"modules_to_save\": [\"score\"]");
    if (!write_json_seeds(argv[4], malformed_peft_corpus(), "adapter_config.json", config, "adapter config")) return 1;
  }
  if (argc >= 6) {
    int malformed = 0, valid = 0;
    for (const auto& c : probex::test::malformed_tflite_corpus()) {
      if (!write_seed(argv[5], "malformed", malformed++, c.bytes)) return 1;
    }
    for (const auto& bytes : valid_tflite_seeds()) {
      if (!write_seed(argv[5], "valid", valid++, bytes)) return 1;
    }
    std::printf("%d malformed and %d valid TFLite seeds in %s\n", malformed, valid, argv[5]);
  }
  if (argc == 7) {
    int malformed = 0, valid = 0;
    for (const auto& c : probex::test::malformed_onnx_corpus()) {
      if (c.bytes.size() > 65536) continue;  // the 10,000-deep nesting: above the fuzzer's max_len
      if (!write_seed(argv[6], "malformed", malformed++, c.bytes)) return 1;
    }
    for (const auto& bytes : valid_onnx_seeds()) {
      if (!write_seed(argv[6], "valid", valid++, bytes)) return 1;
    }
    std::printf("%d malformed and %d valid ONNX seeds in %s\n", malformed, valid, argv[6]);
  }
  return 0;
}
