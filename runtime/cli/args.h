// The command-line parser every probex CLI uses (the runtime's and the converter's), so that options
// behave the same everywhere: exact names only (no prefixes, no substrings), values checked whole and in
// range, list values drawn from a fixed set of names, --help and --version on every tool, and one exit
// code for a bad command line (2, with "PROGRAM: message (see --help)" on stderr).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace probex::cli {

// Exit codes shared by every CLI.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Strict parsers: the whole text must be a number within [lo, hi] (no sign on unsigned values).
bool parse_long(const char* s, long lo, long hi, long* out);
bool parse_double(const char* s, double lo, double hi, double* out);
// A byte count: digits, optionally followed by K, M, G or T (powers of 1024), at least 1.
bool parse_size(const char* s, uint64_t* out);
// A thread count: an integer in [1, 256], or "auto" for every processor online.
bool parse_threads(const char* s, uint32_t* out);

// "a, b or c": the names of a choice, for messages.
std::string either(const std::vector<std::string>& names);

// The tool's version line, "PROGRAM VERSION" (the CMake project version, probex/version.h).
std::string version_line(const std::string& program);

class ArgParser {
 public:
  // Returned by parse() when the tool should go on; otherwise parse() returns the exit code.
  static constexpr int kContinue = -1;

  // `program` names the tool in messages and --version; `help` is printed as is by --help (or -h).
  ArgParser(std::string program, std::string help);

  // Options without a value.
  void flag(const std::string& name, bool* out);
  void flag(const std::string& name, std::function<void()> on);
  // Options with a value. `needs` completes the message of a missing or bad value: "NAME needs NEEDS".
  void text(const std::string& name, const std::string& needs, std::string* out);
  void texts(const std::string& name, const std::string& needs, std::vector<std::string>* out);  // repeatable
  void integer(const std::string& name, long lo, long hi, long* out, const std::string& needs = "");
  void number(const std::string& name, double lo, double hi, double* out, const std::string& needs = "");
  void byte_size(const std::string& name, uint64_t* out);
  void threads(uint32_t* out);  // --threads
  // One name of `allowed`: "NAME takes a, b or c, not 'VALUE'" otherwise.
  void choice(const std::string& name, std::vector<std::string> allowed, std::string* out);
  // A comma-separated list of names of `allowed`, each given once; `none` (if not empty) alone means the
  // empty list.
  void list(const std::string& name, std::vector<std::string> allowed, std::vector<std::string>* out,
            const std::string& none = "");
  // Any other value: `set` returns false for a bad one, with *message set (or left empty for the usual
  // "NAME needs NEEDS").
  void custom(const std::string& name, const std::string& needs,
              std::function<bool(const std::string& value, std::string* message)> set);
  // An old name of option `name`, still accepted: it parses, and counts as given(), as `name` itself.
  void alias(const std::string& old_name, const std::string& name);
  // Arguments that are not options, in order; without this, one is a usage error.
  void positional(std::vector<std::string>* out);

  // Parses argv[1..argc): kContinue, or 0 after printing --help or --version, or kExitUsage after printing
  // the usage error.
  int parse(int argc, const char* const* argv);

  // Whether option `name` was on the command line (tools whose defaults depend on other options).
  bool given(const std::string& name) const { return given_.count(name) != 0; }

  // Prints "PROGRAM: what (see --help)" on stderr and returns kExitUsage.
  int usage_error(const std::string& what) const;
  const std::string& program() const { return program_; }

 private:
  struct Option {
    bool takes_value = false;
    std::string needs;
    // For a value: empty string if accepted, else the message (empty message from a bad value means the
    // usual "NAME needs NEEDS").
    std::function<bool(const std::string& value, std::string* message)> set;
    std::function<void()> on;
  };
  void add(const std::string& name, Option option);

  std::string program_, help_;
  std::map<std::string, Option> options_;
  std::map<std::string, std::string> aliases_;  // old name -> name
  std::vector<std::string>* positional_ = nullptr;
  std::set<std::string> given_;
};

}  // namespace probex::cli
