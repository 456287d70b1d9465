#include "probex/platform/cpu.h"

#include <unistd.h>

namespace probex::platform {

uint32_t online_cpu_count() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n >= 1 && n <= 4096 ? static_cast<uint32_t>(n) : 1u;
}

}  // namespace probex::platform
