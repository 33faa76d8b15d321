#include "wire.h"

#include <utility>

#include "shop/http/message.h"

namespace shop::users::wire {
namespace {

constexpr std::string_view kBearer = "Bearer";

std::optional<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kCustomer, Role::kAdmin}) {
    if (RoleName(role) == name) return role;
  }
  return std::nullopt;
}

}  // namespace

boost::json::object ToJson(const User& user) {
  return {{"id", user.id},
          {"email", user.email},
          {"name", user.name},
          {"role", RoleName(user.role)},
          {"created_at", user.created_at}};
}

boost::json::object ToJson(const NewUser& user) {
  return {{"email", user.email}, {"password", user.password}, {"name", user.name}};
}

boost::json::object ToJson(const Credentials& credentials) {
  return {{"email", credentials.email}, {"password", credentials.password}};
}

boost::json::object ToJson(const AccessToken& token) {
  return {{"access_token", token.token}, {"token_type", kBearer}, {"expires_in", token.expires_in}};
}

std::expected<User, json::DecodeError> UserFromJson(const boost::json::object& object) {
  json::ObjectReader reader(object);
  auto id = reader.Int("id");
  auto email = reader.String("email");
  auto name = reader.String("name");
  auto role_name = reader.String("role");
  auto created_at = reader.String("created_at");
  if (id && *id <= 0) reader.Reject("id", "must be a positive integer");
  const std::optional<Role> role = role_name ? ParseRole(*role_name) : std::nullopt;
  if (role_name && !role) reader.Reject("role", "must be customer or admin");
  // Past Finish() every field above was read and valid.
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return User{*id, std::move(*email), std::move(*name), *role, std::move(*created_at)};
}

std::expected<NewUser, json::DecodeError> NewUserFromJson(const boost::json::object& object) {
  json::ObjectReader reader(object);
  auto email = reader.String("email");
  auto password = reader.String("password");
  auto name = reader.String("name");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return NewUser{std::move(*email), std::move(*password), std::move(*name)};
}

std::expected<Credentials, json::DecodeError> CredentialsFromJson(const boost::json::object& object) {
  json::ObjectReader reader(object);
  auto email = reader.String("email");
  auto password = reader.String("password");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return Credentials{std::move(*email), std::move(*password)};
}

std::expected<AccessToken, json::DecodeError> AccessTokenFromJson(const boost::json::object& object) {
  json::ObjectReader reader(object);
  auto token = reader.String("access_token");
  auto token_type = reader.String("token_type");
  auto expires_in = reader.Int("expires_in");
  if (token && token->empty()) reader.Reject("access_token", "must not be empty");
  // RFC 6749 7.1: the token type is case-insensitive.
  if (token_type && !http::EqualsIgnoreCase(*token_type, kBearer)) reader.Reject("token_type", "must be Bearer");
  if (expires_in && *expires_in <= 0) reader.Reject("expires_in", "must be a positive integer");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return AccessToken{std::move(*token), *expires_in};
}

}  // namespace shop::users::wire
