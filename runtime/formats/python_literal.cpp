#include "runtime/formats/python_literal.h"

#include <cstdint>

#include "runtime/formats/json_reader.h"

namespace probex {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool parse_python_string_list(const std::string& text, std::vector<std::string>* out, std::string* error) {
  size_t i = 0;
  auto fail = [&](const std::string& what) {
    *error = "not a Python list of strings: " + what + " at offset " + std::to_string(i);
    return false;
  };
  auto skip_ws = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  };
  out->clear();
  skip_ws();
  if (i >= text.size() || text[i] != '[') return fail("expected '['");
  ++i;
  for (;;) {
    skip_ws();
    if (i < text.size() && text[i] == ']') {
      ++i;
      break;
    }
    if (i >= text.size() || (text[i] != '\'' && text[i] != '"')) return fail("expected a quoted string");
    const char quote = text[i++];
    std::string item;
    for (;;) {
      if (i >= text.size()) return fail("unterminated string");
      const char c = text[i++];
      if (c == quote) break;
      if (c == '\n') return fail("newline inside a string");
      if (c != '\\') {
        item.push_back(c);
        continue;
      }
      if (i >= text.size()) return fail("unterminated escape");
      const char e = text[i++];
      switch (e) {
        case '\\':
        case '\'':
        case '"': item.push_back(e); break;
        case 'n': item.push_back('\n'); break;
        case 't': item.push_back('\t'); break;
        case 'r': item.push_back('\r'); break;
        case 'x':
        case 'u': {
          const int digits = e == 'x' ? 2 : 4;
          uint32_t cp = 0;
          for (int k = 0; k < digits; ++k) {
            const int h = i < text.size() ? hex_digit(text[i]) : -1;
            if (h < 0) return fail("bad \\" + std::string(1, e) + " escape");
            cp = (cp << 4) | static_cast<uint32_t>(h);
            ++i;
          }
          if (cp >= 0xD800 && cp <= 0xDFFF) return fail("surrogate escape");
          json::append_utf8(cp, &item);
          break;
        }
        default: return fail(std::string("unknown escape \\") + e);
      }
    }
    out->push_back(std::move(item));
    skip_ws();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    skip_ws();
    if (i < text.size() && text[i] == ']') {
      ++i;
      break;
    }
    return fail("expected ',' or ']'");
  }
  skip_ws();
  if (i != text.size()) return fail("text after the list");
  return true;
}

std::string python_list_literal(const std::vector<std::string>& items) {
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) s += ", ";
    s += '\'';
    for (char c : items[i]) {
      if (c == '\\' || c == '\'') s += '\\';
      s += c;
    }
    s += '\'';
  }
  return s + "]";
}

}  // namespace probex
