#include "runtime/api/audit_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "runtime/formats/json_writer.h"

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

const char* route_outcome_name(probex_route_outcome outcome) {
  switch (outcome) {
    case PROBEX_ROUTE_ACCEPTED: return "accepted";
    case PROBEX_ROUTE_NEAR_BOUNDARY: return "near_boundary";
    case PROBEX_ROUTE_REFUSED: return "refused";
    case PROBEX_ROUTE_NONE: break;
  }
  return nullptr;
}

void append_field(std::string* out, const char* name) {
  *out += ",\"";
  *out += name;
  *out += "\":";
}

}  // namespace

std::string audit_json_record(const Bundle& bundle, const char* model_path, probex_status status, const char* message,
                              const probex_audit_result* result) {
  const bool ok = status == PROBEX_OK && result;
  const bool known = ok && result->tree != PROBEX_NO_TREE;
  const TreeView* tree = known && result->tree < bundle.trees().size() ? &bundle.trees()[result->tree] : nullptr;
  std::string o = "{\"schema_version\":" + std::to_string(PROBEX_AUDIT_JSON_SCHEMA_VERSION) + ",\"model\":";
  append_json_string(&o, model_path ? model_path : "");
  append_field(&o, "format");
  append_text_or_null(&o, ok ? result->model_format : nullptr);
  append_field(&o, "declared_base_model");
  append_text_or_null(&o, ok && result->declared_base_model && *result->declared_base_model
                              ? result->declared_base_model
                              : nullptr);
  append_field(&o, "status");
  append_json_string(&o, probex_status_name(status));
  append_field(&o, "tree");
  append_text_or_null(&o, tree ? tree->name : nullptr);
  append_field(&o, "root");
  append_text_or_null(&o, tree ? tree->root : nullptr);
  append_field(&o, "layer");
  append_text_or_null(&o, tree ? tree->layer_name : nullptr);
  // Why there is no tree: the error, or the router's reason for refusing every tree.
  append_field(&o, "message");
  append_text_or_null(&o, !ok ? message : known ? nullptr : result->unknown_reason);
  const bool routed = ok && result->routed;
  append_field(&o, "routed");
  o += routed ? "true" : "false";
  for (const auto& [name, value] :
       {std::pair<const char*, float>{"route_distance", routed ? result->route_distance : NAN},
        {"route_accept", routed ? result->route_accept : NAN},
        {"route_margin", routed ? result->route_margin : NAN}}) {
    append_field(&o, name);
    append_number(&o, static_cast<double>(value));
  }
  // 1.3: the verdict, its band and the rounding it accounts for (docs/routing.md, "Lossy copies").
  append_field(&o, "route_outcome");
  append_text_or_null(&o, routed ? route_outcome_name(result->route_outcome) : nullptr);
  append_field(&o, "route_band");
  if (routed && result->route_outcome != PROBEX_ROUTE_NONE && !std::isnan(result->route_band_low)) {
    o += "[";
    append_number(&o, static_cast<double>(result->route_band_low));
    o += ",";
    append_number(&o, static_cast<double>(result->route_band_high));
    o += "]";
  } else {
    o += "null";
  }
  append_field(&o, "layer_rounding");
  append_number(&o, routed ? static_cast<double>(result->layer_rounding) : static_cast<double>(NAN));
  append_field(&o, "distances");
  o += "{";
  bool first = true;
  const uint32_t distances = routed ? std::min<uint32_t>(result->root_distance_count,
                                                         static_cast<uint32_t>(bundle.trees().size()))
                                    : 0;
  for (uint32_t k = 0; k < distances; ++k) {
    if (std::isnan(result->root_distances[k])) continue;  // the model has no layer that tree probes
    if (!first) o += ",";
    first = false;
    append_json_string(&o, bundle.trees()[k].name);
    o += ":";
    append_number(&o, static_cast<double>(result->root_distances[k]));
  }
  o += "}";
  append_field(&o, "labels");
  o += "[";
  const uint32_t labels = tree ? std::min<uint32_t>(result->label_count, static_cast<uint32_t>(tree->labels.size()))
                               : 0;
  for (uint32_t k = 0; k < labels; ++k) {
    o += k ? ",{\"name\":" : "{\"name\":";
    append_json_string(&o, tree->labels[k]);
    append_field(&o, "probability");
    append_number(&o, static_cast<double>(result->probabilities[k]));
    append_field(&o, "predicted");
    o += result->predicted[k] ? "true}" : "false}";
  }
  o += "]";
  append_field(&o, "zero_shot");
  o += "[";
  if (tree && tree->has_zero_shot) {
    std::vector<uint32_t> order(std::min<uint32_t>(
        result->zero_shot_count,
        static_cast<uint32_t>(tree->zero_shot.labels.size())));  // best first; ties keep the bundle's order
    for (uint32_t k = 0; k < order.size(); ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return result->zero_shot_scores[a] > result->zero_shot_scores[b]; });
    for (size_t k = 0; k < order.size(); ++k) {
      o += k ? ",{\"label\":" : "{\"label\":";
      append_json_string(&o, tree->zero_shot.labels[order[k]]);
      append_field(&o, "cosine");
      append_number(&o, static_cast<double>(result->zero_shot_scores[order[k]]));
      append_field(&o, "trained");
      o += tree->zero_shot.trained[order[k]] ? "true}" : "false}";
    }
  }
  o += "]";
  append_field(&o, "embedding");
  o += "[";
  for (uint32_t k = 0; tree && k < result->embedding_size; ++k) {
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
    append_field(&o, "open");
    append_number(&o, result->seconds_open);
    o += "}";
  } else {
    o += "null";
  }
  return o + "}";
}

}  // namespace probex
