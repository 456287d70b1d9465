#include <doctest/doctest.h>

#include <string>

#include "runtime/formats/json_reader.h"

using namespace probex::json;

namespace {
bool valid(const std::string& s, int depth = 8) {
  size_t off = 0;
  const char* what = nullptr;
  return validate_json(s, depth, &off, &what);
}
bool utf8(const std::string& s) {
  size_t off = 0;
  return is_valid_utf8(s, &off);
}
}  // namespace

TEST_CASE("validate_json accepts RFC 8259 values and rejects the rest") {
  for (const char* ok :
       {"{}", "[]", "0", "-0.5e+3", "\"a\\u00e9\\ud83d\\ude00\"", " { \"a\" : [1, true, null, false] } ",
        "{\"a\":{\"b\":{}}}", "1E5", "\"\\/\\b\\f\\n\\r\\t\""}) {
    CAPTURE(ok);
    CHECK(valid(ok));
  }
  for (const char* bad : {"",
                          "{",
                          "{,}",
                          "[1,]",
                          "01",
                          "1.",
                          ".5",
                          "-",
                          "+1",
                          "1e",
                          "tru",
                          "nul",
                          "'a'",
                          "\"\\x\"",
                          "\"\\u12\"",
                          "\"\\udc00\"",
                          "\"\\ud800\\u0041\"",
                          "{\"a\" 1}",
                          "{1:2}",
                          "[1 2]",
                          "{} {}",
                          "\"unterminated"}) {
    CAPTURE(bad);
    CHECK_FALSE(valid(bad));
  }
}

TEST_CASE("validate_json bounds nesting depth and reports where it failed") {
  CHECK(valid("[[[]]]", 3));
  CHECK_FALSE(valid("[[[[]]]]", 3));
  size_t off = 0;
  const char* what = nullptr;
  CHECK_FALSE(validate_json("[1, 2, x]", 8, &off, &what));
  CHECK(off == 7);
  CHECK(std::string(what) == "invalid JSON value");
  // A very deep input fails fast instead of overflowing the stack.
  CHECK_FALSE(valid(std::string(100000, '['), 8));
}

TEST_CASE("is_valid_utf8 rejects overlongs, surrogates, truncation and values above U+10FFFF") {
  CHECK(utf8("plain"));
  CHECK(utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));  // é € 😀
  CHECK_FALSE(utf8("\xc0\x80"));                        // overlong NUL
  CHECK_FALSE(utf8("\xe0\x80\xaf"));                    // overlong
  CHECK_FALSE(utf8("\xed\xa0\x80"));                    // surrogate D800
  CHECK_FALSE(utf8("\xf4\x90\x80\x80"));                // above U+10FFFF
  CHECK_FALSE(utf8("\xe2\x82"));                        // truncated
  CHECK_FALSE(utf8("\x80"));                            // lone continuation
  CHECK_FALSE(utf8("\xff"));
}

TEST_CASE("JsonCursor decodes strings and reads integers exactly") {
  const std::string text = R"({"k\u00e9\ud83d\ude00\n": [18446744073709551615, 18446744073709551616, 1.5, -1, 7]})";
  REQUIRE(valid(text));
  JsonCursor cur(text);
  REQUIRE(cur.consume('{'));
  std::string key;
  REQUIRE(cur.read_string(&key));
  CHECK(key == "k\xc3\xa9\xf0\x9f\x98\x80\n");
  REQUIRE(cur.consume(':'));
  REQUIRE(cur.consume('['));
  NumberKind kind{};
  uint64_t v = 0;
  REQUIRE(cur.read_number(&kind, &v));
  CHECK(kind == NumberKind::kUnsignedInteger);
  CHECK(v == 18446744073709551615ull);
  REQUIRE(cur.consume(','));
  REQUIRE(cur.read_number(&kind, &v));
  CHECK(kind == NumberKind::kOverflow);
  REQUIRE(cur.consume(','));
  REQUIRE(cur.read_number(&kind, &v));
  CHECK(kind == NumberKind::kOther);
  REQUIRE(cur.consume(','));
  REQUIRE(cur.read_number(&kind, &v));
  CHECK(kind == NumberKind::kOther);
  REQUIRE(cur.consume(','));
  CHECK_FALSE(cur.read_string(&key));  // a number is next, not a string
  cur.skip_value();
  CHECK(cur.consume(']'));
  CHECK(cur.consume('}'));
  CHECK(cur.peek() == '\0');
}

TEST_CASE("JsonCursor skips nested values with brackets inside strings") {
  const std::string text = R"([{"a": ["]", "}", {"b": [1, 2]}]}, 3])";
  REQUIRE(valid(text));
  JsonCursor cur(text);
  REQUIRE(cur.consume('['));
  cur.skip_value();
  REQUIRE(cur.consume(','));
  NumberKind kind{};
  uint64_t v = 0;
  REQUIRE(cur.read_number(&kind, &v));
  CHECK(v == 3);
}
