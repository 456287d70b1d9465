#include "converter/bundle/signing.h"

#include <sodium.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "converter/io/safetensors_writer.h"
#include "runtime/bundle/signature.h"

namespace probex::convert {

bool generate_key_pair(const std::string& prefix, std::string* public_hex, std::string* error) {
  if (sodium_init() < 0) {
    *error = "libsodium cannot initialise";
    return false;
  }
  const std::string secret_path = prefix + ".secret", public_path = prefix + ".public";
  if (std::filesystem::exists(secret_path)) {
    *error = secret_path + " exists: a secret key is never overwritten";
    return false;
  }
  uint8_t pk[kPublicKeyBytes], sk[kSecretKeyBytes];
  crypto_sign_keypair(pk, sk);
  const std::string secret = to_hex(sk, sizeof sk) + "\n";
  *public_hex = to_hex(pk, sizeof pk);
  const std::string pub = *public_hex + "\n";
  sodium_memzero(sk, sizeof sk);
  // The secret file is created readable by its owner only, before any byte is written.
  const mode_t old_mask = umask(077);
  const bool ok = write_file_atomically(secret_path, secret.data(), secret.size(), error);
  umask(old_mask);
  return ok && write_file_atomically(public_path, pub.data(), pub.size(), error);
}

bool sign_bundle(const std::string& secret_key_path, std::vector<uint8_t>* bundle, std::string* error) {
  if (sodium_init() < 0) {
    *error = "libsodium cannot initialise";
    return false;
  }
  uint8_t sk[kSecretKeyBytes];
  if (!read_key_file(secret_key_path, sizeof sk, sk, error)) return false;
  uint8_t signature[kSignatureBytes];
  crypto_sign_detached(signature, nullptr, bundle->data(), bundle->size(), sk);
  const uint64_t length = bundle->size();
  static const char magic[8] = {'P', 'R', 'B', 'X', 'S', 'I', 'G', '1'};
  bundle->insert(bundle->end(), magic, magic + 8);
  bundle->insert(bundle->end(), sk + 32, sk + 64);  // an Ed25519 secret key ends with its public key
  bundle->insert(bundle->end(), signature, signature + sizeof signature);
  for (int i = 0; i < 8; ++i) bundle->push_back(static_cast<uint8_t>(length >> (8 * i)));
  sodium_memzero(sk, sizeof sk);
  return true;
}

}  // namespace probex::convert
