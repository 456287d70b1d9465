// libFuzzer: the Python-list literal parser of dataset_chosen_targets (metadata is untrusted).
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/formats/python_literal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> out;
  std::string error;
  (void)probex::parse_python_string_list(std::string(reinterpret_cast<const char*>(data), size), &out, &error);
  return 0;
}
