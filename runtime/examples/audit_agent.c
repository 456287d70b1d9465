/* probex-agent: an example on-device audit agent in plain C (C11) that uses only the public C API
 * (probex/probex.h). It verifies a bundle, runs its self-tests once, then audits every *.safetensors
 * file under a folder (recursively, in name order) and prints one JSON line per model:
 *
 *   {"model":"...","status":"ok","tree":"mlp-a","distance":0.08,"fine_tuned_on":["Bag","Coat"],
 *    "zero_shot":[{"label":"sandal","cosine":0.41},...],"ms":1.2}
 *   {"model":"...","status":"ok","tree":null,"reason":"..."}           (a model of no known tree)
 *   {"model":"...","status":"layer_not_found","error":"..."}          (a model that could not be audited)
 *
 *   probex-agent BUNDLE FOLDER [--threads N]
 *
 * Exit codes: 0 every model audited (some may be of unknown tree), 1 the bundle failed or a model could
 * not be audited, 2 bad command line. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "probex/probex.h"

enum { kMaxDepth = 16, kTopZeroShot = 3 };

static void print_json_string(const char* s) {
  putchar('"');
  for (const unsigned char* p = (const unsigned char*)s; *p; ++p) {
    if (*p == '"' || *p == '\\') {
      printf("\\%c", *p);
    } else if (*p < 0x20) {
      printf("\\u%04x", *p);
    } else {
      putchar(*p);
    }
  }
  putchar('"');
}

static int ends_with(const char* s, const char* suffix) {
  const size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int compare_names(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }

typedef struct agent {
  probex_bundle* bundle;
  probex_auditor* auditor;
  int failures;
} agent;

static void audit_one(agent* a, const char* path) {
  probex_audit_result r;
  probex_error error;
  memset(&r, 0, sizeof r);
  memset(&error, 0, sizeof error);
  printf("{\"model\":");
  print_json_string(path);
  const probex_status status = probex_audit_file(a->auditor, PROBEX_ROUTE, path, &r, &error);
  printf(",\"status\":\"%s\"", probex_status_name(status));
  if (status != PROBEX_OK) {
    printf(",\"error\":");
    print_json_string(error.message);
    printf("}\n");
    a->failures++;
    return;
  }
  if (r.tree == PROBEX_NO_TREE) {
    printf(",\"tree\":null,\"reason\":");
    print_json_string(r.unknown_reason);
    printf("}\n");
    return;
  }
  probex_tree_info info;
  probex_bundle_tree_info(a->bundle, r.tree, &info);
  printf(",\"tree\":");
  print_json_string(info.name);
  if (r.routed) printf(",\"distance\":%.4f", (double)r.route_distance);
  printf(",\"fine_tuned_on\":[");
  int first = 1;
  for (uint32_t k = 0; k < r.label_count; ++k) {
    if (!r.predicted[k]) continue;
    const char* name = "";
    probex_bundle_label(a->bundle, r.tree, k, &name);
    if (!first) putchar(',');
    print_json_string(name);
    first = 0;
  }
  printf("]");
  if (r.zero_shot_count > 0) {
    /* The best few label texts by cosine (a partial selection; the list is short). */
    int taken[kTopZeroShot];
    int count = 0;
    printf(",\"zero_shot\":[");
    for (; count < kTopZeroShot && (uint32_t)count < r.zero_shot_count; ++count) {
      int best = -1;
      for (uint32_t k = 0; k < r.zero_shot_count; ++k) {
        int used = 0;
        for (int j = 0; j < count; ++j) used |= taken[j] == (int)k;
        if (!used && (best < 0 || r.zero_shot_scores[k] > r.zero_shot_scores[best])) best = (int)k;
      }
      taken[count] = best;
      const char* label = "";
      probex_bundle_zero_shot_label(a->bundle, r.tree, (uint32_t)best, &label, NULL);
      printf("%s{\"label\":", count ? "," : "");
      print_json_string(label);
      printf(",\"cosine\":%.4f}", (double)r.zero_shot_scores[best]);
    }
    printf("]");
  }
  const double seconds = r.seconds_route + r.seconds_read + r.seconds_probe + r.seconds_rest + r.seconds_zero_shot;
  printf(",\"ms\":%.3f}\n", seconds * 1e3);
}

/* Audits the *.safetensors files under `folder`, entries in name order, subfolders depth-first. */
static void walk(agent* a, const char* folder, int depth) {
  if (depth > kMaxDepth) return;
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
  if (errno != 0) {  /* readdir ends with NULL on errors too: do not report a partial folder as whole */
    fprintf(stderr, "probex-agent: cannot list folder %s: %s\n", folder, strerror(errno));
    a->failures++;
  }
  closedir(dir);
  qsort(names, count, sizeof *names, compare_names);
  for (size_t i = 0; i < count; ++i) {
    struct stat st;
    if (stat(names[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      walk(a, names[i], depth + 1);
    } else if (ends_with(names[i], ".safetensors")) {
      audit_one(a, names[i]);
    }
    free(names[i]);
  }
  free(names);
}

int main(int argc, char** argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: probex-agent BUNDLE FOLDER [--threads N]\n"
           "Audits every *.safetensors file under FOLDER with BUNDLE (routed to its tree) and prints one\n"
           "JSON line per model. exit codes: 0 all audited, 1 a failure, 2 bad command line\n");
    return 0;
  }
  if (argc != 3 && !(argc == 5 && strcmp(argv[3], "--threads") == 0)) {
    fprintf(stderr, "probex-agent: usage: probex-agent BUNDLE FOLDER [--threads N] (see --help)\n");
    return 2;
  }
  probex_auditor_options options;
  probex_auditor_options_default(&options);
  if (argc == 5) {
    char* end = NULL;
    const long threads = strtol(argv[4], &end, 10);
    if (*end != '\0' || threads < 1 || threads > 256) {
      fprintf(stderr, "probex-agent: --threads needs an integer in [1, 256]\n");
      return 2;
    }
    options.threads = (uint32_t)threads;
  }
  agent a = {NULL, NULL, 0};
  probex_error error;
  memset(&error, 0, sizeof error);
  if (probex_bundle_open(argv[1], &a.bundle, &error) != PROBEX_OK ||
      probex_auditor_create(a.bundle, &options, NULL, &a.auditor, &error) != PROBEX_OK ||
      probex_auditor_self_test(a.auditor, NULL, &error) != PROBEX_OK) {
    fprintf(stderr, "probex-agent: %s [%s]\n", error.message, probex_status_name(error.status));
    probex_auditor_free(a.auditor);
    probex_bundle_free(a.bundle);
    return 1;
  }
  walk(&a, argv[2], 0);
  probex_auditor_free(a.auditor);
  probex_bundle_free(a.bundle);
  return a.failures ? 1 : 0;
}
