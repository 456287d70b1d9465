// The GGUF malformed-file corpus: hand-made files, each breaking one rule, each of which must be refused
// with its own specific error and a message naming the file (and the tensor, if any). Every case is
// checked twice: from a memory buffer and from a file on disk (read by offset).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "runtime/formats/gguf.h"
#include "tests/runtime/formats/gguf_writer.h"
#include "tests/runtime/formats/malformed_gguf.h"
#include "tests/test_util.h"

using probex::GgmlType;
using probex::GgufError;
using probex::GgufFile;
using probex::GgufLimits;
using probex::GgufValueType;
using probex::test::GgufWriter;

namespace {

void check_refused(const std::vector<uint8_t>& bytes, const GgufLimits& limits, GgufError expected,
                   const std::string& part) {
  GgufFile f;
  const auto st = GgufFile::from_buffer("case.gguf", bytes.data(), bytes.size(), &f, limits);
  CHECK(gguf_error_name(st.code) == std::string(gguf_error_name(expected)));
  CHECK(st.message.rfind("case.gguf: ", 0) == 0);
  CHECK_MESSAGE(st.message.find(part) != std::string::npos, st.message);
}

}  // namespace

TEST_CASE("every malformed GGUF file gives its own specific error, from a buffer and from a file") {
  const auto cases = probex::test::malformed_gguf_corpus();
  REQUIRE(cases.size() >= 25);
  probex::test::TempDir dir;
  for (const auto& c : cases) {
    CAPTURE(c.name);
    GgufFile f;
    const auto st = GgufFile::from_buffer("case.gguf", c.bytes.data(), c.bytes.size(), &f);
    CHECK(gguf_error_name(st.code) == std::string(gguf_error_name(c.expected)));
    CHECK(st.message.rfind("case.gguf: ", 0) == 0);
    CHECK_MESSAGE(st.message.find(c.message_part) != std::string::npos, st.message);
    CHECK(f.tensors().empty());
    CHECK(f.metadata().empty());

    const std::string path = dir.file("case.gguf");
    REQUIRE(probex::test::write_bytes(path, c.bytes));
    const auto from_file = GgufFile::open(path, &f);
    CHECK(from_file.code == c.expected);
    CHECK(from_file.message.rfind(path + ": ", 0) == 0);
    CHECK(from_file.message.find(c.message_part) != std::string::npos);
  }
}

TEST_CASE("the configured GGUF limits are enforced") {
  const auto file = probex::test::one_tensor_gguf("w", {2}, GgmlType::kF32, std::vector<uint8_t>(8, 0));
  GgufLimits limits;
  limits.max_file_bytes = file.size() - 1;
  check_refused(file, limits, GgufError::kLimitExceeded, "above the configured limit of 71");

  limits = {};
  limits.max_tensors = 0;
  check_refused(file, limits, GgufError::kLimitExceeded, "1 tensors exceed the limit of 0");

  GgufWriter kv(0, 2);
  kv.kv_str("a", "hello").kv_u32("b", 1);
  limits = {};
  limits.max_metadata = 1;
  check_refused(kv.bytes, limits, GgufError::kLimitExceeded, "2 metadata entries exceed the limit of 1");
  limits = {};
  limits.max_string_bytes = 4;
  check_refused(kv.bytes, limits, GgufError::kLimitExceeded, "a string value of 5 bytes exceeds the limit of 4");

  GgufWriter array(0, 1);
  array.key("a", GgufValueType::kArray).type(GgufValueType::kU8).u64(3).u8(1).u8(2).u8(3);
  limits = {};
  limits.max_array_elements = 2;
  check_refused(array.bytes, limits, GgufError::kLimitExceeded, "'a': array of 3 values exceeds the limit of 2");

  GgufWriter nested(0, 1);
  nested.key("n", GgufValueType::kArray).type(GgufValueType::kArray).u64(1).type(GgufValueType::kU8).u64(0);
  limits = {};
  limits.max_array_depth = 1;
  check_refused(nested.bytes, limits, GgufError::kNestingTooDeep, "nested deeper than 1");
  limits.max_array_depth = 2;
  GgufFile f;
  CHECK(GgufFile::from_buffer("case.gguf", nested.bytes.data(), nested.bytes.size(), &f, limits).ok());
}

TEST_CASE("a GGUF file that cannot be opened gives kIo") {
  GgufFile f;
  const auto st = GgufFile::open("/nonexistent/model.gguf", &f);
  CHECK(st.code == GgufError::kIo);
  CHECK(st.message.find("/nonexistent/model.gguf") != std::string::npos);
}
