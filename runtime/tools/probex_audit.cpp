// probex-audit: which tree a model descends from and what it was fine-tuned on, from one layer.
// Audits through the public C API only (include/probex/probex.h), as an agent linking the library would;
// cli_common.h adds the command-line helpers (numbers, JSON text, key files).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "runtime/cli/args.h"
#include "runtime/tools/cli_common.h"
#include "runtime/formats/python_literal.h"
#include "runtime/formats/model_file.h"
#include "probex/probex.h"

namespace {

const char* const kHelp =
      "usage: probex-audit BUNDLE MODEL... [options]\n"
      "\n"
      "Audits each MODEL (a file or folder of any format probex reads: safetensors, GGUF, TFLite, ONNX, a\n"
      "sharded checkpoint, a PEFT adapter) with the bundle's expert: reads the probed layer, runs the expert,\n"
      "and reports the probability of every label and the predicted set (p >= 0.5). If the tree has a\n"
      "zero-shot expert, also the label texts its weights match best (cosine), trained on or not. A lossy\n"
      "copy near its tree's acceptance distance is reported 'near the boundary' (docs/routing.md).\n"
      "\n"
      "options:\n"
      "  --tree NAME            the expert to use; by default the bundle's router chooses it (a model of no\n"
      "                         known tree is reported as 'unknown tree' with its distances); without a router\n"
      "                         the bundle must hold a single tree\n"
      "  --backend NAME         xnnpack (default) or reference\n"
      "  --threads N            threads for the backend (default 1; auto: every processor online)\n"
      "  --truth KEY            compare with the labels in the model's metadata KEY (a Python-list\n"
      "                         literal, e.g. dataset_chosen_targets) and print bit / exact-set accuracy\n"
      "  --query TEXT           rank the models by the cosine of their zero-shot embedding with label TEXT (a\n"
      "                         zero-shot label of their tree in the bundle; probex-convert --add-labels adds\n"
      "                         new ones); prints the ranking instead of the reports\n"
      "  --trusted-key FILE     audit only with a bundle signed by this Ed25519 public key (repeatable;\n"
      "                         probex-keygen makes keys, probex-convert --sign signs)\n"
      "  --max-bundle-size N    refuse a bundle file above N bytes (suffix K, M, G, T; default 256M)\n"
      "  --max-model-size N     refuse a model file above N bytes (default 64G)\n"
      "  --json                 JSON on stdout instead of the readable report: one record per model, failed\n"
      "                         ones included (schema: docs/audit-json.md); with --query, one per ranked model\n"
      "  --quiet                only the summary line (and errors)\n"
      "  --help, --version\n"
      "\n"
      "exit codes: 0 every model audited, 1 a model or the bundle failed (message on stderr, the other\n"
      "models are still audited), 2 bad command line\n";

// The model's own labels, for --truth; empty with *error set when they cannot be read.
bool truth_labels(const std::string& path, const std::string& key, std::vector<std::string>* out, std::string* error) {
  std::unique_ptr<probex::ModelFile> file;
  const probex::ModelStatus s = probex::open_model_file(path, &file);
  if (!s.ok()) {
    *error = s.message;
    return false;
  }
  const std::string* value = file->metadata_string(key);
  if (!value) {
    *error = path + ": no metadata '" + key + "'";
    return false;
  }
  std::string why;
  if (!probex::parse_python_string_list(*value, out, &why)) {
    *error = path + ": metadata '" + key + "' is " + why;
    return false;
  }
  return true;
}

// A declared base model names the tree's root when they are equal or one is a path ending in the other
// ("org/model" and "model"): hubs and zoos name the same model with and without its owner.
bool same_model_name(const std::string& declared, const std::string& root) {
  if (declared.empty() || root.empty()) return false;
  const auto ends_with = [](const std::string& a, const std::string& b) {
    return a.size() > b.size() && a.compare(a.size() - b.size(), b.size(), b) == 0 && a[a.size() - b.size() - 1] == '/';
  };
  return declared == root || ends_with(declared, root) || ends_with(root, declared);
}

struct ZeroShotLabel {
  std::string name;
  bool trained = false;
};

std::vector<ZeroShotLabel> zero_shot_labels(const probex_bundle* bundle, uint32_t tree, uint32_t count) {
  std::vector<ZeroShotLabel> out(count);
  for (uint32_t k = 0; k < count; ++k) {
    const char* name = "";
    bool trained = false;
    probex_bundle_zero_shot_label(bundle, tree, k, &name, &trained, nullptr);
    out[k] = {name, trained};
  }
  return out;
}

// Indices of the zero-shot scores, best first.
std::vector<uint32_t> ranked(const probex_audit_result& r) {
  std::vector<uint32_t> order(r.zero_shot_count);
  for (uint32_t k = 0; k < r.zero_shot_count; ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return r.zero_shot_scores[a] > r.zero_shot_scores[b]; });
  return order;
}

// The model's record of the JSON result schema (probex_audit_json, docs/audit-json.md).
std::string audit_record(const probex_bundle* bundle, const std::string& path, probex_status status,
                         const probex_error& error, const probex_audit_result& r) {
  std::string out(4096, '\0');
  size_t length = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (probex_audit_json(bundle, path.c_str(), status, &error, &r, out.data(), out.size(), &length, nullptr) != PROBEX_OK) break;
    if (length < out.size()) {
      out.resize(length);
      return out;
    }
    out.assign(length + 1, '\0');
  }
  return "{\"schema_version\":" + std::to_string(PROBEX_AUDIT_JSON_SCHEMA_VERSION) + ",\"model\":" +
         probex::cli::json_string(path) + ",\"status\":\"out_of_memory\"}";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional, trusted_key_files;
  std::string tree_name, truth_key, query;
  probex_bundle_options bundle_options;
  probex_bundle_options_init(&bundle_options, sizeof bundle_options);
  probex_auditor_options options;
  probex_auditor_options_init(&options, sizeof options);
  bool json = false, quiet = false;
  probex::cli::ArgParser args("probex-audit", kHelp);
  args.positional(&positional);
  args.text("--tree", "a tree name", &tree_name);
  args.text("--truth", "a metadata key", &truth_key);
  args.text("--query", "a label text", &query);
  probex::cli::add_backend_option(&args, &options);
  args.threads(&options.threads);
  args.texts("--trusted-key", "a public key file", &trusted_key_files);
  args.byte_size("--max-bundle-size", &bundle_options.max_bundle_bytes);
  args.byte_size("--max-model-size", &options.max_model_bytes);
  args.flag("--json", &json);
  args.flag("--quiet", &quiet);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  if (positional.size() < 2) return args.usage_error("a bundle and at least one model are required");
  std::vector<uint8_t> trusted_keys;
  std::string key_error;
  if (!probex::cli::read_trusted_keys(trusted_key_files, &trusted_keys, &key_error)) {
    std::fprintf(stderr, "probex-audit: %s\n", key_error.c_str());
    return 1;
  }

  probex_error error{};
  probex_bundle* bundle = nullptr;
  bundle_options.trusted_keys = trusted_keys.data();
  bundle_options.trusted_key_count = trusted_keys.size() / probex::kPublicKeyBytes;
  if (probex_bundle_open(positional[0].c_str(), &bundle_options, &bundle, &error) != PROBEX_OK) {
    std::fprintf(stderr, "probex-audit: %s [%s]\n", error.message, probex_status_name(error.status));
    return 1;
  }
  uint32_t tree = PROBEX_ROUTE, tree_count = 0;
  bool has_router = false;
  probex_bundle_tree_count(bundle, &tree_count, nullptr);
  probex_bundle_has_router(bundle, &has_router, nullptr);
  if (!tree_name.empty()) {
    if (probex_bundle_find_tree(bundle, tree_name.c_str(), &tree, nullptr) != PROBEX_OK) {
      std::fprintf(stderr, "probex-audit: %s has no tree '%s'\n", positional[0].c_str(), tree_name.c_str());
      probex_bundle_free(bundle);
      return 1;
    }
  } else if (tree_count > 1 && !has_router) {
    probex_bundle_free(bundle);
    return args.usage_error("the bundle holds " + std::to_string(tree_count) + " trees and no router: choose one with --tree");
  }
  std::vector<std::string> tree_names(tree_count);
  for (uint32_t i = 0; i < tree_count; ++i) {
    probex_tree_info ti;
    probex_tree_info_init(&ti, sizeof ti);
    probex_bundle_tree_info(bundle, i, &ti, nullptr);
    tree_names[i] = ti.name;
  }
  probex_auditor* auditor = nullptr;
  if (probex_auditor_create(bundle, &options, nullptr, &auditor, &error) != PROBEX_OK) {
    std::fprintf(stderr, "probex-audit: %s [%s]\n", error.message, probex_status_name(error.status));
    probex_bundle_free(bundle);
    return 1;
  }

  if (!query.empty()) quiet = true;  // the ranking replaces the reports
  struct QueryHit {
    double cosine;
    std::string model, tree;
  };
  std::vector<QueryHit> hits;
  std::vector<std::string> not_comparable;  // models whose tree has no zero-shot label `query`
  int exit_code = 0;
  size_t audited = 0, compared = 0, bits_right = 0, bits_total = 0, exact_right = 0, unknown = 0, near_boundary = 0;
  size_t zero_shot_compared = 0, zero_shot_right = 0;
  double total_seconds = 0;
  for (size_t m = 1; m < positional.size(); ++m) {
    const std::string& path = positional[m];
    probex_audit_result r;
    probex_audit_result_init(&r, sizeof r);
    const probex_status status = probex_audit_file(auditor, tree, path.c_str(), &r, &error);
    // --json: one record per model, failed ones included (docs/audit-json.md); --query prints its ranking
    // instead.
    const bool json_record = json && query.empty();
    if (status != PROBEX_OK) {
      std::fprintf(stderr, "probex-audit: %s [%s]\n", error.message, probex_status_name(error.status));
      if (json_record) std::printf("%s\n", audit_record(bundle, path, status, error, r).c_str());
      exit_code = 1;
      continue;
    }
    ++audited;
    const double seconds = r.seconds_route + r.seconds_read + r.seconds_probe + r.seconds_rest + r.seconds_zero_shot;
    std::string routing;  // "distances: mlp-a 0.12, mlp-b 1.40 ..." when the router ran
    if (r.routed) {
      char buf[64];
      for (uint32_t k = 0; k < r.root_distance_count; ++k) {
        if (std::isnan(r.root_distances[k])) continue;
        std::snprintf(buf, sizeof(buf), "%s%s %.3f", routing.empty() ? "" : ", ", tree_names[k].c_str(),
                      static_cast<double>(r.root_distances[k]));
        routing += buf;
      }
    }
    if (r.tree == PROBEX_NO_TREE) {
      ++unknown;
      if (json_record) {
        std::printf("%s\n", audit_record(bundle, path, status, error, r).c_str());
      } else if (!quiet && !json) {
        std::printf("model  %s (%s)\n", path.c_str(), r.model_format);
        if (*r.declared_base_model) std::printf("claims base model %s\n", r.declared_base_model);
        std::printf("tree   unknown tree: %s\n       root distances: %s\n\n", r.unknown_reason, routing.c_str());
      }
      continue;
    }
    near_boundary += r.route_outcome == PROBEX_ROUTE_NEAR_BOUNDARY;
    probex_tree_info info;
    probex_tree_info_init(&info, sizeof info);
    probex_bundle_tree_info(bundle, r.tree, &info, nullptr);
    total_seconds += seconds;
    std::vector<std::string> labels(r.label_count);
    for (uint32_t k = 0; k < r.label_count; ++k) {
      const char* name = "";
      probex_bundle_label(bundle, r.tree, k, &name, nullptr);
      labels[k] = name;
    }
    std::vector<std::string> truth;
    std::string truth_error;
    bool have_truth = false;
    size_t right = 0;
    if (!truth_key.empty()) {
      have_truth = truth_labels(path, truth_key, &truth, &truth_error);
      if (!have_truth) {
        std::fprintf(stderr, "probex-audit: %s\n", truth_error.c_str());
        exit_code = 1;
      } else {
        for (uint32_t k = 0; k < r.label_count; ++k) {
          const bool in_truth = std::find(truth.begin(), truth.end(), labels[k]) != truth.end();
          right += in_truth == r.predicted[k];
        }
        ++compared;
        bits_total += r.label_count;
        bits_right += right;
        exact_right += right == r.label_count;
      }
    }
    const std::vector<ZeroShotLabel> zs = zero_shot_labels(bundle, r.tree, r.zero_shot_count);
    const std::vector<uint32_t> zs_order = ranked(r);
    if (have_truth && truth.size() == 1 && !zs_order.empty()) {  // one-class models: zero-shot top-1
      ++zero_shot_compared;
      zero_shot_right += zs[zs_order[0]].name == truth[0];
    }
    if (!query.empty()) {
      const auto it = std::find_if(zs.begin(), zs.end(), [&](const ZeroShotLabel& l) { return l.name == query; });
      if (it == zs.end()) {
        not_comparable.push_back(path + " (tree " + info.name + ")");
      } else {
        hits.push_back({static_cast<double>(r.zero_shot_scores[it - zs.begin()]), path, info.name});
      }
    }
    if (json_record) {
      std::string o = audit_record(bundle, path, status, error, r);
      if (have_truth) {  // the one field only probex-audit has: the record ends with '}'
        o.pop_back();
        o += ",\"bit_accuracy\":" + probex::cli::json_number(static_cast<double>(right) / r.label_count) + "}";
      }
      std::printf("%s\n", o.c_str());
    } else if (!quiet && !json) {
      std::printf("model  %s (%s)\n", path.c_str(), r.model_format);
      if (*r.declared_base_model)  // the file's claim beside the weights' answer
        std::printf("claims base model %s%s\n", r.declared_base_model,
                    same_model_name(r.declared_base_model, info.root) ? "" : ": differs from the router's tree root");
      std::printf("tree   %s (root %s), layer %s [%u, %u]\n", info.name, info.root, info.layer_name, info.d_h, info.d_w);
      if (r.routed) {
        std::printf("route  distance %.3f (accepted up to %.3f), margin %.1fx; root distances: %s\n",
                    static_cast<double>(r.route_distance), static_cast<double>(r.route_accept),
                    static_cast<double>(r.route_margin), routing.c_str());
        if (r.route_outcome == PROBEX_ROUTE_NEAR_BOUNDARY)
          std::printf("       near the boundary: the file's rounding (%.3f of its layer's norm) leaves its original on\n"
                      "       either side of the acceptance distance (%.3f-%.3f for this file): the lineage is uncertain\n",
                      static_cast<double>(r.layer_rounding), static_cast<double>(r.route_band_low),
                      static_cast<double>(r.route_band_high));
      }
      std::printf("fine-tuned on:");
      for (uint32_t k = 0; k < r.label_count; ++k)
        if (r.predicted[k]) std::printf(" %s (%.2f)", labels[k].c_str(), static_cast<double>(r.probabilities[k]));
      std::printf("\n");
      std::vector<uint32_t> order(r.label_count);
      for (uint32_t k = 0; k < r.label_count; ++k) order[k] = k;
      std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return r.probabilities[a] > r.probabilities[b]; });
      for (uint32_t k : order) {
        const bool in_truth = have_truth && std::find(truth.begin(), truth.end(), labels[k]) != truth.end();
        std::printf("  %-24s %.3f %s%s\n", labels[k].c_str(), static_cast<double>(r.probabilities[k]), r.predicted[k] ? "yes" : "no ",
                    have_truth ? (in_truth ? "   (trained on it)" : "") : "");
      }
      if (have_truth) std::printf("bit accuracy against %s: %zu / %u\n", truth_key.c_str(), right, r.label_count);
      if (!zs_order.empty()) {
        std::printf("zero-shot: label texts its weights match best (cosine; of %u):\n", r.zero_shot_count);
        for (size_t k = 0; k < std::min<size_t>(5, zs_order.size()); ++k) {
          const ZeroShotLabel& l = zs[zs_order[k]];
          std::printf("  %-24s %6.3f %s\n", l.name.c_str(), static_cast<double>(r.zero_shot_scores[zs_order[k]]),
                      l.trained ? "" : "(never trained on)");
        }
      }
      std::printf("time   %.3f ms (route %.3f, read %.3f, probe %.3f, rest %.3f, zero-shot %.3f)\n\n", seconds * 1e3,
                  r.seconds_route * 1e3, r.seconds_read * 1e3, r.seconds_probe * 1e3, r.seconds_rest * 1e3,
                  r.seconds_zero_shot * 1e3);
    }
  }
  if (!query.empty()) {
    std::stable_sort(hits.begin(), hits.end(), [](const QueryHit& a, const QueryHit& b) { return a.cosine > b.cosine; });
    if (json) {
      for (size_t k = 0; k < hits.size(); ++k)
        std::printf("{\"schema_version\":%d,\"query\":%s,\"rank\":%zu,\"cosine\":%s,\"tree\":%s,\"model\":%s}\n",
                    PROBEX_AUDIT_JSON_SCHEMA_VERSION, probex::cli::json_string(query).c_str(), k + 1,
                    probex::cli::json_number(hits[k].cosine).c_str(),
                    probex::cli::json_string(hits[k].tree).c_str(), probex::cli::json_string(hits[k].model).c_str());
    } else {
      std::printf("models ranked by cosine with '%s':\n", query.c_str());
      for (size_t k = 0; k < hits.size(); ++k)
        std::printf("  %4zu  %6.3f  %-8s %s\n", k + 1, hits[k].cosine, hits[k].tree.c_str(), hits[k].model.c_str());
    }
    for (const std::string& m : not_comparable)
      std::fprintf(stderr, "probex-audit: %s: the tree has no zero-shot label '%s' (add it with probex-convert --add-labels)\n",
                   m.c_str(), query.c_str());
    if (hits.empty()) exit_code = 1;
  }
  if (!json) {
    char near[64] = "";
    if (near_boundary) std::snprintf(near, sizeof(near), ", %zu near the boundary", near_boundary);
    std::printf("audited %zu of %zu models (%s%zu of unknown tree%s; %s backend), mean %.3f ms", audited,
                positional.size() - 1, tree == PROBEX_ROUTE ? "routed, " : "", unknown, near,
                options.backend == PROBEX_BACKEND_XNNPACK ? "xnnpack" : "reference",
                audited ? total_seconds * 1e3 / static_cast<double>(audited) : 0.0);
    if (compared)
      std::printf("; against %s: bit accuracy %.4f, exact set %.4f over %zu models", truth_key.c_str(),
                  static_cast<double>(bits_right) / static_cast<double>(bits_total),
                  static_cast<double>(exact_right) / static_cast<double>(compared), compared);
    if (zero_shot_compared)
      std::printf("; zero-shot top-1 over all zero-shot labels %.4f over %zu one-class models",
                  static_cast<double>(zero_shot_right) / static_cast<double>(zero_shot_compared), zero_shot_compared);
    std::printf("\n");
  }
  probex_auditor_free(auditor);
  probex_bundle_free(bundle);
  return exit_code;
}
