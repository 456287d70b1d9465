// The C API's contract beyond single audits: structs that carry their size (a caller compiled against an
// older or a newer probex.h), getters that report errors with a status and a message, and the C++
// wrapper (probex.hpp) over all of it.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "converter/io/safetensors_writer.h"
#include "probex/probex.hpp"
#include "runtime/math/layer_sketch.h"
#include "tests/roundtrip/bundle_fixture.h"
#include "tests/test_util.h"

using namespace probex;
using namespace probex::test;

namespace {

const convert::ProbexShape kShape{24, 20, 4, 3, 5, 3};
const SketchSpec kRouter{7, 16, 8};

std::string write_model(const TempDir& dir, const std::string& name, const std::vector<float>& values) {
  convert::SafetensorsWriter w;
  std::string why;
  REQUIRE(w.add_f32("block.weight", Dtype::kF32, {24, 20}, values.data(), &why));
  const std::string path = dir.file(name);
  REQUIRE(w.write_file(path, &why));
  return path;
}

// Two routed trees, the first with a zero-shot expert, written to dir/b.probex; a model near tree-a's root.
struct Fixture {
  TempDir dir;
  std::vector<float> root_a = random_matrix(24 * 20, 11);
  std::vector<uint8_t> bytes;
  std::string bundle, model;
  Fixture() {
    convert::BundleTree a = zero_shot_tree(kShape, 13), b = bundle_tree(kShape, 14, "f32", "tree-b");
    a.name = "tree-a";
    const std::vector<float> root_b = random_matrix(24 * 20, 12);
    a.root_sketch = sketch_layer(kRouter, root_a.data(), 24, 20);
    b.root_sketch = sketch_layer(kRouter, root_b.data(), 24, 20);
    a.accept_distance = b.accept_distance = 0.8f;
    std::string error;
    REQUIRE_MESSAGE(convert::build_bundle({&a, &b}, "t", &bytes, &error, PROBEX_BUNDLE_FORMAT_VERSION, kRouter), error);
    bundle = dir.file("b.probex");
    REQUIRE(write_bytes(bundle, bytes));
    std::vector<float> child = root_a;
    const std::vector<float> noise = random_matrix(child.size(), 15);
    for (size_t i = 0; i < child.size(); ++i) child[i] += 0.1f * noise[i];
    model = write_model(dir, "child.safetensors", child);
  }
};

// A struct as a caller compiled against another header sees it: `size` bytes, then guard bytes.
template <class T>
struct Sized {
  alignas(T) unsigned char bytes[sizeof(T) + 64];
  explicit Sized(unsigned char fill = 0xA5) { std::memset(bytes, fill, sizeof bytes); }
  T* get() { return reinterpret_cast<T*>(bytes); }
  bool untouched_from(size_t offset, unsigned char fill = 0xA5) const {
    for (size_t i = offset; i < sizeof bytes; ++i)
      if (bytes[i] != fill) return false;
    return true;
  }
};

}  // namespace

TEST_CASE("sized structs: an older caller's smaller struct is served within its size, a newer one's tail is zeroed") {
  Fixture f;
  probex_bundle* bundle = nullptr;
  probex_error e{};
  REQUIRE(probex_bundle_open(f.bundle.c_str(), nullptr, &bundle, &e) == PROBEX_OK);
  probex_auditor* auditor = nullptr;
  REQUIRE(probex_auditor_create(bundle, nullptr, nullptr, &auditor, &e) == PROBEX_OK);

  // The result of a caller whose header ended at declared_base_model (the first ABI): nothing beyond it is
  // written. Today that is the whole struct, so the test also pins the first ABI's size.
  const size_t v1 = offsetof(probex_audit_result, declared_base_model) + sizeof(const char*);
  {
    Sized<probex_audit_result> old;
    REQUIRE(probex_audit_result_init(old.get(), v1) == PROBEX_OK);
    CHECK(old.untouched_from(v1));
    REQUIRE(probex_audit_file(auditor, PROBEX_ROUTE, f.model.c_str(), old.get(), &e) == PROBEX_OK);
    CHECK(old.get()->struct_size == v1);
    CHECK(old.get()->tree == 0);
    CHECK(old.get()->label_count == kShape.d_y);
    CHECK(std::string(old.get()->model_format) == "safetensors");
    CHECK(old.untouched_from(v1));
  }
  // A newer caller's larger struct: the fields this library does not know come back zero.
  {
    Sized<probex_audit_result> newer;
    const size_t size = sizeof(probex_audit_result) + 32;
    REQUIRE(probex_audit_result_init(newer.get(), size) == PROBEX_OK);
    std::memset(newer.bytes + sizeof(probex_audit_result), 0x5A, 32);  // stale values in the unknown fields
    REQUIRE(probex_audit_file(auditor, PROBEX_ROUTE, f.model.c_str(), newer.get(), &e) == PROBEX_OK);
    CHECK(newer.get()->struct_size == size);
    CHECK(newer.get()->tree == 0);
    for (size_t i = sizeof(probex_audit_result); i < size; ++i) CHECK(newer.bytes[i] == 0);
    CHECK(newer.untouched_from(size));
  }
  // A result whose size was never set, or is below the first ABI's: refused before any work, named.
  probex_audit_result zero{};
  CHECK(probex_audit_file(auditor, PROBEX_ROUTE, f.model.c_str(), &zero, &e) == PROBEX_INVALID_ARGUMENT);
  CHECK(std::string(e.message).find("result->struct_size is 0: set it with probex_audit_result_init") !=
        std::string::npos);
  zero.struct_size = static_cast<uint32_t>(v1 - 8);
  CHECK(probex_route_file(auditor, f.model.c_str(), &zero, &e) == PROBEX_INVALID_ARGUMENT);
  CHECK(probex_audit_result_init(&zero, v1 - 1) == PROBEX_INVALID_ARGUMENT);
  CHECK(probex_audit_result_init(nullptr, sizeof zero) == PROBEX_INVALID_ARGUMENT);

  // Tree info the same way.
  {
    Sized<probex_tree_info> old;
    const size_t v1_info = offsetof(probex_tree_info, text_source) + sizeof(const char*);
    REQUIRE(probex_tree_info_init(old.get(), v1_info) == PROBEX_OK);
    REQUIRE(probex_bundle_tree_info(bundle, 0, old.get(), &e) == PROBEX_OK);
    CHECK(std::string(old.get()->name) == "tree-a");
    CHECK(old.get()->zero_shot_label_count == 5);
    CHECK(old.untouched_from(v1_info));
  }
  probex_auditor_free(auditor);

  // Options: an older caller's are read within its size, the rest are the defaults; a newer caller's
  // unknown fields must be zero (their defaults), else the library says it does not know them.
  {
    Sized<probex_auditor_options> options(0);
    const size_t size = offsetof(probex_auditor_options, threads);  // a caller that knew only the backend
    probex_auditor_options* o = options.get();
    o->struct_size = static_cast<uint32_t>(size);
    o->backend = PROBEX_BACKEND_REFERENCE;
    std::memset(options.bytes + size, 0xFF, sizeof options.bytes - size);  // garbage beyond its struct
    CHECK(probex_auditor_create(bundle, o, nullptr, &auditor, &e) == PROBEX_INVALID_ARGUMENT);  // below the first ABI
    CHECK(std::string(e.message).find("options->struct_size is 8") != std::string::npos);
  }
  {
    Sized<probex_auditor_options> options(0);
    const size_t size = sizeof(probex_auditor_options) + 16;
    REQUIRE(probex_auditor_options_init(options.get(), size) == PROBEX_OK);
    options.get()->backend = PROBEX_BACKEND_REFERENCE;
    REQUIRE(probex_auditor_create(bundle, options.get(), nullptr, &auditor, &e) == PROBEX_OK);
    probex_auditor_free(auditor);
    options.bytes[sizeof(probex_auditor_options) + 3] = 1;  // a field this library does not know, set
    CHECK(probex_auditor_create(bundle, options.get(), nullptr, &auditor, &e) == PROBEX_UNSUPPORTED);
    CHECK(std::string(e.message).find("does not know") != std::string::npos);
  }
  {
    probex_bundle_options options{};  // struct_size 0: never initialized
    probex_bundle* other = nullptr;
    CHECK(probex_bundle_open(f.bundle.c_str(), &options, &other, &e) == PROBEX_INVALID_ARGUMENT);
    CHECK(std::string(e.message).find("probex_bundle_options_init") != std::string::npos);
  }
  probex_bundle_free(bundle);
}

TEST_CASE("getters report misuse and missing names with their own status and a message") {
  Fixture f;
  probex_bundle* bundle = nullptr;
  probex_error e{};
  REQUIRE(probex_bundle_open(f.bundle.c_str(), nullptr, &bundle, &e) == PROBEX_OK);
  uint32_t tree = 7;
  CHECK(probex_bundle_find_tree(bundle, "tree-b", &tree, &e) == PROBEX_OK);
  CHECK(tree == 1);
  CHECK(e.status == PROBEX_OK);
  CHECK(probex_bundle_find_tree(bundle, "tree-z", &tree, &e) == PROBEX_NOT_FOUND);
  CHECK(std::string(e.message) == "the bundle holds no tree named 'tree-z'");
  CHECK(std::string(probex_status_name(PROBEX_NOT_FOUND)) == "not_found");
  const char* name = nullptr;
  CHECK(probex_bundle_label(bundle, 2, 0, &name, &e) == PROBEX_INVALID_ARGUMENT);
  CHECK(std::string(e.message) == "probex_bundle_label: tree 2 out of range (the bundle holds 2)");
  CHECK(probex_bundle_label(bundle, 0, static_cast<uint32_t>(kShape.d_y), &name, &e) == PROBEX_INVALID_ARGUMENT);
  CHECK(probex_bundle_zero_shot_label(bundle, 1, 0, &name, nullptr, &e) == PROBEX_INVALID_ARGUMENT);
  CHECK(std::string(e.message).find("tree tree-b has 0 zero-shot labels") != std::string::npos);
  bool flag = false;
  CHECK(probex_bundle_has_router(nullptr, &flag, &e) == PROBEX_INVALID_ARGUMENT);
  CHECK(probex_bundle_has_router(bundle, &flag, &e) == PROBEX_OK);
  CHECK(flag);
  uint32_t count = 0;
  CHECK(probex_bundle_tree_count(bundle, nullptr, &e) == PROBEX_INVALID_ARGUMENT);
  CHECK(probex_bundle_tree_count(bundle, &count, &e) == PROBEX_OK);
  CHECK(count == 2);
  // Matrices are never routed: a tree must be named.
  probex_auditor* auditor = nullptr;
  REQUIRE(probex_auditor_create(bundle, nullptr, nullptr, &auditor, &e) == PROBEX_OK);
  probex_audit_result r;
  REQUIRE(probex_audit_result_init(&r, sizeof r) == PROBEX_OK);
  CHECK(probex_audit_matrix(auditor, PROBEX_ROUTE, f.root_a.data(), 24, 20, &r, &e) == PROBEX_INVALID_ARGUMENT);
  CHECK(probex_audit_matrix(auditor, 0, f.root_a.data(), 24, 20, &r, &e) == PROBEX_OK);
  CHECK_FALSE(r.routed);
  CHECK(r.model_format == nullptr);
  probex_auditor_free(auditor);
  probex_bundle_free(bundle);
}

TEST_CASE("probex_bundle_open_buffer takes the options of probex_bundle_open: size limit and trusted keys") {
  Fixture f;
  AlignedBytes copy(f.bytes);
  probex_bundle_options options;
  REQUIRE(probex_bundle_options_init(&options, sizeof options) == PROBEX_OK);
  options.max_bundle_bytes = 100;
  probex_bundle* bundle = nullptr;
  probex_error e{};
  CHECK(probex_bundle_open_buffer(copy.data(), copy.size(), &options, &bundle, &e) == PROBEX_LIMIT_EXCEEDED);
  CHECK(std::string(e.message).find("above the limit of 100 bytes") != std::string::npos);
  const uint8_t key[32] = {1};
  REQUIRE(probex_bundle_options_init(&options, sizeof options) == PROBEX_OK);
  options.trusted_keys = key;
  options.trusted_key_count = 1;
  CHECK(probex_bundle_open_buffer(copy.data(), copy.size(), &options, &bundle, &e) == PROBEX_BUNDLE_SIGNATURE);
  CHECK(bundle == nullptr);
  REQUIRE(probex_bundle_open_buffer(copy.data(), copy.size(), nullptr, &bundle, &e) == PROBEX_OK);
  probex_bundle_free(bundle);
}

TEST_CASE("the C++ wrapper covers the C API with RAII handles and checked errors") {
  Fixture f;
  namespace pa = probex::api;
  CHECK(pa::version() == PROBEX_VERSION_STRING);
  std::string format;
  CHECK_FALSE(pa::model_format(f.model, &format));
  CHECK(format == "safetensors");
  pa::Error e = pa::model_format(f.bundle, &format);
  CHECK(e.status == PROBEX_NOT_A_MODEL);
  CHECK(std::string(e.name()) == "not_a_model");

  pa::Bundle bundle;
  probex_bundle_options small = pa::bundle_options();
  small.max_bundle_bytes = 100;
  e = pa::Bundle::open(f.bundle, &bundle, &small);
  CHECK(e.status == PROBEX_LIMIT_EXCEEDED);
  CHECK(e.message.find("above the limit of 100 bytes") != std::string::npos);
  CHECK_FALSE(bundle);
  REQUIRE_FALSE(pa::Bundle::open(f.bundle, &bundle));
  REQUIRE(bundle);
  AlignedBytes copy(f.bytes);
  pa::Bundle from_buffer;
  CHECK_FALSE(pa::Bundle::open_buffer(copy.data(), copy.size(), &from_buffer));

  uint32_t count = 0, tree = 0;
  CHECK_FALSE(bundle.tree_count(&count));
  CHECK(count == 2);
  probex_tree_info info;
  CHECK_FALSE(bundle.tree_info(1, &info));
  CHECK(std::string(info.name) == "tree-b");
  CHECK(bundle.tree_info(2, &info).status == PROBEX_INVALID_ARGUMENT);
  CHECK(bundle.find_tree("nope", &tree).status == PROBEX_NOT_FOUND);
  CHECK_FALSE(bundle.find_tree("tree-a", &tree));
  std::string label;
  CHECK_FALSE(bundle.label(0, 1, &label));
  CHECK(label == "class 1");
  bool trained = true, has_router = false;
  CHECK_FALSE(bundle.zero_shot_label(0, 3, &label, &trained));
  CHECK(label == "boot");
  CHECK_FALSE(trained);
  CHECK_FALSE(bundle.has_router(&has_router));
  CHECK(has_router);
  pa::Signer signer;
  CHECK_FALSE(bundle.signer(&signer));
  CHECK_FALSE(signer.is_signed);
  CHECK(signer.digest != std::array<uint8_t, 32>{});

  pa::Auditor auditor;
  probex_auditor_options options = pa::auditor_options();
  options.backend = PROBEX_BACKEND_REFERENCE;
  REQUIRE_FALSE(pa::Auditor::create(bundle, &auditor, &options));
  double worst = -1;
  CHECK_FALSE(auditor.self_test(&worst));
  CHECK(worst >= 0);
  probex_audit_result r;
  REQUIRE_FALSE(auditor.audit_file(f.model, &r));
  CHECK(r.tree == 0);
  CHECK(r.routed);
  CHECK(r.zero_shot_count == 5);
  const float first = r.probabilities[0];
  CHECK_FALSE(auditor.route_file(f.model, &r));
  CHECK(r.tree == 0);
  CHECK(r.label_count == 0);
  CHECK_FALSE(auditor.audit_file(f.model, &r, 1));  // a named tree: no routing
  CHECK(r.tree == 1);
  CHECK_FALSE(r.routed);
  CHECK_FALSE(auditor.audit_matrix(0, f.root_a.data(), 24, 20, &r));
  e = auditor.audit_matrix(0, f.root_a.data(), 20, 24, &r);
  CHECK(e.status == PROBEX_LAYER_SHAPE);

  // The JSON record of an audit, and of a failed one.
  pa::Error audit = auditor.audit_file(f.model, &r);
  REQUIRE_FALSE(audit);
  CHECK(r.probabilities[0] == first);
  std::string record;
  REQUIRE_FALSE(bundle.audit_json(f.model, audit, &r, &record));
  CHECK(record.find("\"status\":\"ok\",\"tree\":\"tree-a\"") != std::string::npos);
  CHECK(record.find("\"label\":\"boot\"") != std::string::npos);
  audit = auditor.audit_file(f.dir.file("absent.safetensors"), &r);
  CHECK(audit.status == PROBEX_IO_ERROR);
  REQUIRE_FALSE(bundle.audit_json("absent.safetensors", audit, nullptr, &record));
  CHECK(record.find("\"status\":\"io_error\"") != std::string::npos);
  CHECK(record.find(audit.message.substr(0, 20)) != std::string::npos);

  // A handle that failed to open reports misuse, it does not crash.
  pa::Bundle empty;
  CHECK(empty.tree_count(&count).status == PROBEX_INVALID_ARGUMENT);
  pa::Auditor none;
  CHECK(none.audit_file(f.model, &r).status == PROBEX_INVALID_ARGUMENT);
}

TEST_CASE("a routed audit of a single-tree site runs the experts in the router's pass, with the named tree's results") {
  TempDir dir;
  const std::vector<float> root = random_matrix(24 * 20, 21);
  convert::BundleTree a = zero_shot_tree(kShape, 23);
  a.name = "tree-a";
  a.root_sketch = sketch_layer(kRouter, root.data(), 24, 20);
  a.accept_distance = 0.8f;
  std::vector<uint8_t> bytes;
  std::string error;
  REQUIRE_MESSAGE(convert::build_bundle({&a}, "t", &bytes, &error, PROBEX_BUNDLE_FORMAT_VERSION, kRouter), error);
  REQUIRE(write_bytes(dir.file("one.probex"), bytes));
  std::vector<float> child = root;
  const std::vector<float> noise = random_matrix(child.size(), 25);
  for (size_t i = 0; i < child.size(); ++i) child[i] += 0.1f * noise[i];
  const std::string model = write_model(dir, "child.safetensors", child);
  const std::string foreign = write_model(dir, "foreign.safetensors", random_matrix(24 * 20, 26));

  namespace pa = probex::api;
  pa::Bundle bundle;
  REQUIRE_FALSE(pa::Bundle::open(dir.file("one.probex"), &bundle));
  pa::Auditor auditor;
  REQUIRE_FALSE(pa::Auditor::create(bundle, &auditor));
  probex_audit_result routed, named;
  REQUIRE_FALSE(auditor.audit_file(model, &routed));
  CHECK(routed.routed);
  REQUIRE(routed.tree == 0);
  const std::vector<float> routed_logits(routed.logits, routed.logits + routed.label_count);
  const std::vector<float> routed_scores(routed.zero_shot_scores, routed.zero_shot_scores + routed.zero_shot_count);
  const std::vector<float> routed_embedding(routed.embedding, routed.embedding + routed.embedding_size);
  CHECK(routed.seconds_open > 0.0);
  REQUIRE_FALSE(auditor.audit_file(model, &named, 0));
  CHECK_FALSE(named.routed);
  CHECK(std::vector<float>(named.logits, named.logits + named.label_count) == routed_logits);
  CHECK(std::vector<float>(named.embedding, named.embedding + named.embedding_size) == routed_embedding);
  CHECK(std::vector<float>(named.zero_shot_scores, named.zero_shot_scores + named.zero_shot_count) == routed_scores);
  CHECK(routed_scores.size() == 5);
  // The router refuses a model far from the root: the experts' work on speculation is dropped.
  REQUIRE_FALSE(auditor.audit_file(foreign, &routed));
  CHECK(routed.tree == PROBEX_NO_TREE);
  CHECK(routed.label_count == 0);
  CHECK(routed.zero_shot_count == 0);
  CHECK(std::string(routed.unknown_reason).find("beyond its acceptance distance") != std::string::npos);
}
