#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "password.h"
#include "shop/core/time.h"
#include "shop/users/users.h"
#include "store.h"

namespace shop::users {
namespace {

constexpr std::size_t kMaxEmailLength = 254;
constexpr std::size_t kMinPasswordLength = 8;
constexpr std::size_t kMaxPasswordLength = 128;
constexpr std::size_t kMaxNameLength = 100;
constexpr std::string_view kAdminName = "Administrator";
// One text for unknown email and wrong password alike: the answer must not tell them apart.
constexpr std::string_view kInvalidCredentialsDetail = "the email or password is wrong";
constexpr std::string_view kNoSuchUser = "no such user";

/// One code point of a UTF-8 string and where its bytes are.
struct CodePoint {
  char32_t value;
  std::size_t begin;
  std::size_t end;
};

/// The code points of `text`, or nullopt unless it is well-formed UTF-8 (no overlong forms,
/// surrogates or values past U+10FFFF).
std::optional<std::vector<CodePoint>> DecodeUtf8(std::string_view text) {
  std::vector<CodePoint> out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    char32_t value = 0;
    char32_t smallest = 0;
    if (lead < 0x80) {
      length = 1;
      value = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      value = lead & 0x1Fu;
      smallest = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      value = lead & 0x0Fu;
      smallest = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      value = lead & 0x07u;
      smallest = 0x10000;
    } else {
      return std::nullopt;
    }
    if (length > text.size() - i) return std::nullopt;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return std::nullopt;
      value = (value << 6) | (next & 0x3Fu);
    }
    if (value < smallest || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return std::nullopt;
    out.push_back({value, i, i + length});
    i += length;
  }
  return out;
}

/// Unicode White_Space.
bool IsWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/// Unicode general category Cc (C0, DEL, C1).
bool IsControl(char32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

/// Text with whitespace removed from both ends: its bytes and its code points.
struct TrimmedText {
  std::string bytes;
  std::vector<CodePoint> code_points;
};

std::optional<TrimmedText> DecodeTrimmed(std::string_view raw) {
  auto decoded = DecodeUtf8(raw);
  if (!decoded) return std::nullopt;
  auto first = std::ranges::find_if_not(*decoded, [](const CodePoint& c) { return IsWhitespace(c.value); });
  auto last = std::find_if_not(decoded->rbegin(), std::make_reverse_iterator(first), [](const CodePoint& c) {
                return IsWhitespace(c.value);
              }).base();
  if (first == last) return TrimmedText{};
  return TrimmedText{std::string(raw.substr(first->begin, (last - 1)->end - first->begin)),
                     std::vector<CodePoint>(first, last)};
}

/// The email trimmed and lower-cased (ASCII letters only), if it is acceptable.
std::expected<std::string, Error> NormalizeEmail(std::string_view raw) {
  auto text = DecodeTrimmed(raw);
  if (!text) return Fail(Errc::kValidationFailed, "email: must be valid UTF-8");
  if (text->code_points.empty()) return Fail(Errc::kValidationFailed, "email: must not be empty");
  if (text->code_points.size() > kMaxEmailLength) {
    return Fail(Errc::kValidationFailed, "email: must be at most 254 characters");
  }
  if (std::ranges::any_of(text->code_points,
                          [](const CodePoint& c) { return IsWhitespace(c.value) || IsControl(c.value); })) {
    return Fail(Errc::kValidationFailed, "email: must not contain whitespace or control characters");
  }
  std::string email = std::move(text->bytes);
  std::ranges::transform(email, email.begin(),
                         [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  const auto at = email.find('@');
  if (at == std::string::npos || email.find('@', at + 1) != std::string::npos) {
    return Fail(Errc::kValidationFailed, "email: must contain exactly one @");
  }
  if (at == 0) return Fail(Errc::kValidationFailed, "email: must have a non-empty part before the @");
  const std::string_view domain = std::string_view(email).substr(at + 1);
  if (domain.find('.') == std::string_view::npos || domain.front() == '.' || domain.back() == '.') {
    return Fail(Errc::kValidationFailed, "email: the part after the @ must contain a dot, not at its start or end");
  }
  return email;
}

std::expected<void, Error> CheckPassword(std::string_view password) {
  auto decoded = DecodeUtf8(password);
  if (!decoded) return Fail(Errc::kValidationFailed, "password: must be valid UTF-8");
  if (decoded->size() < kMinPasswordLength || decoded->size() > kMaxPasswordLength) {
    return Fail(Errc::kValidationFailed, "password: must be 8 to 128 characters");
  }
  return {};
}

/// The name trimmed, if it is acceptable.
std::expected<std::string, Error> NormalizeName(std::string_view raw) {
  auto text = DecodeTrimmed(raw);
  if (!text) return Fail(Errc::kValidationFailed, "name: must be valid UTF-8");
  if (text->code_points.empty() || text->code_points.size() > kMaxNameLength) {
    return Fail(Errc::kValidationFailed, "name: must be 1 to 100 characters after trimming");
  }
  if (std::ranges::any_of(text->code_points, [](const CodePoint& c) { return IsControl(c.value); })) {
    return Fail(Errc::kValidationFailed, "name: must not contain control characters");
  }
  return std::move(text->bytes);
}

class Service final : public Api {
 public:
  Service(sqlite::Database& db, const auth::SigningKey& key, const ServiceOptions& options)
      : store_(db),
        key_(key),
        hasher_(options.pwhash_ops, options.pwhash_mem),
        token_ttl_(options.token_ttl),
        jwks_(auth::JwksJson({key.public_key()})) {
    if (token_ttl_.count() <= 0) throw std::invalid_argument("token_ttl must be positive");
  }

  std::expected<User, Error> Register(const NewUser& user) override {
    auto email = NormalizeEmail(user.email);
    if (!email) return std::unexpected(std::move(email.error()));
    if (auto password = CheckPassword(user.password); !password) return std::unexpected(std::move(password.error()));
    auto name = NormalizeName(user.name);
    if (!name) return std::unexpected(std::move(name.error()));
    return Create(std::move(*email), std::move(*name), Role::kCustomer, user.password);
  }

  std::expected<AccessToken, Error> IssueToken(std::string_view email, std::string_view password) override {
    auto normalized = NormalizeEmail(email);
    auto account = normalized ? store_.FindCredentials(*normalized) : std::nullopt;
    const bool valid = account ? hasher_.Verify(account->password_hash, password) : hasher_.VerifyDecoy(password);
    if (!valid) return Fail(Errc::kInvalidCredentials, std::string(kInvalidCredentialsDetail));
    const std::int64_t now = UnixNow();
    return AccessToken{key_.Sign(auth::Claims{account->principal, now, now + token_ttl_.count()}), token_ttl_.count()};
  }

  std::expected<User, Error> GetUser(const Principal& caller, std::int64_t id) override {
    if (!caller.MayAccess(id)) return Fail(Errc::kNotFound, std::string(kNoSuchUser));
    auto user = store_.FindById(id);
    if (!user) return Fail(Errc::kNotFound, std::string(kNoSuchUser));
    return std::move(*user);
  }

  std::expected<std::string, Error> Jwks() override { return jwks_; }

  /// Creates the admin from the start-up settings unless a user already has that email.
  void BootstrapAdmin(std::string_view raw_email, std::string_view password) {
    if (raw_email.empty() || password.empty()) return;
    auto email = NormalizeEmail(raw_email);
    if (!email) throw std::invalid_argument("invalid bootstrap admin: " + email.error().detail);
    if (auto ok = CheckPassword(password); !ok) {
      throw std::invalid_argument("invalid bootstrap admin: " + ok.error().detail);
    }
    if (store_.FindCredentials(*email)) return;
    // kEmailTaken here means another process created it meanwhile, which is just as good.
    (void)Create(std::move(*email), std::string(kAdminName), Role::kAdmin, password);
  }

 private:
  std::expected<User, Error> Create(std::string email, std::string name, Role role, std::string_view password) {
    return store_.Insert(
        UserRecord{std::move(email), std::move(name), role, hasher_.Hash(password), FormatRfc3339(UnixNow())});
  }

  Store store_;
  const auth::SigningKey& key_;
  PasswordHasher hasher_;
  std::chrono::seconds token_ttl_;
  std::string jwks_;
};

}  // namespace

std::unique_ptr<Api> MakeService(sqlite::Database& db, const auth::SigningKey& key, ServiceOptions options) {
  auto service = std::make_unique<Service>(db, key, options);
  service->BootstrapAdmin(options.admin_email, options.admin_password);
  return service;
}

}  // namespace shop::users
