#include "runtime/formats/json_reader.h"

#include <charconv>

namespace probex::json {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Syntax checker: a recursive descent over the text with an explicit depth bound.
class Validator {
 public:
  Validator(std::string_view text, int max_depth) : text_(text), max_depth_(max_depth) {}

  bool run() {
    skip_ws();
    if (!value(0)) return false;
    skip_ws();
    if (pos_ != text_.size()) return fail("unexpected data after the JSON value");
    return true;
  }

  size_t pos_ = 0;
  const char* error_ = nullptr;

 private:
  bool fail(const char* what) {
    error_ = what;
    return false;
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char cur() const { return text_[pos_]; }
  void skip_ws() {
    while (!at_end() && is_ws(cur())) ++pos_;
  }

  bool value(int depth) {
    if (at_end()) return fail("unexpected end of JSON");
    const char c = cur();
    if (c == '{' || c == '[') {
      if (depth >= max_depth_) return fail("JSON nested too deeply");
      return c == '{' ? object(depth + 1) : array(depth + 1);
    }
    if (c == '"') return string();
    if (c == '-' || is_digit(c)) return number();
    if (literal("true") || literal("false") || literal("null")) return true;
    return fail("invalid JSON value");
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool object(int depth) {
    ++pos_;  // '{'
    skip_ws();
    if (!at_end() && cur() == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (at_end() || cur() != '"') return fail("expected a string key in JSON object");
      if (!string()) return false;
      skip_ws();
      if (at_end() || cur() != ':') return fail("expected ':' in JSON object");
      ++pos_;
      skip_ws();
      if (!value(depth)) return false;
      skip_ws();
      if (at_end()) return fail("unterminated JSON object");
      if (cur() == '}') {
        ++pos_;
        return true;
      }
      if (cur() != ',') return fail("expected ',' or '}' in JSON object");
      ++pos_;
    }
  }

  bool array(int depth) {
    ++pos_;  // '['
    skip_ws();
    if (!at_end() && cur() == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (!value(depth)) return false;
      skip_ws();
      if (at_end()) return fail("unterminated JSON array");
      if (cur() == ']') {
        ++pos_;
        return true;
      }
      if (cur() != ',') return fail("expected ',' or ']' in JSON array");
      ++pos_;
    }
  }

  bool hex4(uint32_t* out) {
    if (text_.size() - pos_ < 4) return fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hex_value(text_[pos_ + static_cast<size_t>(i)]);
      if (h < 0) return fail("invalid \\u escape");
      v = (v << 4) | static_cast<uint32_t>(h);
    }
    pos_ += 4;
    *out = v;
    return true;
  }

  bool string() {
    ++pos_;  // opening quote
    for (;;) {
      if (at_end()) return fail("unterminated JSON string");
      const char c = cur();
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in JSON string");
      if (c != '\\') {
        ++pos_;
        continue;
      }
      ++pos_;
      if (at_end()) return fail("unterminated escape in JSON string");
      const char e = cur();
      ++pos_;
      if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
        continue;
      }
      if (e != 'u') return fail("invalid escape in JSON string");
      uint32_t unit = 0;
      if (!hex4(&unit)) return false;
      if (unit >= 0xDC00 && unit <= 0xDFFF) return fail("lone low surrogate in JSON string");
      if (unit >= 0xD800 && unit <= 0xDBFF) {  // must be followed by a low surrogate
        if (text_.substr(pos_, 2) != "\\u") return fail("lone high surrogate in JSON string");
        pos_ += 2;
        uint32_t low = 0;
        if (!hex4(&low)) return false;
        if (low < 0xDC00 || low > 0xDFFF) return fail("invalid surrogate pair in JSON string");
      }
    }
  }

  bool number() {
    if (cur() == '-') ++pos_;
    if (at_end() || !is_digit(cur())) return fail("invalid JSON number");
    if (cur() == '0') {
      ++pos_;
    } else {
      while (!at_end() && is_digit(cur())) ++pos_;
    }
    if (!at_end() && cur() == '.') {
      ++pos_;
      if (at_end() || !is_digit(cur())) return fail("invalid JSON number");
      while (!at_end() && is_digit(cur())) ++pos_;
    }
    if (!at_end() && (cur() == 'e' || cur() == 'E')) {
      ++pos_;
      if (!at_end() && (cur() == '+' || cur() == '-')) ++pos_;
      if (at_end() || !is_digit(cur())) return fail("invalid JSON number");
      while (!at_end() && is_digit(cur())) ++pos_;
    }
    return true;
  }

  std::string_view text_;
  int max_depth_;
};

}  // namespace

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_valid_utf8(std::string_view text, size_t* bad_offset) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      *bad_offset = i;
      return false;
    }
    if (n - i < len) {
      *bad_offset = i;
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) {
        *bad_offset = i;
        return false;
      }
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

bool validate_json(std::string_view text, int max_depth, size_t* error_offset, const char** error) {
  Validator v(text, max_depth);
  if (v.run()) return true;
  *error_offset = v.pos_;
  *error = v.error_;
  return false;
}

void JsonCursor::skip_ws() {
  while (pos_ < text_.size() && is_ws(text_[pos_])) ++pos_;
}

char JsonCursor::peek() {
  skip_ws();
  return pos_ < text_.size() ? text_[pos_] : '\0';
}

bool JsonCursor::consume(char c) {
  if (peek() != c) return false;
  ++pos_;
  return true;
}

bool JsonCursor::read_string(std::string* out) {
  if (peek() != '"') return false;
  ++pos_;
  out->clear();
  // Syntax was validated: escapes are well-formed and the string is terminated.
  while (text_[pos_] != '"') {
    const char c = text_[pos_++];
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    const char e = text_[pos_++];
    switch (e) {
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        uint32_t cp = 0;
        for (int i = 0; i < 4; ++i) cp = (cp << 4) | static_cast<uint32_t>(hex_value(text_[pos_++]));
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t low = 0;
          pos_ += 2;  // the "\u" of the low surrogate
          for (int i = 0; i < 4; ++i) low = (low << 4) | static_cast<uint32_t>(hex_value(text_[pos_++]));
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(cp, out);
        break;
      }
      default: out->push_back(e); break;  // '"', '\\', '/'
    }
  }
  ++pos_;
  return true;
}

bool JsonCursor::read_number(NumberKind* kind, uint64_t* value) {
  const char first = peek();
  if (first != '-' && !is_digit(first)) return false;
  bool plain = first != '-';
  bool overflow = false;
  uint64_t v = 0;
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (is_digit(c)) {
      const auto digit = static_cast<uint64_t>(c - '0');
      if (v > (UINT64_MAX - digit) / 10) overflow = true;
      v = v * 10 + digit;
    } else if (c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
      plain = false;
    } else {
      break;
    }
    ++pos_;
  }
  if (!plain) {
    *kind = NumberKind::kOther;
  } else if (overflow) {
    *kind = NumberKind::kOverflow;
  } else {
    *kind = NumberKind::kUnsignedInteger;
    *value = v;
  }
  return true;
}

bool JsonCursor::read_float(float* value) {
  peek();
  const size_t begin = pos_;
  NumberKind kind;
  uint64_t unused = 0;
  if (!read_number(&kind, &unused)) return false;
  const auto [end, ec] = std::from_chars(text_.data() + begin, text_.data() + pos_, *value);
  return ec == std::errc() && end == text_.data() + pos_;
}

void JsonCursor::skip_value() {
  // Syntax was validated, so only strings need care (they may contain brackets).
  int depth = 0;
  do {
    const char c = peek();
    if (c == '"') {
      ++pos_;
      while (text_[pos_] != '"') pos_ += text_[pos_] == '\\' ? 2 : 1;
      ++pos_;
    } else if (c == '{' || c == '[') {
      ++depth;
      ++pos_;
    } else if (c == '}' || c == ']') {
      --depth;
      ++pos_;
    } else if (c == ',' || c == ':') {
      ++pos_;
    } else {
      while (pos_ < text_.size() && !is_ws(text_[pos_]) && text_[pos_] != ',' && text_[pos_] != '}' &&
             text_[pos_] != ']') {
        ++pos_;
      }
    }
  } while (depth > 0);
}

}  // namespace probex::json
