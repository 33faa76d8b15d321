#include "shop/auth/token.h"

#include <doctest/doctest.h>
#include <sodium.h>
#include <sys/stat.h>

#include "shop/core/time.h"
#include "temp_dir.h"

namespace {

using shop::Principal;
using shop::Role;
using shop::auth::Claims;
using shop::auth::SigningKey;
using shop::auth::Verifier;
using shop::auth::VerifyError;

std::string B64(std::string_view bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.pop_back();
  return out;
}

Claims ValidClaims(std::int64_t user = 42, Role role = Role::kCustomer) {
  const auto now = shop::UnixNow();
  return Claims{Principal{user, role}, now, now + 600};
}

std::unique_ptr<Verifier> VerifierFor(const SigningKey& key) {
  auto v = std::make_unique<Verifier>();
  v->SetKeys({key.public_key()});
  return v;
}

std::vector<std::string> Split(const std::string& token) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t dot; (dot = token.find('.', start)) != std::string::npos; start = dot + 1) {
    parts.push_back(token.substr(start, dot - start));
  }
  parts.push_back(token.substr(start));
  return parts;
}

}  // namespace

TEST_CASE("a signed token verifies and carries its claims") {
  SigningKey key = SigningKey::Generate();
  auto verifier = VerifierFor(key);
  auto principal = verifier->Verify(key.Sign(ValidClaims(7, Role::kAdmin)));
  REQUIRE(principal.has_value());
  CHECK(principal->user_id == 7);
  CHECK(principal->role == Role::kAdmin);
}

TEST_CASE("the token header names EdDSA and the key's kid") {
  SigningKey key = SigningKey::Generate();
  auto parts = Split(key.Sign(ValidClaims()));
  REQUIRE(parts.size() == 3);
  const std::string header = R"({"alg":"EdDSA","typ":"JWT","kid":")" + key.public_key().kid + "\"}";
  CHECK(parts[0] == B64(header));
  CHECK(key.public_key().kid.size() == 43);  // base64url of a SHA-256 thumbprint
}

TEST_CASE("a tampered payload is rejected") {
  SigningKey key = SigningKey::Generate();
  auto parts = Split(key.Sign(ValidClaims(5, Role::kCustomer)));
  const auto now = shop::UnixNow();
  const std::string forged = R"({"sub":"5","role":"admin","iat":)" + std::to_string(now) + R"(,"exp":)" +
                             std::to_string(now + 600) + R"(,"iss":"shop"})";
  auto result = VerifierFor(key)->Verify(parts[0] + "." + B64(forged) + "." + parts[2]);
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error() == VerifyError::kBadSignature);
}

TEST_CASE("a tampered signature is rejected") {
  SigningKey key = SigningKey::Generate();
  std::string token = key.Sign(ValidClaims());
  token.back() = token.back() == 'A' ? 'B' : 'A';
  CHECK_FALSE(VerifierFor(key)->Verify(token).has_value());
}

TEST_CASE("an expired token is rejected") {
  SigningKey key = SigningKey::Generate();
  const auto now = shop::UnixNow();
  auto result = VerifierFor(key)->Verify(key.Sign(Claims{Principal{1, Role::kCustomer}, now - 120, now - 60}));
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error() == VerifyError::kExpired);
}

TEST_CASE("alg none is rejected, with or without a signature") {
  SigningKey key = SigningKey::Generate();
  auto parts = Split(key.Sign(ValidClaims()));
  const std::string none = B64(R"({"alg":"none","typ":"JWT","kid":")" + key.public_key().kid + "\"}");
  auto verifier = VerifierFor(key);
  auto unsigned_token = verifier->Verify(none + "." + parts[1] + ".");
  REQUIRE_FALSE(unsigned_token.has_value());
  CHECK(unsigned_token.error() == VerifyError::kBadAlgorithm);
  CHECK_FALSE(verifier->Verify(none + "." + parts[1] + "." + parts[2]).has_value());
  const std::string hs256 = B64(R"({"alg":"HS256","typ":"JWT","kid":")" + key.public_key().kid + "\"}");
  CHECK(verifier->Verify(hs256 + "." + parts[1] + "." + parts[2]).error() == VerifyError::kBadAlgorithm);
}

TEST_CASE("a token from another key is rejected") {
  SigningKey ours = SigningKey::Generate();
  SigningKey theirs = SigningKey::Generate();
  auto result = VerifierFor(ours)->Verify(theirs.Sign(ValidClaims()));
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error() == VerifyError::kUnknownKey);

  // Same kid, other key: the signature does not match.
  auto parts = Split(theirs.Sign(ValidClaims()));
  const std::string header = B64(R"({"alg":"EdDSA","typ":"JWT","kid":")" + ours.public_key().kid + "\"}");
  auto forged = VerifierFor(ours)->Verify(header + "." + parts[1] + "." + parts[2]);
  CHECK(forged.error() == VerifyError::kBadSignature);
}

TEST_CASE("garbage is malformed, not a crash") {
  SigningKey key = SigningKey::Generate();
  auto verifier = VerifierFor(key);
  for (std::string_view junk : {"", ".", "..", "a.b.c", "abc", "a.b.c.d", "!!!.###.$$$", "e30.e30.e30"}) {
    CHECK_FALSE(verifier->Verify(junk).has_value());
  }
}

/// Signs arbitrary header and payload JSON with a libsodium Ed25519 key: an independent implementation.
struct SodiumSigner {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  SodiumSigner() { crypto_sign_keypair(pk, sk); }
  shop::auth::PublicKey Public() const { return {"sodium", std::string(reinterpret_cast<const char*>(pk), sizeof pk)}; }
  std::string Sign(const std::string& payload_json) const {
    const std::string input = B64(R"({"alg":"EdDSA","typ":"JWT","kid":"sodium"})") + "." + B64(payload_json);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(input.data()), input.size(), sk);
    return input + "." + B64(std::string_view(reinterpret_cast<const char*>(sig), sizeof sig));
  }
};

TEST_CASE("tokens signed by another Ed25519 implementation verify; their claims are checked") {
  REQUIRE(sodium_init() >= 0);
  SodiumSigner signer;
  Verifier verifier;
  verifier.SetKeys({signer.Public()});
  const std::string now = std::to_string(shop::UnixNow());
  const std::string later = std::to_string(shop::UnixNow() + 600);
  auto ok = verifier.Verify(signer.Sign(R"({"sub":"9","role":"admin","iat":)" + now + R"(,"exp":)" + later +
                                        R"(,"iss":"shop"})"));
  REQUIRE(ok.has_value());
  CHECK(ok->user_id == 9);
  CHECK(ok->role == Role::kAdmin);

  const std::string bad_payloads[] = {
      R"({"sub":"abc","role":"customer","iat":1,"exp":)" + later + R"(,"iss":"shop"})",  // sub not a number
      R"({"sub":"0","role":"customer","iat":1,"exp":)" + later + R"(,"iss":"shop"})",    // sub not positive
      R"({"sub":9,"role":"customer","iat":1,"exp":)" + later + R"(,"iss":"shop"})",      // sub not a string
      R"({"sub":"9","role":"root","iat":1,"exp":)" + later + R"(,"iss":"shop"})",        // unknown role
      R"({"sub":"9","role":"customer","iat":1,"exp":)" + later + R"(,"iss":"other"})",   // other issuer
      R"({"sub":"9","role":"customer","iat":1,"exp":)" + later + R"(})",                 // no issuer
      R"({"sub":"9","role":"customer","iat":1,"iss":"shop"})",                           // no expiry
      R"({"sub":"9","role":"customer","iat":1,"exp":"never","iss":"shop"})",             // expiry not a number
  };
  for (const auto& payload : bad_payloads) {
    INFO(payload);
    auto result = verifier.Verify(signer.Sign(payload));
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error() == VerifyError::kBadClaims);
  }
}

TEST_CASE("our signatures verify with another Ed25519 implementation") {
  REQUIRE(sodium_init() >= 0);
  SigningKey key = SigningKey::Generate();
  auto parts = Split(key.Sign(ValidClaims()));
  const std::string input = parts[0] + "." + parts[1];
  std::string sig(64, '\0');
  std::size_t len = 0;
  REQUIRE(sodium_base642bin(reinterpret_cast<unsigned char*>(sig.data()), sig.size(), parts[2].data(), parts[2].size(),
                            nullptr, &len, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0);
  REQUIRE(len == 64);
  CHECK(crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig.data()),
                                    reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                                    reinterpret_cast<const unsigned char*>(key.public_key().raw.data())) == 0);
}

TEST_CASE("an unknown kid triggers one refresh of the keys") {
  SigningKey key = SigningKey::Generate();
  Verifier verifier;
  int refreshes = 0;
  verifier.OnUnknownKey([&] {
    ++refreshes;
    verifier.SetKeys({key.public_key()});
  });
  CHECK(verifier.Verify(key.Sign(ValidClaims())).has_value());
  CHECK(refreshes == 1);
  CHECK(verifier.Verify(key.Sign(ValidClaims())).has_value());
  CHECK(refreshes == 1);
}

TEST_CASE("JWKS round-trips the public key") {
  SigningKey key = SigningKey::Generate();
  auto keys = shop::auth::ParseJwks(shop::auth::JwksJson({key.public_key()}));
  REQUIRE(keys.has_value());
  REQUIRE(keys->size() == 1);
  CHECK((*keys)[0].kid == key.public_key().kid);
  Verifier verifier;
  verifier.SetKeys(*keys);
  CHECK(verifier.Verify(key.Sign(ValidClaims())).has_value());
  CHECK_FALSE(shop::auth::ParseJwks("{}").has_value());
  CHECK_FALSE(shop::auth::ParseJwks("not json").has_value());
}

TEST_CASE("the key file is made once with mode 0600 and read back") {
  shop::testing::TempDir dir;
  const auto file = dir / "key.pem";
  SigningKey first = SigningKey::LoadOrCreate(file);
  struct stat st{};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  SigningKey again = SigningKey::LoadOrCreate(file);
  CHECK(again.public_key().kid == first.public_key().kid);
  CHECK(VerifierFor(again)->Verify(first.Sign(ValidClaims())).has_value());
  CHECK_THROWS(SigningKey::Load(dir / "missing.pem"));
}
