// A thin C++ layer over probex.h: RAII handles, errors as a status plus message. No exceptions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "probex.h"

namespace probex::api {

struct Error {
  probex_status status = PROBEX_OK;
  std::string message;
  explicit operator bool() const { return status != PROBEX_OK; }
};

class Bundle {
 public:
  // options: trusted signers and the size limit (probex_bundle_options_default for the defaults).
  static Bundle open(const std::string& path, Error* error, const probex_bundle_options* options = nullptr) {
    probex_error e{};
    probex_bundle* raw = nullptr;
    if (probex_bundle_open_with(path.c_str(), options, &raw, &e) != PROBEX_OK) *error = {e.status, e.message};
    return Bundle(raw);
  }
  bool ok() const { return handle_ != nullptr; }
  const probex_bundle* get() const { return handle_.get(); }
  uint32_t tree_count() const {
    uint32_t n = 0;
    probex_bundle_tree_count(handle_.get(), &n);
    return n;
  }
  probex_tree_info tree(uint32_t index) const {
    probex_tree_info info{};
    probex_bundle_tree_info(handle_.get(), index, &info);
    return info;
  }
  std::string label(uint32_t tree, uint32_t label) const {
    const char* name = "";
    probex_bundle_label(handle_.get(), tree, label, &name);
    return name;
  }

 private:
  struct Free {
    void operator()(probex_bundle* b) const { probex_bundle_free(b); }
  };
  explicit Bundle(probex_bundle* raw) : handle_(raw) {}
  std::unique_ptr<probex_bundle, Free> handle_;
};

class Auditor {
 public:
  static Auditor create(const Bundle& bundle, const probex_auditor_options& options, Error* error) {
    probex_error e{};
    probex_auditor* raw = nullptr;
    if (probex_auditor_create(bundle.get(), &options, nullptr, &raw, &e) != PROBEX_OK) *error = {e.status, e.message};
    return Auditor(raw);
  }
  bool ok() const { return handle_ != nullptr; }
  probex_auditor* get() const { return handle_.get(); }
  bool audit_file(uint32_t tree, const std::string& path, probex_audit_result* result, Error* error) {
    probex_error e{};
    if (probex_audit_file(handle_.get(), tree, path.c_str(), result, &e) == PROBEX_OK) return true;
    *error = {e.status, e.message};
    return false;
  }
  bool self_test(double* worst, Error* error) {
    probex_error e{};
    if (probex_auditor_self_test(handle_.get(), worst, &e) == PROBEX_OK) return true;
    *error = {e.status, e.message};
    return false;
  }

 private:
  struct Free {
    void operator()(probex_auditor* a) const { probex_auditor_free(a); }
  };
  explicit Auditor(probex_auditor* raw) : handle_(raw) {}
  std::unique_ptr<probex_auditor, Free> handle_;
};

}  // namespace probex::api
