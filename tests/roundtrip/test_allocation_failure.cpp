// Allocation failures, injected: the N-th heap allocation of the runtime fails, for every N from 1 until a
// whole session (open a bundle, make an auditor, self-test, audit a model file) succeeds, as
// ExecuTorch's allocation-failure stress test does. Each failure must come back through the C API as
// PROBEX_OUT_OF_MEMORY with a message, leak nothing (the sanitizer build checks) and leave the library
// usable: the next session, without injection, succeeds. This binary replaces the global operator new.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "converter/io/safetensors_writer.h"
#include "probex/probex.h"
#include "tests/roundtrip/bundle_fixture.h"
#include "tests/test_util.h"

namespace {
std::atomic<long> g_allocations{0};
std::atomic<long> g_fail_at{0};  // 0: never
}  // namespace

// noinline: GCC would otherwise see malloc/free through the inlined operators and warn of a mismatch.
__attribute__((noinline)) void* operator new(size_t size) {
  const long n = ++g_allocations;
  if (n == g_fail_at.load()) throw std::bad_alloc();
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept { std::free(p); }
// The aligned forms (a bundle file is read into 64-byte aligned memory); the array and nothrow forms of
// the standard library call these.
__attribute__((noinline)) void* operator new(size_t size, std::align_val_t alignment) {
  const long n = ++g_allocations;
  if (n == g_fail_at.load()) throw std::bad_alloc();
  const auto a = static_cast<size_t>(alignment);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a + (size == 0 ? a : 0))) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }

using namespace probex;
using namespace probex::test;

namespace {

// One session through the C API; returns the first status that is not OK (OK if all went through).
probex_status session(const std::string& bundle_path, const std::string& model_path, std::string* message) {
  probex_error error{};
  probex_bundle* bundle = nullptr;
  probex_auditor* auditor = nullptr;
  probex_audit_result result;
  probex_audit_result_init(&result, sizeof result);
  probex_auditor_options options;
  probex_auditor_options_init(&options, sizeof options);
  probex_status s = probex_bundle_open(bundle_path.c_str(), nullptr, &bundle, &error);
  if (s == PROBEX_OK) s = probex_auditor_create(bundle, &options, nullptr, &auditor, &error);
  if (s == PROBEX_OK) s = probex_auditor_self_test(auditor, nullptr, &error);
  if (s == PROBEX_OK) s = probex_audit_file(auditor, 0, model_path.c_str(), &result, &error);
  if (s == PROBEX_OK && result.zero_shot_count != 5) s = PROBEX_BACKEND_ERROR;  // the whole audit ran
  *message = error.message;
  probex_auditor_free(auditor);
  probex_bundle_free(bundle);
  return s;
}

}  // namespace

TEST_CASE("failing the N-th allocation, for every N until a session succeeds: out-of-memory each time, then it works") {
  TempDir dir;
  const std::string bundle_path = dir.file("b.probex"), model_path = dir.file("model.safetensors");
  {
    const convert::BundleTree tree = zero_shot_tree({23, 17, 6, 5, 7, 4}, 60, "int8");
    REQUIRE(write_bytes(bundle_path, bundle_bytes({&tree})));
    const std::vector<float> layer = random_layer(23 * 17, 61);
    convert::SafetensorsWriter w;
    std::string error;
    REQUIRE(w.add_f32("block.weight", Dtype::kF32, {23, 17}, layer.data(), &error));
    REQUIRE(w.write_file(model_path, &error));
  }
  std::string message;
  REQUIRE_MESSAGE(session(bundle_path, model_path, &message) == PROBEX_OK, message);
  long failures = 0;
  for (long n = 1; n < 100000; ++n) {
    g_allocations = 0;
    g_fail_at = n;
    const probex_status s = session(bundle_path, model_path, &message);
    const bool injected = g_allocations.load() >= n;
    g_fail_at = 0;
    if (!injected) {  // the session needed fewer than n allocations: every site has been failed once
      CHECK(s == PROBEX_OK);
      break;
    }
    CAPTURE(n);
    CHECK(s == PROBEX_OUT_OF_MEMORY);
    CHECK_MESSAGE(message.find("out of memory") != std::string::npos, message);
    ++failures;
    REQUIRE(session(bundle_path, model_path, &message) == PROBEX_OK);  // nothing left broken
  }
  MESSAGE("allocation sites failed one at a time: " << failures);
  CHECK(failures > 20);
}
