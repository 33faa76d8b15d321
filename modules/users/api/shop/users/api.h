#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "shop/core/error.h"
#include "shop/core/principal.h"

namespace shop::users {

enum class Errc {
  kValidationFailed,    ///< input breaks a rule of the API (detail says which)
  kEmailTaken,          ///< another user has this email (case-insensitive)
  kInvalidCredentials,  ///< wrong email or wrong password: deliberately the same error
  kNotFound,            ///< no such user, or not visible to this caller
  kUnauthenticated,     ///< a service client's id or secret is wrong: deliberately the same error
  kUnavailable,         ///< the users module could not be reached (remote implementation)
};
using Error = Failure<Errc>;

struct User {
  std::int64_t id = 0;
  std::string email;
  std::string name;
  Role role = Role::kCustomer;
  std::string created_at;  ///< RFC 3339 UTC
};

struct NewUser {
  std::string email;
  std::string password;
  std::string name;
};

/// A service's credentials as an OAuth 2.0 client (RFC 6749 §2.3.1): its name and its secret.
struct ClientCredentials {
  std::string client_id;
  std::string client_secret;
};

struct AccessToken {
  std::string token;
  std::int64_t expires_in = 0;  ///< seconds
};

/// The users module: accounts, credentials and the issuing of tokens.
class Api {
 public:
  virtual ~Api() = default;

  /// Registers a customer. The email is trimmed and lower-cased before it is checked and stored.
  virtual std::expected<User, Error> Register(const NewUser& user) = 0;

  /// A signed access token for these credentials. Wrong email and wrong password fail alike, in
  /// similar time.
  virtual std::expected<AccessToken, Error> IssueToken(std::string_view email, std::string_view password) = 0;

  /// A service token for a registered service client (OAuth 2.0 client credentials grant, RFC 6749
  /// §4.4): short-lived, naming the client as `sub` (auth::SigningKey::SignService). An unknown client
  /// and a wrong secret fail alike with kUnauthenticated; secrets are compared in constant time.
  virtual std::expected<AccessToken, Error> IssueServiceToken(const ClientCredentials& client) = 0;

  /// The user `id`, if `caller` is that user or an admin; kNotFound otherwise (existence is not revealed).
  virtual std::expected<User, Error> GetUser(const Principal& caller, std::int64_t id) = 0;

  /// The public keys that verify this module's tokens, as a JWKS document.
  virtual std::expected<std::string, Error> Jwks() = 0;
};

}  // namespace shop::users
