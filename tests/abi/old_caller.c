/* A caller built with probex 1.0: compiled against the frozen 1.0 header (tests/abi/v1, never edited) and
 * linked to the library of this build, as a program on a device keeps running when the library beside it
 * is updated (ABI.md). It uses every kind of call a 1.0 program makes: sized options and results, tree
 * info, labels, find_tree, the router flag, self-tests, audits and their JSON records.
 *
 *   old_caller BUNDLE MODEL...   prints one JSON record per model (as probex-audit --json), then a summary
 *                                line on stderr; exit 0 when every call behaved as 1.0 documents. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probex/probex.h"

#ifndef PROBEX_FROZEN_ABI_HEADER
#error "old_caller must be compiled against the frozen header tests/abi/v1, not the current one"
#endif

static int fail(const char* what, const probex_error* e) {
  fprintf(stderr, "old_caller: %s: %s [%s]\n", what, e->message, probex_status_name(e->status));
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: old_caller BUNDLE MODEL...\n");
    return 2;
  }
  probex_error e;
  memset(&e, 0, sizeof e);
  probex_bundle_options bundle_options;
  if (probex_bundle_options_init(&bundle_options, sizeof bundle_options) != PROBEX_OK) return 1;
  probex_bundle* bundle = NULL;
  if (probex_bundle_open(argv[1], &bundle_options, &bundle, &e) != PROBEX_OK) return fail("open", &e);
  uint32_t trees = 0;
  bool has_router = false;
  if (probex_bundle_tree_count(bundle, &trees, &e) != PROBEX_OK || trees == 0) return fail("tree count", &e);
  if (probex_bundle_has_router(bundle, &has_router, &e) != PROBEX_OK) return fail("router", &e);
  for (uint32_t t = 0; t < trees; ++t) {
    probex_tree_info info;
    uint32_t found = PROBEX_NO_TREE;
    const char* label = NULL;
    if (probex_tree_info_init(&info, sizeof info) != PROBEX_OK ||
        probex_bundle_tree_info(bundle, t, &info, &e) != PROBEX_OK)
      return fail("tree info", &e);
    if (probex_bundle_find_tree(bundle, info.name, &found, &e) != PROBEX_OK || found != t)
      return fail("find tree", &e);
    if (info.label_count == 0 || probex_bundle_label(bundle, t, info.label_count - 1, &label, &e) != PROBEX_OK)
      return fail("label", &e);
  }
  if (probex_bundle_find_tree(bundle, "no such tree", &trees, &e) != PROBEX_NOT_FOUND) return fail("not found", &e);

  probex_auditor_options options;
  if (probex_auditor_options_init(&options, sizeof options) != PROBEX_OK) return 1;
  options.threads = 1;
  probex_auditor* auditor = NULL;
  if (probex_auditor_create(bundle, &options, NULL, &auditor, &e) != PROBEX_OK) return fail("auditor", &e);
  double worst = -1;
  if (probex_auditor_self_test(auditor, &worst, &e) != PROBEX_OK) return fail("self-test", &e);

  int failures = 0;
  for (int i = 2; i < argc; ++i) {
    probex_audit_result r;
    if (probex_audit_result_init(&r, sizeof r) != PROBEX_OK) return 1;
    const probex_status s = probex_audit_file(auditor, has_router ? PROBEX_ROUTE : 0, argv[i], &r, &e);
    if (s != PROBEX_OK) ++failures;
    if (s == PROBEX_OK && r.struct_size != sizeof r) {
      fprintf(stderr, "old_caller: the library changed struct_size to %u\n", r.struct_size);
      return 1;
    }
    size_t length = 0;
    if (probex_audit_json(bundle, argv[i], s, &e, &r, NULL, 0, &length, NULL) != PROBEX_OK) return 1;
    char* record = malloc(length + 1);
    if (!record || probex_audit_json(bundle, argv[i], s, &e, &r, record, length + 1, &length, NULL) != PROBEX_OK)
      return 1;
    printf("%s\n", record);
    free(record);
  }
  fprintf(stderr, "old_caller: probex %s (built with the %s header): %d models, %d failed\n", probex_version(),
          PROBEX_VERSION_STRING, argc - 2, failures);
  probex_auditor_free(auditor);
  probex_bundle_free(bundle);
  return 0;
}
