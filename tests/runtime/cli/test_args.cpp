// The command-line parser every CLI uses (runtime/cli/args.h), and the version every CLI prints.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "probex/probex.h"
#include "runtime/cli/args.h"

using probex::cli::ArgParser;

namespace {

// Runs the parser on `words` (argv[0] added); returns parse()'s answer. Usage errors print to stderr.
int run(ArgParser& p, std::vector<std::string> words) {
  words.insert(words.begin(), "tool");
  std::vector<const char*> argv;
  for (const std::string& w : words) argv.push_back(w.c_str());
  return p.parse(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("the parser matches option names exactly") {
  bool quiet = false;
  std::string out;
  ArgParser p("tool", "help\n");
  p.flag("--quiet", &quiet);
  p.text("--out", "a file", &out);
  CHECK(run(p, {"--out", "x", "--quiet"}) == ArgParser::kContinue);
  CHECK(quiet);
  CHECK(out == "x");
  CHECK(p.given("--out"));
  CHECK_FALSE(p.given("--other"));
  for (const char* near : {"--qui", "--quiet=1", "-quiet", "--Quiet", "--outx"}) {
    CAPTURE(near);
    ArgParser q("tool", "help\n");
    q.flag("--quiet", &quiet);
    q.text("--out", "a file", &out);
    CHECK(run(q, {near}) == probex::cli::kExitUsage);
  }
}

TEST_CASE("values are checked whole and in range; a missing value is a usage error") {
  long n = 7;
  double x = 0;
  uint64_t bytes = 0;
  uint32_t threads = 0;
  const auto parser = [&] {
    ArgParser p("tool", "");
    p.integer("--n", 1, 10, &n);
    p.number("--x", 0.0, 1.0, &x);
    p.byte_size("--size", &bytes);
    p.threads(&threads);
    return p;
  };
  ArgParser ok = parser();
  CHECK(run(ok, {"--n", "10", "--x", "0.25", "--size", "3M", "--threads", "4"}) == ArgParser::kContinue);
  CHECK(n == 10);
  CHECK(x == 0.25);
  CHECK(bytes == 3u << 20);
  CHECK(threads == 4);
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{{"--n", "11"},
                                                                                   {"--n", "0"},
                                                                                   {"--n", "5x"},
                                                                                   {"--n", ""},
                                                                                   {"--n"},
                                                                                   {"--x", "1.5"},
                                                                                   {"--x", "nan"},
                                                                                   {"--size", "-1"},
                                                                                   {"--size", "+1"},
                                                                                   {"--size", "0"},
                                                                                   {"--size", "1Q"},
                                                                                   {"--size", "20000000T"},
                                                                                   {"--threads", "0"},
                                                                                   {"--threads", "257"},
                                                                                   {"--threads", "many"}}) {
    CAPTURE(bad[0]);
    CAPTURE(bad.size() > 1 ? bad[1] : "(none)");
    ArgParser p = parser();
    CHECK(run(p, bad) == probex::cli::kExitUsage);
  }
  ArgParser autos = parser();
  CHECK(run(autos, {"--threads", "auto"}) == ArgParser::kContinue);
  CHECK(threads >= 1);
}

TEST_CASE("choices and lists take exact names from their set") {
  std::string backend = "xnnpack";
  std::vector<std::string> groups = {"whole"}, baselines = {"dense"};
  const auto parser = [&] {
    ArgParser p("tool", "");
    p.choice("--backend", {"xnnpack", "reference"}, &backend);
    p.list("--groups", {"whole", "rows", "cols"}, &groups);
    p.list("--baselines", {"dense", "stats"}, &baselines, "none");
    return p;
  };
  ArgParser ok = parser();
  CHECK(run(ok, {"--backend", "reference", "--groups", "cols,rows", "--baselines", "none"}) == ArgParser::kContinue);
  CHECK(backend == "reference");
  CHECK(groups == std::vector<std::string>{"cols", "rows"});
  CHECK(baselines.empty());
  // The old substring matching accepted "arrows" as rows and "undense" as dense.
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{{"--groups", "arrows"},
                                                                                   {"--groups", "rows,"},
                                                                                   {"--groups", ""},
                                                                                   {"--groups", "rows,rows"},
                                                                                   {"--groups", "none"},
                                                                                   {"--baselines", "undense"},
                                                                                   {"--baselines", "dense,none"},
                                                                                   {"--backend", "xnn"}}) {
    CAPTURE(bad[0]);
    CAPTURE(bad[1]);
    ArgParser p = parser();
    CHECK(run(p, bad) == probex::cli::kExitUsage);
  }
}

TEST_CASE("positional arguments, --help and --version") {
  std::vector<std::string> files;
  ArgParser p("tool", "");
  p.positional(&files);
  CHECK(run(p, {"a", "-", "b"}) == ArgParser::kContinue);
  CHECK(files == std::vector<std::string>{"a", "-", "b"});
  CHECK(run(p, {"--bogus"}) == probex::cli::kExitUsage);
  ArgParser none("tool", "");
  CHECK(run(none, {"a"}) == probex::cli::kExitUsage);  // a tool without positional arguments
  ArgParser help("tool", "");
  CHECK(run(help, {"--help", "--bogus"}) == probex::cli::kExitOk);
  CHECK(run(help, {"-h"}) == probex::cli::kExitOk);
  CHECK(run(help, {"--version"}) == probex::cli::kExitOk);
}

TEST_CASE("one version: the CMake project version, in the headers, the library and the CLIs") {
  const std::string parts = std::to_string(PROBEX_VERSION_MAJOR) + "." + std::to_string(PROBEX_VERSION_MINOR) + "." +
                            std::to_string(PROBEX_VERSION_PATCH);
  CHECK(parts == PROBEX_VERSION_STRING);
  CHECK(std::string(probex_version()) == PROBEX_VERSION_STRING);
  CHECK(probex::cli::version_line("probex-audit") == std::string("probex-audit ") + PROBEX_VERSION_STRING);
  CHECK(std::string(PROBEX_VERSION_STRING) == PROBEX_CMAKE_PROJECT_VERSION);  // the test's own copy of it
}
