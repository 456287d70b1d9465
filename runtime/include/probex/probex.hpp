// probex.hpp: the C API (probex.h) for C++ callers. Handles are RAII (movable, not copyable); every call
// returns an Error, which is false on success and carries the status and the library's message on
// failure:
//
//   probex::api::Bundle bundle;
//   if (auto e = probex::api::Bundle::open("experts.probex", &bundle)) return fail(e);
//   probex::api::Auditor auditor;
//   if (auto e = probex::api::Auditor::create(bundle, &auditor)) return fail(e);
//   probex_audit_result r;
//   if (auto e = auditor.audit_file("model.safetensors", &r)) return fail(e);
//
// Header-only over the C ABI, so it works with the shared and the static library alike. No exceptions
// (std::bad_alloc from std::string aside). Structs the library fills are initialized here (their
// struct_size set), so callers never call the *_init functions themselves.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "probex/probex.h"

namespace probex::api {

struct Error {
  probex_status status = PROBEX_OK;
  std::string message;
  explicit operator bool() const { return status != PROBEX_OK; }
  // The status's stable name, e.g. "layer_not_found".
  const char* name() const { return probex_status_name(status); }
};

namespace detail {
inline Error error_of(probex_status status, const probex_error& e) {
  return status == PROBEX_OK ? Error{} : Error{status, e.message};
}
}  // namespace detail

// The library's version at run time (PROBEX_VERSION_STRING is the headers').
inline std::string version() { return probex_version(); }

// Default options, struct_size set: change fields, then pass them to Bundle::open or Auditor::create.
inline probex_bundle_options bundle_options() {
  probex_bundle_options o;
  probex_bundle_options_init(&o, sizeof o);
  return o;
}
inline probex_auditor_options auditor_options() {
  probex_auditor_options o;
  probex_auditor_options_init(&o, sizeof o);
  return o;
}

// The model format of a file or folder by content ("safetensors", "gguf", ...); PROBEX_NOT_A_MODEL if none.
inline Error model_format(const std::string& path, std::string* format) {
  probex_error e{};
  const char* f = nullptr;
  const probex_status s = probex_model_format(path.c_str(), &f, &e);
  if (s == PROBEX_OK) *format = f;
  return detail::error_of(s, e);
}

struct Signer {
  bool is_signed = false;
  std::array<uint8_t, 32> public_key{};  // the signer's Ed25519 key, when is_signed
  std::array<uint8_t, 32> digest{};      // SHA-256 of the bundle's bytes
};

class Bundle {
 public:
  Bundle() = default;
  // options: trusted signers and the size limit (bundle_options() for the defaults, which nullptr means).
  static Error open(const std::string& path, Bundle* out, const probex_bundle_options* options = nullptr) {
    probex_error e{};
    probex_bundle* raw = nullptr;
    const probex_status s = probex_bundle_open(path.c_str(), options, &raw, &e);
    out->handle_.reset(raw);
    return detail::error_of(s, e);
  }
  // `data` (8-byte aligned) must outlive the bundle, unchanged.
  static Error open_buffer(const void* data, size_t size, Bundle* out, const probex_bundle_options* options = nullptr) {
    probex_error e{};
    probex_bundle* raw = nullptr;
    const probex_status s = probex_bundle_open_buffer(data, size, options, &raw, &e);
    out->handle_.reset(raw);
    return detail::error_of(s, e);
  }

  explicit operator bool() const { return handle_ != nullptr; }
  const probex_bundle* get() const { return handle_.get(); }

  Error tree_count(uint32_t* count) const {
    probex_error e{};
    return detail::error_of(probex_bundle_tree_count(get(), count, &e), e);
  }
  Error tree_info(uint32_t tree, probex_tree_info* info) const {
    probex_error e{};
    probex_tree_info_init(info, sizeof *info);
    return detail::error_of(probex_bundle_tree_info(get(), tree, info, &e), e);
  }
  // PROBEX_NOT_FOUND when no tree has that name.
  Error find_tree(const std::string& name, uint32_t* tree) const {
    probex_error e{};
    return detail::error_of(probex_bundle_find_tree(get(), name.c_str(), tree, &e), e);
  }
  Error label(uint32_t tree, uint32_t label, std::string* name) const {
    probex_error e{};
    const char* n = nullptr;
    const probex_status s = probex_bundle_label(get(), tree, label, &n, &e);
    if (s == PROBEX_OK) *name = n;
    return detail::error_of(s, e);
  }
  Error zero_shot_label(uint32_t tree, uint32_t label, std::string* name, bool* trained = nullptr) const {
    probex_error e{};
    const char* n = nullptr;
    const probex_status s = probex_bundle_zero_shot_label(get(), tree, label, &n, trained, &e);
    if (s == PROBEX_OK) *name = n;
    return detail::error_of(s, e);
  }
  Error has_router(bool* has) const {
    probex_error e{};
    return detail::error_of(probex_bundle_has_router(get(), has, &e), e);
  }
  Error signer(Signer* out) const {
    probex_error e{};
    return detail::error_of(
        probex_bundle_signer(get(), &out->is_signed, out->public_key.data(), out->digest.data(), &e), e);
  }
  // The audit's record of the JSON result schema (docs/audit-json.md): `audit` is what the audit
  // returned; `result` is read only when it succeeded.
  Error audit_json(const std::string& model_path, const Error& audit, const probex_audit_result* result,
                   std::string* record) const {
    probex_error audit_error{};
    audit_error.status = audit.status;
    audit.message.copy(audit_error.message, sizeof audit_error.message - 1);
    probex_error e{};
    size_t length = 0;
    probex_status s = probex_audit_json(get(), model_path.c_str(), audit.status, &audit_error, result, nullptr, 0,
                                        &length, &e);
    if (s != PROBEX_OK) return detail::error_of(s, e);
    std::string out(length + 1, '\0');
    s = probex_audit_json(get(), model_path.c_str(), audit.status, &audit_error, result, &out[0], out.size(), &length,
                          &e);
    if (s == PROBEX_OK) {
      out.resize(length);
      *record = std::move(out);
    }
    return detail::error_of(s, e);
  }

 private:
  struct Free {
    void operator()(probex_bundle* b) const { probex_bundle_free(b); }
  };
  std::unique_ptr<probex_bundle, Free> handle_;
};

class Auditor {
 public:
  Auditor() = default;
  // The bundle must outlive the auditor. options: auditor_options() for the defaults (nullptr means them).
  static Error create(const Bundle& bundle, Auditor* out, const probex_auditor_options* options = nullptr,
                      const probex_allocator* allocator = nullptr) {
    probex_error e{};
    probex_auditor* raw = nullptr;
    const probex_status s = probex_auditor_create(bundle.get(), options, allocator, &raw, &e);
    out->handle_.reset(raw);
    return detail::error_of(s, e);
  }

  explicit operator bool() const { return handle_ != nullptr; }
  probex_auditor* get() const { return handle_.get(); }

  // tree: PROBEX_ROUTE (the router chooses) or a tree index. The result's arrays stay valid until the
  // auditor's next audit.
  Error audit_file(const std::string& path, probex_audit_result* result, uint32_t tree = PROBEX_ROUTE) {
    probex_error e{};
    probex_audit_result_init(result, sizeof *result);
    return detail::error_of(probex_audit_file(get(), tree, path.c_str(), result, &e), e);
  }
  Error route_file(const std::string& path, probex_audit_result* result) {
    probex_error e{};
    probex_audit_result_init(result, sizeof *result);
    return detail::error_of(probex_route_file(get(), path.c_str(), result, &e), e);
  }
  // X [rows, cols] row-major float32, already shaped; never routes.
  Error audit_matrix(uint32_t tree, const float* x, uint32_t rows, uint32_t cols, probex_audit_result* result) {
    probex_error e{};
    probex_audit_result_init(result, sizeof *result);
    return detail::error_of(probex_audit_matrix(get(), tree, x, rows, cols, result, &e), e);
  }
  Error self_test(double* worst = nullptr) {
    probex_error e{};
    return detail::error_of(probex_auditor_self_test(get(), worst, &e), e);
  }

 private:
  struct Free {
    void operator()(probex_auditor* a) const { probex_auditor_free(a); }
  };
  std::unique_ptr<probex_auditor, Free> handle_;
};

}  // namespace probex::api
