#include "runtime/bundle/signature.h"

#include <sodium.h>

#include <cctype>
#include <cstring>

#include "probex/platform/read_only_file.h"

namespace probex {
namespace {

constexpr char kMagic[8] = {'P', 'R', 'B', 'X', 'S', 'I', 'G', '1'};

// libsodium must be initialised once; sodium_init is itself thread-safe and idempotent.
bool sodium_ready() { return sodium_init() >= 0; }

}  // namespace

BundleSignature find_signature(const uint8_t* data, size_t size) {
  BundleSignature s;
  s.content_size = size;
  if (!data || size < kSignatureTrailerBytes) return s;
  const uint8_t* t = data + size - kSignatureTrailerBytes;
  if (std::memcmp(t, kMagic, sizeof kMagic) != 0) return s;
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | t[104 + i];
  if (length != size - kSignatureTrailerBytes) return s;
  s.present = true;
  s.content_size = static_cast<size_t>(length);
  std::memcpy(s.public_key, t + 8, kPublicKeyBytes);
  std::memcpy(s.signature, t + 40, kSignatureBytes);
  return s;
}

probex_status check_signature(const uint8_t* data, const BundleSignature& s, const uint8_t* trusted_keys,
                              size_t key_count, const std::string& name, std::string* message) {
  if (key_count == 0) return PROBEX_OK;
  if (!trusted_keys) {
    *message = "null trusted keys";
    return PROBEX_INVALID_ARGUMENT;
  }
  if (!s.present) {
    *message = name + ": the bundle is not signed, and trusted keys are configured";
    return PROBEX_BUNDLE_SIGNATURE;
  }
  bool trusted = false;
  for (size_t k = 0; k < key_count && !trusted; ++k)
    trusted = sodium_memcmp(trusted_keys + k * kPublicKeyBytes, s.public_key, kPublicKeyBytes) == 0;
  if (!trusted) {
    *message = name + ": signed by " + to_hex(s.public_key, kPublicKeyBytes) + ", which is not a trusted key";
    return PROBEX_BUNDLE_SIGNATURE;
  }
  if (!sodium_ready()) {
    *message = "libsodium cannot initialise";
    return PROBEX_BACKEND_ERROR;
  }
  if (crypto_sign_verify_detached(s.signature, data, s.content_size, s.public_key) != 0) {
    *message = name + ": the signature does not match the bundle's bytes (changed after signing)";
    return PROBEX_BUNDLE_SIGNATURE;
  }
  return PROBEX_OK;
}

void bundle_digest(const uint8_t* data, size_t content_size, uint8_t out[kDigestBytes]) {
  sodium_ready();
  crypto_hash_sha256(out, data, content_size);
}

std::string to_hex(const uint8_t* bytes, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  return out;
}

bool read_key_file(const std::string& path, size_t bytes, uint8_t* out, std::string* error) {
  constexpr uint64_t kMaxKeyFileBytes = 4096;  // hex digits plus any whitespace an editor adds
  platform::AlignedBytes file;
  size_t n = 0;
  if (platform::read_whole_file(path, kMaxKeyFileBytes, &file, &n, error) != platform::ReadResult::kOk) return false;
  const uint8_t* p = file.get();
  while (n > 0 && std::isspace(p[n - 1])) --n;
  if (n != 2 * bytes) {
    *error = path + ": a key file holds " + std::to_string(2 * bytes) + " hex digits, this one " + std::to_string(n) +
             " characters";
    return false;
  }
  for (size_t i = 0; i < bytes; ++i) {
    int v[2];
    for (int h = 0; h < 2; ++h) {
      const int c = p[2 * i + h];
      v[h] = c >= '0' && c <= '9'   ? c - '0'
             : c >= 'a' && c <= 'f' ? c - 'a' + 10
             : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                    : -1;
      if (v[h] < 0) {
        *error = path + ": not a hex digit at character " + std::to_string(2 * i + h + 1);
        return false;
      }
    }
    out[i] = static_cast<uint8_t>(v[0] * 16 + v[1]);
  }
  return true;
}

}  // namespace probex
