// Signed bundles (runtime/bundle/signature.h, converter/bundle/signing.h): a trusted signature opens,
// anything else is refused before parsing; every single changed byte of a signed bundle is refused.
#include <doctest/doctest.h>

#include "converter/bundle/signing.h"
#include "probex/probex.h"
#include "tests/roundtrip/bundle_fixture.h"
#include "tests/test_util.h"

using namespace probex;
using namespace probex::test;

namespace {

std::vector<uint8_t> public_key(const std::string& prefix) {
  std::vector<uint8_t> key(kPublicKeyBytes);
  std::string error;
  REQUIRE_MESSAGE(read_key_file(prefix + ".public", key.size(), key.data(), &error), error);
  return key;
}

probex_status open_with(const std::vector<uint8_t>& bytes, const std::vector<uint8_t>& keys, std::string* message) {
  AlignedBytes copy(bytes);
  Bundle bundle;
  return Bundle::open_buffer(copy.data(), copy.size(), "b.probex", &bundle, message, keys.data(),
                             keys.size() / kPublicKeyBytes);
}

}  // namespace

TEST_CASE("a signed bundle opens with its signer's key, and is refused unsigned, by another key or changed") {
  TempDir dir;
  std::string hex, error;
  REQUIRE_MESSAGE(convert::generate_key_pair(dir.file("a"), &hex, &error), error);
  REQUIRE(convert::generate_key_pair(dir.file("b"), &hex, &error));
  CHECK_FALSE(convert::generate_key_pair(dir.file("a"), &hex, &error));  // a secret key is never overwritten
  CHECK(error.find("a.secret exists") != std::string::npos);

  const convert::BundleTree tree = zero_shot_tree({7, 6, 3, 2, 4, 3}, 70, "int8");
  const std::vector<uint8_t> plain = bundle_bytes({&tree});
  std::vector<uint8_t> signed_bytes = plain;
  REQUIRE_MESSAGE(convert::sign_bundle(dir.file("a.secret"), &signed_bytes, &error), error);
  CHECK(signed_bytes.size() == plain.size() + kSignatureTrailerBytes);
  const std::vector<uint8_t> key_a = public_key(dir.file("a")), key_b = public_key(dir.file("b"));
  std::vector<uint8_t> both = key_b;
  both.insert(both.end(), key_a.begin(), key_a.end());

  std::string message;
  CHECK(open_with(signed_bytes, key_a, &message) == PROBEX_OK);
  CHECK(open_with(signed_bytes, both, &message) == PROBEX_OK);
  CHECK(open_with(signed_bytes, {}, &message) == PROBEX_OK);  // no keys: the trailer is set aside
  CHECK(open_with(plain, {}, &message) == PROBEX_OK);
  CHECK(open_with(signed_bytes, key_b, &message) == PROBEX_BUNDLE_SIGNATURE);
  CHECK(message == "b.probex: signed by " + to_hex(key_a.data(), kPublicKeyBytes) + ", which is not a trusted key");
  CHECK(open_with(plain, key_a, &message) == PROBEX_BUNDLE_SIGNATURE);
  CHECK(message == "b.probex: the bundle is not signed, and trusted keys are configured");

  // Every byte, flipped in turn (bundle and trailer): refused with the key, never accepted.
  size_t refused = 0;
  for (size_t i = 0; i < signed_bytes.size(); ++i) {
    std::vector<uint8_t> bad = signed_bytes;
    bad[i] ^= 0x10;
    refused += open_with(bad, key_a, &message) == PROBEX_BUNDLE_SIGNATURE;
  }
  CHECK(refused == signed_bytes.size());

  // The C API: signer and digest of what was signed.
  AlignedBytes copy(signed_bytes);
  probex_bundle* handle = nullptr;
  REQUIRE(probex_bundle_open_buffer(copy.data(), copy.size(), nullptr, &handle, nullptr) == PROBEX_OK);
  bool is_signed = false;
  uint8_t signer[kPublicKeyBytes], digest[kDigestBytes], plain_digest[kDigestBytes];
  REQUIRE(probex_bundle_signer(handle, &is_signed, signer, digest, nullptr) == PROBEX_OK);
  CHECK(is_signed);
  CHECK(std::vector<uint8_t>(signer, signer + kPublicKeyBytes) == key_a);
  bundle_digest(plain.data(), plain.size(), plain_digest);
  CHECK(std::vector<uint8_t>(digest, digest + kDigestBytes) ==
        std::vector<uint8_t>(plain_digest, plain_digest + kDigestBytes));
  probex_bundle_free(handle);
  probex_bundle_options options;
  probex_bundle_options_init(&options, sizeof options);
  options.trusted_keys = key_a.data();
  options.trusted_key_count = 1;
  CHECK(probex_bundle_open(dir.file("missing.probex").c_str(), &options, &handle, nullptr) == PROBEX_IO_ERROR);
  options.trusted_keys = nullptr;
  CHECK(probex_bundle_open(dir.file("missing.probex").c_str(), &options, &handle, nullptr) == PROBEX_INVALID_ARGUMENT);
}

TEST_CASE("key files: exact hex of the right length, or an error naming the file") {
  TempDir dir;
  uint8_t key[kPublicKeyBytes];
  std::string error;
  REQUIRE(write_bytes(dir.file("short"), {'a', 'b', '\n'}));
  CHECK_FALSE(read_key_file(dir.file("short"), sizeof key, key, &error));
  CHECK(error == dir.file("short") + ": a key file holds 64 hex digits, this one 2 characters");
  std::vector<uint8_t> text(64, '0');
  text[10] = 'g';
  REQUIRE(write_bytes(dir.file("bad"), text));
  CHECK_FALSE(read_key_file(dir.file("bad"), sizeof key, key, &error));
  CHECK(error == dir.file("bad") + ": not a hex digit at character 11");
  text[10] = 'F';
  REQUIRE(write_bytes(dir.file("good"), text));
  REQUIRE(read_key_file(dir.file("good"), sizeof key, key, &error));
  CHECK(key[5] == 0xF0);
  CHECK_FALSE(read_key_file(dir.file("none"), sizeof key, key, &error));
  CHECK(error.find("none") != std::string::npos);
}
