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
/// The JWS `typ` of user access tokens (RFC 7519 §5.1); Verify accepts no other when one is present.
inline constexpr std::string_view kUserTokenType = "JWT";
/// The JWS `typ` of service tokens (RFC 9068 §2.1), so that neither kind passes for the other (RFC 8725 §3.11).
inline constexpr std::string_view kServiceTokenType = "at+jwt";
/// The audience (`aud`) of service tokens: the services' internal routes. User tokens carry no `aud`.
inline constexpr std::string_view kServiceAudience = "shop-internal";
/// Longest lifetime (`exp` - `iat`, seconds) of a user token: auth.token_ttl_seconds is at most a day.
inline constexpr std::int64_t kMaxUserTokenLifetime = 86400;
/// Longest lifetime (seconds) of a service token.
inline constexpr std::int64_t kMaxServiceTokenLifetime = 3600;
/// How far (seconds) `iat` and `nbf` may lie in the future: clocks of different hosts differ a little.
inline constexpr std::int64_t kClockLeeway = 60;

/// True for a name a service is known by (an OAuth client id here): 1..64 of `[a-z0-9-]`, starting
/// with a letter, e.g. "orders". Such a name is also safe as a file name.
bool IsServiceName(std::string_view name);

/// What a token says: who (`sub`, `role`) and for how long (`iat`, `exp`, Unix seconds).
struct Claims {
  Principal principal;
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
};

/// What a service token says: which service (`sub` and `client_id`) and for how long (Unix seconds).
struct ServiceIdentity {
  std::string service;
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

  /// A user access token, as a compact JWS (RFC 7515 §7.1) with `alg: EdDSA`, `typ: JWT`, this key's
  /// `kid`, and the claims `sub` (decimal user id), `role`, `iat`, `exp`, `iss`.
  std::string Sign(const Claims& claims) const;
  /// A service token (RFC 9068 profile): `typ: at+jwt`; `iss`, `sub` and `client_id` (the service),
  /// `aud` kServiceAudience, `iat`, `exp`, a random `jti`. Throws std::invalid_argument when the name
  /// is not IsServiceName or the lifetime is not 1..kMaxServiceTokenLifetime seconds.
  std::string SignService(const ServiceIdentity& identity) const;
  const PublicKey& public_key() const { return public_key_; }

 private:
  struct Impl;
  explicit SigningKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  PublicKey public_key_;
};

/// `{"keys":[{"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"alg":"EdDSA","use":"sig"}]}` (RFC 7517/8037).
std::string JwksJson(const std::vector<PublicKey>& keys);
/// The Ed25519 signature keys of a JWKS document (RFC 7517 §5, RFC 8037 §2). Keys of other types or
/// curves, and keys declaring another `use`, `alg` or `key_ops` than signature verification with
/// EdDSA, are skipped; a key holding private material (`d`), a malformed Ed25519 key, duplicate
/// member names or duplicate `kid`s make the whole document an error.
std::expected<std::vector<PublicKey>, std::string> ParseJwks(std::string_view json);

/// Why a token is refused. Every one means "not authenticated"; the cases say which rule failed.
enum class VerifyError {
  kMalformed,     ///< not three base64url (canonical, unpadded) parts of JSON objects with unique names
  kBadHeader,     ///< a header parameter that is not understood (`crit`, `jku`, `b64`, ...) or of a wrong type
  kBadAlgorithm,  ///< `alg` is not exactly "EdDSA"
  kWrongType,     ///< `typ` says it is another kind of token (user vs. service)
  kUnknownKey,    ///< no `kid`, or none of the trusted keys has it
  kBadSignature,  ///< the signature is not 64 bytes or does not verify
  kExpired,       ///< `exp` has passed
  kNotYetValid,   ///< `nbf` or `iat` lies in the future, beyond kClockLeeway
  kBadClaims,     ///< a claim is missing, of the wrong type or out of range
};
std::string_view Describe(VerifyError error);

/// Verifies tokens locally from public keys only. Thread-safe; keys can be replaced while serving.
///
/// A token is verified in full once: the result of every check is kept in a bounded cache of
/// verified tokens (`cache_capacity` entries per kind, user and service) until the token's `exp`,
/// so that a client's later requests with the same token skip the signature check. An entry serves
/// only the byte-identical token; refused tokens are not cached; SetKeys drops the whole cache; a
/// full cache drops its least recently used entry. See src/verified_token_cache.h.
class Verifier {
 public:
  struct Options {
    /// Most verified tokens kept per kind (an entry is the token plus ≈120 bytes: ≈4 MB when full);
    /// 0 turns the cache off (every call verifies in full).
    std::size_t cache_capacity = 10'000;
    /// Unix seconds now; tests set a clock of their own. Empty: the system clock.
    std::function<std::int64_t()> clock;
  };
  /// Counts of the verified-token cache, for metrics and tests.
  struct CacheStats {
    std::uint64_t hits = 0;       ///< calls answered from the cache
    std::uint64_t misses = 0;     ///< calls verified in full (whatever the outcome)
    std::uint64_t evictions = 0;  ///< entries dropped because the cache was full
    std::size_t size = 0;         ///< entries held now (both kinds)
    std::size_t capacity = 0;     ///< most entries (both kinds)
  };

  Verifier();
  explicit Verifier(Options options);
  ~Verifier();

  /// Replaces the trusted keys and drops every cached verification, so that tokens signed by a key
  /// no longer trusted are refused from the next call on.
  void SetKeys(const std::vector<PublicKey>& keys);
  /// Called (at most once per Verify) when a token names a `kid` that is not trusted; it may
  /// fetch keys and call SetKeys. Split services use it to refresh their JWKS.
  void OnUnknownKey(std::function<void()> refresh);
  bool HasKeys() const;

  /// The caller a valid user token names. Follows RFC 7515 §5.2, RFC 7519 §7.2 and RFC 8725 §3:
  /// the header may hold only `alg` (exactly "EdDSA"), `kid` (a trusted key) and `typ` (if present,
  /// exactly kUserTokenType); no JSON object may repeat a name; the payload needs `iss` kIssuer,
  /// `sub` a positive canonical decimal, `role` customer or admin, integer `iat` and `exp` with
  /// 0 < exp - iat <= kMaxUserTokenLifetime, no `aud`; `exp` must be in the future and `iat`/`nbf`
  /// not beyond kClockLeeway. Other claims are ignored. Service tokens are refused (kWrongType).
  std::expected<Principal, VerifyError> Verify(std::string_view token) const;
  /// As Verify, with the token's times.
  std::expected<Claims, VerifyError> VerifyClaims(std::string_view token) const;
  /// The service a valid service token names, checked as Verify checks user tokens except that
  /// `typ` must be kServiceTokenType, `sub` IsServiceName and equal to `client_id`, `aud` exactly
  /// kServiceAudience, `jti` a non-empty string, no `role`, and the lifetime at most
  /// kMaxServiceTokenLifetime. User tokens are refused (kWrongType).
  std::expected<ServiceIdentity, VerifyError> VerifyService(std::string_view token) const;

  /// The cache's counts so far (hits and misses of Verify, VerifyClaims and VerifyService).
  CacheStats cache_stats() const;

 private:
  struct KeySet;
  struct Caches;
  std::shared_ptr<const KeySet> Keys() const;
  /// Every check of VerifyClaims / VerifyService at Unix time `now`, without the cache.
  std::expected<Claims, VerifyError> VerifyUserInFull(std::string_view token, std::int64_t now) const;
  std::expected<ServiceIdentity, VerifyError> VerifyServiceInFull(std::string_view token, std::int64_t now) const;
  /// Checks the signature over `signing_input` with the trusted key `kid` (refreshing keys once if unknown).
  std::expected<void, VerifyError> CheckSignature(std::string_view kid, std::string_view signing_input,
                                                  std::string_view signature) const;

  const std::uint64_t id_;               // tells this verifier's entries apart in per-thread caches
  std::atomic<std::uint64_t> generation_{1};  // bumped by SetKeys; threads re-read keys_ when it moves
  mutable std::mutex mu_;                 // guards keys_ and refresh_; never taken while verifying with known keys
  std::shared_ptr<const KeySet> keys_;
  std::function<void()> refresh_;
  std::function<std::int64_t()> clock_;
  std::unique_ptr<Caches> caches_;  // null when the cache is off
};

/// Where a service gets the bearer token that proves its own identity to the services it calls.
/// Implementations are thread-safe.
class ServiceTokenProvider {
 public:
  virtual ~ServiceTokenProvider() = default;
  /// A service token valid now, or a message saying why there is none (its issuer is unreachable or
  /// refused this service's credentials).
  virtual std::expected<std::string, std::string> Token() = 0;
  /// The callee refused `token` (401): forget it, so that the next Token() obtains a new one.
  virtual void Refused(std::string_view token) = 0;
};

}  // namespace shop::auth
