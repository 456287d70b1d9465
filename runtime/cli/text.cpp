#include "runtime/cli/text.h"

#include <cstdarg>
#include <cstdio>

namespace probex::cli {

void appendf(std::string* out, const char* format, ...) {
  char line[1024];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(line, sizeof(line), format, args);
  va_end(args);
  if (n > 0) out->append(line, static_cast<size_t>(n) < sizeof(line) ? static_cast<size_t>(n) : sizeof(line) - 1);
}

}  // namespace probex::cli
