// probex-inspect: what a bundle holds (trees, shapes, quantization, bytes) and whether this device
// computes what the converter computed (--self-test).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "bundle/bundle.h"
#include "cli/args.h"
#include "cli_common.h"
#include "executor/auditor.h"

namespace {

using probex::cli::json_number;
using probex::cli::json_string;

const char* const kHelp =
      "usage: probex-inspect BUNDLE [--json] [--self-test] [--backend xnnpack|reference] [--trusted-key FILE]\n"
      "                      [--max-bundle-size N] [--help] [--version]\n"
      "\n"
      "Verifies BUNDLE and prints its identifier, format version, producer, signer and SHA-256 digest, trees\n"
      "(layer, shapes, labels, training metrics) and every tensor's storage type, shape, bytes and int8 scale\n"
      "statistics. --self-test also runs the bundle's stored self-tests on this device; --trusted-key (repeatable)\n"
      "refuses a bundle not signed by one of those public keys; --max-bundle-size refuses a bundle file above N\n"
      "bytes (suffix K, M, G, T; default 256M).\n"
      "\n"
      "--json prints the report as one JSON object on stdout.\n"
      "\n"
      "exit codes: 0 valid (and self-tests passed), 1 invalid bundle or failed self-test, 2 bad command line\n";

struct ScaleStats {
  double min = 0, median = 0, max = 0;
};
ScaleStats scale_stats(const probex::MatrixView& m) {
  if (!m.scale_count) return {};
  std::vector<float> s(m.scales, m.scales + m.scale_count);
  std::sort(s.begin(), s.end());
  return {s.front(), s[s.size() / 2], s.back()};
}

}  // namespace

// Every stored matrix of a tree, named as in the checkpoints (zero-shot ones prefixed).
std::vector<std::pair<std::string, const probex::MatrixView*>> tensors_of(const probex::TreeView& t) {
  std::vector<std::pair<std::string, const probex::MatrixView*>> out;
  for (const probex::MatrixView* m : {&t.probes, &t.projection, &t.encoder, &t.encoder_bias, &t.head, &t.head_bias})
    out.emplace_back(m->name, m);
  if (t.has_zero_shot) {
    const probex::ZeroShotView& z = t.zero_shot;
    for (const probex::MatrixView* m : {&z.expert.probes, &z.expert.projection, &z.expert.encoder, &z.expert.encoder_bias,
                                        &z.prototypes, &z.text_projection, &z.text_bias})
      out.emplace_back(std::string("zero-shot ") + m->name, m);
  }
  return out;
}

int main(int argc, char** argv) {
  std::vector<std::string> positional, trusted_key_files;
  bool json = false, self_test = false;
  uint64_t max_bundle_bytes = probex::Bundle::kDefaultMaxBundleBytes;
  probex_auditor_options options;
  probex_auditor_options_default(&options);
  probex::cli::ArgParser args("probex-inspect", kHelp);
  args.positional(&positional);
  args.flag("--json", &json);
  args.flag("--self-test", &self_test);
  args.texts("--trusted-key", "a public key file", &trusted_key_files);
  args.byte_size("--max-bundle-size", &max_bundle_bytes);
  probex::cli::add_backend_option(&args, &options);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  if (positional.size() != 1) return args.usage_error("one bundle is required");
  const std::string& path = positional[0];
  std::vector<uint8_t> trusted_keys;
  std::string key_error;
  if (!probex::cli::read_trusted_keys(trusted_key_files, &trusted_keys, &key_error)) {
    std::fprintf(stderr, "probex-inspect: %s\n", key_error.c_str());
    return 1;
  }
  probex::Bundle bundle;
  std::string message;
  probex_status s = probex::Bundle::open(path, &bundle, &message, trusted_keys.data(),
                                         trusted_keys.size() / probex::kPublicKeyBytes, max_bundle_bytes);
  if (s != PROBEX_OK) {
    std::fprintf(stderr, "probex-inspect: %s [%s]\n", message.c_str(), probex_status_name(s));
    return 1;
  }
  std::string self_test_text = "not run";
  double worst = 0;
  if (self_test) {
    std::unique_ptr<probex::Auditor> auditor;
    s = probex::Auditor::create(bundle, options, nullptr, &auditor, &message);
    if (s == PROBEX_OK) s = auditor->self_test(&worst, &message);
    self_test_text = s == PROBEX_OK ? "passed" : "FAILED: " + message;
  }

  uint8_t digest_bytes[probex::kDigestBytes];
  probex::bundle_digest(bundle.data(), bundle.size(), digest_bytes);
  const std::string digest = probex::to_hex(digest_bytes, sizeof digest_bytes);
  const std::string signer = bundle.signature().present
                                 ? probex::to_hex(bundle.signature().public_key, probex::kPublicKeyBytes)
                                 : std::string();
  if (json) {
    std::string o = "{\"file\":" + json_string(path) + ",\"signer\":" + (signer.empty() ? "null" : json_string(signer)) +
                    ",\"sha256\":" + json_string(digest) + ",\"identifier\":\"PRBX\",\"format_version\":" +
                    std::to_string(bundle.format_version()) + ",\"producer\":" + json_string(bundle.producer()) +
                    ",\"bytes\":" + std::to_string(bundle.size()) + ",\"trees\":[";
    bool first_tree = true;
    for (const probex::TreeView& t : bundle.trees()) {
      o += std::string(first_tree ? "" : ",") + "{\"name\":" + json_string(t.name) + ",\"root\":" + json_string(t.root) +
           ",\"layer\":" + json_string(t.layer_name) + ",\"rule\":" + json_string(probex::layer_rule_name(t.rule)) +
           ",\"d_h\":" + std::to_string(t.d_h) + ",\"d_w\":" + std::to_string(t.d_w) + ",\"r_u\":" + std::to_string(t.r_u) +
           ",\"r_v\":" + std::to_string(t.r_v) + ",\"r_t\":" + std::to_string(t.r_t) + ",\"labels\":[";
      first_tree = false;
      for (size_t k = 0; k < t.labels.size(); ++k) o += (k ? "," : "") + json_string(t.labels[k]);
      o += "],\"metrics\":{";
      for (size_t k = 0; k < t.metrics.size(); ++k)
        o += (k ? "," : "") + json_string(t.metrics[k].first) + ":" + json_number(t.metrics[k].second);
      o += "},\"tensors\":[";
      bool first = true;
      for (const auto& [name, m] : tensors_of(t)) {
        const ScaleStats st = scale_stats(*m);
        o += std::string(first ? "" : ",") + "{\"name\":" + json_string(name) + ",\"shape\":[" + std::to_string(m->rows) +
             "," + std::to_string(m->cols) + "],\"type\":" + json_string(probex::storage_type_name(m->type)) +
             ",\"block_size\":" + std::to_string(m->block_size) + ",\"data_bytes\":" + std::to_string(m->data_bytes()) +
             ",\"scales\":" + std::to_string(m->scale_count);
        if (m->scale_count)
          o += ",\"scale_min\":" + json_number(st.min) + ",\"scale_median\":" + json_number(st.median) +
               ",\"scale_max\":" + json_number(st.max);
        o += "}";
        first = false;
      }
      o += "],\"self_tests\":" + std::to_string(t.self_tests.size());
      if (t.has_zero_shot) {
        o += ",\"zero_shot\":{\"text_source\":" + json_string(t.zero_shot.text_source) + ",\"labels\":[";
        for (size_t k = 0; k < t.zero_shot.labels.size(); ++k)
          o += std::string(k ? "," : "") + "{\"label\":" + json_string(t.zero_shot.labels[k]) +
               ",\"trained\":" + (t.zero_shot.trained[k] ? "true" : "false") + "}";
        o += "]}";
      }
      if (bundle.has_router()) o += ",\"accept_distance\":" + json_number(static_cast<double>(t.accept_distance));
      o += "}";
    }
    o += "]";
    if (bundle.has_router())
      o += ",\"router\":{\"sketch_rows\":" + std::to_string(bundle.router().rows) +
           ",\"sketch_cols\":" + std::to_string(bundle.router().cols) + "}";
    o += ",\"self_test\":" + json_string(self_test_text);
    if (self_test) o += ",\"self_test_worst\":" + json_number(worst);
    std::printf("%s}\n", o.c_str());
  } else {
    std::printf("signer      %s\nsha256      %s\n", signer.empty() ? "unsigned" : ("Ed25519 " + signer).c_str(), digest.c_str());
    std::printf("bundle      %s (%zu bytes)\nidentifier  PRBX, format version %u\nproducer    %s\ntrees       %zu\n", path.c_str(),
                bundle.size(), bundle.format_version(), bundle.producer(), bundle.trees().size());
    if (bundle.has_router())
      std::printf("router      sketch %u x %u of the probed layer (%zu bytes per tree)\n", bundle.router().rows,
                  bundle.router().cols, static_cast<size_t>(bundle.router().rows) * bundle.router().cols * sizeof(float));
    else
      std::printf("router      none (audits must name their tree)\n");
    for (const probex::TreeView& t : bundle.trees()) {
      std::printf("\ntree %s (root %s)\n  layer %s, %s, X [%u, %u]; r_U %u, r_V %u, r_T %u; %u labels:", t.name,
                  *t.root ? t.root : "-", t.layer_name, probex::layer_rule_name(t.rule), t.d_h, t.d_w, t.r_u, t.r_v, t.r_t,
                  t.d_y);
      for (const char* l : t.labels) std::printf(" %s;", l);
      std::printf("\n");
      for (const auto& [k, v] : t.metrics) std::printf("  %-22s %.4f\n", k, v);
      if (t.has_zero_shot) {
        std::printf("  zero-shot: r_U %u, r_V %u, r_T %u; %zu label texts (* never trained on), embedded with %s:",
                    t.zero_shot.expert.r_u, t.zero_shot.expert.r_v, t.zero_shot.expert.r_t, t.zero_shot.labels.size(),
                    t.zero_shot.text_source);
        for (size_t k = 0; k < t.zero_shot.labels.size(); ++k)
          std::printf(" %s%s;", t.zero_shot.labels[k], t.zero_shot.trained[k] ? "" : "*");
        std::printf("\n");
      }
      std::printf("  %-36s %-14s %-6s %6s %12s  %s\n", "tensor", "shape", "type", "block", "bytes", "scales min / median / max");
      for (const auto& [name, m] : tensors_of(t)) {
        const std::string shape = "[" + std::to_string(m->rows) + ", " + std::to_string(m->cols) + "]";
        std::printf("  %-36s %-14s %-6s %6u %12zu", name.c_str(), shape.c_str(), probex::storage_type_name(m->type), m->block_size,
                    m->data_bytes() + m->scale_count * sizeof(float));
        if (m->scale_count) {
          const ScaleStats st = scale_stats(*m);
          std::printf("  %.3g / %.3g / %.3g", st.min, st.median, st.max);
        }
        std::printf("\n");
      }
      std::printf("  self-tests %zu\n", t.self_tests.size());
      if (bundle.has_router())
        std::printf("  router: accepts models up to distance %.3f from this root\n", static_cast<double>(t.accept_distance));
    }
    std::printf("\nself-test   %s", self_test_text.c_str());
    if (self_test) std::printf(" (worst relative difference %.2g)", worst);
    std::printf("\n");
  }
  return self_test && self_test_text != "passed" ? 1 : 0;
}
