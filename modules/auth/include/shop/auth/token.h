#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "shop/core/principal.h"

namespace shop::auth {

/// The issuer (`iss`) of every token this system makes.
inline constexpr std::string_view kIssuer = "shop";

/// What a token says: who (`sub`, `role`) and for how long (`iat`, `exp`, Unix seconds).
struct Claims {
  Principal principal;
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
};

/// An Ed25519 public key with its RFC 7638 thumbprint as `kid`.
struct PublicKey {
  std::string kid;
  std::string raw;  ///< 32 bytes
};

/// The private half, held only by the users module. Signs JWTs with `alg: EdDSA`.
class SigningKey {
 public:
  /// Reads the PEM (PKCS#8) key at `file`, or makes a new key pair there with mode 0600 if absent.
  static SigningKey LoadOrCreate(const std::filesystem::path& file);
  /// Reads the PEM (PKCS#8) key at `file`; throws if it is missing or not an Ed25519 key.
  static SigningKey Load(const std::filesystem::path& file);
  /// A fresh key pair held only in memory (tests).
  static SigningKey Generate();

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  /// A compact JWS: base64url(header).base64url(payload).base64url(signature).
  std::string Sign(const Claims& claims) const;
  const PublicKey& public_key() const { return public_key_; }

 private:
  struct Impl;
  explicit SigningKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  PublicKey public_key_;
};

/// `{"keys":[{"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"alg":"EdDSA","use":"sig"}]}` (RFC 7517/8037).
std::string JwksJson(const std::vector<PublicKey>& keys);
/// The Ed25519 keys of a JWKS document; keys of other types are skipped.
std::expected<std::vector<PublicKey>, std::string> ParseJwks(std::string_view json);

enum class VerifyError { kMalformed, kBadAlgorithm, kUnknownKey, kBadSignature, kExpired, kBadClaims };
std::string_view Describe(VerifyError error);

/// Verifies tokens locally from public keys only. Thread-safe; keys can be replaced while serving.
class Verifier {
 public:
  Verifier();
  ~Verifier();

  /// Replaces the trusted keys.
  void SetKeys(const std::vector<PublicKey>& keys);
  /// Called (at most once per Verify) when a token names a `kid` that is not trusted; it may
  /// fetch keys and call SetKeys. Split services use it to refresh their JWKS.
  void OnUnknownKey(std::function<void()> refresh);
  bool HasKeys() const;

  /// The caller a valid token names. Rejects anything but `alg: EdDSA`, a bad signature, an
  /// expired token, and missing or malformed claims.
  std::expected<Principal, VerifyError> Verify(std::string_view token) const;
  std::expected<Claims, VerifyError> VerifyClaims(std::string_view token) const;

 private:
  struct KeySet;
  std::shared_ptr<const KeySet> Keys() const;

  const std::uint64_t id_;               // tells this verifier's entries apart in per-thread caches
  std::atomic<std::uint64_t> generation_{1};  // bumped by SetKeys; threads re-read keys_ when it moves
  mutable std::mutex mu_;                 // guards keys_ and refresh_; never taken while verifying with known keys
  std::shared_ptr<const KeySet> keys_;
  std::function<void()> refresh_;
};

}  // namespace shop::auth
