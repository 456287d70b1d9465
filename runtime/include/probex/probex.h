/* probex: audit where a neural network came from, from the weights of one layer (ProbeX).
 *
 * The C API of the device-side runtime. Conventions:
 *   - every function that can fail returns a probex_status and fills the optional probex_error (may be
 *     NULL) with the status and a sentence naming the file and the problem; results come back through
 *     out-parameters. The exceptions never fail: probex_version, probex_status_name and the *_free
 *     functions;
 *   - nothing is global, so separate handles may be used from separate threads;
 *   - handles are opaque and freed by their *_free function (NULL is accepted);
 *   - structs the caller passes in or reads back (options, tree info, results) start with `struct_size`,
 *     set by their *_init function from the caller's sizeof: a library built later serves a caller compiled
 *     against an older header (ABI.md, next to this header, is the policy);
 *   - booleans are C99 `bool`;
 *   - no exception crosses this API; an audit does no heap allocation once its auditor exists, apart from
 *     the model file's header index and a LoRA layer's down matrix (both bounded by the auditor's limits);
 *   - files are read, never memory-mapped: a bundle is copied into memory it owns (what was verified and
 *     signature-checked is what runs, whatever happens to the file later), and a model file that changes
 *     while it is read gives PROBEX_IO_ERROR, never a crash.
 * Bundle format versions read: 1. Library version: PROBEX_VERSION_* (probex/version.h, generated from the
 * CMake project version), semantic versioning; the shared library's SONAME carries the major version. */
#ifndef PROBEX_PROBEX_H_
#define PROBEX_PROBEX_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PROBEX_VERSION_MAJOR, _MINOR, _PATCH and PROBEX_VERSION_STRING: from the CMake project version. */
#include "probex/version.h"

/* The library is built with hidden symbols; only what carries PROBEX_API is exported. */
#if defined(__GNUC__) || defined(__clang__)
#define PROBEX_API __attribute__((visibility("default")))
#else
#define PROBEX_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define PROBEX_BUNDLE_FORMAT_VERSION 1

typedef enum probex_status {
  PROBEX_OK = 0,
  PROBEX_INVALID_ARGUMENT = 1, /* API misuse: NULL handle, index out of range, bad option */
  PROBEX_OUT_OF_MEMORY = 2,
  PROBEX_IO_ERROR = 3,          /* a file cannot be opened or read, or changed while being read */
  PROBEX_BUNDLE_IDENTIFIER = 4, /* not a probex bundle: too small or the identifier is not "PRBX" */
  PROBEX_BUNDLE_VERSION = 5,    /* a bundle format version this runtime does not read */
  PROBEX_BUNDLE_STRUCTURE = 6,  /* the FlatBuffers verifier rejects the file (truncated, bad offsets) */
  PROBEX_BUNDLE_CONTENT = 7,    /* well-formed but inconsistent: shapes, counts, scales, indices */
  PROBEX_BUNDLE_MISALIGNED = 8, /* a caller buffer that is not 8-byte aligned */
  PROBEX_MODEL_INVALID = 9,     /* a model file that breaks its format's rules */
  PROBEX_LAYER_NOT_FOUND = 10,  /* the model file has no tensor (or LoRA pair) of the probed name */
  PROBEX_LAYER_SHAPE = 11,      /* the layer's shape differs from the one the expert was trained on */
  PROBEX_LAYER_DTYPE = 12,      /* the layer's dtype cannot be read as float (integer, bool) */
  PROBEX_LAYER_NONFINITE = 13,  /* the layer holds NaN or Inf */
  PROBEX_SELF_TEST_FAILED = 14, /* outputs differ from the converter's beyond the stored tolerance */
  PROBEX_BACKEND_ERROR = 15,    /* the backend library failed (e.g. XNNPACK could not initialize) */
  PROBEX_UNSUPPORTED = 16,      /* a backend or feature this build or CPU lacks */
  PROBEX_BUNDLE_ROUTER = 17,    /* the router and the trees disagree (sketch sizes, thresholds) */
  PROBEX_BUNDLE_SIGNATURE = 18, /* trusted keys are configured and the bundle is unsigned, signed by
                                      another key, or changed after signing */
  PROBEX_LIMIT_EXCEEDED = 19,   /* a file is larger, or holds more (header bytes, tensors, dimensions,
                                      LoRA rank), than the configured limits allow */
  PROBEX_NOT_A_MODEL = 20,      /* the content is of no model format probex reads (see probex_model_format) */
  PROBEX_NOT_FOUND = 21         /* the bundle holds no tree of the name asked for (probex_bundle_find_tree) */
} probex_status;

/* The library's version, PROBEX_VERSION_STRING of the build that made it (e.g. "1.0.0"): what a program
 * linked to it runs, whatever headers it was compiled with. Never NULL. */
PROBEX_API const char* probex_version(void);

/* Short stable name of a status, e.g. "bundle_content". Never NULL. */
PROBEX_API const char* probex_status_name(probex_status status);

/* Frozen: never grows (ABI.md). */
typedef struct probex_error {
  probex_status status;
  char message[512];
} probex_error;

/* Optional allocator for the audit arena (the row block and the outputs). Bundles opened from a file are
 * read into the C++ heap, buffers are borrowed; backends' packed weights use the C++ heap at auditor
 * creation. Frozen: never grows. */
typedef struct probex_allocator {
  void* context;
  void* (*allocate)(void* context, size_t size, size_t alignment);
  void (*release)(void* context, void* pointer);
} probex_allocator;

typedef struct probex_bundle probex_bundle;
typedef struct probex_auditor probex_auditor;

typedef struct probex_bundle_options {
  uint32_t struct_size; /* set by probex_bundle_options_init */
  /* trusted_key_count > 0: the bundle must carry a valid Ed25519 signature (probex-convert --sign) by one
   * of these public keys (trusted_key_count x 32 bytes), checked before anything else is read; otherwise
   * PROBEX_BUNDLE_SIGNATURE. */
  const uint8_t* trusted_keys;
  size_t trusted_key_count;
  uint64_t max_bundle_bytes; /* larger bundles are refused before reading (PROBEX_LIMIT_EXCEEDED); 0: 256 MiB */
} probex_bundle_options;

/* Fills *options with the defaults for a struct of `struct_size` bytes: pass sizeof *options. */
PROBEX_API probex_status probex_bundle_options_init(probex_bundle_options* options, size_t struct_size);

/* Loading verifies the whole bundle (signature when keys are trusted, identifier, version, FlatBuffers
 * verifier, then shapes, counts, scales and sizes) before returning a handle. `options` may be NULL (the
 * defaults). probex_bundle_open reads the file into memory the bundle owns. */
PROBEX_API probex_status probex_bundle_open(const char* path, const probex_bundle_options* options, probex_bundle** out,
                                            probex_error* error);
/* The same from memory: `data` must stay valid and unchanged while the bundle lives and be 8-byte aligned. */
PROBEX_API probex_status probex_bundle_open_buffer(const void* data, size_t size, const probex_bundle_options* options,
                                                   probex_bundle** out, probex_error* error);
PROBEX_API void probex_bundle_free(probex_bundle* bundle);

/* The bundle's signer: *is_signed; if true, public_key (optional, 32 bytes) receives the signer's key.
 * digest (optional, 32 bytes) receives the SHA-256 of the bundle's bytes (what a signature covers). */
PROBEX_API probex_status probex_bundle_signer(const probex_bundle* bundle, bool* is_signed, uint8_t* public_key,
                                              uint8_t* digest, probex_error* error);

typedef struct probex_tree_info {
  uint32_t struct_size; /* set by probex_tree_info_init */
  const char* name;
  const char* root;
  const char* layer_name;
  const char* layer_rule; /* "matrix", "conv1x1", "conv_reshape", "vector", "lora" */
  uint32_t d_h, d_w;      /* the probed matrix */
  uint32_t r_u, r_v, r_t;
  uint32_t label_count;
  const char* weight_type; /* storage of the probes: "f32", "f16", "int8" */
  uint32_t self_test_count;
  uint32_t zero_shot_label_count; /* 0: the tree has no zero-shot expert */
  const char* text_source;        /* the text table its zero-shot labels were embedded with ("" if none) */
  /* 1.2: the classifier's expert kind, "probex" or "mvprobe" (MVProbe: view_count views of r_u
   * probes, r_v = its projection width; weight_type is then the views' probes' storage). The field keeps
   * the name it had in 1.2, before "reader" was kept for the model-file parsers. */
  const char* reader;
  uint32_t view_count; /* 0 for ProbeX */
} probex_tree_info;

PROBEX_API probex_status probex_tree_info_init(probex_tree_info* info, size_t struct_size);

/* Strings returned stay valid while the bundle lives. An index out of range is PROBEX_INVALID_ARGUMENT. */
PROBEX_API probex_status probex_bundle_tree_count(const probex_bundle* bundle, uint32_t* count, probex_error* error);
/* `info` must have been through probex_tree_info_init. */
PROBEX_API probex_status probex_bundle_tree_info(const probex_bundle* bundle, uint32_t tree, probex_tree_info* info,
                                                 probex_error* error);
/* PROBEX_NOT_FOUND when the bundle holds no tree of that name. */
PROBEX_API probex_status probex_bundle_find_tree(const probex_bundle* bundle, const char* name, uint32_t* tree,
                                                 probex_error* error);
PROBEX_API probex_status probex_bundle_label(const probex_bundle* bundle, uint32_t tree, uint32_t label,
                                             const char** name, probex_error* error);
/* Zero-shot label `label` of tree `tree` (0 <= label < zero_shot_label_count); *trained (optional) is true
 * if the expert was trained on it, false if it was never seen in training. */
PROBEX_API probex_status probex_bundle_zero_shot_label(const probex_bundle* bundle, uint32_t tree, uint32_t label,
                                                       const char** name, bool* trained, probex_error* error);
/* Whether the bundle can route models to its trees (it holds a router). */
PROBEX_API probex_status probex_bundle_has_router(const probex_bundle* bundle, bool* has_router, probex_error* error);

typedef enum probex_backend {
  PROBEX_BACKEND_XNNPACK = 0,  /* default */
  PROBEX_BACKEND_REFERENCE = 1 /* portable plain C++, the yardstick */
} probex_backend;

typedef struct probex_auditor_options {
  uint32_t struct_size; /* set by probex_auditor_options_init */
  probex_backend backend;
  uint32_t threads;        /* 0 or 1: the calling thread only */
  uint32_t rows_per_block; /* rows of the layer read at a time; 0: 256 */
  bool float_only;         /* never run int8 arithmetic, even for int8 bundles that allow it */
  /* Limits on model files (PROBEX_LIMIT_EXCEEDED beyond them); 0 in a field means its default. */
  uint64_t max_model_bytes; /* the file's size; default 64 GiB */
  uint64_t
      max_header_bytes; /* a safetensors header, a sharded index or adapter config; default 100,000,000 (the format's reference limit) */
  uint32_t max_tensors;     /* tensors in the header; default 1,048,576 */
  uint32_t max_tensor_dims; /* dimensions of any tensor; default 8 */
  uint32_t max_lora_rank;   /* a LoRA layer's rank (its down matrix is held while reading); default 1024 */
} probex_auditor_options;

PROBEX_API probex_status probex_auditor_options_init(probex_auditor_options* options, size_t struct_size);

/* Prepares every tree of the bundle for auditing: weights unpacked once, the arena sized for the largest
 * tree. `options` and `allocator` may be NULL (the defaults, malloc). The bundle must outlive the auditor. */
PROBEX_API probex_status probex_auditor_create(const probex_bundle* bundle, const probex_auditor_options* options,
                                               const probex_allocator* allocator, probex_auditor** out,
                                               probex_error* error);
PROBEX_API void probex_auditor_free(probex_auditor* auditor);

/* Pass as the tree of an audit to let the router choose it; a result's tree is PROBEX_NO_TREE when the
 * model belongs to no tree of the bundle. */
#define PROBEX_ROUTE 0xFFFFFFFFu
#define PROBEX_NO_TREE 0xFFFFFFFFu

/* 1.3: the router's verdict (docs/routing.md). A lossy copy (Q4_K, Q8_0, int8, F16, ...) of a model sits
 * farther from its root than the float original by an amount its storage type bounds; the router corrects
 * for it and reports as near the boundary a model whose original could lie on either side of the
 * acceptance distance. */
typedef enum probex_route_outcome {
  PROBEX_ROUTE_NONE = 0,          /* not routed (the tree was named, or the audit failed) */
  PROBEX_ROUTE_ACCEPTED = 1,      /* within the nearest tree's acceptance distance: that tree's expert ran */
  PROBEX_ROUTE_NEAR_BOUNDARY = 2, /* within the band around it: the nearest tree's expert ran, the lineage is
                                      uncertain (route_distance between route_band_low and route_band_high) */
  PROBEX_ROUTE_REFUSED = 3        /* of no known tree: tree is PROBEX_NO_TREE, unknown_reason says why */
} probex_route_outcome;

typedef struct probex_audit_result {
  uint32_t struct_size; /* set by probex_audit_result_init */
  uint32_t tree;        /* the tree whose expert ran, or PROBEX_NO_TREE (then label_count is 0) */
  uint32_t label_count;
  const float* logits;        /* label_count */
  const float* probabilities; /* label_count, sigmoid of the logits */
  const bool* predicted;      /* label_count, true where probability >= 0.5 */
  uint32_t embedding_size;
  const float* embedding; /* r_T */
  double seconds_read;    /* reading and converting the layer's rows, once per pass over the layer */
  double seconds_probe;   /* steps 1-2 of the classifier expert: the probe GEMMs */
  double seconds_rest;    /* steps 3-4 of the classifier expert (the encoder GEMV and the head), sigmoids */
  /* Routing (filled when the audit was asked to route and the bundle has a router). */
  bool routed;                  /* the router chose (or refused) the tree */
  uint32_t root_distance_count; /* the bundle's tree count */
  const float* root_distances;  /* per tree: the direction distance sqrt(2 - 2 cos(S(X), S(root))) in [0, 2]
                                   between the sketches of the model's layer and of the root's; NAN where the
                                   model has no layer of that tree's name, shape and shaping rule */
  float route_distance;         /* the nearest root's distance */
  float route_accept;           /* the nearest tree's acceptance distance */
  float route_margin;           /* second-nearest distance / nearest (INFINITY with one candidate) */
  const char* unknown_reason;   /* tree == PROBEX_NO_TREE: why, in a sentence; "" otherwise */
  double seconds_route;         /* finding the router's layers, sketching them, deciding (the rows' reading is in
                                   seconds_read: the layer is read once for the router and the experts when the
                                   model's layer is used by one tree only) */
  /* Zero-shot (when the tree has a zero-shot expert): cos(e, prototype) for each of the tree's zero-shot
   * labels (probex_bundle_zero_shot_label), in [-1, 1]; the highest is the best-matching label text. */
  uint32_t zero_shot_count;
  const float* zero_shot_scores;
  double seconds_zero_shot; /* the zero-shot expert: steps 1-4 on the rows the classifier reads, cosines */
  /* The model file (probex_audit_file, probex_route_file; NULL for probex_audit_matrix). */
  const char* model_format;        /* "safetensors", "safetensors-sharded", "peft-lora", "gguf", "tflite", "onnx" */
  const char* declared_base_model; /* what the file says it was derived from (a PEFT adapter's
                                       base_model_name_or_path, a GGUF file's general.base_model.0.name); "" if
                                       nothing. Compare with the router's tree: the file's word is not proof. */
  /* 1.1: opening the model file and reading its header. The stages add up to the audit: seconds_open +
   * seconds_read + seconds_route + seconds_probe + seconds_rest + seconds_zero_shot. */
  double seconds_open;
  /* 1.3: the routing verdict, and the rounding of the model's stored layer that it accounts for. */
  probex_route_outcome route_outcome;
  float route_band_low;  /* route_distance at or below it: accepted; above route_band_high: refused; */
  float route_band_high; /* between: near the boundary. Both equal route_accept for an exact type */
  float layer_rounding;  /* the stored layer's estimated rounding error relative to its norm, |E| / |X|
                                   (0 for float32; ~1e-4 F16, ~0.005 Q8_0, ~0.05 Q4_K) */
} probex_audit_result;

/* Empties *result for a struct of `struct_size` bytes: pass sizeof *result. Every audit call needs it. */
PROBEX_API probex_status probex_audit_result_init(probex_audit_result* result, size_t struct_size);

/* Which model format `path` (a file or a folder) holds, by content only, without validating it: *format
 * becomes "safetensors", "gguf", "tflite", "onnx", "safetensors-sharded" (a folder with
 * model.safetensors.index.json, or the index) or "peft-lora" (a folder with adapter_config.json, or the
 * config). PROBEX_NOT_A_MODEL for other content, PROBEX_IO_ERROR if it cannot be read. An agent walking
 * folders audits a folder that is a model as one model and does not enter it. The format's rules are
 * checked when the model is audited. */
PROBEX_API probex_status probex_model_format(const char* path, const char** format, probex_error* error);

/* Audits the probed layer of a model file or folder with tree `tree`'s expert, or, with PROBEX_ROUTE,
 * with the expert of the tree the router finds (a model of no known tree is PROBEX_OK with result->tree ==
 * PROBEX_NO_TREE and the reason). PROBEX_ROUTE on a bundle without a router works only if it holds one
 * tree. The result's arrays point into the auditor and stay valid until its next audit. */
PROBEX_API probex_status probex_audit_file(probex_auditor* auditor, uint32_t tree, const char* model_path,
                                           probex_audit_result* result, probex_error* error);
/* Only the router's decision for a model file (no expert runs): tree (or PROBEX_NO_TREE), distances,
 * margin, reason. PROBEX_INVALID_ARGUMENT if the bundle has no router. */
PROBEX_API probex_status probex_route_file(probex_auditor* auditor, const char* model_path, probex_audit_result* result,
                                           probex_error* error);
/* The same as probex_audit_file from a layer already in memory: X [d_h, d_w] row-major float32, after the
 * tree's shaping rule. It never routes: `tree` must name a tree (PROBEX_ROUTE is PROBEX_INVALID_ARGUMENT),
 * since the router compares layers by name and rule, which a bare matrix does not have. */
PROBEX_API probex_status probex_audit_matrix(probex_auditor* auditor, uint32_t tree, const float* x, uint32_t rows,
                                             uint32_t cols, probex_audit_result* result, probex_error* error);

/* One audit as a record of the JSON result schema, docs/audit-json.md (one line, no newline), the record
 * probex-audit --json and probex-agent print: `status` and `audit_error` (may be NULL) are what
 * probex_audit_file returned and filled for `model_path`; `result` is read only when status is PROBEX_OK.
 * Writes at most `capacity` bytes, NUL included, to `out` (may be NULL when capacity is 0) and sets
 * *length to the record's full length without the NUL: if *length >= capacity the record was cut short;
 * call again with *length + 1 bytes. Fields are only ever added; a change of a field's meaning raises
 * PROBEX_AUDIT_JSON_SCHEMA_VERSION, the record's "schema_version". */
#define PROBEX_AUDIT_JSON_SCHEMA_VERSION 1
PROBEX_API probex_status probex_audit_json(const probex_bundle* bundle, const char* model_path, probex_status status,
                                           const probex_error* audit_error, const probex_audit_result* result,
                                           char* out, size_t capacity, size_t* length, probex_error* error);

/* Runs every stored self-test of every tree; fails with PROBEX_SELF_TEST_FAILED naming the first that
 * differs. `worst` (optional) receives the largest relative difference seen. */
PROBEX_API probex_status probex_auditor_self_test(probex_auditor* auditor, double* worst, probex_error* error);

#ifdef __cplusplus
}
#endif

#endif /* PROBEX_PROBEX_H_ */
