// A strict, bounded, allocation-light JSON reader for the headers of untrusted files.
//
// Why not a JSON library: the runtime must not throw, must detect duplicate keys (a general DOM
// silently keeps one), must read integers exactly up to 2^64-1 (no trip through double), and must
// bound its memory by the schema it reads rather than by the input. So parsing is two passes:
// `validate_json` checks RFC 8259 syntax of the whole text once (depth-limited, no allocation), then a
// schema-specific reader walks it with `JsonCursor`, which can assume the syntax is valid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace probex::json {

// True if `text` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
// On failure *bad_offset is the offset of the first bad byte.
bool is_valid_utf8(std::string_view text, size_t* bad_offset);

// Appends code point `cp` (at most U+10FFFF, not a surrogate) to *out as UTF-8.
void append_utf8(uint32_t cp, std::string* out);

// Checks that `text` is exactly one JSON value (with optional surrounding whitespace), nested at most
// `max_depth` levels. On failure returns false, *error_offset is where it went wrong and *error names
// what (a static string).
bool validate_json(std::string_view text, int max_depth, size_t* error_offset, const char** error);

enum class NumberKind { kUnsignedInteger, kOverflow, kOther };

// Walks text that validate_json accepted. Every method skips leading whitespace. Methods that read a
// token return false if the next token is not of the expected kind (and then consume nothing).
class JsonCursor {
 public:
  explicit JsonCursor(std::string_view text) : text_(text) {}

  char peek();                         // next non-whitespace byte, or '\0' at the end
  bool consume(char c);                // consumes `c` if it is next
  bool read_string(std::string* out);  // decodes escapes into UTF-8
  // Reads any number; *value is set only for kUnsignedInteger (a plain non-negative integer literal).
  bool read_number(NumberKind* kind, uint64_t* value);
  // Reads any number as the nearest float; false (consuming it) if it is outside float's finite range.
  bool read_float(float* value);
  void skip_value();  // skips one value of any kind
  size_t offset() const { return pos_; }

 private:
  void skip_ws();
  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace probex::json
