// probex-audit: which tree a model descends from and what it was fine-tuned on, from one layer.
// Audits through the public C++ API (probex/probex.hpp), as an agent linking the library would; the texts
// it prints are audit_report.h's, and --truth reads the model's metadata (truth_labels.h says how).
#include <cstdio>
#include <string>
#include <vector>

#include "probex/probex.hpp"
#include "runtime/cli/args.h"
#include "runtime/tools/audit_report.h"
#include "runtime/tools/cli_common.h"
#include "runtime/tools/truth_labels.h"

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

int fail(const std::string& what) {
  std::fprintf(stderr, "probex-audit: %s\n", what.c_str());
  return 1;
}

int fail(const probex::api::Error& e) { return fail(e.message + " [" + e.name() + "]"); }

}  // namespace

int main(int argc, char** argv) {
  using namespace probex;
  std::vector<std::string> positional, trusted_key_files;
  std::string tree_name, truth_key, query;
  probex_bundle_options bundle_options = api::bundle_options();
  probex_auditor_options options = api::auditor_options();
  bool json = false, quiet = false;
  cli::ArgParser args("probex-audit", kHelp);
  args.positional(&positional);
  args.text("--tree", "a tree name", &tree_name);
  args.text("--truth", "a metadata key", &truth_key);
  args.text("--query", "a label text", &query);
  cli::add_backend_option(&args, &options);
  args.threads(&options.threads);
  args.texts("--trusted-key", "a public key file", &trusted_key_files);
  args.byte_size("--max-bundle-size", &bundle_options.max_bundle_bytes);
  args.byte_size("--max-model-size", &options.max_model_bytes);
  args.flag("--json", &json);
  args.flag("--quiet", &quiet);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  if (positional.size() < 2) return args.usage_error("a bundle and at least one model are required");
  std::vector<uint8_t> trusted_keys;
  std::string error;
  if (!cli::read_trusted_keys(trusted_key_files, &trusted_keys, &error)) return fail(error);

  bundle_options.trusted_keys = trusted_keys.data();
  bundle_options.trusted_key_count = trusted_keys.size() / kPublicKeyBytes;
  api::Bundle bundle;
  if (const api::Error e = api::Bundle::open(positional[0], &bundle, &bundle_options)) return fail(e);
  uint32_t tree = PROBEX_ROUTE, tree_count = 0;
  bool has_router = false;
  bundle.tree_count(&tree_count);
  bundle.has_router(&has_router);
  if (!tree_name.empty() && bundle.find_tree(tree_name, &tree))
    return fail(positional[0] + " has no tree '" + tree_name + "'");
  if (tree_name.empty() && tree_count > 1 && !has_router)
    return args.usage_error("the bundle holds " + std::to_string(tree_count) +
                            " trees and no router: choose one with --tree");
  std::vector<std::string> tree_names(tree_count);
  for (uint32_t i = 0; i < tree_count; ++i) {
    probex_tree_info info;
    bundle.tree_info(i, &info);
    tree_names[i] = info.name;
  }
  api::Auditor auditor;
  if (const api::Error e = api::Auditor::create(bundle, &auditor, &options)) return fail(e);

  tools::AuditTally tally;
  tools::QueryRanking ranking(query);
  const bool records = json && query.empty();  // --json: one record per model, failed ones included
  if (!query.empty()) quiet = true;            // the ranking replaces the reports
  int exit_code = 0;
  for (size_t m = 1; m < positional.size(); ++m) {
    const std::string& path = positional[m];
    probex_audit_result r;
    const api::Error audit = auditor.audit_file(path, &r, tree);
    if (audit) {
      exit_code = fail(audit);
      if (records) std::printf("%s\n", tools::json_record(bundle, path, audit, r, nullptr).c_str());
      continue;
    }
    if (r.tree == PROBEX_NO_TREE) {
      tally.add_unknown_tree();
      if (records) std::printf("%s\n", tools::json_record(bundle, path, audit, r, nullptr).c_str());
      if (!quiet && !json) std::fputs(tools::unknown_tree_text(path, r, tree_names).c_str(), stdout);
      continue;
    }
    std::vector<std::string> truth;
    const bool have_truth = !truth_key.empty() && tools::truth_labels(path, truth_key, &truth, &error);
    if (!truth_key.empty() && !have_truth) exit_code = fail(error);
    const tools::AuditedModel model = tools::audited_model(bundle, path, r, have_truth ? &truth : nullptr);
    tally.add(model);
    if (!query.empty()) ranking.add(model);
    if (records) std::printf("%s\n", tools::json_record(bundle, path, audit, r, &model).c_str());
    if (!quiet && !json) std::fputs(tools::report_text(model, tree_names, truth_key).c_str(), stdout);
  }
  if (!query.empty()) {
    std::fputs(ranking.text(json).c_str(), stdout);
    for (const std::string& message : ranking.not_comparable()) fail(message);
    if (ranking.empty()) exit_code = 1;
  }
  if (!json)
    std::fputs(tally.summary(positional.size() - 1, tree == PROBEX_ROUTE, options.backend, truth_key).c_str(), stdout);
  return exit_code;
}
