#pragma once

// The users module's wire format, in one place: how its errors are answered and how its values
// travel as JSON. The HTTP adapter (http_routes.cpp) and the HTTP client (http_client.cpp) both
// use it, so the two sides cannot drift apart.

#include <boost/json/value_from.hpp>
#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "shop/http/error_table.h"
#include "shop/json/reader.h"
#include "shop/users/api.h"

namespace shop::users::wire {

/// Every users error with its HTTP status and the API's stable `code`; the routes answer with it and
/// the HTTP client reads answers back with it (http::ErrorTable: the first row of an Errc is how it is
/// answered, later rows are only read back).
inline constexpr http::ErrorMapping<Errc> kErrorRows[] = {
    {Errc::kValidationFailed, 400, "validation_failed"},
    {Errc::kEmailTaken, 409, "email_taken"},
    {Errc::kInvalidCredentials, 401, "invalid_credentials"},
    {Errc::kNotFound, 404, "not_found"},
    {Errc::kUnauthenticated, 401, "unauthenticated"},
    {Errc::kUnavailable, 503, "dependency_unavailable"},
    // Read back only: a body too large for the service, refused before the domain sees it. In process
    // such input breaks the API's length rules.
    {Errc::kValidationFailed, 413, "payload_too_large"},
};
inline constexpr http::ErrorTable<Errc> kErrors(kErrorRows);
static_assert(kErrors.Complete(Errc::kUnavailable),
              "every users::Errc needs a row in kErrorRows, and no status and code may be in two rows");

/// Email and password, as POST /auth/token takes them.
struct Credentials {
  std::string email;
  std::string password;
};

/// `{"email","password"}` (boost::json::value_from).
void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const Credentials& credentials);

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

// Decoders of a body that must be one JSON object (json::ObjectReader): malformed JSON, missing fields
// and wrong types are errors that name the field.
// Request bodies from public clients are strict: an unknown field is an error too.
std::expected<NewUser, json::DecodeError> DecodeNewUser(std::string_view body);
std::expected<Credentials, json::DecodeError> DecodeCredentials(std::string_view body);
// Answers the users service gives other services are tolerant: unknown fields are ignored.
std::expected<User, json::DecodeError> DecodeUser(std::string_view body);
std::expected<AccessToken, json::DecodeError> DecodeAccessToken(std::string_view body);

}  // namespace shop::users::wire

// The JSON form of the module's values: boost::json::value_from finds these beside the types (ADL).
// Each type's decoder is the wire::Decode* function next to it in wire.cpp.
namespace shop::users {

/// A user: `{"id","email","name","role","created_at"}`. Never any password field.
void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const User& user);
/// A registration: `{"email","password","name"}`.
void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const NewUser& user);
/// The token response (RFC 6749 §5.1): `{"access_token","token_type":"Bearer","expires_in"}`.
void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const AccessToken& token);

}  // namespace shop::users
