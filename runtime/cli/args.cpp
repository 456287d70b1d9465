#include "runtime/cli/args.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "probex/platform/cpu.h"
#include "probex/version.h"

namespace probex::cli {

bool parse_long(const char* s, long lo, long hi, long* out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool parse_double(const char* s, double lo, double hi, double* out) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) return false;
  *out = v;
  return true;
}

bool parse_size(const char* s, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  // strtoull accepts a sign (and negates): a count never has one.
  if (errno != 0 || end == s || s[0] == '-' || s[0] == '+' || v == 0) return false;
  int shift = 0;
  if (*end != '\0') {
    const std::string_view units = "KMGT";
    const size_t unit = units.find(*end);
    if (unit == std::string_view::npos || end[1] != '\0') return false;
    shift = 10 * static_cast<int>(unit + 1);
  }
  if (v > (UINT64_MAX >> shift)) return false;
  *out = static_cast<uint64_t>(v) << shift;
  return true;
}

bool parse_threads(const char* s, uint32_t* out) {
  if (std::string_view(s) == "auto") {
    *out = static_cast<uint32_t>(platform::online_cpu_count());
    return true;
  }
  long n = 0;
  if (!parse_long(s, 1, 256, &n)) return false;
  *out = static_cast<uint32_t>(n);
  return true;
}

std::string either(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

std::string version_line(const std::string& program) { return program + " " + PROBEX_VERSION_STRING; }

ArgParser::ArgParser(std::string program, std::string help) : program_(std::move(program)), help_(std::move(help)) {}

void ArgParser::add(const std::string& name, Option option) { options_[name] = std::move(option); }

void ArgParser::flag(const std::string& name, bool* out) {
  flag(name, [out] { *out = true; });
}

void ArgParser::flag(const std::string& name, std::function<void()> on) {
  Option o;
  o.on = std::move(on);
  add(name, std::move(o));
}

void ArgParser::custom(const std::string& name, const std::string& needs,
                       std::function<bool(const std::string& value, std::string* message)> set) {
  Option o;
  o.takes_value = true;
  o.needs = needs;
  o.set = std::move(set);
  add(name, std::move(o));
}

void ArgParser::text(const std::string& name, const std::string& needs, std::string* out) {
  custom(name, needs, [out](const std::string& v, std::string*) {
    *out = v;
    return true;
  });
}

void ArgParser::texts(const std::string& name, const std::string& needs, std::vector<std::string>* out) {
  custom(name, needs, [out](const std::string& v, std::string*) {
    out->push_back(v);
    return true;
  });
}

void ArgParser::integer(const std::string& name, long lo, long hi, long* out, const std::string& needs) {
  custom(name, needs.empty() ? "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]" : needs,
         [=](const std::string& v, std::string*) { return parse_long(v.c_str(), lo, hi, out); });
}

void ArgParser::number(const std::string& name, double lo, double hi, double* out, const std::string& needs) {
  char range[64];
  std::snprintf(range, sizeof range, "a number in [%g, %g]", lo, hi);
  custom(name, needs.empty() ? std::string(range) : needs,
         [=](const std::string& v, std::string*) { return parse_double(v.c_str(), lo, hi, out); });
}

void ArgParser::byte_size(const std::string& name, uint64_t* out) {
  custom(name, "a byte count such as 1048576, 300M or 2G",
         [out](const std::string& v, std::string*) { return parse_size(v.c_str(), out); });
}

void ArgParser::threads(uint32_t* out) {
  custom("--threads", "an integer in [1, 256] or auto",
         [out](const std::string& v, std::string*) { return parse_threads(v.c_str(), out); });
}

void ArgParser::choice(const std::string& name, std::vector<std::string> allowed, std::string* out) {
  const std::string names = either(allowed);
  custom(name, names, [=](const std::string& v, std::string* message) {
    for (const std::string& a : allowed) {
      if (v == a) {
        *out = v;
        return true;
      }
    }
    *message = name + " takes " + names + ", not '" + v + "'";
    return false;
  });
}

void ArgParser::list(const std::string& name, std::vector<std::string> allowed, std::vector<std::string>* out,
                     const std::string& none) {
  std::string names = "one or more of ";
  for (size_t i = 0; i < allowed.size(); ++i) names += (i ? ", " : "") + allowed[i];
  names += " (comma-separated)";
  if (!none.empty()) names += " or " + none;
  custom(name, names, [=](const std::string& v, std::string* message) {
    *message = name + " takes " + names + ", not '" + v + "'";
    std::vector<std::string> items;
    if (!none.empty() && v == none) {
      *out = items;
      return true;
    }
    size_t start = 0;
    for (;;) {
      const size_t comma = v.find(',', start);
      const std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      bool known = false;
      for (const std::string& a : allowed) known |= item == a;
      bool repeated = false;
      for (const std::string& seen : items) repeated |= item == seen;
      if (!known || repeated) return false;
      items.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    *out = items;
    return true;
  });
}

void ArgParser::positional(std::vector<std::string>* out) { positional_ = out; }

void ArgParser::alias(const std::string& old_name, const std::string& name) { aliases_[old_name] = name; }

int ArgParser::usage_error(const std::string& what) const {
  std::fprintf(stderr, "%s: %s (see --help)\n", program_.c_str(), what.c_str());
  return kExitUsage;
}

int ArgParser::parse(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const auto renamed = aliases_.find(argv[i]);
    const std::string a = renamed == aliases_.end() ? std::string(argv[i]) : renamed->second;
    if (a == "--help" || a == "-h") {
      std::fputs(help_.c_str(), stdout);
      return kExitOk;
    }
    if (a == "--version") {
      std::printf("%s\n", version_line(program_).c_str());
      return kExitOk;
    }
    const auto it = options_.find(a);
    if (it == options_.end()) {
      // "-" alone is an ordinary argument (standard input by convention), anything else dashed is an option.
      if (positional_ && (a.empty() || a[0] != '-' || a == "-")) {
        positional_->push_back(a);
        continue;
      }
      return usage_error((a.size() > 1 && a[0] == '-' ? "unknown argument '" : "unexpected argument '") + a + "'");
    }
    given_.insert(a);
    const Option& o = it->second;
    if (!o.takes_value) {
      o.on();
      continue;
    }
    if (i + 1 >= argc) return usage_error(a + " needs " + o.needs);
    std::string message;
    if (!o.set(argv[++i], &message)) return usage_error(message.empty() ? a + " needs " + o.needs : message);
  }
  return kContinue;
}

}  // namespace probex::cli
