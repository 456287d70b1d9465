// The runtime's promise that an audit allocates nothing once its auditor exists (the TFLM rule: no heap
// in the hot path). This test binary replaces the global allocator with a counting one; nothing else in
// the binary depends on it.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "runtime/executor/auditor.h"
#include "runtime/formats/gguf.h"
#include "runtime/formats/model_file.h"
#include "tests/roundtrip/bundle_fixture.h"
#include "tests/runtime/formats/gguf_writer.h"
#include "tests/runtime/formats/model_folder_corpus.h"
#include "tests/test_util.h"

namespace {
std::atomic<size_t> g_allocations{0};
}

// noinline: GCC would otherwise see malloc/free through the inlined operators and warn of a mismatch.
__attribute__((noinline)) void* operator new(size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept { std::free(p); }

using namespace probex;
using namespace probex::test;

TEST_CASE("an audit from memory allocates nothing, on both backends and both arithmetics, zero-shot included") {
  for (const char* quant : {"f32", "int8"}) {
    convert::BundleTree tree = zero_shot_tree({40, 30, 8, 6, 5, 4}, 21, quant);
    const std::vector<uint8_t> bytes = bundle_bytes({&tree});
    AlignedBytes buffer(bytes);
    Bundle bundle;
    std::string message;
    REQUIRE(Bundle::open_buffer(buffer.data(), buffer.size(), "t", &bundle, &message) == PROBEX_OK);
    std::vector<float> x(40 * 30);
    for (size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * static_cast<float>(i % 17) - 0.08f;
    for (probex_backend backend : {PROBEX_BACKEND_REFERENCE, PROBEX_BACKEND_XNNPACK}) {
      CAPTURE(quant);
      CAPTURE(backend);
      std::unique_ptr<Auditor> auditor;
      const probex_auditor_options options = auditor_options(backend, 1, 16, 0);
      const size_t at_create = g_allocations.load();
      REQUIRE(Auditor::create(bundle, options, nullptr, &auditor, &message) == PROBEX_OK);
      CHECK(g_allocations.load() > at_create);  // the counter sees the runtime's allocations
      probex_audit_result r{};
      const size_t before = g_allocations.load();
      for (int run = 0; run < 3; ++run) REQUIRE(auditor->audit_matrix(0, x.data(), 40, 30, &r, &message) == PROBEX_OK);
      CHECK(g_allocations.load() == before);
      CHECK(r.zero_shot_count == 5);
    }
  }
}

TEST_CASE("XNNPACK with a thread pool gives the single-thread result") {
  convert::BundleTree tree = bundle_tree({70, 50, 16, 8, 6, 5}, 22);
  const std::vector<uint8_t> bytes = bundle_bytes({&tree});
  AlignedBytes buffer(bytes);
  Bundle bundle;
  std::string message;
  REQUIRE(Bundle::open_buffer(buffer.data(), buffer.size(), "t", &bundle, &message) == PROBEX_OK);
  std::vector<float> x(70 * 50);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.003f * static_cast<float>(i % 53) - 0.07f;
  std::vector<float> logits[2];
  for (uint32_t threads : {1u, 2u}) {
    std::unique_ptr<Auditor> auditor;
    const probex_auditor_options options = auditor_options(PROBEX_BACKEND_XNNPACK, threads, 32, 0);
    REQUIRE(Auditor::create(bundle, options, nullptr, &auditor, &message) == PROBEX_OK);
    probex_audit_result r{};
    REQUIRE(auditor->audit_matrix(0, x.data(), 70, 50, &r, &message) == PROBEX_OK);
    logits[threads - 1].assign(r.logits, r.logits + r.label_count);
  }
  for (size_t k = 0; k < logits[0].size(); ++k) CHECK(logits[1][k] == doctest::Approx(logits[0][k]).epsilon(1e-5));
}

TEST_CASE("reading GGUF rows allocates nothing: blocks are dequantized through stack buffers") {
  // Q4_K [2, 512] (two super-blocks a row) and F16 [3, 300] (units of 256 cut by the rows), from disk.
  GgufWriter w(2, 0);
  w.tensor("q", {512, 2}, GgmlType::kQ4_K, 0).tensor("h", {300, 3}, GgmlType::kF16, 4 * 144);
  w.pad().zeros(4 * 144).zeros(3 * 300 * 2);
  TempDir dir;
  const std::string path = dir.file("m.gguf");
  REQUIRE(write_bytes(path, w.bytes));
  GgufFile file;
  REQUIRE(GgufFile::open(path, &file).ok());
  std::vector<float> row(512);
  const size_t before = g_allocations.load();
  for (const GgufTensorInfo& t : file.tensors()) {
    for (uint64_t r = 0; r < t.rows(); ++r) REQUIRE(file.read_rows_f32(t, r, 1, row.data()).ok());
    REQUIRE(file.read_f32(t, 7, 250, row.data()).ok());
  }
  CHECK(g_allocations.load() == before);
}

TEST_CASE("reading a sharded checkpoint's and a PEFT adapter's rows allocates nothing: shards stay open") {
  TempDir dir;
  REQUIRE(write_folder(dir.file("ckpt"), sharded_folder(index_json(valid_map()))));
  REQUIRE(write_folder(dir.file("adapter"), adapter_folder(adapter_config(), adapter_tensors())));
  for (const char* name : {"ckpt", "adapter"}) {
    CAPTURE(name);
    std::unique_ptr<ModelFile> model;
    REQUIRE(open_model_file(dir.file(name), &model).ok());
    std::vector<float> row(16);
    const size_t before = g_allocations.load();
    for (const ModelTensor& t : model->tensors()) {
      for (uint64_t r = 0; r < t.rows(); ++r) REQUIRE(model->read_rows_f32(t, r, 1, row.data()).ok());
      REQUIRE(model->read_f32(t, 1, t.element_count - 1, row.data()).ok());
    }
    CHECK(g_allocations.load() == before);
  }
}
