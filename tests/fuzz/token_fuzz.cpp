// Token verification (auth::Verifier) and JWKS parsing, against a reference written from the rules in
// shop/auth/token.h (RFC 7515 §5.2, RFC 7519 §7.2, RFC 8725 §3, RFC 9068).
//
// Input: byte 0 % 4 is the mode, the rest its text:
//   0  a raw token string (what follows `Authorization: Bearer `);
//   1  header JSON, '\n', payload JSON: the harness encodes both (base64url) and signs them with the
//      trusted key `k1`, so verification gets past the signature to the header and claim checks;
//      `@` followed by an optional signed decimal (`@`, `@+3600`, `@-61`) stands for now plus that many
//      seconds, so the times can be valid;
//   2  the signing input as is (`<header>.<payload>`, e.g. with non-canonical base64url), which the
//      harness signs with `k1`;
//   3  a JWKS document for auth::ParseJwks.
// The verifier trusts `k1` and `k2` (another key); `kid` tricks name `k2`, unknown or empty kids.
//
// Invariants (a violation aborts):
// - Verify, VerifyClaims and VerifyService accept exactly when the reference does (when the clock
//   moving during the call could change the answer, that input is not judged); the claims they
//   return are the payload's; no token passes both as a user's and as a service's;
// - http::Authenticate / AuthenticateService agree with them, answer 401 (403 only for a valid user
//   token on a service route), and ask for a key refresh at most once per call;
// - ParseJwks accepts only documents with unique member names, returning 32-byte keys with unique,
//   non-empty kids that Verifier::SetKeys takes.

#include <openssl/evp.h>

#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common.h"
#include "shop/auth/token.h"
#include "shop/core/time.h"
#include "shop/http/adapter.h"

namespace {

using namespace shop;
using fuzz::Excerpt;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

Pkey NewKey() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  FUZZ_CHECK(key != nullptr, "cannot make an Ed25519 key");
  return key;
}

std::string RawPublic(EVP_PKEY* key) {
  unsigned char raw[32];
  std::size_t len = sizeof raw;
  FUZZ_CHECK(EVP_PKEY_get_raw_public_key(key, raw, &len) == 1 && len == 32, "cannot read a public key");
  return std::string(reinterpret_cast<const char*>(raw), len);
}

std::string Sign(EVP_PKEY* key, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  unsigned char sig[64];
  std::size_t len = sizeof sig;
  FUZZ_CHECK(
      ctx && EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key) == 1 &&
          EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1,
      "cannot sign");
  return std::string(reinterpret_cast<const char*>(sig), len);
}

bool SignatureVerifies(EVP_PKEY* key, std::string_view sig, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

/// Strict base64url: the alphabet only, no padding, and canonical (re-encoding gives the same text).
std::optional<std::string> DecodeBase64Url(std::string_view text) {
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    else
      return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  if (fuzz::Base64Url(out) != text) return std::nullopt;
  return out;
}

/// Finds an object that repeats a member name (written apart from the auth module's own finder).
class DuplicateKeys {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  bool duplicate = false;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) { return true; }
  bool on_array_end(std::size_t, boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) {
    open_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    open_.pop_back();
    return true;
  }
  bool on_string_part(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    key_.append(s.data(), s.size());
    if (!open_.back().insert(key_).second) duplicate = true;
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
  std::vector<std::set<std::string>> open_;
  std::string key_;
};

bool HasDuplicateKeys(std::string_view text) {
  boost::json::basic_parser<DuplicateKeys> parser(boost::json::parse_options{});
  boost::system::error_code ec;
  parser.write_some(false, text.data(), text.size(), ec);
  return !ec && parser.handler().duplicate;
}

/// A JOSE JSON part: one object, valid UTF-8, at most 8 levels deep, no repeated member name.
std::optional<boost::json::object> StrictObject(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = 8;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec, {}, options);
  if (ec || !v.is_object() || HasDuplicateKeys(text)) return std::nullopt;
  return std::move(v.as_object());
}

bool IsServiceName(std::string_view s) {
  if (s.empty() || s.size() > 64 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::ranges::all_of(s, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::optional<std::int64_t> CanonicalUserId(std::string_view s) {
  if (s.empty() || s.size() > 19 || s[0] < '1' || s[0] > '9') return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

/// What the reference makes of a token, apart from the clock.
struct Analysis {
  bool well_formed = false;  ///< parts, encodings, JSON, header rules except typ, key, signature
  std::optional<std::string> typ;
  boost::json::object payload;
};

struct World {
  Pkey k1 = NewKey();
  Pkey k2 = NewKey();
  auth::Verifier verifier;
  int refreshes = 0;
  World() {
    verifier.SetKeys({{"k1", RawPublic(k1.get())}, {"k2", RawPublic(k2.get())}});
    verifier.OnUnknownKey([this] { ++refreshes; });
  }
  EVP_PKEY* Key(std::string_view kid) const { return kid == "k1" ? k1.get() : kid == "k2" ? k2.get() : nullptr; }
};

World* world = nullptr;

Analysis Analyze(const World& w, std::string_view token) {
  Analysis a;
  if (token.size() > 4096) return a;
  const std::size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return a;
  const std::size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) return a;
  const auto header_text = DecodeBase64Url(token.substr(0, dot1));
  const auto payload_text = DecodeBase64Url(token.substr(dot1 + 1, dot2 - dot1 - 1));
  const auto signature = DecodeBase64Url(token.substr(dot2 + 1));
  if (!header_text || !payload_text || !signature) return a;
  const auto header = StrictObject(*header_text);
  if (!header) return a;
  for (const auto& m : *header) {
    const std::string_view name = m.key();
    if ((name != "alg" && name != "kid" && name != "typ") || !m.value().is_string()) return a;
  }
  const auto* alg = header->if_contains("alg");
  const auto* kid = header->if_contains("kid");
  if (!alg || alg->get_string() != "EdDSA" || !kid) return a;
  EVP_PKEY* key = w.Key(kid->get_string());
  if (!key || signature->size() != 64 || !SignatureVerifies(key, *signature, token.substr(0, dot2))) return a;
  auto payload = StrictObject(*payload_text);
  if (!payload) return a;
  if (const auto* typ = header->if_contains("typ")) a.typ = std::string(typ->get_string());
  a.payload = std::move(*payload);
  a.well_formed = true;
  return a;
}

std::optional<std::string_view> String(const boost::json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string_view(v->get_string());
}

/// Whether the reference accepts the analysed token as a user's (service == false) or a service's at `now`.
bool Accepts(const Analysis& a, bool service, std::int64_t now) {
  if (!a.well_formed) return false;
  if (service ? a.typ != "at+jwt" : a.typ && *a.typ != "JWT") return false;
  const boost::json::object& p = a.payload;
  const auto* iat = p.if_contains("iat");
  const auto* exp = p.if_contains("exp");
  const auto* nbf = p.if_contains("nbf");
  const auto* jti = p.if_contains("jti");
  const auto sub = String(p, "sub");
  if (String(p, "iss") != "shop" || !sub || !iat || !iat->is_int64() || !exp || !exp->is_int64()) return false;
  if (nbf && !nbf->is_int64()) return false;
  if (jti && (!jti->is_string() || jti->get_string().empty() || jti->get_string().size() > 128)) return false;
  const std::int64_t issued = iat->get_int64();
  const std::int64_t expires = exp->get_int64();
  const std::int64_t max_lifetime = service ? auth::kMaxServiceTokenLifetime : auth::kMaxUserTokenLifetime;
  if (issued < 0 || expires <= issued || expires - issued > max_lifetime) return false;
  if (issued > now + auth::kClockLeeway || (nbf && nbf->get_int64() > now + auth::kClockLeeway)) return false;
  if (expires <= now) return false;
  if (service) {
    return IsServiceName(*sub) && String(p, "aud") == "shop-internal" && String(p, "client_id") == *sub && jti &&
           !p.contains("role");
  }
  const auto role = String(p, "role");
  return CanonicalUserId(*sub) && (role == "customer" || role == "admin") && !p.contains("aud");
}

/// `@`, `@+N`, `@-N` in `text` become now plus N seconds.
std::string WithTimes(std::string_view text, std::int64_t now) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '@') {
      out += text[i];
      continue;
    }
    std::size_t j = i + 1;
    std::int64_t sign = 1;
    if (j < text.size() && (text[j] == '+' || text[j] == '-')) sign = text[j++] == '-' ? -1 : 1;
    std::int64_t offset = 0;
    std::size_t digits = 0;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9' && digits < 10) {
      offset = offset * 10 + (text[j++] - '0');
      ++digits;
    }
    out += std::to_string(now + sign * offset);
    i = j - 1;
  }
  return out;
}

void CheckVerify(World& w, std::string_view token) {
  const std::string where = "\n  token: " + Excerpt(token, 600);
  const Analysis analysis = Analyze(w, token);
  http::Request request;
  request.headers.Add("Authorization", "Bearer " + std::string(token));

  const std::int64_t before = UnixNow();
  w.refreshes = 0;
  const auto user = w.verifier.Verify(token);
  FUZZ_CHECK(w.refreshes <= 1, "Verify asked for keys " + std::to_string(w.refreshes) + " times" + where);
  w.refreshes = 0;
  const auto claims = w.verifier.VerifyClaims(token);
  w.refreshes = 0;
  const auto service = w.verifier.VerifyService(token);
  FUZZ_CHECK(w.refreshes <= 1, "VerifyService asked for keys " + std::to_string(w.refreshes) + " times" + where);
  w.refreshes = 0;
  const auto caller = http::Authenticate(request, w.verifier);
  FUZZ_CHECK(w.refreshes <= 1, "Authenticate asked for keys more than once" + where);
  w.refreshes = 0;
  const auto caller_service = http::AuthenticateService(request, w.verifier);
  FUZZ_CHECK(w.refreshes <= 2, "AuthenticateService asked for keys more than twice" + where);
  const std::int64_t after = UnixNow();

  // The reference's verdicts, unless the clock moving during the calls could have changed them.
  std::optional<bool> user_ok, service_ok;
  if (Accepts(analysis, false, before) == Accepts(analysis, false, after)) user_ok = Accepts(analysis, false, before);
  if (Accepts(analysis, true, before) == Accepts(analysis, true, after)) service_ok = Accepts(analysis, true, before);

  FUZZ_TRACE("token %s\n  Verify: %s; VerifyService: %s; reference: user %s, service %s\n", Excerpt(token, 300).c_str(),
             user ? "accepted" : std::string(auth::Describe(user.error())).c_str(),
             service ? "accepted" : std::string(auth::Describe(service.error())).c_str(),
             user_ok ? (*user_ok ? "accepts" : "refuses") : "unsure",
             service_ok ? (*service_ok ? "accepts" : "refuses") : "unsure");
  FUZZ_CHECK(!(user && service), "a token passed as both a user's and a service's" + where);
  if (user_ok) {
    FUZZ_CHECK(user.has_value() == *user_ok,
               std::string("Verify ") +
                   (user ? "accepted" : "refused (" + std::string(auth::Describe(user.error())) + ")") +
                   " a token the reference " + (user ? "refuses" : "accepts") + where);
    FUZZ_CHECK(claims.has_value() == *user_ok, "VerifyClaims and the reference disagree" + where);
    FUZZ_CHECK(caller.has_value() == *user_ok, "Authenticate and the reference disagree" + where);
  }
  if (service_ok) {
    FUZZ_CHECK(service.has_value() == *service_ok,
               std::string("VerifyService ") +
                   (service ? "accepted" : "refused (" + std::string(auth::Describe(service.error())) + ")") +
                   " a token the reference " + (service ? "refuses" : "accepts") + where);
    FUZZ_CHECK(caller_service.has_value() == *service_ok, "AuthenticateService and the reference disagree" + where);
  }
  if (claims) {
    const auto& p = analysis.payload;
    FUZZ_CHECK(analysis.well_formed && std::to_string(claims->principal.user_id) == String(p, "sub") &&
                   RoleName(claims->principal.role) == String(p, "role") &&
                   claims->issued_at == p.at("iat").as_int64() && claims->expires_at == p.at("exp").as_int64(),
               "VerifyClaims returned claims that are not the payload's" + where);
  }
  if (caller) {
    FUZZ_CHECK(caller->credential == token, "Authenticate kept another credential than the token" + where);
  } else {
    FUZZ_CHECK(caller.error().status == 401,
               "Authenticate refused with " + std::to_string(caller.error().status) + where);
  }
  if (service) {
    FUZZ_CHECK(analysis.well_formed && service->service == String(analysis.payload, "sub"),
               "VerifyService returned a service that is not the token's sub" + where);
  }
  if (!caller_service) {
    const int status = caller_service.error().status;
    FUZZ_CHECK(status == 401 || status == 403, "AuthenticateService answered " + std::to_string(status) + where);
    if (status == 403 && user_ok) FUZZ_CHECK(*user_ok, "403 (a user) for a token that is no valid user token" + where);
    if (status == 401) {
      FUZZ_CHECK(caller_service.error().headers.Get("WWW-Authenticate") == "Bearer",
                 "401 without WWW-Authenticate" + where);
    }
  }
}

void CheckJwks(std::string_view text) {
  const std::string where = "\n  JWKS: " + Excerpt(text, 600);
  const auto keys = auth::ParseJwks(text);
  FUZZ_TRACE("JWKS %s\n  -> %s\n", Excerpt(text, 300).c_str(),
             keys ? (std::to_string(keys->size()) + " key(s)").c_str() : keys.error().c_str());
  if (!keys) return;
  FUZZ_CHECK(!HasDuplicateKeys(text), "ParseJwks accepted repeated member names" + where);
  std::set<std::string> kids;
  for (const auto& key : *keys) {
    FUZZ_CHECK(key.raw.size() == 32,
               "ParseJwks returned a key of " + std::to_string(key.raw.size()) + " bytes" + where);
    FUZZ_CHECK(!key.kid.empty() && kids.insert(key.kid).second, "ParseJwks returned an empty or repeated kid" + where);
  }
  auth::Verifier scratch;
  try {
    scratch.SetKeys(*keys);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("SetKeys refused what ParseJwks accepted: ") + e.what() + where);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::QuietLogs();
  world = new World();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  World& w = *world;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0:
      CheckVerify(w, text);
      break;
    case 1: {
      const std::int64_t now = UnixNow();
      const std::size_t newline = text.find('\n');
      const std::string header = WithTimes(text.substr(0, newline), now);
      const std::string payload =
          newline == std::string_view::npos ? std::string() : WithTimes(text.substr(newline + 1), now);
      const std::string input = fuzz::Base64Url(header) + "." + fuzz::Base64Url(payload);
      CheckVerify(w, input + "." + fuzz::Base64Url(Sign(w.k1.get(), input)));
      break;
    }
    case 2:
      CheckVerify(w, std::string(text) + "." + fuzz::Base64Url(Sign(w.k1.get(), text)));
      break;
    default:
      CheckJwks(text);
      break;
  }
  return 0;
}
