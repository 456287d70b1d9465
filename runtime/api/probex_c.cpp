// The C API over the C++ core. Every entry point catches everything: no exception crosses into C.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "probex/probex.h"
#include "runtime/api/audit_json.h"
#include "runtime/bundle/bundle.h"
#include "runtime/executor/auditor.h"

struct probex_bundle {
  probex::Bundle bundle;
};

struct probex_auditor {
  std::unique_ptr<probex::Auditor> auditor;
};

namespace {

probex_status report(probex_error* error, probex_status status, const std::string& message) {
  if (error) {
    error->status = status;
    std::snprintf(error->message, sizeof(error->message), "%s", message.c_str());
  }
  return status;
}

probex_status clear(probex_error* error) {
  if (error) {
    error->status = PROBEX_OK;
    error->message[0] = '\0';
  }
  return PROBEX_OK;
}

// Runs `body` (returning a status, filling `message`), turning exceptions into statuses.
template <class Body>
probex_status guarded(probex_error* error, Body body) {
  std::string message;
  try {
    const probex_status s = body(&message);
    return s == PROBEX_OK ? clear(error) : report(error, s, message);
  } catch (const std::bad_alloc&) {
    return report(error, PROBEX_OUT_OF_MEMORY, "out of memory");
  } catch (...) {
    return report(error, PROBEX_BACKEND_ERROR, "internal error");
  }
}

// Structs that carry their own size (ABI.md). A caller compiled against an older header passes a smaller
// struct_size: the library reads and writes only that many bytes. One compiled against a newer header
// passes a larger one: the library zeroes what it does not know in structs it fills, and refuses options
// that set fields it does not know. The smallest size accepted is the first ABI's: up to its last field.
constexpr size_t kBundleOptionsV1 = offsetof(probex_bundle_options, max_bundle_bytes) + sizeof(uint64_t);
constexpr size_t kTreeInfoV1 = offsetof(probex_tree_info, text_source) + sizeof(const char*);
constexpr size_t kAuditorOptionsV1 = offsetof(probex_auditor_options, max_lora_rank) + sizeof(uint32_t);
constexpr size_t kAuditResultV1 = offsetof(probex_audit_result, declared_base_model) + sizeof(const char*);

// Whether `size` is one a caller of this ABI can pass for a struct whose first version ends at `minimum`.
bool valid_struct_size(size_t size, size_t minimum) { return size >= minimum && size <= UINT32_MAX; }

std::string size_message(const char* function, const char* what, uint32_t size, const char* init) {
  return std::string(function) + ": " + what + "->struct_size is " + std::to_string(size) + ": set it with " + init +
         "(&x, sizeof x)";
}

// Starts a caller's struct: zeroes its struct_size bytes, then writes `defaults` over the part this library knows.
template <class T>
probex_status init_sized(T* out, size_t struct_size, size_t minimum, T defaults) {
  if (!out || !valid_struct_size(struct_size, minimum)) return PROBEX_INVALID_ARGUMENT;
  std::memset(static_cast<void*>(out), 0, struct_size);
  defaults.struct_size = static_cast<uint32_t>(struct_size);
  std::memcpy(static_cast<void*>(out), &defaults, std::min(struct_size, sizeof(T)));
  return PROBEX_OK;
}

// Reads a caller's input struct over `*full` (which holds the defaults).
template <class T>
probex_status read_sized(const T* in, size_t minimum, T* full, const char* function, const char* what, const char* init,
                         std::string* message) {
  if (!in) return PROBEX_OK;
  if (!valid_struct_size(in->struct_size, minimum)) {
    *message = size_message(function, what, in->struct_size, init);
    return PROBEX_INVALID_ARGUMENT;
  }
  std::memcpy(static_cast<void*>(full), in, std::min<size_t>(in->struct_size, sizeof(T)));
  const auto* bytes = reinterpret_cast<const unsigned char*>(in);
  for (size_t i = sizeof(T); i < in->struct_size; ++i) {
    if (bytes[i] != 0) {
      *message = std::string(function) + ": " + what + " sets fields that probex " + PROBEX_VERSION_STRING +
                 " does not know (the caller was compiled against a newer probex.h)";
      return PROBEX_UNSUPPORTED;
    }
  }
  full->struct_size = sizeof(T);
  return PROBEX_OK;
}

// Checks a caller's output struct before any work is done.
template <class T>
probex_status check_out(const T* out, size_t minimum, const char* function, const char* what, const char* init,
                        std::string* message) {
  if (valid_struct_size(out->struct_size, minimum)) return PROBEX_OK;
  *message = size_message(function, what, out->struct_size, init);
  return PROBEX_INVALID_ARGUMENT;
}

// Copies the library's complete `full` into a caller's output struct of out->struct_size bytes.
template <class T>
void write_sized(T full, T* out) {
  const uint32_t size = out->struct_size;
  full.struct_size = size;
  std::memcpy(static_cast<void*>(out), &full, std::min<size_t>(size, sizeof(T)));
  if (size > sizeof(T)) std::memset(reinterpret_cast<unsigned char*>(out) + sizeof(T), 0, size - sizeof(T));
}

probex_bundle_options bundle_defaults() {
  probex_bundle_options o{};
  o.struct_size = sizeof o;
  o.max_bundle_bytes = probex::Bundle::kDefaultMaxBundleBytes;
  return o;
}

probex_auditor_options auditor_defaults() {
  probex_auditor_options o{};
  o.struct_size = sizeof o;
  o.backend = PROBEX_BACKEND_XNNPACK;
  o.threads = 1;
  o.rows_per_block = 256;
  o.float_only = false;
  const probex::ModelLimits model;
  o.max_model_bytes = model.max_file_bytes;
  o.max_header_bytes = model.max_header_bytes;
  o.max_tensors = static_cast<uint32_t>(model.max_tensors);
  o.max_tensor_dims = static_cast<uint32_t>(model.max_dims);
  o.max_lora_rank = static_cast<uint32_t>(probex::kDefaultMaxLoraRank);
  return o;
}

probex_audit_result empty_result() {
  probex_audit_result r{};
  r.struct_size = sizeof r;
  r.tree = PROBEX_NO_TREE;
  r.unknown_reason = "";
  return r;
}

// The tree `tree` of a bundle, or a message.
probex_status tree_at(const probex_bundle* bundle, uint32_t tree, const char* function, const probex::TreeView** out,
                      std::string* message) {
  const size_t count = bundle->bundle.trees().size();
  if (tree >= count) {
    *message = std::string(function) + ": tree " + std::to_string(tree) + " out of range (the bundle holds " +
               std::to_string(count) + ")";
    return PROBEX_INVALID_ARGUMENT;
  }
  *out = &bundle->bundle.trees()[tree];
  return PROBEX_OK;
}

// Runs an audit entry point: checks the caller's result struct, lets `body` fill a complete one, copies it.
template <class Body>
probex_status audit_call(probex_audit_result* result, const char* function, probex_error* error, Body body) {
  return guarded(error, [&](std::string* message) {
    const probex_status s = check_out(result, kAuditResultV1, function, "result", "probex_audit_result_init", message);
    if (s != PROBEX_OK) return s;
    probex_audit_result full = empty_result();
    const probex_status audited = body(&full, message);
    if (audited == PROBEX_OK) write_sized(full, result);
    return audited;
  });
}

}  // namespace

extern "C" {

const char* probex_version(void) { return PROBEX_VERSION_STRING; }

const char* probex_status_name(probex_status status) {
  switch (status) {
    case PROBEX_OK: return "ok";
    case PROBEX_INVALID_ARGUMENT: return "invalid_argument";
    case PROBEX_OUT_OF_MEMORY: return "out_of_memory";
    case PROBEX_IO_ERROR: return "io_error";
    case PROBEX_BUNDLE_IDENTIFIER: return "bundle_identifier";
    case PROBEX_BUNDLE_VERSION: return "bundle_version";
    case PROBEX_BUNDLE_STRUCTURE: return "bundle_structure";
    case PROBEX_BUNDLE_CONTENT: return "bundle_content";
    case PROBEX_BUNDLE_MISALIGNED: return "bundle_misaligned";
    case PROBEX_MODEL_INVALID: return "model_invalid";
    case PROBEX_LAYER_NOT_FOUND: return "layer_not_found";
    case PROBEX_LAYER_SHAPE: return "layer_shape";
    case PROBEX_LAYER_DTYPE: return "layer_dtype";
    case PROBEX_LAYER_NONFINITE: return "layer_nonfinite";
    case PROBEX_SELF_TEST_FAILED: return "self_test_failed";
    case PROBEX_BACKEND_ERROR: return "backend_error";
    case PROBEX_UNSUPPORTED: return "unsupported";
    case PROBEX_BUNDLE_ROUTER: return "bundle_router";
    case PROBEX_BUNDLE_SIGNATURE: return "bundle_signature";
    case PROBEX_LIMIT_EXCEEDED: return "limit_exceeded";
    case PROBEX_NOT_A_MODEL: return "not_a_model";
    case PROBEX_NOT_FOUND: return "not_found";
  }
  return "unknown_status";
}

probex_status probex_bundle_options_init(probex_bundle_options* options, size_t struct_size) {
  return init_sized(options, struct_size, kBundleOptionsV1, bundle_defaults());
}

probex_status probex_tree_info_init(probex_tree_info* info, size_t struct_size) {
  probex_tree_info defaults{};
  return init_sized(info, struct_size, kTreeInfoV1, defaults);
}

probex_status probex_auditor_options_init(probex_auditor_options* options, size_t struct_size) {
  return init_sized(options, struct_size, kAuditorOptionsV1, auditor_defaults());
}

probex_status probex_audit_result_init(probex_audit_result* result, size_t struct_size) {
  return init_sized(result, struct_size, kAuditResultV1, empty_result());
}

namespace {

// probex_bundle_open and probex_bundle_open_buffer: `path` or (`data`, `size`).
probex_status open_bundle(const char* function, const char* path, const void* data, size_t size,
                          const probex_bundle_options* options, probex_bundle** out, probex_error* error) {
  if (!out || (!path && !data))
    return report(error, PROBEX_INVALID_ARGUMENT, std::string(function) + ": null argument");
  return guarded(error, [&](std::string* message) {
    probex_bundle_options o = bundle_defaults();
    probex_status s = read_sized(options, kBundleOptionsV1, &o, function, "options", "probex_bundle_options_init",
                                 message);
    if (s != PROBEX_OK) return s;
    if (o.trusted_key_count && !o.trusted_keys) {
      *message = std::string(function) + ": options->trusted_key_count is " + std::to_string(o.trusted_key_count) +
                 " and trusted_keys is null";
      return PROBEX_INVALID_ARGUMENT;
    }
    if (o.max_bundle_bytes == 0) o.max_bundle_bytes = probex::Bundle::kDefaultMaxBundleBytes;
    auto b = std::make_unique<probex_bundle>();
    s = path ? probex::Bundle::open(path, &b->bundle, message, o.trusted_keys, o.trusted_key_count, o.max_bundle_bytes)
             : probex::Bundle::open_buffer(static_cast<const uint8_t*>(data), size, "bundle buffer", &b->bundle,
                                           message, o.trusted_keys, o.trusted_key_count, o.max_bundle_bytes);
    if (s == PROBEX_OK) *out = b.release();
    return s;
  });
}

}  // namespace

probex_status probex_bundle_open(const char* path, const probex_bundle_options* options, probex_bundle** out,
                                 probex_error* error) {
  return open_bundle("probex_bundle_open", path, nullptr, 0, options, out, error);
}

probex_status probex_bundle_open_buffer(const void* data, size_t size, const probex_bundle_options* options,
                                        probex_bundle** out, probex_error* error) {
  return open_bundle("probex_bundle_open_buffer", nullptr, data, size, options, out, error);
}

void probex_bundle_free(probex_bundle* bundle) { delete bundle; }

probex_status probex_bundle_signer(const probex_bundle* bundle, bool* is_signed, uint8_t* public_key, uint8_t* digest,
                                   probex_error* error) {
  if (!bundle || !is_signed)
    return report(error, PROBEX_INVALID_ARGUMENT, "probex_bundle_signer: null bundle or is_signed");
  const probex::BundleSignature& s = bundle->bundle.signature();
  *is_signed = s.present;
  if (s.present && public_key) std::memcpy(public_key, s.public_key, probex::kPublicKeyBytes);
  if (digest) probex::bundle_digest(bundle->bundle.data(), bundle->bundle.size(), digest);
  return clear(error);
}

probex_status probex_bundle_tree_count(const probex_bundle* bundle, uint32_t* count, probex_error* error) {
  if (!bundle || !count) return report(error, PROBEX_INVALID_ARGUMENT, "probex_bundle_tree_count: null argument");
  *count = static_cast<uint32_t>(bundle->bundle.trees().size());
  return clear(error);
}

probex_status probex_bundle_tree_info(const probex_bundle* bundle, uint32_t tree, probex_tree_info* info,
                                      probex_error* error) {
  if (!bundle || !info) return report(error, PROBEX_INVALID_ARGUMENT, "probex_bundle_tree_info: null argument");
  return guarded(error, [&](std::string* message) {
    probex_status s = check_out(info, kTreeInfoV1, "probex_bundle_tree_info", "info", "probex_tree_info_init", message);
    const probex::TreeView* t = nullptr;
    if (s == PROBEX_OK) s = tree_at(bundle, tree, "probex_bundle_tree_info", &t, message);
    if (s != PROBEX_OK) return s;
    probex_tree_info full{};
    full.name = t->name;
    full.root = t->root;
    full.layer_name = t->layer_name;
    full.layer_rule = probex::layer_rule_name(t->rule);
    full.d_h = t->d_h;
    full.d_w = t->d_w;
    full.r_u = t->r_u;
    full.r_v = t->r_v;
    full.r_t = t->r_t;
    full.label_count = t->d_y;
    full.weight_type = probex::storage_type_name(t->views.empty() ? t->probes.type : t->views[0].probes.type);
    full.self_test_count = static_cast<uint32_t>(t->self_tests.size());
    full.zero_shot_label_count = t->has_zero_shot ? static_cast<uint32_t>(t->zero_shot.labels.size()) : 0;
    full.text_source = t->has_zero_shot ? t->zero_shot.text_source : "";
    full.reader = t->views.empty() ? "probex" : "mvprobe";
    full.view_count = static_cast<uint32_t>(t->views.size());
    write_sized(full, info);
    return PROBEX_OK;
  });
}

probex_status probex_bundle_find_tree(const probex_bundle* bundle, const char* name, uint32_t* tree,
                                      probex_error* error) {
  if (!bundle || !name || !tree)
    return report(error, PROBEX_INVALID_ARGUMENT, "probex_bundle_find_tree: null argument");
  return guarded(error, [&](std::string* message) {
    const auto& trees = bundle->bundle.trees();
    for (uint32_t i = 0; i < trees.size(); ++i) {
      if (std::strcmp(trees[i].name, name) == 0) {
        *tree = i;
        return PROBEX_OK;
      }
    }
    *message = std::string("the bundle holds no tree named '") + name + "'";
    return PROBEX_NOT_FOUND;
  });
}

probex_status probex_bundle_label(const probex_bundle* bundle, uint32_t tree, uint32_t label, const char** name,
                                  probex_error* error) {
  if (!bundle || !name) return report(error, PROBEX_INVALID_ARGUMENT, "probex_bundle_label: null argument");
  return guarded(error, [&](std::string* message) {
    const probex::TreeView* t = nullptr;
    const probex_status s = tree_at(bundle, tree, "probex_bundle_label", &t, message);
    if (s != PROBEX_OK) return s;
    if (label >= t->labels.size()) {
      *message = "probex_bundle_label: label " + std::to_string(label) + " out of range (tree " + t->name + " has " +
                 std::to_string(t->labels.size()) + ")";
      return PROBEX_INVALID_ARGUMENT;
    }
    *name = t->labels[label];
    return PROBEX_OK;
  });
}

probex_status probex_bundle_zero_shot_label(const probex_bundle* bundle, uint32_t tree, uint32_t label,
                                            const char** name, bool* trained, probex_error* error) {
  if (!bundle || !name) return report(error, PROBEX_INVALID_ARGUMENT, "probex_bundle_zero_shot_label: null argument");
  return guarded(error, [&](std::string* message) {
    const probex::TreeView* t = nullptr;
    const probex_status s = tree_at(bundle, tree, "probex_bundle_zero_shot_label", &t, message);
    if (s != PROBEX_OK) return s;
    const size_t count = t->has_zero_shot ? t->zero_shot.labels.size() : 0;
    if (label >= count) {
      *message = "probex_bundle_zero_shot_label: label " + std::to_string(label) + " out of range (tree " + t->name +
                 " has " + std::to_string(count) + " zero-shot labels)";
      return PROBEX_INVALID_ARGUMENT;
    }
    *name = t->zero_shot.labels[label];
    if (trained) *trained = t->zero_shot.trained[label] != 0;
    return PROBEX_OK;
  });
}

probex_status probex_bundle_has_router(const probex_bundle* bundle, bool* has_router, probex_error* error) {
  if (!bundle || !has_router) return report(error, PROBEX_INVALID_ARGUMENT, "probex_bundle_has_router: null argument");
  *has_router = bundle->bundle.has_router();
  return clear(error);
}

probex_status probex_auditor_create(const probex_bundle* bundle, const probex_auditor_options* options,
                                    const probex_allocator* allocator, probex_auditor** out, probex_error* error) {
  if (!bundle || !out) return report(error, PROBEX_INVALID_ARGUMENT, "probex_auditor_create: null bundle or out");
  return guarded(error, [&](std::string* message) {
    probex_auditor_options o = auditor_defaults();
    probex_status s = read_sized(options, kAuditorOptionsV1, &o, "probex_auditor_create", "options",
                                 "probex_auditor_options_init", message);
    if (s != PROBEX_OK) return s;
    auto a = std::make_unique<probex_auditor>();
    s = probex::Auditor::create(bundle->bundle, o, allocator, &a->auditor, message);
    if (s == PROBEX_OK) *out = a.release();
    return s;
  });
}

void probex_auditor_free(probex_auditor* auditor) { delete auditor; }

probex_status probex_model_format(const char* path, const char** format, probex_error* error) {
  if (!path || !format) return report(error, PROBEX_INVALID_ARGUMENT, "probex_model_format: null argument");
  return guarded(error, [&](std::string* message) {
    probex::ModelFormat f = probex::ModelFormat::kSafetensors;
    std::string target;
    const probex::ModelStatus st = probex::identify_model(path, probex::ModelLimits(), &f, &target);
    if (!st.ok()) {
      *message = st.message;
      return probex::status_of(st.code);
    }
    *format = probex::model_format_name(f);
    return PROBEX_OK;
  });
}

probex_status probex_audit_file(probex_auditor* auditor, uint32_t tree, const char* model_path,
                                probex_audit_result* result, probex_error* error) {
  if (!auditor || !model_path || !result)
    return report(error, PROBEX_INVALID_ARGUMENT, "probex_audit_file: null argument");
  return audit_call(result, "probex_audit_file", error, [&](probex_audit_result* full, std::string* message) {
    return auditor->auditor->audit_file(tree, model_path, full, message);
  });
}

probex_status probex_route_file(probex_auditor* auditor, const char* model_path, probex_audit_result* result,
                                probex_error* error) {
  if (!auditor || !model_path || !result)
    return report(error, PROBEX_INVALID_ARGUMENT, "probex_route_file: null argument");
  return audit_call(result, "probex_route_file", error, [&](probex_audit_result* full, std::string* message) {
    return auditor->auditor->route_only(model_path, full, message);
  });
}

probex_status probex_audit_matrix(probex_auditor* auditor, uint32_t tree, const float* x, uint32_t rows, uint32_t cols,
                                  probex_audit_result* result, probex_error* error) {
  if (!auditor || !result) return report(error, PROBEX_INVALID_ARGUMENT, "probex_audit_matrix: null argument");
  return audit_call(result, "probex_audit_matrix", error, [&](probex_audit_result* full, std::string* message) {
    return auditor->auditor->audit_matrix(tree, x, rows, cols, full, message);
  });
}

probex_status probex_auditor_self_test(probex_auditor* auditor, double* worst, probex_error* error) {
  if (!auditor) return report(error, PROBEX_INVALID_ARGUMENT, "probex_auditor_self_test: null auditor");
  return guarded(error, [&](std::string* message) { return auditor->auditor->self_test(worst, message); });
}

probex_status probex_audit_json(const probex_bundle* bundle, const char* model_path, probex_status status,
                                const probex_error* audit_error, const probex_audit_result* result, char* out,
                                size_t capacity, size_t* length, probex_error* error) {
  if (!bundle || !length || (!out && capacity > 0))
    return report(error, PROBEX_INVALID_ARGUMENT,
                  "probex_audit_json: null bundle or length, or null out with a capacity");
  return guarded(error, [&](std::string* message) {
    probex_audit_result full = empty_result();
    const probex_audit_result* read = nullptr;
    if (status == PROBEX_OK && result) {
      // What this library wrote; a newer caller's larger struct holds zeros beyond it.
      const probex_status s = check_out(result, kAuditResultV1, "probex_audit_json", "result",
                                        "probex_audit_result_init", message);
      if (s != PROBEX_OK) return s;
      std::memcpy(static_cast<void*>(&full), result, std::min<size_t>(result->struct_size, sizeof full));
      if (result->struct_size < offsetof(probex_audit_result, layer_rounding) + sizeof full.layer_rounding &&
          full.routed) {
        // A caller older than 1.3 has no verdict fields: the verdict is its tree, the band and rounding unknown.
        full.route_outcome = full.tree == PROBEX_NO_TREE ? PROBEX_ROUTE_REFUSED : PROBEX_ROUTE_ACCEPTED;
        full.route_band_low = full.route_band_high = full.layer_rounding = NAN;
      }
      read = &full;
    }
    const std::string record = probex::audit_json_record(bundle->bundle, model_path, status,
                                                         audit_error ? audit_error->message : "", read);
    *length = record.size();
    if (capacity > 0) {
      const size_t n = std::min(record.size(), capacity - 1);
      std::memcpy(out, record.data(), n);
      out[n] = '\0';
    }
    return PROBEX_OK;
  });
}

}  // extern "C"
