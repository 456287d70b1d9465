// The malformed-file corpus: hand-made safetensors files, each breaking one rule, each of which must
// be refused with its own specific error and a message naming the file (and the tensor, if any).
// Every case is checked twice: from a memory buffer and from a file on disk (read by offset).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "runtime/formats/safetensors.h"
#include "tests/runtime/formats/malformed_safetensors.h"
#include "tests/test_util.h"

using probex::SafetensorsError;
using probex::SafetensorsFile;
using probex::test::malformed_safetensors_corpus;
using probex::test::MalformedCase;
using probex::test::safetensors_bytes;

TEST_CASE("every malformed file gives its own specific error, from a buffer and from a file") {
  const auto cases = malformed_safetensors_corpus();
  REQUIRE(cases.size() >= 25);
  probex::test::TempDir dir;
  for (const MalformedCase& c : cases) {
    CAPTURE(c.name);
    SafetensorsFile f;
    const auto st = SafetensorsFile::from_buffer("case.safetensors", c.bytes.data(), c.bytes.size(), &f);
    CHECK(safetensors_error_name(st.code) == std::string(safetensors_error_name(c.expected)));
    CHECK(st.message.rfind("case.safetensors: ", 0) == 0);
    CHECK(st.message.find(c.message_part) != std::string::npos);
    CHECK(f.tensors().empty());

    const std::string path = dir.file("case.safetensors");
    REQUIRE(probex::test::write_bytes(path, c.bytes));
    const auto from_file = SafetensorsFile::open(path, &f);
    CHECK(from_file.code == c.expected);
    CHECK(from_file.message.rfind(path + ": ", 0) == 0);
  }
}

TEST_CASE("the tensor limit is enforced") {
  const auto bytes = safetensors_bytes(
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
      2);
  probex::SafetensorsLimits limits;
  limits.max_tensors = 1;
  SafetensorsFile f;
  const auto st = SafetensorsFile::from_buffer("two.safetensors", bytes.data(), bytes.size(), &f, limits);
  CHECK(st.code == SafetensorsError::kTooManyTensors);
  limits.max_tensors = 2;
  CHECK(SafetensorsFile::from_buffer("two.safetensors", bytes.data(), bytes.size(), &f, limits).ok());
}

TEST_CASE("the header-size limit is configurable") {
  const auto bytes = safetensors_bytes("{}      ", 0);
  probex::SafetensorsLimits limits;
  limits.max_header_bytes = 7;
  SafetensorsFile f;
  CHECK(SafetensorsFile::from_buffer("h", bytes.data(), bytes.size(), &f, limits).code ==
        SafetensorsError::kHeaderTooLarge);
  limits.max_header_bytes = 8;
  CHECK(SafetensorsFile::from_buffer("h", bytes.data(), bytes.size(), &f, limits).ok());
}

TEST_CASE("a missing file and a folder are I/O errors naming the path") {
  SafetensorsFile f;
  auto st = SafetensorsFile::open("/nonexistent/probex/model.safetensors", &f);
  CHECK(st.code == SafetensorsError::kIo);
  CHECK(st.message.find("/nonexistent/probex/model.safetensors: cannot open") == 0);
  probex::test::TempDir dir;
  st = SafetensorsFile::open(dir.path(), &f);
  CHECK(st.code == SafetensorsError::kIo);
  CHECK(st.message.find("not a regular file") != std::string::npos);
}
