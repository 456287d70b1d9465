// Text the CLIs print, built as strings by the libraries behind them (so that it can be tested).
#pragma once

#include <string>

namespace probex::cli {

// printf onto the end of *out (the format checked as printf's; one call writes at most 1 KiB).
__attribute__((format(printf, 2, 3))) void appendf(std::string* out, const char* format, ...);

}  // namespace probex::cli
