// Every model format is audited exactly like the layer it holds: the C API's audit of a GGUF file, a sharded
// checkpoint and a PEFT adapter folder gives the logits of probex_audit_matrix on the same X, and the result
// names the format (and the adapter's declared base model).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "converter/io/gguf_writer.h"
#include "converter/io/safetensors_writer.h"
#include "tests/roundtrip/bundle_fixture.h"
#include "tests/test_util.h"

using namespace probex;
using namespace probex::test;

namespace {

const convert::ProbexShape kShape{6, 64, 2, 2, 3, 2};  // X [6, 64]: rows of 64 fit GGUF's Q8_0 blocks

struct Session {
  probex_bundle* bundle = nullptr;
  probex_auditor* auditor = nullptr;
  ~Session() {
    probex_auditor_free(auditor);
    probex_bundle_free(bundle);
  }
};

void open_session(const TempDir& dir, const convert::BundleTree& tree, Session* s) {
  REQUIRE(write_bytes(dir.file("b.probex"), bundle_bytes({&tree})));
  probex_error e{};
  REQUIRE(probex_bundle_open(dir.file("b.probex").c_str(), nullptr, &s->bundle, &e) == PROBEX_OK);
  REQUIRE(probex_auditor_create(s->bundle, nullptr, nullptr, &s->auditor, &e) == PROBEX_OK);
}

// Audits `path` with tree 0 and checks the logits against the audit of `x` itself.
void check_like_matrix(Session& s, const std::string& path, const std::vector<float>& x, const char* format,
                       double epsilon) {
  probex_error e{};
  probex_audit_result from_file, from_matrix;
  probex_audit_result_init(&from_file, sizeof from_file);
  probex_audit_result_init(&from_matrix, sizeof from_matrix);
  REQUIRE_MESSAGE(probex_audit_file(s.auditor, 0, path.c_str(), &from_file, &e) == PROBEX_OK, e.message);
  CHECK(std::string(from_file.model_format) == format);
  const std::vector<float> logits(from_file.logits, from_file.logits + kShape.d_y);
  REQUIRE(probex_audit_matrix(s.auditor, 0, x.data(), 6, 64, &from_matrix, &e) == PROBEX_OK);
  for (size_t k = 0; k < kShape.d_y; ++k) CHECK(logits[k] == doctest::Approx(from_matrix.logits[k]).epsilon(epsilon));
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

}  // namespace

TEST_CASE("a GGUF file is audited like its matrix: F32 exactly, F16 and Q8_0 after their rounding") {
  TempDir dir;
  Session s;
  open_session(dir, bundle_tree(kShape, 11), &s);
  const std::vector<float> x = random_matrix(6 * 64, 12);
  for (const char* type : {"F32", "F16", "Q8_0"}) {
    CAPTURE(type);
    convert::GgufType t{};
    REQUIRE(convert::parse_gguf_type(type, &t));
    convert::GgufWriter w;
    std::string why;
    REQUIRE(w.add_f32("block.weight", t, {6, 64}, x.data(), x.size(), &why));
    const std::string path = dir.file(std::string("m-") + type + ".bin");  // the name says nothing: content decides
    REQUIRE(w.write_file(path, &why));
    // The matrix the file really holds, read back through the interface (exact for F32).
    std::unique_ptr<ModelFile> m;
    REQUIRE(open_model_file(path, &m).ok());
    std::vector<float> stored(x.size());
    REQUIRE(m->read_rows_f32(*m->find("block.weight"), 0, 6, stored.data()).ok());
    if (std::string(type) == "F32") CHECK(stored == x);
    check_like_matrix(s, path, stored, "gguf", 1e-5);
  }
}

TEST_CASE("a sharded checkpoint is audited like its matrix, from its folder and from its index") {
  TempDir dir;
  Session s;
  open_session(dir, bundle_tree(kShape, 21), &s);
  const std::vector<float> x = random_matrix(6 * 64, 22), other = random_matrix(8, 23);
  std::filesystem::create_directories(dir.file("ckpt"));
  std::string why;
  convert::SafetensorsWriter a, b;
  REQUIRE(a.add_f32("embed.weight", Dtype::kF32, {2, 4}, other.data(), &why));
  REQUIRE(a.write_file(dir.file("ckpt/model-00001-of-00002.safetensors"), &why));
  REQUIRE(b.add_f32("block.weight", Dtype::kBF16, {6, 64}, x.data(), &why));
  REQUIRE(b.write_file(dir.file("ckpt/model-00002-of-00002.safetensors"), &why));
  write_text(dir.file("ckpt/model.safetensors.index.json"),
             R"({"metadata": {"total_size": 800}, "weight_map": {"embed.weight": "model-00001-of-00002.safetensors", )"
             R"("block.weight": "model-00002-of-00002.safetensors"}})");
  std::unique_ptr<ModelFile> m;
  REQUIRE(open_model_file(dir.file("ckpt"), &m).ok());
  std::vector<float> stored(x.size());  // BF16: the matrix as stored
  REQUIRE(m->read_rows_f32(*m->find("block.weight"), 0, 6, stored.data()).ok());
  check_like_matrix(s, dir.file("ckpt"), stored, "safetensors-sharded", 1e-5);
  check_like_matrix(s, dir.file("ckpt/model.safetensors.index.json"), stored, "safetensors-sharded", 1e-5);
}

TEST_CASE("a PEFT adapter folder is audited as X = B A, with its declared base model in the result") {
  TempDir dir;
  Session s;
  open_session(dir, lora_bundle_tree(kShape, 31), &s);
  const std::vector<float> up = random_matrix(6 * 2, 32), down = random_matrix(2 * 64, 33);
  std::filesystem::create_directories(dir.file("adapter"));
  std::string why;
  convert::SafetensorsWriter w;
  REQUIRE(w.add_f32("base_model.model.block.weight.lora_A.weight", Dtype::kF32, {2, 64}, down.data(), &why));
  REQUIRE(w.add_f32("base_model.model.block.weight.lora_B.weight", Dtype::kF32, {6, 2}, up.data(), &why));
  REQUIRE(w.write_file(dir.file("adapter/adapter_model.safetensors"), &why));
  write_text(dir.file("adapter/adapter_config.json"),
             R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["block.weight"], )"
             R"("base_model_name_or_path": "org/tree-a-root", "task_type": null})");
  std::vector<float> x(6 * 64, 0.0f);  // X = B A, no alpha/r scaling (docs/method.md)
  for (size_t h = 0; h < 6; ++h)
    for (size_t c = 0; c < 64; ++c)
      for (size_t k = 0; k < 2; ++k) x[h * 64 + c] += up[h * 2 + k] * down[k * 64 + c];
  check_like_matrix(s, dir.file("adapter"), x, "peft-lora", 1e-5);
  probex_audit_result r;
  probex_audit_result_init(&r, sizeof r);
  probex_error e{};
  REQUIRE(probex_audit_file(s.auditor, 0, dir.file("adapter").c_str(), &r, &e) == PROBEX_OK);
  CHECK(std::string(r.declared_base_model) == "org/tree-a-root");
  // The JSON record carries both.
  size_t length = 0;
  char json[8192];
  REQUIRE(probex_audit_json(s.bundle, dir.file("adapter").c_str(), PROBEX_OK, nullptr, &r, json, sizeof json, &length,
                            nullptr) == PROBEX_OK);
  CHECK(std::string(json).find(R"("format":"peft-lora","declared_base_model":"org/tree-a-root")") != std::string::npos);
}

TEST_CASE("probex_model_format names a path's format by content, and other content is PROBEX_NOT_A_MODEL") {
  TempDir dir;
  const std::vector<float> x = random_matrix(64, 41);
  std::string why;
  convert::GgufWriter g;
  REQUIRE(g.add_f32("w", convert::GgufType::kF32, {1, 64}, x.data(), x.size(), &why));
  REQUIRE(g.write_file(dir.file("model.safetensors"), &why));  // a misleading name
  const char* format = nullptr;
  probex_error e{};
  REQUIRE(probex_model_format(dir.file("model.safetensors").c_str(), &format, &e) == PROBEX_OK);
  CHECK(std::string(format) == "gguf");
  REQUIRE(probex_model_format(dir.path().c_str(), &format, &e) == PROBEX_OK);  // a folder with model.safetensors
  CHECK(std::string(format) == "gguf");
  write_text(dir.file("notes.txt"), "release notes\n");
  CHECK(probex_model_format(dir.file("notes.txt").c_str(), &format, &e) == PROBEX_NOT_A_MODEL);
  CHECK(std::string(e.message).find("not a model file probex reads: ") == 0);
  CHECK(probex_model_format(dir.file("missing").c_str(), &format, &e) == PROBEX_IO_ERROR);
  CHECK(probex_model_format(nullptr, &format, &e) == PROBEX_INVALID_ARGUMENT);
}
