// File-system faults and configured limits: files that change after they were opened, unreadable paths,
// and the limits on bundle and model files. The audit agent must answer each with a clean error (or, for a
// bundle, keep using the bytes it verified), and go on working.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "converter/io/safetensors_writer.h"
#include "runtime/formats/probed_layer.h"
#include "runtime/formats/safetensors.h"
#include "tests/roundtrip/bundle_fixture.h"
#include "tests/test_util.h"

using namespace probex;
using namespace probex::test;

namespace {

const convert::ProbexShape kShape{6, 5, 2, 2, 3, 2};

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * (static_cast<float>(i % 97) - 48.0f);
  return v;
}

// block.weight [6, 5] f32 (what kShape's expert probes), optionally padded by a large second tensor.
std::string write_model(const TempDir& dir, const std::string& name, size_t padding_floats = 0) {
  convert::SafetensorsWriter w;
  std::string why;
  const std::vector<float> x = ramp(30, 0.01f);
  REQUIRE(w.add_f32("block.weight", Dtype::kF32, {6, 5}, x.data(), &why));
  if (padding_floats) {
    const std::vector<float> pad = ramp(padding_floats, 0.001f);
    REQUIRE(w.add_f32("zz.padding", Dtype::kF32, {padding_floats}, pad.data(), &why));
  }
  const std::string path = dir.file(name);
  REQUIRE(w.write_file(path, &why));
  return path;
}

struct Opened {
  probex_bundle* bundle = nullptr;
  probex_auditor* auditor = nullptr;
  ~Opened() {
    probex_auditor_free(auditor);
    probex_bundle_free(bundle);
  }
};

}  // namespace

TEST_CASE("every float dtype reads the same from a file as from a buffer, across the conversion chunks") {
  // F64 converts through a 256-element stack buffer, the others widen in place in shrinking chunks:
  // 600 elements cross both.
  TempDir dir;
  convert::SafetensorsWriter w;
  std::string why;
  const std::vector<float> values = ramp(600, 0.37f);
  const Dtype dtypes[] = {Dtype::kF64, Dtype::kF32, Dtype::kF16, Dtype::kBF16, Dtype::kF8_E4M3, Dtype::kF8_E5M2};
  for (Dtype d : dtypes) {
    const std::string name = std::string("t_") + dtype_name(d);
    if (dtype_size(d) == 1) {  // the writer stores no F8: raw codes, all finite in both F8 formats
      std::vector<uint8_t> codes(600);
      for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>(i % 120);
      REQUIRE(w.add_raw(name, d, {20, 30}, codes, &why));
    } else {
      REQUIRE(w.add_f32(name, d, {20, 30}, values.data(), &why));
    }
  }
  REQUIRE(w.write_file(dir.file("all.safetensors"), &why));
  const std::vector<uint8_t> bytes = read_bytes(dir.file("all.safetensors"));
  SafetensorsFile from_file, from_buffer;
  REQUIRE(SafetensorsFile::open(dir.file("all.safetensors"), &from_file).ok());
  REQUIRE(SafetensorsFile::from_buffer("all", bytes.data(), bytes.size(), &from_buffer).ok());
  for (Dtype d : dtypes) {
    CAPTURE(dtype_name(d));
    const TensorInfo* t = from_file.find(std::string("t_") + dtype_name(d));
    REQUIRE(t != nullptr);
    std::vector<float> a(600, -1.0f), b(600, -2.0f), rows(5 * 30, -3.0f);
    REQUIRE(from_file.read_f32(*t, 0, 600, a.data()).ok());
    REQUIRE(from_buffer.read_f32(*from_buffer.find(t->name), 0, 600, b.data()).ok());
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    REQUIRE(from_file.read_rows_f32(*t, 7, 5, rows.data()).ok());  // an unaligned range inside the tensor
    CHECK(std::memcmp(rows.data(), a.data() + 7 * 30, rows.size() * sizeof(float)) == 0);
    if (d == Dtype::kF64 || d == Dtype::kF32) CHECK(a == values);  // exact for the wide types
    // Element by element (one element takes no chunked path) gives the same floats as the whole tensor.
    for (size_t i = 0; i < a.size(); ++i) {
      float one = 0.0f;
      REQUIRE(from_file.read_f32(*t, i, 1, &one).ok());
      if (std::memcmp(&one, &a[i], sizeof one) != 0) FAIL_CHECK("element " << i << ": " << one << " vs " << a[i]);
    }
    for (size_t i = 0; i < a.size(); ++i) CHECK(std::isfinite(a[i]));
  }
}

TEST_CASE("a model file that shrinks after opening is an I/O error when read, not a crash") {
  TempDir dir;
  const std::string path = write_model(dir, "m.safetensors", 4096);
  SafetensorsFile file;
  REQUIRE(SafetensorsFile::open(path, &file).ok());
  std::unique_ptr<ModelFile> model;  // the same file through the model-file interface
  REQUIRE(open_model_file(path, &model).ok());
  const TensorInfo* pad = file.find("zz.padding");
  REQUIRE(pad != nullptr);
  // Someone truncates the file while the audit holds it open (a mapped file would raise SIGBUS here).
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 8000);
  std::vector<float> out(4096);
  const SafetensorsStatus st = file.read_f32(*pad, 0, 4096, out.data());
  CHECK(st.code == SafetensorsError::kIo);
  CHECK(st.message.find(path + ": changed while being read") == 0);
  REQUIRE(file.read_f32(*pad, 0, 16, out.data()).ok());  // bytes still there are still read
  ProbedLayer layer;
  REQUIRE(find_probed_layer(*model, "block.weight", &layer).ok());
  const ModelStatus model_st = model->read_f32(*model->find("zz.padding"), 0, 4096, out.data());
  CHECK(model_st.code == ModelError::kIo);
  CHECK(model_st.detail == "io");
  CHECK(model_st.message.find(path + ": changed while being read") == 0);
}

TEST_CASE("an audit of a truncated model names it, and the next audit works") {
  TempDir dir;
  convert::BundleTree tree = bundle_tree(kShape, 3);
  REQUIRE(write_bytes(dir.file("b.probex"), bundle_bytes({&tree})));
  Opened o;
  probex_error error{};
  REQUIRE(probex_bundle_open(dir.file("b.probex").c_str(), nullptr, &o.bundle, &error) == PROBEX_OK);
  REQUIRE(probex_auditor_create(o.bundle, nullptr, nullptr, &o.auditor, &error) == PROBEX_OK);
  const std::string good = write_model(dir, "good.safetensors");
  const std::string cut = write_model(dir, "cut.safetensors");
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) - 4);
  probex_audit_result r;
  probex_audit_result_init(&r, sizeof r);
  CHECK(probex_audit_file(o.auditor, 0, cut.c_str(), &r, &error) == PROBEX_MODEL_INVALID);
  CHECK(std::string(error.message).find("cut.safetensors") != std::string::npos);
  CHECK(probex_audit_file(o.auditor, 0, good.c_str(), &r, &error) == PROBEX_OK);
}

TEST_CASE("a bundle file changed or removed after opening does not change what the runtime runs") {
  TempDir dir;
  convert::BundleTree tree = bundle_tree(kShape, 5);
  const std::string path = dir.file("b.probex");
  REQUIRE(write_bytes(path, bundle_bytes({&tree})));
  const std::string model = write_model(dir, "m.safetensors");
  Opened o;
  probex_error error{};
  REQUIRE(probex_bundle_open(path.c_str(), nullptr, &o.bundle, &error) == PROBEX_OK);
  REQUIRE(probex_auditor_create(o.bundle, nullptr, nullptr, &o.auditor, &error) == PROBEX_OK);
  probex_audit_result before;
  probex_audit_result_init(&before, sizeof before);
  REQUIRE(probex_audit_file(o.auditor, 0, model.c_str(), &before, &error) == PROBEX_OK);
  const std::vector<float> logits(before.logits, before.logits + before.label_count);

  // Overwrite every byte, then truncate to nothing, then remove: what was verified is what keeps running.
  REQUIRE(write_bytes(path, std::vector<uint8_t>(std::filesystem::file_size(path), 0xA5)));
  std::filesystem::resize_file(path, 0);
  std::filesystem::remove(path);
  probex_audit_result after;
  probex_audit_result_init(&after, sizeof after);
  REQUIRE(probex_audit_file(o.auditor, 0, model.c_str(), &after, &error) == PROBEX_OK);
  CHECK(std::vector<float>(after.logits, after.logits + after.label_count) == logits);
  CHECK(probex_auditor_self_test(o.auditor, nullptr, &error) == PROBEX_OK);
  const char* label = nullptr;
  REQUIRE(probex_bundle_label(o.bundle, 0, 1, &label, nullptr) == PROBEX_OK);
  CHECK(std::string(label) == "class 1");
}

TEST_CASE("unreadable paths are I/O errors naming the path") {
  TempDir dir;
  probex_bundle* bundle = nullptr;
  probex_error error{};
  CHECK(probex_bundle_open(dir.path().c_str(), nullptr, &bundle, &error) == PROBEX_IO_ERROR);
  CHECK(std::string(error.message) == dir.path() + ": not a regular file");
  CHECK(probex_bundle_open(dir.file("absent.probex").c_str(), nullptr, &bundle, &error) == PROBEX_IO_ERROR);
  CHECK(std::string(error.message) == dir.file("absent.probex") + ": cannot open: No such file or directory");
  if (geteuid() != 0) {  // root reads files whatever their mode
    convert::BundleTree tree = bundle_tree(kShape, 3);
    const std::string locked = dir.file("locked.probex");
    REQUIRE(write_bytes(locked, bundle_bytes({&tree})));
    std::filesystem::permissions(locked, std::filesystem::perms::none);
    CHECK(probex_bundle_open(locked.c_str(), nullptr, &bundle, &error) == PROBEX_IO_ERROR);
    CHECK(std::string(error.message).find("locked.probex: cannot open: Permission denied") == 0);
    SafetensorsFile file;
    const std::string model = write_model(dir, "locked.safetensors");
    std::filesystem::permissions(model, std::filesystem::perms::none);
    CHECK(SafetensorsFile::open(model, &file).code == SafetensorsError::kIo);
  }
  CHECK(bundle == nullptr);
}

TEST_CASE("the bundle size limit is enforced before reading, and configurable") {
  TempDir dir;
  convert::BundleTree tree = bundle_tree(kShape, 3);
  const std::vector<uint8_t> bytes = bundle_bytes({&tree});
  const std::string path = dir.file("b.probex");
  REQUIRE(write_bytes(path, bytes));
  probex_bundle_options options;
  probex_bundle_options_init(&options, sizeof options);
  CHECK(options.max_bundle_bytes == uint64_t{256} << 20);
  options.max_bundle_bytes = bytes.size() - 1;
  probex_bundle* bundle = nullptr;
  probex_error error{};
  CHECK(probex_bundle_open(path.c_str(), &options, &bundle, &error) == PROBEX_LIMIT_EXCEEDED);
  CHECK(std::string(error.message) == path + ": " + std::to_string(bytes.size()) + " bytes, above the limit of " +
                                          std::to_string(bytes.size() - 1) + " bytes");
  CHECK(std::string(probex_status_name(error.status)) == "limit_exceeded");
  options.max_bundle_bytes = bytes.size();
  REQUIRE(probex_bundle_open(path.c_str(), &options, &bundle, &error) == PROBEX_OK);
  probex_bundle_free(bundle);
  options.max_bundle_bytes = 0;  // 0: the default
  REQUIRE(probex_bundle_open(path.c_str(), &options, &bundle, &error) == PROBEX_OK);
  probex_bundle_free(bundle);
}

TEST_CASE("model-file limits: size, header, tensors, dimensions and LoRA rank, each configurable") {
  TempDir dir;
  convert::BundleTree tree = bundle_tree(kShape, 3);
  REQUIRE(write_bytes(dir.file("b.probex"), bundle_bytes({&tree})));
  const std::string model = write_model(dir, "m.safetensors", 1000);
  const uint64_t model_size = std::filesystem::file_size(model);
  Opened o;
  probex_error error{};
  REQUIRE(probex_bundle_open(dir.file("b.probex").c_str(), nullptr, &o.bundle, &error) == PROBEX_OK);

  const auto audit_with = [&](const std::function<void(probex_auditor_options*)>& set) {
    probex_auditor_options options;
    probex_auditor_options_init(&options, sizeof options);
    set(&options);
    probex_auditor* auditor = nullptr;
    REQUIRE(probex_auditor_create(o.bundle, &options, nullptr, &auditor, &error) == PROBEX_OK);
    probex_audit_result r;
    probex_audit_result_init(&r, sizeof r);
    const probex_status s = probex_audit_file(auditor, 0, model.c_str(), &r, &error);
    probex_auditor_free(auditor);
    return s;
  };
  CHECK(audit_with([](probex_auditor_options*) {}) == PROBEX_OK);
  CHECK(audit_with([&](probex_auditor_options* op) { op->max_model_bytes = model_size - 1; }) == PROBEX_LIMIT_EXCEEDED);
  CHECK(std::string(error.message)
            .find(model + ": file has " + std::to_string(model_size) + " bytes, above the configured limit") == 0);
  CHECK(audit_with([&](probex_auditor_options* op) { op->max_model_bytes = model_size; }) == PROBEX_OK);
  CHECK(audit_with([](probex_auditor_options* op) { op->max_header_bytes = 16; }) == PROBEX_LIMIT_EXCEEDED);
  CHECK(std::string(error.message).find("exceeds the limit of 16 bytes") != std::string::npos);
  CHECK(audit_with([](probex_auditor_options* op) { op->max_tensors = 1; }) == PROBEX_LIMIT_EXCEEDED);
  CHECK(audit_with([](probex_auditor_options* op) { op->max_tensor_dims = 1; }) == PROBEX_LIMIT_EXCEEDED);
  CHECK(std::string(error.message).find("more than 1 dimensions") != std::string::npos);

  // A LoRA tree: rank 3 is read under the default limit and refused under a limit of 2.
  const convert::BundleTree lora_tree = lora_bundle_tree(kShape, 30);
  std::string why;
  REQUIRE(write_bytes(dir.file("lora.probex"), bundle_bytes({&lora_tree})));
  convert::SafetensorsWriter w;
  const std::vector<float> up = ramp(6 * 3, 0.01f), down = ramp(3 * 5, 0.02f);
  REQUIRE(w.add_f32("block.weight.lora_up.weight", Dtype::kF32, {6, 3}, up.data(), &why));
  REQUIRE(w.add_f32("block.weight.lora_down.weight", Dtype::kF32, {3, 5}, down.data(), &why));
  const std::string lora_model = dir.file("lora.safetensors");
  REQUIRE(w.write_file(lora_model, &why));
  Opened l;
  REQUIRE(probex_bundle_open(dir.file("lora.probex").c_str(), nullptr, &l.bundle, &error) == PROBEX_OK);
  for (uint32_t limit : {0u, 3u, 2u}) {
    CAPTURE(limit);
    probex_auditor_options options;
    probex_auditor_options_init(&options, sizeof options);
    options.max_lora_rank = limit;
    probex_auditor* auditor = nullptr;
    REQUIRE(probex_auditor_create(l.bundle, &options, nullptr, &auditor, &error) == PROBEX_OK);
    probex_audit_result r;
    probex_audit_result_init(&r, sizeof r);
    const probex_status s = probex_audit_file(auditor, 0, lora_model.c_str(), &r, &error);
    CHECK(s == (limit == 2 ? PROBEX_LIMIT_EXCEEDED : PROBEX_OK));
    if (limit == 2)
      CHECK(std::string(error.message).find("LoRA rank 3 is above the configured limit of 2") != std::string::npos);
    probex_auditor_free(auditor);
  }
}
