// The C API over the C++ core. Every entry point catches everything: no exception crosses into C.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "api/audit_json.h"
#include "bundle/bundle.h"
#include "executor/auditor.h"
#include "probex/probex.h"

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
  }
  return "unknown_status";
}

probex_status probex_bundle_open(const char* path, probex_bundle** out, probex_error* error) {
  return probex_bundle_open_with(path, nullptr, out, error);
}

probex_status probex_bundle_open_buffer(const void* data, size_t size, probex_bundle** out, probex_error* error) {
  if (!out) return report(error, PROBEX_INVALID_ARGUMENT, "probex_bundle_open_buffer: null out");
  return guarded(error, [&](std::string* message) {
    auto b = std::make_unique<probex_bundle>();
    const probex_status s =
        probex::Bundle::open_buffer(static_cast<const uint8_t*>(data), size, "bundle buffer", &b->bundle, message);
    if (s == PROBEX_OK) *out = b.release();
    return s;
  });
}

void probex_bundle_options_default(probex_bundle_options* options) {
  if (!options) return;
  options->trusted_keys = nullptr;
  options->trusted_key_count = 0;
  options->max_bundle_bytes = probex::Bundle::kDefaultMaxBundleBytes;
}

probex_status probex_bundle_open_with(const char* path, const probex_bundle_options* options, probex_bundle** out,
                                      probex_error* error) {
  probex_bundle_options o;
  probex_bundle_options_default(&o);
  if (options) o = *options;
  if (!path || !out || (o.trusted_key_count && !o.trusted_keys))
    return report(error, PROBEX_INVALID_ARGUMENT, "probex_bundle_open_with: null path, out or keys");
  if (o.max_bundle_bytes == 0) o.max_bundle_bytes = probex::Bundle::kDefaultMaxBundleBytes;
  return guarded(error, [&](std::string* message) {
    auto b = std::make_unique<probex_bundle>();
    const probex_status s =
        probex::Bundle::open(path, &b->bundle, message, o.trusted_keys, o.trusted_key_count, o.max_bundle_bytes);
    if (s == PROBEX_OK) *out = b.release();
    return s;
  });
}

probex_status probex_bundle_signer(const probex_bundle* bundle, int* is_signed, uint8_t* public_key, uint8_t* digest) {
  if (!bundle || !is_signed) return PROBEX_INVALID_ARGUMENT;
  const probex::BundleSignature& s = bundle->bundle.signature();
  *is_signed = s.present ? 1 : 0;
  if (s.present && public_key) std::memcpy(public_key, s.public_key, probex::kPublicKeyBytes);
  if (digest) probex::bundle_digest(bundle->bundle.data(), bundle->bundle.size(), digest);
  return PROBEX_OK;
}

void probex_bundle_free(probex_bundle* bundle) { delete bundle; }

probex_status probex_bundle_tree_count(const probex_bundle* bundle, uint32_t* count) {
  if (!bundle || !count) return PROBEX_INVALID_ARGUMENT;
  *count = static_cast<uint32_t>(bundle->bundle.trees().size());
  return PROBEX_OK;
}

probex_status probex_bundle_tree_info(const probex_bundle* bundle, uint32_t tree, probex_tree_info* info) {
  if (!bundle || !info || tree >= bundle->bundle.trees().size()) return PROBEX_INVALID_ARGUMENT;
  const probex::TreeView& t = bundle->bundle.trees()[tree];
  info->name = t.name;
  info->root = t.root;
  info->layer_name = t.layer_name;
  info->layer_rule = probex::layer_rule_name(t.rule);
  info->d_h = t.d_h;
  info->d_w = t.d_w;
  info->r_u = t.r_u;
  info->r_v = t.r_v;
  info->r_t = t.r_t;
  info->label_count = t.d_y;
  info->weight_type = probex::storage_type_name(t.probes.type);
  info->self_test_count = static_cast<uint32_t>(t.self_tests.size());
  info->zero_shot_label_count = t.has_zero_shot ? static_cast<uint32_t>(t.zero_shot.labels.size()) : 0;
  info->text_source = t.has_zero_shot ? t.zero_shot.text_source : "";
  return PROBEX_OK;
}

probex_status probex_bundle_find_tree(const probex_bundle* bundle, const char* name, uint32_t* tree) {
  if (!bundle || !name || !tree) return PROBEX_INVALID_ARGUMENT;
  const auto& trees = bundle->bundle.trees();
  for (uint32_t i = 0; i < trees.size(); ++i) {
    if (std::strcmp(trees[i].name, name) == 0) {
      *tree = i;
      return PROBEX_OK;
    }
  }
  return PROBEX_INVALID_ARGUMENT;
}

probex_status probex_bundle_label(const probex_bundle* bundle, uint32_t tree, uint32_t label, const char** name) {
  if (!bundle || !name || tree >= bundle->bundle.trees().size()) return PROBEX_INVALID_ARGUMENT;
  const probex::TreeView& t = bundle->bundle.trees()[tree];
  if (label >= t.labels.size()) return PROBEX_INVALID_ARGUMENT;
  *name = t.labels[label];
  return PROBEX_OK;
}

probex_status probex_bundle_zero_shot_label(const probex_bundle* bundle, uint32_t tree, uint32_t label,
                                            const char** name, int* trained) {
  if (!bundle || !name || tree >= bundle->bundle.trees().size()) return PROBEX_INVALID_ARGUMENT;
  const probex::TreeView& t = bundle->bundle.trees()[tree];
  if (!t.has_zero_shot || label >= t.zero_shot.labels.size()) return PROBEX_INVALID_ARGUMENT;
  *name = t.zero_shot.labels[label];
  if (trained) *trained = t.zero_shot.trained[label] != 0;
  return PROBEX_OK;
}

int probex_bundle_has_router(const probex_bundle* bundle) { return bundle && bundle->bundle.has_router() ? 1 : 0; }

void probex_auditor_options_default(probex_auditor_options* options) {
  if (!options) return;
  options->backend = PROBEX_BACKEND_XNNPACK;
  options->threads = 1;
  options->rows_per_block = 256;
  options->float_only = 0;
  const probex::ModelLimits model;
  options->max_model_bytes = model.max_file_bytes;
  options->max_header_bytes = model.max_header_bytes;
  options->max_tensors = static_cast<uint32_t>(model.max_tensors);
  options->max_tensor_dims = static_cast<uint32_t>(model.max_dims);
  options->max_lora_rank = static_cast<uint32_t>(probex::kDefaultMaxLoraRank);
}

probex_status probex_auditor_create(const probex_bundle* bundle, const probex_auditor_options* options,
                                    const probex_allocator* allocator, probex_auditor** out, probex_error* error) {
  if (!bundle || !out) return report(error, PROBEX_INVALID_ARGUMENT, "probex_auditor_create: null bundle or out");
  probex_auditor_options defaults;
  probex_auditor_options_default(&defaults);
  return guarded(error, [&](std::string* message) {
    auto a = std::make_unique<probex_auditor>();
    const probex_status s =
        probex::Auditor::create(bundle->bundle, options ? *options : defaults, allocator, &a->auditor, message);
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
  if (!auditor || !model_path || !result) return report(error, PROBEX_INVALID_ARGUMENT, "probex_audit_file: null argument");
  return guarded(error, [&](std::string* message) { return auditor->auditor->audit_file(tree, model_path, result, message); });
}

probex_status probex_route_file(probex_auditor* auditor, const char* model_path, probex_audit_result* result,
                                probex_error* error) {
  if (!auditor || !model_path || !result) return report(error, PROBEX_INVALID_ARGUMENT, "probex_route_file: null argument");
  return guarded(error, [&](std::string* message) { return auditor->auditor->route_only(model_path, result, message); });
}

probex_status probex_audit_matrix(probex_auditor* auditor, uint32_t tree, const float* x, uint32_t rows, uint32_t cols,
                                  probex_audit_result* result, probex_error* error) {
  if (!auditor || !result) return report(error, PROBEX_INVALID_ARGUMENT, "probex_audit_matrix: null argument");
  return guarded(error, [&](std::string* message) {
    return auditor->auditor->audit_matrix(tree, x, rows, cols, result, message);
  });
}

probex_status probex_auditor_self_test(probex_auditor* auditor, double* worst, probex_error* error) {
  if (!auditor) return report(error, PROBEX_INVALID_ARGUMENT, "probex_auditor_self_test: null auditor");
  return guarded(error, [&](std::string* message) { return auditor->auditor->self_test(worst, message); });
}

probex_status probex_audit_json(const probex_bundle* bundle, const char* model_path, probex_status status,
                                const probex_error* audit_error, const probex_audit_result* result, char* out,
                                size_t capacity, size_t* length) {
  if (!bundle || !length || (!out && capacity > 0)) return PROBEX_INVALID_ARGUMENT;
  try {
    const std::string record =
        probex::audit_json_record(bundle, model_path, status, audit_error ? audit_error->message : "", result);
    *length = record.size();
    if (capacity > 0) {
      const size_t n = std::min(record.size(), capacity - 1);
      std::memcpy(out, record.data(), n);
      out[n] = '\0';
    }
    return PROBEX_OK;
  } catch (const std::bad_alloc&) {
    return PROBEX_OUT_OF_MEMORY;
  } catch (...) {
    return PROBEX_BACKEND_ERROR;
  }
}

}  // extern "C"
