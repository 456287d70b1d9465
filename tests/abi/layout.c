/* Writes the layout of every struct field, enum value and macro of the probex 1.0 C API: offset and size
 * of each field, each value. Compiled twice into abi_layout (layout_main.c), as LAYOUT_FUNCTION =
 * layout_frozen against the frozen 1.0 header (tests/abi/v1) and as layout_current against the current
 * one; the two must write the same (ABI.md: fields are only appended, values never change). Lists only
 * 1.0 names on purpose: it must compile against both headers. */
#include <stddef.h>
#include <stdio.h>

#include "probex/probex.h"

#define FIELD(type, field) fprintf(out, #type "." #field " offset %zu size %zu\n", offsetof(type, field), sizeof(((type*)0)->field))
#define VALUE(name) fprintf(out, #name " = %lld\n", (long long)(name))

void LAYOUT_FUNCTION(FILE* out);

void LAYOUT_FUNCTION(FILE* out) {
  fprintf(out, "probex_error size %zu\n", sizeof(probex_error));
  FIELD(probex_error, status);
  FIELD(probex_error, message);
  fprintf(out, "probex_allocator size %zu\n", sizeof(probex_allocator));
  FIELD(probex_allocator, context);
  FIELD(probex_allocator, allocate);
  FIELD(probex_allocator, release);

  FIELD(probex_bundle_options, struct_size);
  FIELD(probex_bundle_options, trusted_keys);
  FIELD(probex_bundle_options, trusted_key_count);
  FIELD(probex_bundle_options, max_bundle_bytes);

  FIELD(probex_tree_info, struct_size);
  FIELD(probex_tree_info, name);
  FIELD(probex_tree_info, root);
  FIELD(probex_tree_info, layer_name);
  FIELD(probex_tree_info, layer_rule);
  FIELD(probex_tree_info, d_h);
  FIELD(probex_tree_info, d_w);
  FIELD(probex_tree_info, r_u);
  FIELD(probex_tree_info, r_v);
  FIELD(probex_tree_info, r_t);
  FIELD(probex_tree_info, label_count);
  FIELD(probex_tree_info, weight_type);
  FIELD(probex_tree_info, self_test_count);
  FIELD(probex_tree_info, zero_shot_label_count);
  FIELD(probex_tree_info, text_source);

  FIELD(probex_auditor_options, struct_size);
  FIELD(probex_auditor_options, backend);
  FIELD(probex_auditor_options, threads);
  FIELD(probex_auditor_options, rows_per_block);
  FIELD(probex_auditor_options, float_only);
  FIELD(probex_auditor_options, max_model_bytes);
  FIELD(probex_auditor_options, max_header_bytes);
  FIELD(probex_auditor_options, max_tensors);
  FIELD(probex_auditor_options, max_tensor_dims);
  FIELD(probex_auditor_options, max_lora_rank);

  FIELD(probex_audit_result, struct_size);
  FIELD(probex_audit_result, tree);
  FIELD(probex_audit_result, label_count);
  FIELD(probex_audit_result, logits);
  FIELD(probex_audit_result, probabilities);
  FIELD(probex_audit_result, predicted);
  FIELD(probex_audit_result, embedding_size);
  FIELD(probex_audit_result, embedding);
  FIELD(probex_audit_result, seconds_read);
  FIELD(probex_audit_result, seconds_probe);
  FIELD(probex_audit_result, seconds_rest);
  FIELD(probex_audit_result, routed);
  FIELD(probex_audit_result, root_distance_count);
  FIELD(probex_audit_result, root_distances);
  FIELD(probex_audit_result, route_distance);
  FIELD(probex_audit_result, route_accept);
  FIELD(probex_audit_result, route_margin);
  FIELD(probex_audit_result, unknown_reason);
  FIELD(probex_audit_result, seconds_route);
  FIELD(probex_audit_result, zero_shot_count);
  FIELD(probex_audit_result, zero_shot_scores);
  FIELD(probex_audit_result, seconds_zero_shot);
  FIELD(probex_audit_result, model_format);
  FIELD(probex_audit_result, declared_base_model);

  VALUE(PROBEX_OK);
  VALUE(PROBEX_INVALID_ARGUMENT);
  VALUE(PROBEX_OUT_OF_MEMORY);
  VALUE(PROBEX_IO_ERROR);
  VALUE(PROBEX_BUNDLE_IDENTIFIER);
  VALUE(PROBEX_BUNDLE_VERSION);
  VALUE(PROBEX_BUNDLE_STRUCTURE);
  VALUE(PROBEX_BUNDLE_CONTENT);
  VALUE(PROBEX_BUNDLE_MISALIGNED);
  VALUE(PROBEX_MODEL_INVALID);
  VALUE(PROBEX_LAYER_NOT_FOUND);
  VALUE(PROBEX_LAYER_SHAPE);
  VALUE(PROBEX_LAYER_DTYPE);
  VALUE(PROBEX_LAYER_NONFINITE);
  VALUE(PROBEX_SELF_TEST_FAILED);
  VALUE(PROBEX_BACKEND_ERROR);
  VALUE(PROBEX_UNSUPPORTED);
  VALUE(PROBEX_BUNDLE_ROUTER);
  VALUE(PROBEX_BUNDLE_SIGNATURE);
  VALUE(PROBEX_LIMIT_EXCEEDED);
  VALUE(PROBEX_NOT_A_MODEL);
  VALUE(PROBEX_NOT_FOUND);
  VALUE(PROBEX_BACKEND_XNNPACK);
  VALUE(PROBEX_BACKEND_REFERENCE);
  VALUE(PROBEX_ROUTE);
  VALUE(PROBEX_NO_TREE);
  VALUE(PROBEX_BUNDLE_FORMAT_VERSION);
  VALUE(PROBEX_AUDIT_JSON_SCHEMA_VERSION);
  VALUE(PROBEX_VERSION_MAJOR);
}
