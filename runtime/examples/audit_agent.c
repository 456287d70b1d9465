/* probex-agent: an example on-device audit agent in plain C (C11) that uses only the public C API
 * (probex/probex.h). It verifies a bundle, runs its self-tests once, then audits every model under a
 * folder (recursively, in name order: any file or folder whose content probex reads, by
 * probex_model_format; a folder that is a model, a sharded checkpoint or an adapter, is one model and is
 * not entered) and prints one JSON line per model, a record of the
 * JSON result schema (docs/audit-json.md; probex_audit_json), the same record as probex-audit --json:
 *
 *   {"schema_version":1,"model":"...","status":"ok","tree":"mlp-a","root":"mlp-a/root",...}
 *   {"schema_version":1,"model":"...","status":"ok","tree":null,"message":"<why no tree>",...}
 *   {"schema_version":1,"model":"...","status":"layer_not_found","tree":null,"message":"<the error>",...}
 *
 *   probex-agent BUNDLE FOLDER [--threads N]
 *
 * Exit codes: 0 every model audited (some may be of unknown tree), 1 the bundle failed or a model could
 * not be audited, 2 bad command line. */
#define _POSIX_C_SOURCE 200809L
/* 64-bit file offsets and inode numbers on 32-bit targets: readdir and stat fail with EOVERFLOW on
 * filesystems with 64-bit inodes otherwise (seen under qemu-arm). */
#define _FILE_OFFSET_BITS 64
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "probex/probex.h"

enum { kMaxDepth = 16 };

static int compare_names(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }

typedef struct agent {
  probex_bundle* bundle;
  probex_auditor* auditor;
  int failures;
} agent;

static void audit_one(agent* a, const char* path) {
  probex_audit_result r;
  probex_error error;
  probex_audit_result_init(&r, sizeof r);
  memset(&error, 0, sizeof error);
  const probex_status status = probex_audit_file(a->auditor, PROBEX_ROUTE, path, &r, &error);
  if (status != PROBEX_OK) a->failures++;
  /* The record is usually a few kB (the embedding is r_T numbers): a stack buffer, else one of its size. */
  char small[8192];
  size_t length = 0;
  if (probex_audit_json(a->bundle, path, status, &error, &r, small, sizeof small, &length, NULL) != PROBEX_OK) {
    fprintf(stderr, "probex-agent: %s: cannot format the record\n", path);
    a->failures++;
    return;
  }
  if (length < sizeof small) {
    printf("%s\n", small);
    return;
  }
  char* big = malloc(length + 1);
  if (!big || probex_audit_json(a->bundle, path, status, &error, &r, big, length + 1, &length, NULL) != PROBEX_OK) {
    fprintf(stderr, "probex-agent: %s: cannot format the record\n", path);
    a->failures++;
  } else {
    printf("%s\n", big);
  }
  free(big);
}

/* 1 if `path` holds a model probex reads (its content says so), else 0 (other files are skipped quietly;
 * an unreadable path is counted and reported). */
static int is_model(agent* a, const char* path) {
  const char* format = NULL;
  probex_error error;
  memset(&error, 0, sizeof error);
  const probex_status s = probex_model_format(path, &format, &error);
  if (s == PROBEX_OK) return 1;
  if (s != PROBEX_NOT_A_MODEL) {
    fprintf(stderr, "probex-agent: %s [%s]\n", error.message, probex_status_name(s));
    a->failures++;
  }
  return 0;
}

/* Audits the models under `folder`, entries in name order, subfolders depth-first. */
static void walk(agent* a, const char* folder, int depth) {
  if (depth > kMaxDepth) return;
  if (is_model(a, folder)) {
    audit_one(a, folder);
    return;
  }
  DIR* dir = opendir(folder);
  if (!dir) {
    fprintf(stderr, "probex-agent: cannot open folder %s\n", folder);
    a->failures++;
    return;
  }
  char** names = NULL;
  size_t count = 0, capacity = 0;
  errno = 0;
  for (struct dirent* e = readdir(dir); e; e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    if (count == capacity) {
      capacity = capacity ? 2 * capacity : 64;
      char** grown = realloc(names, capacity * sizeof *names);
      if (!grown) break;
      names = grown;
    }
    const size_t length = strlen(folder) + strlen(e->d_name) + 2;
    names[count] = malloc(length);
    if (!names[count]) break;
    snprintf(names[count], length, "%s/%s", folder, e->d_name);
    ++count;
    errno = 0;
  }
  if (errno != 0) { /* readdir ends with NULL on errors too: do not report a partial folder as whole */
    fprintf(stderr, "probex-agent: cannot list folder %s: %s\n", folder, strerror(errno));
    a->failures++;
  }
  closedir(dir);
  qsort(names, count, sizeof *names, compare_names);
  for (size_t i = 0; i < count; ++i) {
    struct stat st;
    if (stat(names[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      walk(a, names[i], depth + 1);
    } else if (is_model(a, names[i])) {
      audit_one(a, names[i]);
    }
    free(names[i]);
  }
  free(names);
}

static int usage_error(const char* what) {
  fprintf(stderr, "probex-agent: %s (see --help)\n", what);
  return 2;
}

int main(int argc, char** argv) {
  /* The same command-line conventions as the C++ CLIs (runtime/cli/args.h), by hand: this example links
   * nothing but the C API. */
  const char* paths[2] = {NULL, NULL};
  int path_count = 0;
  probex_auditor_options options;
  probex_auditor_options_init(&options, sizeof options);
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      printf("usage: probex-agent BUNDLE FOLDER [--threads N]\n"
             "Audits every model under FOLDER with BUNDLE (routed to its tree) and prints one JSON record per\n"
             "model, failed ones included (schema: docs/audit-json.md). Models are found by content: safetensors\n"
             "and GGUF files, and folders holding a sharded checkpoint or a PEFT adapter (audited as one model).\n"
             "  --threads N   threads for the backend, an integer in [1, 256] (default 1)\n"
             "  --help, --version\n"
             "exit codes: 0 all audited, 1 a failure, 2 bad command line\n");
      return 0;
    }
    if (strcmp(argv[i], "--version") == 0) {
      printf("probex-agent %s\n", probex_version());
      return 0;
    }
    if (strcmp(argv[i], "--threads") == 0) {
      char* end = NULL;
      const long threads = i + 1 < argc ? strtol(argv[++i], &end, 10) : 0;
      if (!end || end == argv[i] || *end != '\0' || threads < 1 || threads > 256)
        return usage_error("--threads needs an integer in [1, 256]");
      options.threads = (uint32_t)threads;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "probex-agent: unknown argument '%s' (see --help)\n", argv[i]);
      return 2;
    } else if (path_count < 2) {
      paths[path_count++] = argv[i];
    } else {
      return usage_error("usage: probex-agent BUNDLE FOLDER [--threads N]");
    }
  }
  if (path_count != 2) return usage_error("usage: probex-agent BUNDLE FOLDER [--threads N]");
  agent a = {NULL, NULL, 0};
  probex_error error;
  memset(&error, 0, sizeof error);
  if (probex_bundle_open(paths[0], NULL, &a.bundle, &error) != PROBEX_OK ||
      probex_auditor_create(a.bundle, &options, NULL, &a.auditor, &error) != PROBEX_OK ||
      probex_auditor_self_test(a.auditor, NULL, &error) != PROBEX_OK) {
    fprintf(stderr, "probex-agent: %s [%s]\n", error.message, probex_status_name(error.status));
    probex_auditor_free(a.auditor);
    probex_bundle_free(a.bundle);
    return 1;
  }
  walk(&a, paths[1], 0);
  probex_auditor_free(a.auditor);
  probex_bundle_free(a.bundle);
  return a.failures ? 1 : 0;
}
