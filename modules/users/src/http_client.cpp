// users::Api over HTTP: the client half of the wire format in wire.h.
#include <boost/json/serialize.hpp>
#include <string>
#include <utility>

#include "shop/core/text.h"
#include "shop/json/reader.h"
#include "shop/users/remote.h"
#include "wire.h"

namespace shop::users {
namespace {

// The service's own words for kNotFound, for the answers that mean it without saying so (401).
constexpr std::string_view kNoSuchUser = "no such user";
// No password is longer: the API allows 128 characters of at most 4 bytes each.
constexpr std::size_t kMaxPasswordBytes = 128 * 4;
// Verifiers refuse longer tokens (auth::Verifier), so the service would.
constexpr std::size_t kMaxTokenBytes = 4096;
// The API's limit on request bodies (413 beyond it).
constexpr std::size_t kMaxBodyBytes = 1024 * 1024;

std::string_view Why(http::CallError error) {
  switch (error) {
    case http::CallError::kUnavailable:
      return "connection failed";
    case http::CallError::kTimeout:
      return "timed out";
    case http::CallError::kCircuitOpen:
      return "calls paused after repeated failures (circuit open)";
    case http::CallError::kBadResponse:
      return "invalid HTTP response";
  }
  return "failed";
}

bool IsUtf8(std::string_view text) { return text::DecodeUtf8(text).has_value(); }

/// A compact JWS uses only base64url characters and dots; anything else cannot be a token and
/// must not reach a header.
bool IsTokenText(std::string_view credential) {
  if (credential.empty() || credential.size() > kMaxTokenBytes) return false;
  for (char c : credential) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

class HttpClient final : public Api {
 public:
  explicit HttpClient(http::ClientOptions options) : client_(std::move(options)) {}

  std::expected<User, Error> Register(const NewUser& user) override {
    // JSON cannot carry bytes that are not UTF-8; the service would reject them as this.
    for (auto [field, value] : {std::pair<std::string_view, std::string_view>{"email", user.email},
                                {"password", user.password},
                                {"name", user.name}}) {
      if (!IsUtf8(value)) return Fail(Errc::kValidationFailed, std::string(field) + ": must be valid UTF-8");
    }
    // Only fields far beyond the API's lengths make a body too large for the service. Refused here:
    // a server answers 413 before reading such a body, and the answer may be lost as it closes.
    std::string body = boost::json::serialize(wire::ToJson(user));
    if (body.size() > kMaxBodyBytes) return Fail(Errc::kValidationFailed, "the request body exceeds 1 MiB");
    // Not safe to repeat: a lost answer may mean the user exists, and a retry would say email_taken.
    auto response = Call("POST", "/users", std::move(body), {}, false);
    if (!response) return std::unexpected(std::move(response.error()));
    if (response->status != 201) return std::unexpected(ErrorFrom(*response));
    return Decode(*response, wire::UserFromJson);
  }

  std::expected<AccessToken, Error> IssueToken(std::string_view email, std::string_view password) override {
    // Credentials that are not UTF-8 match no account but cannot travel as JSON (nor can huge ones
    // reach the service): ask with ones that match none either, so the answer, and the time it
    // takes, are the service's own.
    const bool password_usable = IsUtf8(password) && password.size() <= kMaxPasswordBytes;
    wire::Credentials credentials{IsUtf8(email) ? std::string(email) : std::string(),
                                  password_usable ? std::string(password) : std::string()};
    // Safe to repeat: issuing a token changes nothing.
    auto response = Call("POST", "/auth/token", boost::json::serialize(wire::ToJson(credentials)), {}, true);
    if (!response) return std::unexpected(std::move(response.error()));
    if (response->status != 200) return std::unexpected(ErrorFrom(*response));
    return Decode(*response, wire::AccessTokenFromJson);
  }

  std::expected<AccessToken, Error> IssueServiceToken(const ClientCredentials& client) override {
    // Safe to repeat: issuing a token changes nothing.
    auto response = Call("POST", "/internal/oauth/token", wire::ClientCredentialsGrantBody(),
                         wire::BasicAuthorization(client), true, "application/x-www-form-urlencoded");
    if (!response) return std::unexpected(std::move(response.error()));
    if (response->status != 200) return std::unexpected(ErrorFrom(*response));
    return Decode(*response, wire::AccessTokenFromJson);
  }

  std::expected<User, Error> GetUser(const Principal& caller, std::int64_t id) override {
    // Without a credential the service would refuse; like the in-process module, reveal nothing.
    if (!IsTokenText(caller.credential)) return Fail(Errc::kNotFound, std::string(kNoSuchUser));
    auto response = Call("GET", "/users/" + std::to_string(id), {}, "Bearer " + caller.credential, true);
    if (!response) return std::unexpected(std::move(response.error()));
    // The credential was refused (expired, say): to this interface, nothing is visible.
    if (response->status == 401) return Fail(Errc::kNotFound, std::string(kNoSuchUser));
    if (response->status != 200) return std::unexpected(ErrorFrom(*response));
    return Decode(*response, wire::UserFromJson);
  }

  std::expected<std::string, Error> Jwks() override {
    auto response = Call("GET", "/.well-known/jwks.json", {}, {}, true);
    if (!response) return std::unexpected(std::move(response.error()));
    if (response->status != 200) return std::unexpected(ErrorFrom(*response));
    if (auto object = json::ParseObject(response->body); !object) return Unreadable(object.error().detail);
    return std::move(response->body);
  }

 private:
  /// One call; no answer and 5xx answers are kUnavailable, any other answer is returned.
  std::expected<http::Response, Error> Call(std::string method, std::string target, std::string body,
                                            std::string authorization, bool safe_to_repeat,
                                            std::string_view content_type = "application/json") {
    http::Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.headers.Add("Accept", "application/json");
    if (!authorization.empty()) request.headers.Add("Authorization", std::move(authorization));
    if (!body.empty()) request.headers.Add("Content-Type", std::string(content_type));
    request.body = std::move(body);
    auto response = client_.Send(std::move(request), safe_to_repeat);
    if (!response) {
      return Fail(Errc::kUnavailable, "users service could not be reached: " + std::string(Why(response.error())));
    }
    if (response->status >= 500) {
      return Fail(Errc::kUnavailable, "users service failed: HTTP " + std::to_string(response->status));
    }
    return std::move(*response);
  }

  /// The users error a problem answer names (wire::kErrors), with its detail; kUnavailable for any other answer.
  static Error ErrorFrom(const http::Response& response) {
    if (auto failure = wire::kErrors.FailureFrom(response)) return std::move(*failure);
    std::string answer = "HTTP " + std::to_string(response.status);
    if (auto problem = http::ReadProblem(response)) answer.append(" ").append(problem->code);
    return Error(Errc::kUnavailable, "users service sent an unexpected answer: " + answer);
  }

  /// A success answer's body, strictly decoded; kUnavailable when it is not what the API promises.
  template <class T>
  static std::expected<T, Error> Decode(const http::Response& response,
                                        std::expected<T, json::DecodeError> (*decode)(const boost::json::object&)) {
    auto object = json::ParseObject(response.body);
    if (!object) return Unreadable(object.error().detail);
    auto value = decode(*object);
    if (!value) return Unreadable(value.error().detail);
    return std::move(*value);
  }

  static std::unexpected<Error> Unreadable(std::string_view why) {
    return Fail(Errc::kUnavailable, "users service sent an unreadable answer: " + std::string(why));
  }

  http::Client client_;
};

}  // namespace

std::unique_ptr<Api> MakeHttpClient(http::ClientOptions options) {
  if (options.name.empty()) options.name = "users";
  return std::make_unique<HttpClient>(std::move(options));
}

}  // namespace shop::users
