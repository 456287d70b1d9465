// probex-keygen: an Ed25519 key pair for signing bundles (probex-convert --sign PREFIX.secret); devices
// trust PREFIX.public (probex-audit --trusted-key, probex_bundle_open_with).
#include <cstdio>
#include <string>

#include <vector>

#include "converter/bundle/signing.h"
#include "runtime/cli/args.h"

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  probex::cli::ArgParser args(
      "probex-keygen",
      "usage: probex-keygen PREFIX\n"
      "Writes PREFIX.secret (Ed25519 secret key, hex, mode 0600; never overwritten) and PREFIX.public\n"
      "(the public key, hex) and prints the public key.\n"
      "--help, --version\n"
      "exit codes: 0 success, 1 failure, 2 bad command line\n");
  args.positional(&positional);
  if (const int code = args.parse(argc, argv); code != args.kContinue) return code;
  if (positional.size() != 1) return args.usage_error("one PREFIX is required");
  const char* prefix = positional[0].c_str();
  std::string public_hex, error;
  if (!probex::convert::generate_key_pair(prefix, &public_hex, &error)) {
    std::fprintf(stderr, "probex-keygen: %s\n", error.c_str());
    return 1;
  }
  std::printf("public key %s (%s.public); secret key in %s.secret\n", public_hex.c_str(), prefix, prefix);
  return 0;
}
