// probex-keygen: an Ed25519 key pair for signing bundles (probex-convert --sign PREFIX.secret); devices
// trust PREFIX.public (probex-audit --trusted-key, probex_bundle_open_with).
#include <cstdio>
#include <string>

#include "bundle/signing.h"

int main(int argc, char** argv) {
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf("usage: probex-keygen PREFIX\n"
                "Writes PREFIX.secret (Ed25519 secret key, hex, mode 0600; never overwritten) and PREFIX.public\n"
                "(the public key, hex) and prints the public key.\n"
                "exit codes: 0 success, 1 failure, 2 bad command line\n");
    return 0;
  }
  if (argc != 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "probex-keygen: usage: probex-keygen PREFIX (see --help)\n");
    return 2;
  }
  std::string public_hex, error;
  if (!probex::convert::generate_key_pair(argv[1], &public_hex, &error)) {
    std::fprintf(stderr, "probex-keygen: %s\n", error.c_str());
    return 1;
  }
  std::printf("public key %s (%s.public); secret key in %s.secret\n", public_hex.c_str(), argv[1], argv[1]);
  return 0;
}
