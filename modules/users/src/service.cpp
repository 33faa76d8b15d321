#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "password.h"
#include "service_clients.h"
#include "shop/core/text.h"
#include "shop/core/time.h"
#include "shop/users/users.h"
#include "store.h"

namespace shop::users {
namespace {

using text::CodePoint;
using text::DecodeTrimmed;
using text::DecodeUtf8;
using text::IsControl;
using text::IsWhitespace;

constexpr std::size_t kMaxEmailLength = 254;
constexpr std::size_t kMinPasswordLength = 8;
constexpr std::size_t kMaxPasswordLength = 128;
constexpr std::size_t kMaxNameLength = 100;
constexpr std::string_view kAdminName = "Administrator";
// One text for unknown email and wrong password alike: the answer must not tell them apart.
constexpr std::string_view kInvalidCredentialsDetail = "the email or password is wrong";
constexpr std::string_view kNoSuchUser = "no such user";
// One text for an unknown client and a wrong secret alike.
constexpr std::string_view kInvalidClientDetail = "the client id or secret is wrong";

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
  Service(sql::Database& db, const auth::SigningKey& key, const ServiceOptions& options)
      : store_(db),
        key_(key),
        hasher_(options.pwhash_ops, options.pwhash_mem),
        token_ttl_(options.token_ttl),
        token_ttl_seconds_(options.token_ttl_seconds),
        service_clients_(options.service_clients),
        service_token_ttl_(options.service_token_ttl),
        jwks_(auth::JwksJson({key.public_key()})) {
    if (token_ttl_.count() <= 0 || token_ttl_.count() > auth::kMaxUserTokenLifetime) {
      throw std::invalid_argument("token_ttl must be 1 to 86400 seconds");
    }
    if (service_token_ttl_.count() <= 0 || service_token_ttl_.count() > auth::kMaxServiceTokenLifetime) {
      throw std::invalid_argument("service_token_ttl must be 1 to 3600 seconds");
    }
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
    const std::int64_t ttl = TokenTtlSeconds();
    return AccessToken{key_.Sign(auth::Claims{account->principal, now, now + ttl}), ttl};
  }

  std::expected<AccessToken, Error> IssueServiceToken(const ClientCredentials& client) override {
    if (!service_clients_.Authenticate(client)) return Fail(Errc::kUnauthenticated, std::string(kInvalidClientDetail));
    const std::int64_t now = UnixNow();
    return AccessToken{key_.SignService({client.client_id, now, now + service_token_ttl_.count()}),
                       service_token_ttl_.count()};
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
  std::int64_t TokenTtlSeconds() const {
    if (!token_ttl_seconds_) return token_ttl_.count();
    return std::clamp<std::int64_t>(token_ttl_seconds_->load(std::memory_order_relaxed), 1, auth::kMaxUserTokenLifetime);
  }

  std::chrono::seconds token_ttl_;
  std::shared_ptr<const std::atomic<std::int64_t>> token_ttl_seconds_;
  ServiceClients service_clients_;
  std::chrono::seconds service_token_ttl_;
  std::string jwks_;
};

}  // namespace

std::unique_ptr<Api> MakeService(sql::Database& db, const auth::SigningKey& key, ServiceOptions options) {
  auto service = std::make_unique<Service>(db, key, options);
  service->BootstrapAdmin(options.admin_email, options.admin_password);
  return service;
}

}  // namespace shop::users
