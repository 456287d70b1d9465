// probex-inspect: what a bundle holds (trees, shapes, quantization, bytes) and whether this device
// computes what the converter computed (--self-test); or what a model file holds (its tensors, as probex
// reads them) and the values of one tensor's rows (--dump).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "runtime/bundle/bundle.h"
#include "runtime/cli/args.h"
#include "runtime/executor/auditor.h"
#include "runtime/formats/model_file.h"
#include "runtime/tools/cli_common.h"

namespace {

using probex::cli::json_number;
using probex::cli::json_string;

const char* const kHelp =
    "usage: probex-inspect BUNDLE [--json] [--self-test] [--backend xnnpack|reference] [--trusted-key FILE]\n"
    "                      [--max-bundle-size N] [--help] [--version]\n"
    "       probex-inspect MODEL [--json] [--dump TENSOR [--rows A:B]] [--max-model-size N]\n"
    "\n"
    "Verifies BUNDLE and prints its identifier, format version, producer, signer and SHA-256 digest, trees\n"
    "(layer, shapes, labels, training metrics) and every tensor's storage type, shape, bytes and int8 scale\n"
    "statistics. --self-test also runs the bundle's stored self-tests on this device; --trusted-key (repeatable)\n"
    "refuses a bundle not signed by one of those public keys; --max-bundle-size refuses a bundle file above N\n"
    "bytes (suffix K, M, G, T; default 256M).\n"
    "\n"
    "MODEL is any model file or folder probex audits (safetensors, GGUF, TFLite, ONNX, a sharded checkpoint's\n"
    "folder or index, a PEFT adapter folder; chosen by content): its format and tensors (name, shape as PyTorch shows\n"
    "it, dtype as the format names it). --dump TENSOR prints that tensor's values as float32, row-major, for\n"
    "rows [A, B) with --rows A:B (default: all rows); rows are the first dimension of the shape.\n"
    "\n"
    "--json prints the report as one JSON object on stdout: for a model {\"format\", \"tensors\": [{\"name\",\n"
    "\"shape\", \"dtype\"}]} (and \"layout\" where the stored layout was permuted to PyTorch's: TFLite convolution\n"
    "kernels, ONNX MatMul weights), with --dump {\"name\", \"shape\", \"rows\": [A, B], \"values\": [...]}.\n"
    "\n"
    "exit codes: 0 valid (and self-tests passed), 1 invalid bundle or model, or failed self-test, 2 bad command line\n";

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

// An expert's stored matrices: a multi-view expert's views take the place of the probes and projection.
void expert_tensors(const probex::ExpertView& e, const std::string& prefix,
                    std::vector<std::pair<std::string, const probex::MatrixView*>>* out) {
  for (const probex::ViewWeights& v : e.views) {
    out->emplace_back(prefix + v.probes.name, &v.probes);
    out->emplace_back(prefix + v.projection.name, &v.projection);
  }
  for (const probex::MatrixView* m : {&e.probes, &e.projection, &e.encoder, &e.encoder_bias, &e.head, &e.head_bias}) {
    const bool replaced = !e.views.empty() && (m == &e.probes || m == &e.projection);
    const bool absent = e.d_y == 0 && (m == &e.head || m == &e.head_bias);  // a zero-shot expert has no head
    if (!replaced && !absent) out->emplace_back(prefix + m->name, m);
  }
}

// Every stored matrix of a tree, named as in the checkpoints (zero-shot ones prefixed).
std::vector<std::pair<std::string, const probex::MatrixView*>> tensors_of(const probex::TreeView& t) {
  std::vector<std::pair<std::string, const probex::MatrixView*>> out;
  expert_tensors(t, "", &out);
  if (t.has_zero_shot) {
    const probex::ZeroShotView& z = t.zero_shot;
    expert_tensors(z.expert, "zero-shot ", &out);
    for (const probex::MatrixView* m : {&z.prototypes, &z.text_projection, &z.text_bias})
      out.emplace_back(std::string("zero-shot ") + m->name, m);
  }
  return out;
}

// An expert's kind: "probex", or "mvprobe (xxtu, xtxu)" with its views.
std::string expert_kind(const probex::ExpertView& e) {
  if (e.views.empty()) return "probex";
  std::string s = "mvprobe (";
  for (size_t i = 0; i < e.views.size(); ++i) s += std::string(i ? ", " : "") + probex::view_name(e.views[i].kind);
  return s + ")";
}

// The JSON's key is "reader", the expert kind's name before issue 30, kept for the JSON's readers.
std::string expert_kind_json(const probex::ExpertView& e, const char* reason) {
  std::string o = "{\"name\":" + json_string(e.views.empty() ? "probex" : "mvprobe") + ",\"views\":[";
  for (size_t i = 0; i < e.views.size(); ++i)
    o += std::string(i ? "," : "") + json_string(probex::view_name(e.views[i].kind));
  return o + "],\"reason\":" + json_string(reason) + "}";
}

std::string shape_text(const std::vector<uint64_t>& shape, const char* separator) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? separator : "") + std::to_string(shape[i]);
  return s + "]";
}

// The tensor list of a model file, as a table (like gguf-dump) or one JSON object.
void print_model(const probex::ModelFile& m, bool json) {
  if (json) {
    std::string o = "{\"file\":" + json_string(m.label()) +
                    ",\"format\":" + json_string(probex::model_format_name(m.format())) + ",\"declared_base_model\":" +
                    (m.declared_base_model().empty() ? std::string("null") : json_string(m.declared_base_model())) +
                    ",\"tensors\":[";
    for (size_t i = 0; i < m.tensors().size(); ++i) {
      const probex::ModelTensor& t = m.tensors()[i];
      o += std::string(i ? "," : "") + "{\"name\":" + json_string(t.name) + ",\"shape\":" + shape_text(t.shape, ",") +
           ",\"dtype\":" + json_string(t.dtype) + (t.layout.empty() ? "" : ",\"layout\":" + json_string(t.layout)) +
           "}";
    }
    std::printf("%s]}\n", o.c_str());
    return;
  }
  std::printf("model       %s\nformat      %s\n", m.label().c_str(), probex::model_format_name(m.format()));
  if (!m.declared_base_model().empty()) std::printf("claims base %s\n", m.declared_base_model().c_str());
  std::printf("tensors     %zu\n\n  %5s  %-48s %-22s %-8s %14s\n", m.tensors().size(), "#", "name", "shape", "dtype",
              "elements");
  for (size_t i = 0; i < m.tensors().size(); ++i) {
    const probex::ModelTensor& t = m.tensors()[i];
    std::printf("  %5zu  %-48s %-22s %-8s %14llu%s\n", i, t.name.c_str(), shape_text(t.shape, ", ").c_str(),
                t.dtype.c_str(), static_cast<unsigned long long>(t.element_count),
                t.readable ? "" : "  (not readable as float32)");
    if (!t.layout.empty()) std::printf("  %5s  %s\n", "", t.layout.c_str());
  }
}

// --rows A:B (B exclusive) within `rows`; false with *why otherwise.
bool parse_rows(const std::string& text, uint64_t rows, uint64_t* first, uint64_t* last, std::string* why) {
  const size_t colon = text.find(':');
  const auto number = [](const std::string& s, uint64_t* out) {
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    *out = std::stoull(s);
    return true;
  };
  if (colon == std::string::npos || !number(text.substr(0, colon), first) || !number(text.substr(colon + 1), last)) {
    *why = "--rows takes A:B (two row numbers, B exclusive), not '" + text + "'";
    return false;
  }
  if (*first > *last) {
    *why = "--rows " + text + ": the first row is after the last";
    return false;
  }
  if (*last > rows) {
    *why = "--rows " + text + " is outside the tensor's rows [0, " + std::to_string(rows) + ")";
    return false;
  }
  return true;
}

// --dump: the values of rows [first, last), one row at a time (a tensor can be gigabytes).
int dump_tensor(const probex::ModelFile& m, const probex::ModelTensor& t, uint64_t first, uint64_t last, bool json) {
  const uint64_t row_length = t.row_length();
  if (row_length > (uint64_t{1} << 31)) {
    std::fprintf(stderr, "probex-inspect: tensor '%s' has rows of %llu values, too long to dump\n", t.name.c_str(),
                 static_cast<unsigned long long>(row_length));
    return 1;
  }
  std::vector<float> row(static_cast<size_t>(row_length));
  if (json) {
    std::printf("{\"name\":%s,\"shape\":%s,\"rows\":[%llu,%llu],\"values\":[", json_string(t.name).c_str(),
                shape_text(t.shape, ",").c_str(), static_cast<unsigned long long>(first),
                static_cast<unsigned long long>(last));
  } else {
    std::printf("tensor %s %s %s, rows [%llu, %llu)\n", t.name.c_str(), shape_text(t.shape, ", ").c_str(),
                t.dtype.c_str(), static_cast<unsigned long long>(first), static_cast<unsigned long long>(last));
  }
  for (uint64_t r = first; r < last; ++r) {
    const probex::ModelStatus st = m.read_rows_f32(t, r, 1, row.data());
    if (!st.ok()) {
      if (json) std::printf("]}\n");  // keep stdout one closed object; the error goes to stderr
      std::fprintf(stderr, "probex-inspect: %s [%s]\n", st.message.c_str(),
                   probex_status_name(probex::status_of(st.code)));
      return 1;
    }
    if (!json) std::printf("%6llu:", static_cast<unsigned long long>(r));
    for (size_t c = 0; c < row.size(); ++c)
      std::printf(json ? "%s%s" : "%s %s", json && (r > first || c > 0) ? "," : "",
                  json_number(static_cast<double>(row[c])).c_str());
    if (!json) std::printf("\n");
  }
  if (json) std::printf("]}\n");
  return 0;
}

int inspect_model(const probex::ModelFile& m, bool json, const std::string& dump, const std::string& rows_text) {
  if (dump.empty()) {
    print_model(m, json);
    return 0;
  }
  const probex::ModelTensor* t = m.find(dump);
  if (!t) {
    std::fprintf(stderr, "probex-inspect: %s: no tensor named '%s'\n", m.label().c_str(), dump.c_str());
    return 1;
  }
  if (!t->readable) {
    std::fprintf(stderr, "probex-inspect: %s: tensor '%s' is %s, which probex does not convert to float32\n",
                 m.label().c_str(), dump.c_str(), t->dtype.c_str());
    return 1;
  }
  uint64_t first = 0, last = t->rows();
  std::string why;
  if (!rows_text.empty() && !parse_rows(rows_text, t->rows(), &first, &last, &why)) {
    std::fprintf(stderr, "probex-inspect: %s\n", why.c_str());
    return 2;
  }
  return dump_tensor(m, *t, first, last, json);
}

// What both forms of a bundle's report print besides the bundle itself.
struct BundleFacts {
  const std::string& path;
  const probex::Bundle& bundle;
  std::string digest, signer;  // hex; signer "" when unsigned
  bool self_test = false;
  std::string self_test_text;
  double worst = 0;
};

// The bundle as one JSON object (--json).
std::string bundle_json(const BundleFacts& f) {
  const probex::Bundle& bundle = f.bundle;
  const std::string& path = f.path;
  const std::string& signer = f.signer;
  const std::string& digest = f.digest;
  std::string o = "{\"file\":" + json_string(path) + ",\"signer\":" + (signer.empty() ? "null" : json_string(signer)) +
                  ",\"sha256\":" + json_string(digest) +
                  ",\"identifier\":\"PRBX\",\"format_version\":" + std::to_string(bundle.format_version()) +
                  ",\"producer\":" + json_string(bundle.producer()) + ",\"bytes\":" + std::to_string(bundle.size()) +
                  ",\"trees\":[";
  bool first_tree = true;
  for (const probex::TreeView& t : bundle.trees()) {
    o += std::string(first_tree ? "" : ",") + "{\"name\":" + json_string(t.name) + ",\"root\":" + json_string(t.root) +
         ",\"layer\":" + json_string(t.layer_name) + ",\"rule\":" + json_string(probex::layer_rule_name(t.rule)) +
         ",\"d_h\":" + std::to_string(t.d_h) + ",\"d_w\":" + std::to_string(t.d_w) +
         ",\"r_u\":" + std::to_string(t.r_u) + ",\"r_v\":" + std::to_string(t.r_v) +
         ",\"r_t\":" + std::to_string(t.r_t) + ",\"reader\":" + expert_kind_json(t, t.reader_reason) + ",\"labels\":[";
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
      o += ",\"zero_shot\":{\"reader\":" + expert_kind_json(t.zero_shot.expert, "") +
           ",\"text_source\":" + json_string(t.zero_shot.text_source) + ",\"labels\":[";
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
  o += ",\"self_test\":" + json_string(f.self_test_text);
  if (f.self_test) o += ",\"self_test_worst\":" + json_number(f.worst);
  return o + "}";
}

// The bundle, readable.
void print_bundle(const BundleFacts& f) {
  const probex::Bundle& bundle = f.bundle;
  const std::string& path = f.path;
  const std::string& signer = f.signer;
  const std::string& digest = f.digest;
  std::printf("signer      %s\nsha256      %s\n", signer.empty() ? "unsigned" : ("Ed25519 " + signer).c_str(),
              digest.c_str());
  std::printf("bundle      %s (%zu bytes)\nidentifier  PRBX, format version %u\nproducer    %s\ntrees       %zu\n",
              path.c_str(), bundle.size(), bundle.format_version(), bundle.producer(), bundle.trees().size());
  if (bundle.has_router())
    std::printf("router      sketch %u x %u of the probed layer (%zu bytes per tree)\n", bundle.router().rows,
                bundle.router().cols, static_cast<size_t>(bundle.router().rows) * bundle.router().cols * sizeof(float));
  else
    std::printf("router      none (audits must name their tree)\n");
  for (const probex::TreeView& t : bundle.trees()) {
    std::printf("\ntree %s (root %s)\n  layer %s, %s, X [%u, %u]; r_U %u, r_V %u, r_T %u; %u labels:", t.name,
                *t.root ? t.root : "-", t.layer_name, probex::layer_rule_name(t.rule), t.d_h, t.d_w, t.r_u, t.r_v,
                t.r_t, t.d_y);
    for (const char* l : t.labels) std::printf(" %s;", l);
    std::printf("\n  expert %s", expert_kind(t).c_str());
    if (*t.reader_reason) std::printf(": %s", t.reader_reason);
    std::printf("\n");
    for (const auto& [k, v] : t.metrics) std::printf("  %-22s %.4f\n", k, v);
    if (t.has_zero_shot) {
      const std::string zs_kind = t.zero_shot.expert.views.empty() ? "" : expert_kind(t.zero_shot.expert) + ", ";
      std::printf("  zero-shot: %sr_U %u, r_V %u, r_T %u; %zu label texts (* never trained on), embedded with %s:",
                  zs_kind.c_str(), t.zero_shot.expert.r_u, t.zero_shot.expert.r_v, t.zero_shot.expert.r_t,
                  t.zero_shot.labels.size(), t.zero_shot.text_source);
      for (size_t k = 0; k < t.zero_shot.labels.size(); ++k)
        std::printf(" %s%s;", t.zero_shot.labels[k], t.zero_shot.trained[k] ? "" : "*");
      std::printf("\n");
    }
    std::printf("  %-36s %-14s %-6s %6s %12s  %s\n", "tensor", "shape", "type", "block", "bytes",
                "scales min / median / max");
    for (const auto& [name, m] : tensors_of(t)) {
      const std::string shape = "[" + std::to_string(m->rows) + ", " + std::to_string(m->cols) + "]";
      std::printf("  %-36s %-14s %-6s %6u %12zu", name.c_str(), shape.c_str(), probex::storage_type_name(m->type),
                  m->block_size, m->data_bytes() + m->scale_count * sizeof(float));
      if (m->scale_count) {
        const ScaleStats st = scale_stats(*m);
        std::printf("  %.3g / %.3g / %.3g", st.min, st.median, st.max);
      }
      std::printf("\n");
    }
    std::printf("  self-tests %zu\n", t.self_tests.size());
    if (bundle.has_router())
      std::printf("  router: accepts models up to distance %.3f from this root\n",
                  static_cast<double>(t.accept_distance));
  }
  std::printf("\nself-test   %s", f.self_test_text.c_str());
  if (f.self_test) std::printf(" (worst relative difference %.2g)", f.worst);
  std::printf("\n");
}

int main(int argc, char** argv) {
  std::vector<std::string> positional, trusted_key_files;
  std::string dump, rows_text;
  bool json = false, self_test = false;
  uint64_t max_model_bytes = probex::ModelLimits().max_file_bytes;
  uint64_t max_bundle_bytes = probex::Bundle::kDefaultMaxBundleBytes;
  probex_auditor_options options;
  probex_auditor_options_init(&options, sizeof options);
  probex::cli::ArgParser args("probex-inspect", kHelp);
  args.positional(&positional);
  args.flag("--json", &json);
  args.flag("--self-test", &self_test);
  args.texts("--trusted-key", "a public key file", &trusted_key_files);
  args.byte_size("--max-bundle-size", &max_bundle_bytes);
  args.text("--dump", "a tensor name", &dump);
  args.text("--rows", "A:B", &rows_text);
  args.byte_size("--max-model-size", &max_model_bytes);
  probex::cli::add_backend_option(&args, &options);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  if (positional.size() != 1) return args.usage_error("one bundle or model is required");
  const std::string& path = positional[0];
  if (!rows_text.empty() && dump.empty()) return args.usage_error("--rows needs --dump");
  // A model file or folder, unless its content is a bundle's.
  probex::ModelLimits model_limits;
  model_limits.max_file_bytes = max_model_bytes;
  std::unique_ptr<probex::ModelFile> model;
  const probex::ModelStatus model_status = probex::open_model_file(path, &model, model_limits);
  if (model_status.ok()) {
    if (self_test) return args.usage_error("--self-test runs a bundle's self-tests; " + path + " is a model");
    return inspect_model(*model, json, dump, rows_text);
  }
  if (model_status.code != probex::ModelError::kNotAModel) {  // a model file, but a broken one
    std::fprintf(stderr, "probex-inspect: %s [%s%s%s]\n", model_status.message.c_str(),
                 probex_status_name(probex::status_of(model_status.code)), model_status.detail.empty() ? "" : ": ",
                 model_status.detail.c_str());
    return 1;
  }
  if (!dump.empty()) return args.usage_error("--dump reads a model's tensor; " + path + " is not a model");
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
    if (model_status.detail != "probex_bundle")
      std::fprintf(stderr, "probex-inspect: %s\n", model_status.message.c_str());
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
  const BundleFacts facts{path, bundle, digest, signer, self_test, self_test_text, worst};
  if (json)
    std::printf("%s\n", bundle_json(facts).c_str());
  else
    print_bundle(facts);
  return self_test && self_test_text != "passed" ? 1 : 0;
}
