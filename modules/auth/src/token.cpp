#include "shop/auth/token.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "base64url.h"
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

std::optional<boost::json::object> DecodeJsonPart(std::string_view part) {
  auto bytes = Base64UrlDecode(part);
  if (!bytes) return std::nullopt;
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 8;
  boost::json::value v = boost::json::parse(*bytes, ec, {}, options);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
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
  // O_EXCL: if two processes race to create the key, one wins and the other reads its key.
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Load(file);
    throw std::runtime_error("cannot create signing key " + file.string() + ": " + std::strerror(errno));
  }
  SigningKey key = Generate();
  std::unique_ptr<std::FILE, FileCloser> f(fdopen(fd, "wb"));
  if (!f || PEM_write_PrivateKey(f.get(), key.impl_->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      std::fflush(f.get()) != 0 || ::fsync(fileno(f.get())) != 0) {
    if (!f) ::close(fd);
    std::filesystem::remove(file);
    throw std::runtime_error("cannot write signing key " + file.string());
  }
  return key;
}

std::string SigningKey::Sign(const Claims& claims) const {
  boost::json::object header{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", public_key_.kid}};
  boost::json::object payload{{"sub", std::to_string(claims.principal.user_id)},
                              {"role", RoleName(claims.principal.role)},
                              {"iat", claims.issued_at},
                              {"exp", claims.expires_at},
                              {"iss", kIssuer}};
  std::string input = Base64UrlEncode(boost::json::serialize(header)) + '.' +
                      Base64UrlEncode(boost::json::serialize(payload));
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  unsigned char sig[64];
  std::size_t sig_len = sizeof sig;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &sig_len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) !=
          1) {
    throw std::runtime_error("Ed25519 signing failed");
  }
  return input + '.' + Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(sig), sig_len));
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
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) return std::unexpected("JWKS is not a JSON object");
  const auto* keys = v.as_object().if_contains("keys");
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
    auto raw = Base64UrlDecode(str("x"));
    if (!raw || raw->size() != 32 || str("kid").empty()) return std::unexpected("JWKS holds a malformed Ed25519 key");
    out.push_back({std::string(str("kid")), std::move(*raw)});
  }
  return out;
}

std::string_view Describe(VerifyError error) {
  switch (error) {
    case VerifyError::kMalformed: return "the token is not a well-formed JWT";
    case VerifyError::kBadAlgorithm: return "the token's algorithm is not accepted";
    case VerifyError::kUnknownKey: return "the token was signed by an unknown key";
    case VerifyError::kBadSignature: return "the token's signature is invalid";
    case VerifyError::kExpired: return "the token has expired";
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

Verifier::Verifier() : id_(next_verifier_id++), keys_(std::make_shared<KeySet>()) {}
Verifier::~Verifier() = default;

void Verifier::SetKeys(const std::vector<PublicKey>& keys) {
  auto set = std::make_shared<KeySet>();
  for (const PublicKey& k : keys) {
    PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                             reinterpret_cast<const unsigned char*>(k.raw.data()), k.raw.size()));
    if (!pkey) throw std::runtime_error("invalid Ed25519 public key " + k.kid);
    set->entries.push_back({k.kid, std::move(pkey)});
  }
  std::lock_guard lock(mu_);
  keys_ = std::move(set);
  generation_.fetch_add(1, std::memory_order_release);
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

std::expected<Claims, VerifyError> Verifier::VerifyClaims(std::string_view token) const {
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos || token.size() > 4096) {
    return std::unexpected(VerifyError::kMalformed);
  }
  const std::string_view signing_input = token.substr(0, dot2);
  auto header = DecodeJsonPart(token.substr(0, dot1));
  if (!header) return std::unexpected(VerifyError::kMalformed);
  const auto* alg = header->if_contains("alg");
  if (!alg || !alg->is_string() || alg->get_string() != "EdDSA") return std::unexpected(VerifyError::kBadAlgorithm);
  const auto* kid = header->if_contains("kid");
  if (!kid || !kid->is_string()) return std::unexpected(VerifyError::kUnknownKey);

  std::shared_ptr<const KeySet> keys = Keys();
  EVP_PKEY* pkey = keys->Find(kid->get_string());
  if (!pkey) {
    std::function<void()> refresh;
    {
      std::lock_guard lock(mu_);
      refresh = refresh_;
    }
    if (refresh) {
      refresh();
      keys = Keys();
      pkey = keys->Find(kid->get_string());
    }
    if (!pkey) return std::unexpected(VerifyError::kUnknownKey);
  }

  auto sig = Base64UrlDecode(token.substr(dot2 + 1));
  if (!sig || sig->size() != 64) return std::unexpected(VerifyError::kBadSignature);
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1) {
    return std::unexpected(VerifyError::kBadSignature);
  }

  auto payload = DecodeJsonPart(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload) return std::unexpected(VerifyError::kMalformed);
  const auto* sub = payload->if_contains("sub");
  const auto* role = payload->if_contains("role");
  const auto* iat = payload->if_contains("iat");
  const auto* exp = payload->if_contains("exp");
  const auto* iss = payload->if_contains("iss");
  if (!sub || !sub->is_string() || !role || !role->is_string() || !iat || !iat->is_int64() || !exp ||
      !exp->is_int64() || !iss || !iss->is_string() || iss->get_string() != kIssuer) {
    return std::unexpected(VerifyError::kBadClaims);
  }
  Claims claims;
  std::string_view sub_text = sub->get_string();
  auto [end, ec] = std::from_chars(sub_text.data(), sub_text.data() + sub_text.size(), claims.principal.user_id);
  if (ec != std::errc() || end != sub_text.data() + sub_text.size() || claims.principal.user_id <= 0) {
    return std::unexpected(VerifyError::kBadClaims);
  }
  if (role->get_string() == "admin") {
    claims.principal.role = Role::kAdmin;
  } else if (role->get_string() == "customer") {
    claims.principal.role = Role::kCustomer;
  } else {
    return std::unexpected(VerifyError::kBadClaims);
  }
  claims.issued_at = iat->get_int64();
  claims.expires_at = exp->get_int64();
  if (claims.expires_at <= UnixNow()) return std::unexpected(VerifyError::kExpired);
  return claims;
}

}  // namespace shop::auth
