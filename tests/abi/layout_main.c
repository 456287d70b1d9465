/* abi_layout: the 1.0 C API's layout as the frozen 1.0 header declares it and as the current header does
 * (layout.c, compiled against each); any difference breaks programs built against 1.0 (ABI.md). */
#include <stdio.h>
#include <string.h>

void layout_frozen(FILE* out);
void layout_current(FILE* out);

int main(void) {
  FILE* frozen = tmpfile();
  FILE* current = tmpfile();
  if (!frozen || !current) {
    fprintf(stderr, "abi_layout: cannot create temporary files\n");
    return 1;
  }
  layout_frozen(frozen);
  layout_current(current);
  rewind(frozen);
  rewind(current);
  char a[256], b[256];
  int lines = 0, differences = 0;
  for (;;) {
    const char* ra = fgets(a, sizeof a, frozen);
    const char* rb = fgets(b, sizeof b, current);
    if (!ra && !rb) break;
    ++lines;
    if (!ra || !rb || strcmp(a, b) != 0) {
      ++differences;
      printf("1.0:     %s", ra ? a : "(nothing)\n");
      printf("current: %s", rb ? b : "(nothing)\n");
    }
  }
  printf("%d of %d layout lines differ from probex 1.0\n", differences, lines);
  return differences ? 1 : 0;
}
