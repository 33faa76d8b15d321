#include "shop/auth/token.h"

#include <doctest/doctest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <latch>
#include <string>
#include <thread>
#include <vector>
#include <optional>
#include <utility>

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

/// Signs arbitrary header and payload text with a libsodium Ed25519 key (an independent
/// implementation) that a verifier trusts under `kid`: every token it makes has a valid signature,
/// so a refusal can only come from the rule a test breaks on purpose.
struct SodiumSigner {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  std::string kid;
  explicit SodiumSigner(std::string key_id = "sodium") : kid(std::move(key_id)) { crypto_sign_keypair(pk, sk); }
  shop::auth::PublicKey Public() const { return {kid, std::string(reinterpret_cast<const char*>(pk), sizeof pk)}; }
  std::string Header(std::string_view typ = "JWT") const {
    return R"({"alg":"EdDSA","typ":")" + std::string(typ) + R"(","kid":")" + kid + "\"}";
  }
  /// Signs the exact text `header_part.payload_part` (already encoded, or deliberately mis-encoded).
  std::string SignParts(const std::string& header_part, const std::string& payload_part) const {
    const std::string input = header_part + "." + payload_part;
    return input + "." + B64(SignatureOf(input));
  }
  std::string SignatureOf(const std::string& input) const {
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(input.data()), input.size(), sk);
    return std::string(reinterpret_cast<const char*>(sig), sizeof sig);
  }
  std::string Sign(const std::string& header_json, const std::string& payload_json) const {
    return SignParts(B64(header_json), B64(payload_json));
  }
  std::string Sign(const std::string& payload_json) const { return Sign(Header(), payload_json); }
};

TEST_CASE("tokens signed by another Ed25519 implementation verify, and their claims are checked") {
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
      R"({"sub":"abc","role":"customer","iat":)" + now + R"(,"exp":)" + later +
          R"(,"iss":"shop"})",                                                                       // sub not a number
      R"({"sub":"0","role":"customer","iat":)" + now + R"(,"exp":)" + later + R"(,"iss":"shop"})",   // sub not positive
      R"({"sub":9,"role":"customer","iat":)" + now + R"(,"exp":)" + later + R"(,"iss":"shop"})",     // sub not a string
      R"({"sub":"9","role":"root","iat":)" + now + R"(,"exp":)" + later + R"(,"iss":"shop"})",       // unknown role
      R"({"sub":"9","role":"customer","iat":)" + now + R"(,"exp":)" + later + R"(,"iss":"other"})",  // other issuer
      R"({"sub":"9","role":"customer","iat":)" + now + R"(,"exp":)" + later + R"(})",                // no issuer
      R"({"sub":"9","role":"customer","iat":)" + now + R"(,"iss":"shop"})",                          // no expiry
      R"({"sub":"9","role":"customer","iat":)" + now + R"(,"exp":"never","iss":"shop"})",  // expiry not a number
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

TEST_CASE("processes racing to make the key file all get the one key that was published, whole") {
  // Before link(2) publishing, a loser could read the winner's file while it was still empty.
  shop::testing::TempDir dir;
  constexpr int kRounds = 20, kRacers = 4;
  for (int round = 0; round < kRounds; ++round) {
    const auto file = dir / ("key-" + std::to_string(round) + ".pem");
    std::latch start(kRacers);
    std::vector<std::string> kids(kRacers);
    std::vector<std::string> errors(kRacers);
    std::vector<std::thread> racers;
    for (int i = 0; i < kRacers; ++i) {
      racers.emplace_back([&, i] {
        start.arrive_and_wait();
        try {
          kids[i] = SigningKey::LoadOrCreate(file).public_key().kid;
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    }
    for (auto& t : racers) t.join();
    for (int i = 0; i < kRacers; ++i) {
      CHECK_MESSAGE(errors[i].empty(), errors[i]);
      CHECK(kids[i] == SigningKey::Load(file).public_key().kid);
    }
  }
  int leftovers = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    leftovers += entry.path().filename().string().find(".tmp-") != std::string::npos;
  }
  CHECK(leftovers == 0);
}

// ---- Hardening: RFC 7515 §4/§5.2, RFC 7519 §7.2, RFC 8725 §2-§3. Every case below mints a token whose
// signature is valid for a trusted key, next to a control token that verifies, so only the rule under
// test can refuse it.

namespace {

using boost::json::object;
using boost::json::value;

std::string Dump(const object& o) { return boost::json::serialize(o); }

/// The claims of a valid user token, as JSON.
object UserPayload(std::int64_t sub = 9) {
  const auto now = shop::UnixNow();
  return {{"sub", std::to_string(sub)}, {"role", "customer"}, {"iat", now - 5}, {"exp", now + 600}, {"iss", "shop"}};
}

/// The claims of a valid service token for `service`, as JSON.
object ServicePayload(std::string_view service = "orders") {
  const auto now = shop::UnixNow();
  return {{"iss", "shop"}, {"sub", service}, {"aud", "shop-internal"}, {"client_id", service},
          {"jti", "j-1"},  {"iat", now - 5}, {"exp", now + 300}};
}

object With(object o, std::string_view name, value v) {
  o[name] = std::move(v);
  return o;
}

object Without(object o, std::string_view name) {
  o.erase(name);
  return o;
}

struct Trusting {
  SodiumSigner signer;
  Verifier verifier;
  explicit Trusting(std::string kid = "sodium") : signer(std::move(kid)) {
    REQUIRE(sodium_init() >= 0);
    verifier.SetKeys({signer.Public()});
  }
  /// The error Verify gives, or nullopt when the token is accepted.
  std::optional<VerifyError> User(const std::string& token) const {
    auto r = verifier.Verify(token);
    return r ? std::nullopt : std::optional(r.error());
  }
  std::optional<VerifyError> Service(const std::string& token) const {
    auto r = verifier.VerifyService(token);
    return r ? std::nullopt : std::optional(r.error());
  }
};

constexpr std::optional<VerifyError> kAccepted = std::nullopt;

}  // namespace

TEST_CASE("header: parameters we do not understand are refused (RFC 7515 4.1.11, RFC 8725 3.10)") {
  Trusting t;
  const std::string payload = Dump(UserPayload());
  REQUIRE(t.User(t.signer.Sign(R"({"alg":"EdDSA","typ":"JWT","kid":"sodium"})", payload)) == kAccepted);
  REQUIRE(t.User(t.signer.Sign(R"({"alg":"EdDSA","kid":"sodium"})", payload)) == kAccepted);
  const std::string extras[] = {
      R"("crit":["exp"],"exp":1)",      // an extension we would have to understand
      R"("crit":["b64"],"b64":false)",  // RFC 7797 unencoded payload
      R"("b64":true)",
      R"("jku":"https://attacker.example/jwks")",  // keys never come from the token
      R"("jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})",
      R"("x5u":"https://attacker.example/cert")",
      R"("x5c":["MIIB"])",
      R"("x5t":"dGh1bWI")",
      R"("x5t#S256":"dGh1bWI")",
      R"("zip":"DEF")",  // JWE parameters
      R"("enc":"A128GCM")",
      R"("cty":"JWT")",             // nested JWTs are not ours
      R"("x-private":"anything")",  // any other parameter
  };
  for (const std::string& extra : extras) {
    INFO(extra);
    CHECK(t.User(t.signer.Sign(R"({"alg":"EdDSA","typ":"JWT","kid":"sodium",)" + extra + "}", payload)) ==
          VerifyError::kBadHeader);
  }
  // Known parameters of the wrong JSON type.
  CHECK(t.User(t.signer.Sign(R"({"alg":"EdDSA","typ":["JWT"],"kid":"sodium"})", payload)) == VerifyError::kBadHeader);
  CHECK(t.User(t.signer.Sign(R"({"alg":["EdDSA"],"kid":"sodium"})", payload)) == VerifyError::kBadHeader);
  CHECK(t.User(t.signer.Sign(R"({"alg":"EdDSA","kid":{"id":"sodium"}})", payload)) == VerifyError::kBadHeader);
}

TEST_CASE("header: alg is exactly EdDSA (RFC 8725 3.1)") {
  Trusting t;
  const std::string payload = Dump(UserPayload());
  REQUIRE(t.User(t.signer.Sign(R"({"alg":"EdDSA","kid":"sodium"})", payload)) == kAccepted);
  for (std::string_view alg : {"eddsa", "EDDSA", "EdDSA ", "Ed25519", "ES256", "RS256", "HS256", "none", ""}) {
    INFO(alg);
    CHECK(t.User(t.signer.Sign(R"({"alg":")" + std::string(alg) + R"(","kid":"sodium"})", payload)) ==
          VerifyError::kBadAlgorithm);
  }
  CHECK(t.User(t.signer.Sign(R"({"kid":"sodium"})", payload)) == VerifyError::kBadAlgorithm);
}

TEST_CASE("header: kid is a non-empty string of at most 128 characters") {
  const std::string payload = Dump(UserPayload());
  {
    Trusting t(std::string(128, 'k'));
    CHECK(t.User(t.signer.Sign(payload)) == kAccepted);
  }
  {
    Trusting t(std::string(129, 'k'));  // trusted under that kid, yet too long to be one of ours
    CHECK(t.User(t.signer.Sign(payload)) == VerifyError::kBadHeader);
  }
  {
    Trusting t("");
    CHECK(t.User(t.signer.Sign(payload)) == VerifyError::kBadHeader);
  }
  Trusting t;
  CHECK(t.User(t.signer.Sign(R"({"alg":"EdDSA","typ":"JWT"})", payload)) == VerifyError::kUnknownKey);
}

TEST_CASE("header: typ is explicit, and user and service tokens cannot pass for each other (RFC 8725 3.11)") {
  Trusting t;
  const std::string user = Dump(UserPayload());
  const std::string service = Dump(ServicePayload());
  REQUIRE(t.User(t.signer.Sign(t.signer.Header("JWT"), user)) == kAccepted);
  REQUIRE(t.Service(t.signer.Sign(t.signer.Header("at+jwt"), service)) == kAccepted);
  for (std::string_view typ : {"jwt", "at+jwt", "AT+JWT", "application/jwt", "JOSE", "JWT ", ""}) {
    INFO(typ);
    CHECK(t.User(t.signer.Sign(t.signer.Header(typ), user)) == VerifyError::kWrongType);
  }
  for (std::string_view typ : {"JWT", "jwt", "AT+JWT", "application/at+jwt", "JOSE", ""}) {
    INFO(typ);
    CHECK(t.Service(t.signer.Sign(t.signer.Header(typ), service)) == VerifyError::kWrongType);
  }
  // A service token must say what it is; a user token may leave typ out.
  CHECK(t.Service(t.signer.Sign(R"({"alg":"EdDSA","kid":"sodium"})", service)) == VerifyError::kWrongType);
  CHECK(t.User(t.signer.Sign(R"({"alg":"EdDSA","kid":"sodium"})", user)) == kAccepted);

  // Tokens our own key makes: each kind passes only its own check.
  SigningKey key = SigningKey::Generate();
  auto verifier = VerifierFor(key);
  const auto now = shop::UnixNow();
  const std::string service_token = key.SignService({"orders", now, now + 300});
  const std::string user_token = key.Sign(ValidClaims(7, Role::kAdmin));
  CHECK(verifier->VerifyService(service_token).has_value());
  CHECK(verifier->Verify(user_token).has_value());
  CHECK(verifier->Verify(service_token).error() == VerifyError::kWrongType);
  CHECK(verifier->VerifyService(user_token).error() == VerifyError::kWrongType);
  // Relabelled but validly signed, the claims still do not fit the other kind.
  CHECK(t.User(t.signer.Sign(t.signer.Header("JWT"), service)) == VerifyError::kBadClaims);
  CHECK(t.Service(t.signer.Sign(t.signer.Header("at+jwt"), user)) == VerifyError::kBadClaims);
}

TEST_CASE("duplicate member names in the header or the payload are refused (RFC 7515 4, RFC 7519 4)") {
  Trusting t;
  const auto now = std::to_string(shop::UnixNow());
  const auto later = std::to_string(shop::UnixNow() + 600);
  const std::string payload =
      R"({"sub":"9","role":"customer","iat":)" + now + R"(,"exp":)" + later + R"(,"iss":"shop")";
  REQUIRE(t.User(t.signer.Sign(payload + "}")) == kAccepted);
  CHECK(t.User(t.signer.Sign(payload + R"(,"role":"admin"})")) == VerifyError::kMalformed);
  CHECK(t.User(t.signer.Sign(payload + R"(,"sub":"1"})")) == VerifyError::kMalformed);
  CHECK(t.User(t.signer.Sign(payload + R"(,"r\u006fle":"customer"})")) ==
        VerifyError::kMalformed);                                                               // same name, escaped
  CHECK(t.User(t.signer.Sign(payload + R"(,"x":{"a":1,"a":2}})")) == VerifyError::kMalformed);  // nested too
  CHECK(t.User(t.signer.Sign(payload + R"(,"x":{"a":1},"y":{"a":2}})")) == kAccepted);  // same name, other objects
  CHECK(t.User(t.signer.Sign(R"({"alg":"EdDSA","typ":"JWT","kid":"sodium","typ":"JWT"})", payload + "}")) ==
        VerifyError::kMalformed);
  CHECK(t.User(t.signer.Sign(R"({"alg":"EdDSA","kid":"sodium","k\u0069d":"sodium"})", payload + "}")) ==
        VerifyError::kMalformed);
}

TEST_CASE("base64url parts: no padding, no whitespace, only the URL-safe alphabet, canonical (RFC 7515 2, 7)") {
  Trusting t;
  const std::string header = B64(t.signer.Header());
  // A payload whose encoding has unused trailing bits (length % 3 == 1) and a '-' or '_' in it.
  std::string payload_json, payload;
  for (int i = 0;; ++i) {
    payload_json =
        Dump(With(UserPayload(), "pad",
                  boost::json::string(std::string(static_cast<std::size_t>(i % 7), '?') + std::to_string(i))));
    payload = B64(payload_json);
    if (payload_json.size() % 3 == 1 && payload.find_first_of("-_") != std::string::npos) break;
  }
  REQUIRE(t.User(t.signer.SignParts(header, payload)) == kAccepted);

  CHECK(t.User(t.signer.SignParts(header, payload + "==")) == VerifyError::kMalformed);
  CHECK(t.User(t.signer.SignParts(header + "=", payload)) == VerifyError::kMalformed);
  CHECK(t.User(t.signer.SignParts(header, payload.substr(0, 10) + " " + payload.substr(10))) ==
        VerifyError::kMalformed);
  CHECK(t.User(t.signer.SignParts(header, payload + "\n")) == VerifyError::kMalformed);
  CHECK(t.User(t.signer.SignParts(" " + header, payload)) == VerifyError::kMalformed);
  std::string standard_alphabet = payload;
  for (char& c : standard_alphabet) c = c == '-' ? '+' : c == '_' ? '/' : c;
  CHECK(t.User(t.signer.SignParts(header, standard_alphabet)) == VerifyError::kMalformed);
  // The last character carries 4 unused bits; setting one still decodes to the same bytes when a
  // decoder is lenient.
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string non_canonical = payload;
  non_canonical.back() = kAlphabet[kAlphabet.find(payload.back()) | 1];
  REQUIRE(non_canonical != payload);
  CHECK(t.User(t.signer.SignParts(header, non_canonical)) == VerifyError::kMalformed);

  // The signature part: 64 bytes are 86 characters whose last holds 2 unused bits.
  const std::string input = header + "." + payload;
  const std::string sig = B64(t.signer.SignatureOf(input));
  REQUIRE(sig.size() == 86);
  REQUIRE(t.User(input + "." + sig) == kAccepted);
  std::string sig_non_canonical = sig;
  sig_non_canonical.back() = kAlphabet[kAlphabet.find(sig.back()) | 1];
  if (sig_non_canonical == sig) sig_non_canonical.back() = kAlphabet[kAlphabet.find(sig.back()) | 2];
  CHECK(t.User(input + "." + sig_non_canonical) == VerifyError::kBadSignature);
  CHECK(t.User(input + "." + sig + "==") == VerifyError::kBadSignature);
  CHECK(t.User(input + "." + sig + " ") == VerifyError::kBadSignature);
  CHECK(t.User(input + "." + sig.substr(0, 85)) == VerifyError::kBadSignature);
  CHECK(t.User(input + "." + B64(t.signer.SignatureOf(input) + std::string(1, '\0'))) == VerifyError::kBadSignature);
}

TEST_CASE("tokens over 4096 bytes are refused, even when validly signed") {
  Trusting t;
  std::string fits, too_big;
  for (std::size_t n = 2500; n < 3500 && (fits.empty() || too_big.empty()); ++n) {
    std::string token = t.signer.Sign(Dump(With(UserPayload(), "filler", boost::json::string(std::string(n, 'f')))));
    (token.size() <= 4096 ? fits : too_big) = token;
  }
  REQUIRE(!fits.empty());
  REQUIRE(!too_big.empty());
  CHECK(t.User(fits) == kAccepted);
  CHECK(t.User(too_big) == VerifyError::kMalformed);
}

TEST_CASE("user claims: iss, sub, role, iat, exp and nbf are typed and checked (RFC 7519 4.1, 7.2)") {
  Trusting t;
  const auto now = shop::UnixNow();
  auto user = [&](const object& payload) { return t.User(t.signer.Sign(Dump(payload))); };
  REQUIRE(user(UserPayload()) == kAccepted);
  CHECK(user(With(UserPayload(), "unlisted", object{{"any", "thing"}})) == kAccepted);  // unknown claims are ignored

  const std::pair<std::string_view, object> bad[] = {
      {"iss other case", With(UserPayload(), "iss", "Shop")},
      {"iss with a space", With(UserPayload(), "iss", "shop ")},
      {"iss not a string", With(UserPayload(), "iss", boost::json::array{"shop"})},
      {"no iss", Without(UserPayload(), "iss")},
      {"sub with a leading zero", With(UserPayload(), "sub", "09")},
      {"sub with a plus", With(UserPayload(), "sub", "+9")},
      {"sub negative", With(UserPayload(), "sub", "-9")},
      {"sub with a space", With(UserPayload(), "sub", " 9")},
      {"sub with a trailing space", With(UserPayload(), "sub", "9 ")},
      {"sub zero", With(UserPayload(), "sub", "0")},
      {"sub empty", With(UserPayload(), "sub", "")},
      {"sub past int64", With(UserPayload(), "sub", "9223372036854775808")},
      {"sub a float", With(UserPayload(), "sub", "9.0")},
      {"sub a number", With(UserPayload(), "sub", 9)},
      {"no sub", Without(UserPayload(), "sub")},
      {"role other case", With(UserPayload(), "role", "Admin")},
      {"role not a string", With(UserPayload(), "role", 1)},
      {"no role", Without(UserPayload(), "role")},
      {"iat a float", With(UserPayload(), "iat", static_cast<double>(now))},
      {"iat a string", With(UserPayload(), "iat", boost::json::string(std::to_string(now)))},
      {"iat negative", With(UserPayload(), "iat", -1)},
      {"no iat", Without(UserPayload(), "iat")},
      {"exp a float", With(UserPayload(), "exp", static_cast<double>(now + 600))},
      {"exp in exponent notation", With(UserPayload(), "exp", 2e9)},
      {"exp a string", With(UserPayload(), "exp", boost::json::string(std::to_string(now + 600)))},
      {"exp past int64", With(UserPayload(), "exp", std::uint64_t{1} << 63)},
      {"nbf a string", With(UserPayload(), "nbf", boost::json::string(std::to_string(now)))},
      {"nbf a float", With(UserPayload(), "nbf", static_cast<double>(now))},
      {"jti not a string", With(UserPayload(), "jti", 5)},
      {"exp before iat", With(With(UserPayload(), "iat", now + 30), "exp", now + 20)},
      {"exp - iat over a day", With(With(UserPayload(), "iat", now - 10), "exp", now - 10 + 86401)},
      {"an audience (a user token names none)", With(UserPayload(), "aud", "shop-internal")},
  };
  for (const auto& [label, payload] : bad) {
    INFO(label);
    CHECK(user(payload) == VerifyError::kBadClaims);
  }
  CHECK(user(With(With(UserPayload(), "iat", now - 10), "exp", now - 10 + 86400)) == kAccepted);  // a day exactly

  // Time: exp must be in the future; iat and nbf may lie ahead by the leeway only.
  CHECK(user(With(UserPayload(), "exp", now)) == VerifyError::kExpired);
  CHECK(user(With(With(UserPayload(), "iat", now - 600), "exp", now - 1)) == VerifyError::kExpired);
  CHECK(user(With(UserPayload(), "iat", now + 30)) == kAccepted);
  CHECK(user(With(UserPayload(), "iat", now + 120)) == VerifyError::kNotYetValid);
  CHECK(user(With(UserPayload(), "nbf", now + 30)) == kAccepted);
  CHECK(user(With(UserPayload(), "nbf", now + 120)) == VerifyError::kNotYetValid);
  CHECK(user(With(UserPayload(), "nbf", now - 120)) == kAccepted);
}

TEST_CASE("service claims: sub is a service name, client_id equals it, aud and jti are set, no role") {
  Trusting t;
  const auto now = shop::UnixNow();
  auto service = [&](const object& payload) {
    return t.Service(t.signer.Sign(t.signer.Header("at+jwt"), Dump(payload)));
  };
  REQUIRE(service(ServicePayload()) == kAccepted);
  auto identity = t.verifier.VerifyService(t.signer.Sign(t.signer.Header("at+jwt"), Dump(ServicePayload("orders"))));
  REQUIRE(identity.has_value());
  CHECK(identity->service == "orders");

  const std::pair<std::string_view, object> bad[] = {
      {"sub upper case", With(With(ServicePayload(), "sub", "Orders"), "client_id", "Orders")},
      {"sub with a slash", With(With(ServicePayload(), "sub", "../orders"), "client_id", "../orders")},
      {"sub empty", With(With(ServicePayload(), "sub", ""), "client_id", "")},
      {"sub a user id", With(With(ServicePayload(), "sub", "9"), "client_id", "9")},
      {"client_id another service", With(ServicePayload(), "client_id", "products")},
      {"no client_id", Without(ServicePayload(), "client_id")},
      {"aud another audience", With(ServicePayload(), "aud", "shop")},
      {"aud as an array", With(ServicePayload(), "aud", boost::json::array{"shop-internal"})},
      {"no aud", Without(ServicePayload(), "aud")},
      {"no jti", Without(ServicePayload(), "jti")},
      {"jti empty", With(ServicePayload(), "jti", "")},
      {"a role", With(ServicePayload(), "role", "admin")},
      {"iss other", With(ServicePayload(), "iss", "orders")},
      {"iat a float", With(ServicePayload(), "iat", static_cast<double>(now))},
      {"lives over an hour", With(With(ServicePayload(), "iat", now - 10), "exp", now - 10 + 3601)},
  };
  for (const auto& [label, payload] : bad) {
    INFO(label);
    CHECK(service(payload) == VerifyError::kBadClaims);
  }
  CHECK(service(With(ServicePayload(), "exp", now - 1)) == VerifyError::kExpired);
  CHECK(service(With(ServicePayload(), "nbf", now + 120)) == VerifyError::kNotYetValid);
}

TEST_CASE("SignService makes only tokens VerifyService accepts") {
  SigningKey key = SigningKey::Generate();
  const auto now = shop::UnixNow();
  auto identity = VerifierFor(key)->VerifyService(key.SignService({"orders", now, now + 300}));
  REQUIRE(identity.has_value());
  CHECK(identity->service == "orders");
  CHECK(identity->expires_at == now + 300);
  auto header = Split(key.SignService({"orders", now, now + 300}))[0];
  CHECK(header == B64(R"({"alg":"EdDSA","typ":"at+jwt","kid":")" + key.public_key().kid + "\"}"));
  CHECK_THROWS_AS(key.SignService({"Orders", now, now + 300}), std::invalid_argument);
  CHECK_THROWS_AS(key.SignService({"", now, now + 300}), std::invalid_argument);
  CHECK_THROWS_AS(key.SignService({"orders", now, now + 3601}), std::invalid_argument);
  CHECK_THROWS_AS(key.SignService({"orders", now, now}), std::invalid_argument);
}

TEST_CASE("service names: 1..64 of [a-z0-9-], starting with a letter") {
  using shop::auth::IsServiceName;
  CHECK(IsServiceName("orders"));
  CHECK(IsServiceName("a"));
  CHECK(IsServiceName("shop-orders-2"));
  CHECK(IsServiceName(std::string(64, 'a')));
  CHECK_FALSE(IsServiceName(std::string(65, 'a')));
  for (std::string_view bad : {"", "Orders", "2orders", "-orders", "orders_x", "orders.x", "../x", ".hidden", "a b"}) {
    INFO(bad);
    CHECK_FALSE(IsServiceName(bad));
  }
}

TEST_CASE("JWKS: only Ed25519 keys for EdDSA signatures are taken, private keys and repeats are errors") {
  SigningKey key = SigningKey::Generate();
  const std::string x = B64(key.public_key().raw);
  auto jwks = [&](const std::string& members) {
    return shop::auth::ParseJwks(R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":")" + x + R"(","kid":"k1")" + members +
                                 "}]}");
  };
  REQUIRE(jwks("").has_value());
  REQUIRE(jwks("")->size() == 1);
  CHECK(jwks(R"(,"use":"sig","alg":"EdDSA","key_ops":["verify"])")->size() == 1);
  CHECK(jwks(R"(,"use":"enc")")->empty());
  CHECK(jwks(R"(,"alg":"Ed25519")")->empty());
  CHECK(jwks(R"(,"alg":"RS256")")->empty());
  CHECK(jwks(R"(,"key_ops":["sign"])")->empty());
  CHECK(jwks(R"(,"key_ops":"verify")")->empty());
  CHECK_FALSE(jwks(R"(,"d":"secret")").has_value());
  CHECK_FALSE(jwks(R"(,"kid":"k2")").has_value());  // duplicate member name
  CHECK(shop::auth::ParseJwks(R"({"keys":[{"kty":"OKP","crv":"X25519","x":")" + x + R"(","kid":"k"}]})")->empty());
  CHECK(shop::auth::ParseJwks(R"({"keys":[{"kty":"EC","crv":"Ed25519","x":")" + x + R"(","kid":"k"}]})")->empty());
  const std::string one = R"({"kty":"OKP","crv":"Ed25519","x":")" + x + R"(","kid":"k1"})";
  CHECK_FALSE(shop::auth::ParseJwks(R"({"keys":[)" + one + "," + one + "]}").has_value());
}
