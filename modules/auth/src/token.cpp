#include "shop/auth/token.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "base64url.h"
#include "verified_token_cache.h"
#include "shop/core/random.h"
#include "shop/core/time.h"

namespace shop::auth {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

PublicKey PublicKeyOf(EVP_PKEY* pkey) {
  unsigned char raw[32];
  std::size_t len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1 || len != sizeof raw) {
    throw std::runtime_error("cannot read the Ed25519 public key");
  }
  PublicKey key;
  key.raw.assign(reinterpret_cast<const char*>(raw), len);
  // RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, no spaces.
  const std::string canonical = R"({"crv":"Ed25519","kty":"OKP","x":")" + Base64UrlEncode(key.raw) + "\"}";
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size());
  key.kid = Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
  return key;
}

PkeyPtr ReadPem(const std::filesystem::path& file) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(file.c_str(), "rb"));
  if (!f) throw std::runtime_error("cannot open signing key " + file.string());
  PkeyPtr pkey(PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr));
  if (!pkey || EVP_PKEY_id(pkey.get()) != EVP_PKEY_ED25519) {
    throw std::runtime_error("signing key " + file.string() + " is not a PEM (PKCS#8) Ed25519 private key");
  }
  return pkey;
}

/// Finds JSON objects that repeat a member name. Boost.JSON's parse keeps the last of duplicates
/// silently, while JOSE requires unique names (RFC 7515 §4, RFC 7519 §4) and a parser that reads
/// the first where we read the last would see another token: such input is refused outright.
class DuplicateNameFinder {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) { return true; }
  bool on_array_end(std::size_t, boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) {
    names_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code& ec) {
    std::vector<std::string>& names = names_.back();
    std::ranges::sort(names);
    const bool unique = std::ranges::adjacent_find(names) == names.end();
    names_.pop_back();
    if (!unique) ec = boost::json::error::syntax;
    return unique;
  }
  bool on_string_part(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_key_part(boost::json::string_view part, std::size_t, boost::system::error_code&) {
    key_.append(part.data(), part.size());
    return true;
  }
  bool on_key(boost::json::string_view part, std::size_t, boost::system::error_code&) {
    key_.append(part.data(), part.size());
    names_.back().push_back(std::move(key_));
    key_.clear();
    return true;
  }
  bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t, boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_uint64(std::uint64_t, boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_double(double, boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_bool(bool, boost::system::error_code&) { return true; }
  bool on_null(boost::system::error_code&) { return true; }
  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

 private:
  std::vector<std::vector<std::string>> names_;  // the names seen so far in each open object
  std::string key_;
};

constexpr int kMaxJsonDepth = 8;

/// `text` as a JSON object if it is one, valid UTF-8, at most kMaxJsonDepth deep, with no object
/// repeating a member name.
std::optional<boost::json::object> ParseStrictObject(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  {
    boost::json::basic_parser<DuplicateNameFinder> finder(options);
    boost::system::error_code ec;
    const std::size_t used = finder.write_some(false, text.data(), text.size(), ec);
    if (ec || used != text.size() || !finder.done()) return std::nullopt;
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec, {}, options);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

/// A JOSE part: strict base64url (no padding, no whitespace, canonical) of a strict JSON object.
std::optional<boost::json::object> DecodeJsonPart(std::string_view part) {
  auto bytes = Base64UrlDecode(part);
  if (!bytes) return std::nullopt;
  return ParseStrictObject(*bytes);
}

constexpr std::size_t kMaxTokenSize = 4096;
constexpr std::size_t kMaxKidSize = 128;
constexpr std::size_t kMaxJtiSize = 128;

enum class TokenKind { kUser, kService };

/// The parts of a compact JWS whose header passed RFC 7515 §5.2 and RFC 8725 checks.
struct CheckedJws {
  std::string_view signing_input;
  std::string_view payload;
  std::string_view signature;
  std::string kid;
};

/// Splits a compact JWS and checks its header: only the parameters we understand (RFC 7515
/// §4.1.11: an extension we do not know, `crit` among them, is a reason to refuse; RFC 8725 §3.10:
/// keys never come from the token, so `jku`, `jwk`, `x5u`, `x5c`, `x5t`, `x5t#S256` are refused;
/// `b64` (RFC 7797), `zip`, `enc`, `cty` are not ours), the one algorithm (RFC 8725 §3.1), and the
/// explicit type of `kind` (RFC 8725 §3.11).
std::expected<CheckedJws, VerifyError> CheckCompact(std::string_view token, TokenKind kind) {
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos ||
      token.size() > kMaxTokenSize) {
    return std::unexpected(VerifyError::kMalformed);
  }
  auto header = DecodeJsonPart(token.substr(0, dot1));
  if (!header) return std::unexpected(VerifyError::kMalformed);
  for (const auto& member : *header) {
    const std::string_view name = member.key();
    if ((name != "alg" && name != "kid" && name != "typ") || !member.value().is_string()) {
      return std::unexpected(VerifyError::kBadHeader);
    }
  }
  const auto* alg = header->if_contains("alg");
  if (!alg || alg->get_string() != "EdDSA") return std::unexpected(VerifyError::kBadAlgorithm);
  const auto* typ = header->if_contains("typ");
  if (kind == TokenKind::kService ? !typ || typ->get_string() != kServiceTokenType
                                  : typ && typ->get_string() != kUserTokenType) {
    return std::unexpected(VerifyError::kWrongType);
  }
  const auto* kid = header->if_contains("kid");
  if (!kid) return std::unexpected(VerifyError::kUnknownKey);
  if (kid->get_string().empty() || kid->get_string().size() > kMaxKidSize) {
    return std::unexpected(VerifyError::kBadHeader);
  }
  return CheckedJws{token.substr(0, dot2), token.substr(dot1 + 1, dot2 - dot1 - 1), token.substr(dot2 + 1),
                    std::string(kid->get_string())};
}

/// The registered claims both kinds of token share (RFC 7519 §4.1), typed and checked.
struct RegisteredClaims {
  std::string_view subject;
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
};

const boost::json::value* Claim(const boost::json::object& payload, std::string_view name) {
  return payload.if_contains(name);
}

/// `iss`, `sub`, `iat`, `exp`, `nbf` and `jti` (when present) of the right types (integers are JSON
/// integers, not floats or strings), and the times: 0 <= iat < exp <= iat + max_lifetime, exp in
/// the future, iat and nbf not beyond the leeway.
std::expected<RegisteredClaims, VerifyError> CheckRegisteredClaims(const boost::json::object& payload,
                                                                   std::int64_t max_lifetime, std::int64_t now) {
  const auto* iss = Claim(payload, "iss");
  const auto* sub = Claim(payload, "sub");
  const auto* iat = Claim(payload, "iat");
  const auto* exp = Claim(payload, "exp");
  const auto* nbf = Claim(payload, "nbf");
  const auto* jti = Claim(payload, "jti");
  if (!iss || !iss->is_string() || iss->get_string() != kIssuer || !sub || !sub->is_string() || !iat ||
      !iat->is_int64() || !exp || !exp->is_int64() || (nbf && !nbf->is_int64()) ||
      (jti && (!jti->is_string() || jti->get_string().empty() || jti->get_string().size() > kMaxJtiSize))) {
    return std::unexpected(VerifyError::kBadClaims);
  }
  RegisteredClaims claims{sub->get_string(), iat->get_int64(), exp->get_int64()};
  if (claims.issued_at < 0 || claims.expires_at <= claims.issued_at ||
      claims.expires_at - claims.issued_at > max_lifetime) {
    return std::unexpected(VerifyError::kBadClaims);
  }
  if (claims.issued_at > now + kClockLeeway || (nbf && nbf->get_int64() > now + kClockLeeway)) {
    return std::unexpected(VerifyError::kNotYetValid);
  }
  if (claims.expires_at <= now) return std::unexpected(VerifyError::kExpired);
  return claims;
}

/// A user id as `sub` carries it: a positive decimal in canonical form (no sign, no leading zero,
/// no spaces), within int64.
std::optional<std::int64_t> ParseUserId(std::string_view text) {
  if (text.empty() || text.front() == '0') return std::nullopt;
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

}  // namespace

struct SigningKey::Impl {
  PkeyPtr pkey;
};

SigningKey::SigningKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)), public_key_(PublicKeyOf(impl_->pkey.get())) {}
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

SigningKey SigningKey::Generate() {
  PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!pkey) throw std::runtime_error("cannot generate an Ed25519 key pair");
  return SigningKey(std::make_unique<Impl>(Impl{std::move(pkey)}));
}

SigningKey SigningKey::Load(const std::filesystem::path& file) {
  return SigningKey(std::make_unique<Impl>(Impl{ReadPem(file)}));
}

SigningKey SigningKey::LoadOrCreate(const std::filesystem::path& file) {
  if (std::filesystem::exists(file)) return Load(file);
  // The key is written whole to a temporary file of this process and published with link(2), which
  // fails with EEXIST instead of replacing: when processes race to create it, exactly one key is
  // published and every other process reads that complete key (never an empty or half-written file).
  std::string temp = file.string() + ".tmp-XXXXXX";
  int fd = ::mkostemp(temp.data(), O_CLOEXEC);  // mode 0600
  if (fd < 0) throw std::runtime_error("cannot create signing key " + file.string() + ": " + std::strerror(errno));
  struct TempRemover {
    std::string path;
    ~TempRemover() { ::unlink(path.c_str()); }
  } remove_temp{temp};
  SigningKey key = Generate();
  std::unique_ptr<std::FILE, FileCloser> f(fdopen(fd, "wb"));
  if (!f) ::close(fd);
  if (!f || PEM_write_PrivateKey(f.get(), key.impl_->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      std::fflush(f.get()) != 0 || ::fsync(fileno(f.get())) != 0) {
    throw std::runtime_error("cannot write signing key " + file.string());
  }
  if (::link(temp.c_str(), file.c_str()) != 0) {
    if (errno == EEXIST) return Load(file);
    throw std::runtime_error("cannot create signing key " + file.string() + ": " + std::strerror(errno));
  }
  return key;
}

namespace {

/// base64url(header).base64url(payload).base64url(Ed25519 signature over the first two).
std::string SignCompact(EVP_PKEY* pkey, const boost::json::object& header, const boost::json::object& payload) {
  std::string input = Base64UrlEncode(boost::json::serialize(header)) + '.' +
                      Base64UrlEncode(boost::json::serialize(payload));
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  unsigned char sig[64];
  std::size_t sig_len = sizeof sig;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &sig_len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) !=
          1) {
    throw std::runtime_error("Ed25519 signing failed");
  }
  return input + '.' + Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(sig), sig_len));
}

}  // namespace

std::string SigningKey::Sign(const Claims& claims) const {
  boost::json::object header{{"alg", "EdDSA"}, {"typ", kUserTokenType}, {"kid", public_key_.kid}};
  boost::json::object payload{{"sub", std::to_string(claims.principal.user_id)},
                              {"role", RoleName(claims.principal.role)},
                              {"iat", claims.issued_at},
                              {"exp", claims.expires_at},
                              {"iss", kIssuer}};
  return SignCompact(impl_->pkey.get(), header, payload);
}

std::string SigningKey::SignService(const ServiceIdentity& identity) const {
  if (!IsServiceName(identity.service)) throw std::invalid_argument("not a service name: " + identity.service);
  const std::int64_t lifetime = identity.expires_at - identity.issued_at;
  if (identity.issued_at < 0 || lifetime <= 0 || lifetime > kMaxServiceTokenLifetime) {
    throw std::invalid_argument("a service token lives 1 to 3600 seconds");
  }
  boost::json::object header{{"alg", "EdDSA"}, {"typ", kServiceTokenType}, {"kid", public_key_.kid}};
  boost::json::object payload{
      {"iss", kIssuer},       {"sub", identity.service},   {"aud", kServiceAudience},   {"client_id", identity.service},
      {"jti", RandomHex(16)}, {"iat", identity.issued_at}, {"exp", identity.expires_at}};
  return SignCompact(impl_->pkey.get(), header, payload);
}

bool IsServiceName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() < 'a' || name.front() > 'z') return false;
  return std::ranges::all_of(name, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::string JwksJson(const std::vector<PublicKey>& keys) {
  boost::json::array list;
  for (const PublicKey& k : keys) {
    list.push_back(boost::json::object{{"kty", "OKP"},
                                       {"crv", "Ed25519"},
                                       {"x", Base64UrlEncode(k.raw)},
                                       {"kid", k.kid},
                                       {"alg", "EdDSA"},
                                       {"use", "sig"}});
  }
  return boost::json::serialize(boost::json::object{{"keys", std::move(list)}});
}

std::expected<std::vector<PublicKey>, std::string> ParseJwks(std::string_view json) {
  auto document = ParseStrictObject(json);
  if (!document) return std::unexpected("JWKS is not a JSON object (with unique member names)");
  const auto* keys = document->if_contains("keys");
  if (!keys || !keys->is_array()) return std::unexpected("JWKS has no \"keys\" array");
  std::vector<PublicKey> out;
  for (const auto& k : keys->as_array()) {
    const auto* obj = k.if_object();
    if (!obj) continue;
    auto str = [&](std::string_view name) -> std::string_view {
      const auto* f = obj->if_contains(name);
      return f && f->is_string() ? std::string_view(f->get_string()) : std::string_view{};
    };
    if (str("kty") != "OKP" || str("crv") != "Ed25519") continue;
    if (obj->contains("d")) return std::unexpected("JWKS holds private key material");
    // RFC 7517 §4.2-4.4: a key meant for anything but verifying EdDSA signatures is not ours to use.
    if (obj->contains("use") && str("use") != "sig") continue;
    if (obj->contains("alg") && str("alg") != "EdDSA") continue;
    if (const auto* ops = obj->if_contains("key_ops")) {
      const auto* list = ops->if_array();
      if (!list || std::ranges::none_of(*list, [](const boost::json::value& op) {
            return op.is_string() && op.get_string() == "verify";
          })) {
        continue;
      }
    }
    auto raw = Base64UrlDecode(str("x"));
    if (!raw || raw->size() != 32 || str("kid").empty()) return std::unexpected("JWKS holds a malformed Ed25519 key");
    if (std::ranges::any_of(out, [&](const PublicKey& seen) { return seen.kid == str("kid"); })) {
      return std::unexpected("JWKS names one kid twice");
    }
    out.push_back({std::string(str("kid")), std::move(*raw)});
  }
  return out;
}

std::string_view Describe(VerifyError error) {
  switch (error) {
    case VerifyError::kMalformed: return "the token is not a well-formed JWT";
    case VerifyError::kBadHeader:
      return "the token's header holds a parameter that is not accepted";
    case VerifyError::kBadAlgorithm: return "the token's algorithm is not accepted";
    case VerifyError::kWrongType:
      return "the token is not of the type accepted here";
    case VerifyError::kUnknownKey: return "the token was signed by an unknown key";
    case VerifyError::kBadSignature: return "the token's signature is invalid";
    case VerifyError::kExpired: return "the token has expired";
    case VerifyError::kNotYetValid:
      return "the token is not valid yet";
    case VerifyError::kBadClaims: return "the token's claims are missing or invalid";
  }
  return "invalid token";
}

struct Verifier::KeySet {
  struct Entry {
    std::string kid;
    PkeyPtr pkey;
  };
  std::vector<Entry> entries;

  EVP_PKEY* Find(std::string_view kid) const {
    for (const Entry& e : entries) {
      if (e.kid == kid) return e.pkey.get();
    }
    return nullptr;
  }
};

namespace {
std::atomic<std::uint64_t> next_verifier_id{1};
}  // namespace

struct Verifier::Caches {
  explicit Caches(std::size_t capacity) : users(capacity), services(capacity) {}
  VerifiedTokenCache<Claims> users;
  VerifiedTokenCache<ServiceIdentity> services;
};

Verifier::Verifier() : Verifier(Options{}) {}

Verifier::Verifier(Options options)
    : id_(next_verifier_id++),
      keys_(std::make_shared<KeySet>()),
      clock_(options.clock ? std::move(options.clock) : std::function<std::int64_t()>(UnixNow)),
      caches_(options.cache_capacity > 0 ? std::make_unique<Caches>(options.cache_capacity) : nullptr) {}

Verifier::~Verifier() = default;

Verifier::CacheStats Verifier::cache_stats() const {
  CacheStats stats;
  if (!caches_) return stats;
  const auto users = caches_->users.counts();
  const auto services = caches_->services.counts();
  stats.hits = users.hits + services.hits;
  stats.misses = users.misses + services.misses;
  stats.evictions = caches_->users.evictions() + caches_->services.evictions();
  stats.size = users.size + services.size;
  stats.capacity = caches_->users.capacity() + caches_->services.capacity();
  return stats;
}

void Verifier::SetKeys(const std::vector<PublicKey>& keys) {
  auto set = std::make_shared<KeySet>();
  for (const PublicKey& k : keys) {
    PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                             reinterpret_cast<const unsigned char*>(k.raw.data()), k.raw.size()));
    if (!pkey) throw std::runtime_error("invalid Ed25519 public key " + k.kid);
    set->entries.push_back({k.kid, std::move(pkey)});
  }
  {
    std::lock_guard lock(mu_);
    keys_ = std::move(set);
    generation_.fetch_add(1, std::memory_order_release);
  }
  // After the swap: a verification that read the old keys began before this and is not cached.
  if (caches_) {
    caches_->users.Clear();
    caches_->services.Clear();
  }
}

void Verifier::OnUnknownKey(std::function<void()> refresh) {
  std::lock_guard lock(mu_);
  refresh_ = std::move(refresh);
}

bool Verifier::HasKeys() const { return !Keys()->entries.empty(); }

std::shared_ptr<const Verifier::KeySet> Verifier::Keys() const {
  // Each thread keeps the key set it last saw and takes the lock only when SetKeys has run since.
  struct Cached {
    std::uint64_t verifier;
    std::uint64_t generation;
    std::shared_ptr<const KeySet> keys;
  };
  thread_local std::vector<Cached> cache;
  const std::uint64_t generation = generation_.load(std::memory_order_acquire);
  for (Cached& c : cache) {
    if (c.verifier != id_) continue;
    if (c.generation != generation) {
      std::lock_guard lock(mu_);
      c.keys = keys_;
      c.generation = generation;
    }
    return c.keys;
  }
  std::lock_guard lock(mu_);
  cache.push_back({id_, generation, keys_});
  return keys_;
}

std::expected<Principal, VerifyError> Verifier::Verify(std::string_view token) const {
  auto claims = VerifyClaims(token);
  if (!claims) return std::unexpected(claims.error());
  return claims->principal;
}

std::expected<void, VerifyError> Verifier::CheckSignature(std::string_view kid, std::string_view signing_input,
                                                          std::string_view signature) const {
  std::shared_ptr<const KeySet> keys = Keys();
  EVP_PKEY* pkey = keys->Find(kid);
  if (!pkey) {
    std::function<void()> refresh;
    {
      std::lock_guard lock(mu_);
      refresh = refresh_;
    }
    if (refresh) {
      refresh();
      keys = Keys();
      pkey = keys->Find(kid);
    }
    if (!pkey) return std::unexpected(VerifyError::kUnknownKey);
  }
  auto sig = Base64UrlDecode(signature);
  if (!sig || sig->size() != 64) return std::unexpected(VerifyError::kBadSignature);
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1) {
    return std::unexpected(VerifyError::kBadSignature);
  }
  return {};
}

namespace {

/// A token's payload once its compact form, header, signature and registered claims have passed.
struct VerifiedJws {
  boost::json::object payload;
  RegisteredClaims registered;
};

/// The steps both kinds of token share, in order: compact form and header for `kind`, the signature
/// (`check_signature`), a JSON object payload, the registered claims within `max_lifetime`.
template <class CheckSignatureFn>
std::expected<VerifiedJws, VerifyError> VerifyJws(std::string_view token, TokenKind kind, std::int64_t max_lifetime,
                                                  std::int64_t now, const CheckSignatureFn& check_signature) {
  auto jws = CheckCompact(token, kind);
  if (!jws) return std::unexpected(jws.error());
  if (auto signed_ok = check_signature(*jws); !signed_ok) return std::unexpected(signed_ok.error());
  auto payload = DecodeJsonPart(jws->payload);
  if (!payload) return std::unexpected(VerifyError::kMalformed);
  auto registered = CheckRegisteredClaims(*payload, max_lifetime, now);
  if (!registered) return std::unexpected(registered.error());
  return VerifiedJws{std::move(*payload), std::move(*registered)};
}

}  // namespace

std::expected<Claims, VerifyError> Verifier::VerifyClaims(std::string_view token) const {
  const std::int64_t now = clock_();
  if (!caches_) return VerifyUserInFull(token, now);
  if (auto hit = caches_->users.Find(token, now)) return std::move(*hit);
  const std::uint64_t generation = caches_->users.generation();
  auto claims = VerifyUserInFull(token, now);
  if (claims) caches_->users.Insert(token, claims->expires_at, generation, *claims);
  return claims;
}

std::expected<Claims, VerifyError> Verifier::VerifyUserInFull(std::string_view token, std::int64_t now) const {
  auto verified = VerifyJws(token, TokenKind::kUser, kMaxUserTokenLifetime, now, [this](const CheckedJws& jws) {
    return CheckSignature(jws.kid, jws.signing_input, jws.signature);
  });
  if (!verified) return std::unexpected(verified.error());
  const boost::json::object* payload = &verified->payload;
  const RegisteredClaims* registered = &verified->registered;
  // User tokens name no audience; one that does is meant for someone else (RFC 7519 §4.1.3).
  const auto* role = Claim(*payload, "role");
  const auto user_id = ParseUserId(registered->subject);
  if (!user_id || !role || !role->is_string() || payload->contains("aud")) {
    return std::unexpected(VerifyError::kBadClaims);
  }
  Claims claims;
  claims.principal.user_id = *user_id;
  if (role->get_string() == RoleName(Role::kAdmin)) {
    claims.principal.role = Role::kAdmin;
  } else if (role->get_string() == RoleName(Role::kCustomer)) {
    claims.principal.role = Role::kCustomer;
  } else {
    return std::unexpected(VerifyError::kBadClaims);
  }
  claims.issued_at = registered->issued_at;
  claims.expires_at = registered->expires_at;
  return claims;
}

std::expected<ServiceIdentity, VerifyError> Verifier::VerifyService(std::string_view token) const {
  const std::int64_t now = clock_();
  if (!caches_) return VerifyServiceInFull(token, now);
  if (auto hit = caches_->services.Find(token, now)) return std::move(*hit);
  const std::uint64_t generation = caches_->services.generation();
  auto identity = VerifyServiceInFull(token, now);
  if (identity) caches_->services.Insert(token, identity->expires_at, generation, *identity);
  return identity;
}

std::expected<ServiceIdentity, VerifyError> Verifier::VerifyServiceInFull(std::string_view token,
                                                                          std::int64_t now) const {
  auto verified = VerifyJws(token, TokenKind::kService, kMaxServiceTokenLifetime, now, [this](const CheckedJws& jws) {
    return CheckSignature(jws.kid, jws.signing_input, jws.signature);
  });
  if (!verified) return std::unexpected(verified.error());
  const boost::json::object* payload = &verified->payload;
  const RegisteredClaims* registered = &verified->registered;
  const auto* aud = Claim(*payload, "aud");
  const auto* client_id = Claim(*payload, "client_id");
  // RFC 9068 §2.2: aud, client_id and jti are required; a `role` would make it look like a user's.
  if (!IsServiceName(registered->subject) || !aud || !aud->is_string() || aud->get_string() != kServiceAudience ||
      !client_id || !client_id->is_string() || client_id->get_string() != registered->subject ||
      !payload->contains("jti") || payload->contains("role")) {
    return std::unexpected(VerifyError::kBadClaims);
  }
  return ServiceIdentity{std::string(registered->subject), registered->issued_at, registered->expires_at};
}

}  // namespace shop::auth
