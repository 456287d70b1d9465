// libFuzzer: the IDX reader (plain and gzip), as it reads the data set files.
#include <cstdint>

#include "converter/data/idx.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bool gz = size > 0 && (data[0] & 1);  // exercise both paths on similar inputs
  const std::string path = probex::fuzz::input_file(data, size, gz ? ".idx.gz" : ".idx");
  for (size_t rank : {1u, 3u}) {
    probex::convert::IdxArray array;
    (void)probex::convert::read_idx(path, rank, &array, 1u << 22);
  }
  return 0;
}
