#pragma once

// The users module's wire format, in one place: how its errors are answered and how its values
// travel as JSON. The HTTP adapter (http_routes.cpp) and the HTTP client (http_client.cpp) both
// use it, so the two sides cannot drift apart.

#include <array>
#include <boost/json/object.hpp>
#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "shop/http/adapter.h"
#include "shop/json/reader.h"
#include "shop/users/api.h"

namespace shop::users::wire {

/// One row of the error table: a users error and how the API answers it.
struct ProblemRow {
  Errc errc;
  http::ProblemCode problem;
};

/// Every users error with its HTTP status and the API's stable `code`; both directions derive from it.
inline constexpr std::array kProblems{
    ProblemRow{Errc::kValidationFailed, {400, "validation_failed"}},
    ProblemRow{Errc::kEmailTaken, {409, "email_taken"}},
    ProblemRow{Errc::kInvalidCredentials, {401, "invalid_credentials"}},
    ProblemRow{Errc::kNotFound, {404, "not_found"}},
    ProblemRow{Errc::kUnauthenticated, {401, "unauthenticated"}},
    ProblemRow{Errc::kUnavailable, {503, "dependency_unavailable"}},
};

/// How `errc` is answered; 500 `internal` for a value outside the table.
constexpr http::ProblemCode ProblemFor(Errc errc) {
  for (const ProblemRow& row : kProblems) {
    if (row.errc == errc) return row.problem;
  }
  return {500, "internal"};
}

/// The error a problem `code` stands for; nullopt when it is not one of the users module's.
constexpr std::optional<Errc> ErrcFromCode(std::string_view code) {
  for (const ProblemRow& row : kProblems) {
    if (row.problem.code == code) return row.errc;
  }
  return std::nullopt;
}

/// True when every Errc up to `last` has exactly one row and no two rows share a code.
constexpr bool TableIsOneToOne(Errc last) {
  if (kProblems.size() != static_cast<std::size_t>(last) + 1) return false;
  for (int e = 0; e <= static_cast<int>(last); ++e) {
    int rows = 0;
    for (const ProblemRow& row : kProblems) rows += static_cast<int>(row.errc) == e ? 1 : 0;
    if (rows != 1) return false;
  }
  for (const ProblemRow& row : kProblems) {
    if (ErrcFromCode(row.problem.code) != row.errc) return false;
  }
  return true;
}
static_assert(TableIsOneToOne(Errc::kUnavailable),
              "every users::Errc needs exactly one row in kProblems, with a code of its own");

/// Email and password, as POST /auth/token takes them.
struct Credentials {
  std::string email;
  std::string password;
};

/// A user: `{"id","email","name","role","created_at"}`. Never any password field.
boost::json::object ToJson(const User& user);
/// A registration: `{"email","password","name"}`.
boost::json::object ToJson(const NewUser& user);
/// `{"email","password"}`.
boost::json::object ToJson(const Credentials& credentials);
/// The token response (RFC 6749 5.1): `{"access_token","token_type":"Bearer","expires_in"}`.
boost::json::object ToJson(const AccessToken& token);

// The client credentials grant (RFC 6749 §4.4) as POST /internal/oauth/token takes it.

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1, RFC 7617).
std::string BasicAuthorization(const ClientCredentials& client);
/// The credentials of an `Authorization: Basic` value; nullopt when it is not one (wrong scheme, not
/// padded base64, no colon, bad percent-encoding, not UTF-8).
std::optional<ClientCredentials> ParseBasicAuthorization(std::string_view header);
/// The request body: `grant_type=client_credentials` (application/x-www-form-urlencoded).
std::string ClientCredentialsGrantBody();
/// Checks a token request body: exactly one `grant_type`, `client_credentials`; no parameter twice
/// (RFC 6749 §3.1); no `scope` (none is granted); no credentials in the body (they go in the header,
/// and a client uses one method only, RFC 6749 §2.3). Other parameters are ignored (RFC 6749 §3.1).
/// The error names the rule broken.
std::expected<void, std::string> CheckClientCredentialsGrant(std::string_view body);

// Decoders (json::ObjectReader): missing fields and wrong types are errors that name the field.
// Request bodies from public clients are strict: an unknown field is an error too.
std::expected<NewUser, json::DecodeError> NewUserFromJson(const boost::json::object& object);
std::expected<Credentials, json::DecodeError> CredentialsFromJson(const boost::json::object& object);
// Answers the users service gives other services are tolerant: unknown fields are ignored.
std::expected<User, json::DecodeError> UserFromJson(const boost::json::object& object);
std::expected<AccessToken, json::DecodeError> AccessTokenFromJson(const boost::json::object& object);

}  // namespace shop::users::wire
