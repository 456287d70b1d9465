// Signed bundles: an Ed25519 signature (libsodium) over the whole bundle, in a fixed trailer after the
// FlatBuffers bytes, so an audit can refuse a bundle that was not made, or was changed since, by a key the
// caller trusts. Trailer (112 bytes, the file's last):
//   "PRBXSIG1" | signer's public key (32) | signature of the bytes before the trailer (64) |
//   their length (8, little-endian)
// Without trusted keys a signed bundle opens like any other (the trailer is set aside); with them, an
// unsigned bundle, another signer or any changed byte is PROBEX_BUNDLE_SIGNATURE, checked before parsing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "probex/probex.h"

namespace probex {

constexpr size_t kSignatureTrailerBytes = 112;
constexpr size_t kPublicKeyBytes = 32, kSecretKeyBytes = 64, kSignatureBytes = 64, kDigestBytes = 32;

struct BundleSignature {
  bool present = false;
  size_t content_size = 0;  // the bundle's own bytes (all of them without a trailer)
  uint8_t public_key[kPublicKeyBytes] = {};
  uint8_t signature[kSignatureBytes] = {};
};

// Looks for a trailer at the end of `data`; a trailer whose length field disagrees is not one.
BundleSignature find_signature(const uint8_t* data, size_t size);

// With key_count > 0: the bundle must be signed by one of `trusted_keys` (key_count x 32 bytes) and the
// signature must match its bytes. `name` names the bundle in *message.
probex_status check_signature(const uint8_t* data, const BundleSignature& signature, const uint8_t* trusted_keys,
                              size_t key_count, const std::string& name, std::string* message);

// SHA-256 of the bundle's own bytes (what the signature covers), for reports.
void bundle_digest(const uint8_t* data, size_t content_size, uint8_t out[kDigestBytes]);

// Lower-case hex of n bytes.
std::string to_hex(const uint8_t* bytes, size_t n);

// A key file: exactly 2 x `bytes` hex digits, then optional white space (probex-keygen writes them).
// Errors name the file and the problem.
bool read_key_file(const std::string& path, size_t bytes, uint8_t* out, std::string* error);

}  // namespace probex
