#include "api/audit_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "core/json_writer.h"

namespace probex {
namespace {

// Nine significant digits: the runtime's values are float32, so more would print conversion noise. JSON
// has no NaN or infinity (a margin with one candidate tree is infinite): those are null.
void append_number(std::string* out, double v) {
  if (!std::isfinite(v)) {
    *out += "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  *out += buf;
}

void append_text_or_null(std::string* out, const char* s) {
  if (s && *s) {
    append_json_string(out, s);
  } else {
    *out += "null";
  }
}

void append_field(std::string* out, const char* name) {
  *out += ",\"";
  *out += name;
  *out += "\":";
}

}  // namespace

std::string audit_json_record(const probex_bundle* bundle, const char* model_path, probex_status status,
                              const char* message, const probex_audit_result* result) {
  const bool ok = status == PROBEX_OK && result;
  const bool known = ok && result->tree != PROBEX_NO_TREE;
  probex_tree_info info{};
  if (known) probex_bundle_tree_info(bundle, result->tree, &info);
  std::string o = "{\"schema_version\":" + std::to_string(PROBEX_AUDIT_JSON_SCHEMA_VERSION) + ",\"model\":";
  append_json_string(&o, model_path ? model_path : "");
  append_field(&o, "format");
  append_text_or_null(&o, ok ? result->model_format : nullptr);
  append_field(&o, "declared_base_model");
  append_text_or_null(&o, ok && result->declared_base_model && *result->declared_base_model ? result->declared_base_model
                                                                                              : nullptr);
  append_field(&o, "status");
  append_json_string(&o, probex_status_name(status));
  append_field(&o, "tree");
  append_text_or_null(&o, known ? info.name : nullptr);
  append_field(&o, "root");
  append_text_or_null(&o, known ? info.root : nullptr);
  append_field(&o, "layer");
  append_text_or_null(&o, known ? info.layer_name : nullptr);
  // Why there is no tree: the error, or the router's reason for refusing every tree.
  append_field(&o, "message");
  append_text_or_null(&o, !ok ? message : known ? nullptr : result->unknown_reason);
  const bool routed = ok && result->routed;
  append_field(&o, "routed");
  o += routed ? "true" : "false";
  for (const auto& [name, value] : {std::pair<const char*, float>{"route_distance", routed ? result->route_distance : NAN},
                                    {"route_accept", routed ? result->route_accept : NAN},
                                    {"route_margin", routed ? result->route_margin : NAN}}) {
    append_field(&o, name);
    append_number(&o, static_cast<double>(value));
  }
  append_field(&o, "distances");
  o += "{";
  bool first = true;
  for (uint32_t k = 0; routed && k < result->root_distance_count; ++k) {
    if (std::isnan(result->root_distances[k])) continue;  // the model has no layer that tree probes
    probex_tree_info t{};
    if (probex_bundle_tree_info(bundle, k, &t) != PROBEX_OK) continue;
    if (!first) o += ",";
    first = false;
    append_json_string(&o, t.name);
    o += ":";
    append_number(&o, static_cast<double>(result->root_distances[k]));
  }
  o += "}";
  append_field(&o, "labels");
  o += "[";
  for (uint32_t k = 0; known && k < result->label_count; ++k) {
    const char* name = "";
    probex_bundle_label(bundle, result->tree, k, &name);
    o += k ? ",{\"name\":" : "{\"name\":";
    append_json_string(&o, name);
    append_field(&o, "probability");
    append_number(&o, static_cast<double>(result->probabilities[k]));
    append_field(&o, "predicted");
    o += result->predicted[k] ? "true}" : "false}";
  }
  o += "]";
  append_field(&o, "zero_shot");
  o += "[";
  if (known) {
    std::vector<uint32_t> order(result->zero_shot_count);  // best first; ties keep the bundle's order
    for (uint32_t k = 0; k < result->zero_shot_count; ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return result->zero_shot_scores[a] > result->zero_shot_scores[b];
    });
    for (size_t k = 0; k < order.size(); ++k) {
      const char* label = "";
      int trained = 0;
      probex_bundle_zero_shot_label(bundle, result->tree, order[k], &label, &trained);
      o += k ? ",{\"label\":" : "{\"label\":";
      append_json_string(&o, label);
      append_field(&o, "cosine");
      append_number(&o, static_cast<double>(result->zero_shot_scores[order[k]]));
      append_field(&o, "trained");
      o += trained ? "true}" : "false}";
    }
  }
  o += "]";
  append_field(&o, "embedding");
  o += "[";
  for (uint32_t k = 0; known && k < result->embedding_size; ++k) {
    if (k) o += ",";
    append_number(&o, static_cast<double>(result->embedding[k]));
  }
  o += "]";
  append_field(&o, "seconds");
  if (ok) {
    o += "{\"route\":";
    append_number(&o, result->seconds_route);
    append_field(&o, "read");
    append_number(&o, result->seconds_read);
    append_field(&o, "probe");
    append_number(&o, result->seconds_probe);
    append_field(&o, "rest");
    append_number(&o, result->seconds_rest);
    append_field(&o, "zero_shot");
    append_number(&o, result->seconds_zero_shot);
    o += "}";
  } else {
    o += "null";
  }
  return o + "}";
}

}  // namespace probex
