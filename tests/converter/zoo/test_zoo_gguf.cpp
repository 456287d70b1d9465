// Zoos whose models are GGUF files: built directly (ZooFormat::kGguf) and exported from a safetensors zoo
// (export_zoo_gguf), on a tiny zoo with real training. The copies must be the same bytes, and every GGUF
// file must hold its safetensors original's tensors (names, PyTorch shapes) and metadata, with values
// within their type's bound.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "converter/zoo/layout.h"
#include "converter/zoo/zoo.h"
#include "runtime/formats/gguf.h"
#include "runtime/formats/model_file.h"
#include "runtime/formats/safetensors.h"
#include "runtime/math/float_formats.h"
#include "tests/test_util.h"

using namespace probex;
using namespace probex::convert;
namespace fs = std::filesystem;

namespace {

// One tree, 4 models (the root, 3 children) of 784-256-32-10: fc1 [256, 784] (rows of 784: neither Q8_0 nor Q4_K blocks),
// fc2 [32, 256] (one Q4_K super-block per row), heads [k, 32] (Q8_0 blocks; Q5_0 for Q4_K) and biases.
ZooConfig gguf_config() {
  ZooConfig c;
  named_zoo_config("small", &c);
  c.name = "tiny-gguf";
  c.architecture = "mlp-784-256-32-10";
  c.trees = 1;
  c.root_epochs = 1;
  c.subset.count = {{Split::kTrain, 1}, {Split::kTest, 1}};
  c.detector.count = {{Split::kTrain, 1}};
  c.child.steps_min = 20;
  c.child.steps_max = 30;
  return c;
}

const FashionMnist& data() {
  static const FashionMnist d = [] {
    FashionMnist loaded;
    const auto st = load_fashion_mnist(kFashionMnistDefaultDir, &loaded);
    REQUIRE_MESSAGE(st.ok(), st.message);
    return loaded;
  }();
  return d;
}

std::map<std::string, std::vector<uint8_t>> all_files(const std::string& dir) {
  std::map<std::string, std::vector<uint8_t>> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).generic_string()] = test::read_bytes(e.path().string());
  }
  return files;
}

// A zoo built once per layout and format and kept for the test run (training dominates the time).
const std::string& built_zoo(ZooLayout layout, ZooFormat format, GgufType type) {
  static test::TempDir dir;
  static std::map<std::string, std::string> built;
  const std::string name = std::string(layout == ZooLayout::kHuggingFace ? "hf" : "probex") + "-" +
                           (format == ZooFormat::kGguf     ? gguf_type_name(type)
                            : format == ZooFormat::kTflite ? "tflite-int8"
                            : format == ZooFormat::kOnnx   ? "onnx"
                                                           : "safetensors");
  auto it = built.find(name);
  if (it == built.end()) {
    ZooBuildOptions options;
    options.progress = false;
    options.layout = layout;
    options.format = format;
    options.gguf_type = type;
    options.tflite_type = TfliteWeightType::kInt8;
    options.out_dir = dir.file(name);
    std::vector<ZooModel> models;
    std::string error;
    REQUIRE_MESSAGE(build_zoo(gguf_config(), data(), options, &models, &error), error);
    it = built.emplace(name, options.out_dir).first;
  }
  return it->second;
}

std::vector<ZooModel> export_to(const std::string& src, const std::string& out, GgufType type) {
  ZooExportOptions options;
  options.out_dir = out;
  options.gguf_type = type;
  options.progress = false;
  std::vector<ZooModel> models;
  std::string error;
  REQUIRE_MESSAGE(export_zoo_gguf(src, options, &models, &error), error);
  return models;
}

std::vector<float> read_all(const SafetensorsFile& f, const TensorInfo& t) {
  std::vector<float> v(static_cast<size_t>(t.element_count));
  REQUIRE(f.read_f32(t, 0, t.element_count, v.data()).ok());
  return v;
}

std::vector<float> read_all(const GgufFile& f, const GgufTensorInfo& t) {
  std::vector<float> v(static_cast<size_t>(t.element_count));
  REQUIRE(f.read_f32(t, 0, t.element_count, v.data()).ok());
  return v;
}

float block_amax(const std::vector<float>& x, size_t at, size_t n) {
  float amax = 0.0f;
  for (size_t i = at; i < at + n; ++i) amax = std::max(amax, std::fabs(x[i]));
  return amax;
}

// Checks every GGUF model of `gguf_dir` against its safetensors original in `st_dir`: the same models
// (tree, split, model), tensors, shapes and metadata; types as llama.cpp's rule gives them; values
// exactly (F32), rounded to f16 (F16) or within the quantized type's bound.
void check_against_originals(const std::string& st_dir, const std::string& gguf_dir, GgufType requested) {
  std::vector<ZooFile> originals, copies;
  std::string error;
  REQUIRE(list_zoo_files(st_dir, &originals, &error));
  REQUIRE(list_zoo_files(gguf_dir, &copies, &error));
  REQUIRE(copies.size() == originals.size());
  REQUIRE(originals.size() == 4);  // the root and 3 children
  std::map<std::string, int> types_seen;
  for (size_t m = 0; m < originals.size(); ++m) {
    CAPTURE(originals[m].path);
    CHECK(copies[m].tree == originals[m].tree);
    CHECK(copies[m].split == originals[m].split);
    CHECK(copies[m].model == originals[m].model);
    CHECK(fs::path(copies[m].path).filename() == "model.gguf");
    SafetensorsFile st;
    GgufFile gg;
    REQUIRE(SafetensorsFile::open(originals[m].path, &st).ok());
    const GgufStatus opened = GgufFile::open(copies[m].path, &gg);
    REQUIRE_MESSAGE(opened.ok(), opened.message);
    CHECK(*gg.metadata_string("general.architecture") == "mlp");
    for (const auto& entry : st.metadata()) {  // not a structured binding: clang refuses capturing one
      const std::string* copy = gg.metadata_string("probex." + entry.first);
      REQUIRE_MESSAGE(copy != nullptr, entry.first);
      CHECK(*copy == entry.second);
    }
    REQUIRE(gg.tensors().size() == st.tensors().size());
    for (const TensorInfo& t : st.tensors()) {
      CAPTURE(t.name);
      const GgufTensorInfo* g = gg.find(t.name);
      REQUIRE(g != nullptr);
      CHECK(g->shape == t.shape);
      const GgufType stored = gguf_storage_type(requested, t.shape);
      CHECK(std::string(g->type_name()) == gguf_type_name(stored));
      ++types_seen[t.name + " " + g->type_name()];
      const std::vector<float> x = read_all(st, t), y = read_all(gg, *g);
      const size_t row = static_cast<size_t>(t.shape.back());
      size_t bad = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        switch (stored) {
          case GgufType::kF32: bad += y[i] != x[i]; break;
          case GgufType::kF16: bad += y[i] != f16_to_f32(f32_to_f16(x[i])); break;
          case GgufType::kQ8_0: {
            const size_t b = i / 32 * 32;
            bad += std::fabs(y[i] - x[i]) > block_amax(x, b, 32) / 127.0f * 0.6f;
            break;
          }
          case GgufType::kQ5_0: {  // levels -16..15 of d = amax / 16: a value near -d * 16 is clamped to 15
            const size_t b = i / 32 * 32;
            bad += std::fabs(y[i] - x[i]) > block_amax(x, b, 32) / 16.0f * 1.05f;
            break;
          }
          case GgufType::kQ4_K: {  // within 1/15 of the sub-block's range (see test_gguf_writer.cpp)
            const size_t b = i / 32 * 32;
            float lo = 0.0f, hi = x[b];
            for (size_t j = b; j < b + 32; ++j) {
              lo = std::min(lo, x[j]);
              hi = std::max(hi, x[j]);
            }
            bad += std::fabs(y[i] - x[i]) > (hi - lo) / 15.0f;
            break;
          }
        }
      }
      CHECK(row > 0);
      CHECK(bad == 0);
    }
  }
  std::string seen;
  for (const auto& [what, count] : types_seen) seen += what + " x" + std::to_string(count) + "; ";
  const std::string summary = std::string(gguf_type_name(requested)) + " zoo: " + seen;
  MESSAGE(summary);
}

}  // namespace

TEST_CASE("a zoo built as GGUF and a GGUF export of the same zoo in safetensors are the same bytes") {
  test::TempDir dir;
  for (ZooLayout layout : {ZooLayout::kProbex, ZooLayout::kHuggingFace}) {
    const GgufType type = layout == ZooLayout::kProbex ? GgufType::kQ8_0 : GgufType::kQ4_K;
    const std::string type_name = gguf_type_name(type);
    CAPTURE(type_name);
    const std::string& direct = built_zoo(layout, ZooFormat::kGguf, type);
    const std::string out = dir.file(layout == ZooLayout::kProbex ? "probex" : "hf");
    const std::vector<ZooModel> exported = export_to(built_zoo(layout, ZooFormat::kSafetensors, type), out, type);
    const auto files = all_files(direct);
    CHECK(files == all_files(out));
    CHECK(files.size() == (layout == ZooLayout::kProbex ? 5 : 9));  // 4 models (+ refs/main), the manifest
    CHECK_FALSE(fs::exists(out + ".partial"));
    for (const ZooModel& m : exported) {
      CHECK(files.count(m.path) == 1);
      CHECK(m.path.size() > 5);
      CHECK(m.path.substr(m.path.size() - 5) == ".gguf");
      CHECK(m.get("zoo") == "tiny-gguf");
    }
    // The manifest names the GGUF files, in the order and with the metadata of the original.
    const std::vector<uint8_t>& manifest = files.at("manifest.jsonl");
    const std::string text(manifest.begin(), manifest.end());
    CHECK(text.find("model.safetensors") == std::string::npos);
    CHECK(text.find("/model.gguf\",\"architecture\":\"mlp-784-256-32-10\"") != std::string::npos);
  }
}

TEST_CASE("GGUF copies hold their safetensors originals' tensors, shapes, metadata and values") {
  test::TempDir dir;
  const std::string& st = built_zoo(ZooLayout::kProbex, ZooFormat::kSafetensors, GgufType::kF16);
  for (GgufType type : {GgufType::kF16, GgufType::kQ8_0, GgufType::kQ4_K, GgufType::kF32}) {
    const std::string type_name = gguf_type_name(type);
    CAPTURE(type_name);
    const std::string out = dir.file(gguf_type_name(type));
    export_to(st, out, type);
    check_against_originals(st, out, type);
  }
  // The model's folder names it in the file.
  GgufFile f;
  REQUIRE(GgufFile::open(dir.file("Q4_K/mlp-a/root/model.gguf"), &f).ok());
  CHECK(*f.metadata_string("general.name") == "mlp-a/root");
  REQUIRE(f.metadata_value("general.quantization_version") != nullptr);
  REQUIRE(GgufFile::open(dir.file("F16/mlp-a/root/model.gguf"), &f).ok());
  CHECK(f.metadata_value("general.quantization_version") == nullptr);
}

TEST_CASE("export: other files are copied (beside a snapshot, into the new one); what it refuses") {
  test::TempDir dir;
  std::string error;
  std::vector<ZooModel> models;
  // A Hugging Face layout zoo with a config.json beside each model file and a README at the top.
  const std::string src = dir.file("src");
  fs::copy(built_zoo(ZooLayout::kHuggingFace, ZooFormat::kSafetensors, GgufType::kQ4_K), src,
           fs::copy_options::recursive);
  std::vector<ZooFile> files;
  REQUIRE(list_zoo_files(src, &files, &error));
  for (const ZooFile& f : files)
    REQUIRE(test::write_bytes((fs::path(f.path).parent_path() / "config.json").string(), {'{', '}'}));
  REQUIRE(test::write_bytes(dir.file("src/README.md"), {'z', 'o', 'o'}));
  const std::vector<ZooModel> exported = export_to(src, dir.file("out"), GgufType::kF16);
  REQUIRE(exported.size() == files.size());
  for (const ZooModel& m : exported) {
    CHECK(test::read_bytes(dir.file("out/" + fs::path(m.path).parent_path().generic_string() + "/config.json")) ==
          std::vector<uint8_t>{'{', '}'});
  }
  CHECK(test::read_bytes(dir.file("out/README.md")) == std::vector<uint8_t>{'z', 'o', 'o'});
  std::vector<ZooFile> copies;
  REQUIRE(list_zoo_files(dir.file("out"), &copies, &error));
  CHECK(copies.size() == files.size());
  size_t config_files = 0;
  for (const auto& [path, bytes] : all_files(dir.file("out")))
    config_files += path.find("config.json") != std::string::npos;
  CHECK(config_files == files.size());  // none left in the old snapshot folders

  ZooExportOptions options;
  options.progress = false;
  options.out_dir = dir.file("out");
  CHECK_FALSE(export_zoo_gguf(src, options, &models, &error));
  CHECK(error == dir.file("out") + ": already exists (pass --force to replace it)");
  options.overwrite = true;
  CHECK(export_zoo_gguf(src, options, &models, &error));
  options.out_dir = dir.file("src/copy");
  CHECK_FALSE(export_zoo_gguf(src, options, &models, &error));
  CHECK(error.find("the copy must be outside the zoo") != std::string::npos);
  options.out_dir = dir.file("again");
  CHECK_FALSE(export_zoo_gguf(dir.file("out"), options, &models, &error));
  CHECK(error.find("not a safetensors model") != std::string::npos);
  CHECK_FALSE(export_zoo_gguf(dir.file("nowhere"), options, &models, &error));
  CHECK(error == dir.file("nowhere") + ": not a folder");
}

TEST_CASE("TFLite and ONNX zoos: built directly and exported, the same bytes; tensors and metadata as the original") {
  test::TempDir dir;
  const std::string& st = built_zoo(ZooLayout::kProbex, ZooFormat::kSafetensors, GgufType::kF16);
  for (ZooFormat format : {ZooFormat::kTflite, ZooFormat::kOnnx}) {
    const std::string ext = format == ZooFormat::kTflite ? ".tflite" : ".onnx";
    CAPTURE(ext);
    ZooExportOptions options;
    options.out_dir = dir.file(ext.substr(1));
    options.format = format;
    options.tflite_type = TfliteWeightType::kInt8;
    options.progress = false;
    std::vector<ZooModel> exported;
    std::string error;
    REQUIRE_MESSAGE(export_zoo(st, options, &exported, &error), error);
    CHECK(all_files(built_zoo(ZooLayout::kProbex, format, GgufType::kF16)) == all_files(options.out_dir));
    std::vector<ZooFile> files;
    REQUIRE(list_zoo_files(options.out_dir, &files, &error));
    REQUIRE(files.size() == 4);
    for (const ZooFile& f : files) {
      CAPTURE(f.path);
      CHECK(f.path.substr(f.path.size() - ext.size()) == ext);
      SafetensorsFile original;
      const std::string rel = fs::relative(f.path, options.out_dir).generic_string();
      REQUIRE(
          SafetensorsFile::open(st + "/" + rel.substr(0, rel.size() - ext.size()) + ".safetensors", &original).ok());
      std::unique_ptr<ModelFile> copy;
      const ModelStatus open = open_model_file(f.path, &copy);
      REQUIRE_MESSAGE(open.ok(), open.message);
      for (const auto& [k, v] : original.metadata()) {
        CAPTURE(k);
        REQUIRE(copy->metadata_string(k) != nullptr);
        CHECK(*copy->metadata_string(k) == v);
      }
      for (const TensorInfo& t : original.tensors()) {
        CAPTURE(t.name);
        const ModelTensor* c = copy->find(t.name);
        REQUIRE(c != nullptr);
        CHECK(c->shape == t.shape);
        const std::vector<float> want = read_all(original, t);
        std::vector<float> got(static_cast<size_t>(c->element_count));
        REQUIRE(copy->read_f32(*c, 0, c->element_count, got.data()).ok());
        const bool int8 = format == ZooFormat::kTflite && t.shape.size() == 2;
        CHECK(c->dtype == (format == ZooFormat::kOnnx ? "FLOAT" : int8 ? "INT8" : "FLOAT32"));
        if (!int8) {
          CHECK(got == want);
          continue;
        }
        const size_t cols = static_cast<size_t>(t.shape[1]);
        for (size_t r = 0; r < static_cast<size_t>(t.shape[0]); ++r) {
          float range = 0.0f;
          for (size_t j = 0; j < cols; ++j) range = std::max(range, std::fabs(want[r * cols + j]));
          for (size_t j = 0; j < cols; ++j)
            CHECK(std::fabs(got[r * cols + j] - want[r * cols + j]) <= range / 254.0f * 1.0001f);
        }
      }
    }
  }
}
