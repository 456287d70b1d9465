// What the OS says about the processor, for thread-count defaults. The runtime itself always runs the
// threads its caller asks for (default 1, as XNNPACK's explicit thread pool); CLIs use this for
// `--threads auto`.
#pragma once

#include <cstdint>

namespace probex::platform {

// Processors online now (at least 1; 1 if the OS cannot tell).
uint32_t online_cpu_count();

}  // namespace probex::platform
