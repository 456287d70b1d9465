// Signing bundles on the workstation (runtime/bundle/signature.h has the format and the check):
// probex-keygen makes an Ed25519 key pair, probex-convert --sign appends the signature trailer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace probex::convert {

// Writes PREFIX.secret (the 64-byte secret key in hex, readable by the owner only) and PREFIX.public
// (the 32-byte public key in hex, what devices trust). Refuses to overwrite an existing secret key.
bool generate_key_pair(const std::string& prefix, std::string* public_hex, std::string* error);

// Appends the signature trailer made with the secret key in `secret_key_path` to `bundle`.
bool sign_bundle(const std::string& secret_key_path, std::vector<uint8_t>* bundle, std::string* error);

}  // namespace probex::convert
