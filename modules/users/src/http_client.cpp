// users::Api over HTTP: the client half of the wire format in wire.h, on http::RemoteCaller.
#include <boost/json/serialize.hpp>
#include <string>
#include <utility>

#include "shop/core/text.h"
#include "shop/http_client/remote_call.h"
#include "shop/json/reader.h"
#include "shop/users/remote.h"
#include "wire.h"

namespace shop::users {
namespace {

// The service's own words for kNotFound, for the answers that mean it without saying so (401).
constexpr std::string_view kNoSuchUser = "no such user";
// No password is longer: the API allows 128 characters of at most 4 bytes each.
constexpr std::size_t kMaxPasswordBytes = 128 * 4;
// The API's limit on request bodies (413 beyond it).
constexpr std::size_t kMaxBodyBytes = 1024 * 1024;

bool IsUtf8(std::string_view text) { return text::DecodeUtf8(text).has_value(); }

/// A JWKS document, passed on as it came once it is one JSON object (auth::ParseJwks reads it).
std::expected<std::string, json::DecodeError> JwksDocument(std::string_view body) {
  if (auto object = json::ParseObject(body); !object) return std::unexpected(std::move(object.error()));
  return std::string(body);
}

class HttpClient final : public Api {
 public:
  explicit HttpClient(http::ClientOptions options)
      : remote_(std::move(options), wire::kErrors, Errc::kUnavailable) {}

  std::expected<User, Error> Register(const NewUser& user) override {
    // JSON cannot carry bytes that are not UTF-8; the service would reject them as this.
    for (auto [field, value] : {std::pair<std::string_view, std::string_view>{"email", user.email},
                                {"password", user.password},
                                {"name", user.name}}) {
      if (!IsUtf8(value)) return Fail(Errc::kValidationFailed, std::string(field) + ": must be valid UTF-8");
    }
    // Only fields far beyond the API's lengths make a body too large for the service. Refused here:
    // a server answers 413 before reading such a body, and the answer may be lost as it closes.
    std::string body = boost::json::serialize(boost::json::value_from(user));
    if (body.size() > kMaxBodyBytes) return Fail(Errc::kValidationFailed, "the request body exceeds 1 MiB");
    // Not safe to repeat: a lost answer may mean the user exists, and a retry would say email_taken.
    return remote_.Call(
        {.method = "POST", .target = "/users", .body = std::move(body), .success = 201, .safe_to_repeat = false},
        wire::DecodeUser);
  }

  std::expected<AccessToken, Error> IssueToken(std::string_view email, std::string_view password) override {
    // Credentials that are not UTF-8 match no account but cannot travel as JSON (nor can huge ones
    // reach the service): ask with ones that match none either, so the answer, and the time it
    // takes, are the service's own.
    const bool password_usable = IsUtf8(password) && password.size() <= kMaxPasswordBytes;
    wire::Credentials credentials{IsUtf8(email) ? std::string(email) : std::string(),
                                  password_usable ? std::string(password) : std::string()};
    // Safe to repeat: issuing a token changes nothing.
    return remote_.Call(
        {.method = "POST", .target = "/auth/token", .body = boost::json::serialize(boost::json::value_from(credentials))},
        wire::DecodeAccessToken);
  }

  std::expected<AccessToken, Error> IssueServiceToken(const ClientCredentials& client) override {
    // Safe to repeat: issuing a token changes nothing.
    return remote_.Call({.method = "POST",
                         .target = "/internal/oauth/token",
                         .body = wire::ClientCredentialsGrantBody(),
                         .content_type = "application/x-www-form-urlencoded",
                         .authorization = wire::BasicAuthorization(client)},
                        wire::DecodeAccessToken);
  }

  std::expected<User, Error> GetUser(const Principal& caller, std::int64_t id) override {
    // Without a credential the service would refuse; like the in-process module, reveal nothing.
    if (!http::IsTokenText(caller.credential)) return Fail(Errc::kNotFound, std::string(kNoSuchUser));
    auto user = remote_.Call({.method = "GET",
                              .target = "/users/" + std::to_string(id),
                              .authorization = http::BearerAuthorization(caller.credential)},
                             wire::DecodeUser);
    // The credential was refused (expired, say): to this interface, nothing is visible.
    if (!user && user.error().code == Errc::kUnauthenticated) return Fail(Errc::kNotFound, std::string(kNoSuchUser));
    return user;
  }

  std::expected<std::string, Error> Jwks() override {
    return remote_.Call({.method = "GET", .target = "/.well-known/jwks.json"}, JwksDocument);
  }

 private:
  http::RemoteCaller<Errc> remote_;
};

}  // namespace

std::unique_ptr<Api> MakeHttpClient(http::ClientOptions options) {
  if (options.name.empty()) options.name = "users";
  return std::make_unique<HttpClient>(std::move(options));
}

}  // namespace shop::users
