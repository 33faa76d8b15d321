#include "wire.h"

#include <sodium.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "shop/core/text.h"

#include "shop/http/message.h"

namespace shop::users::wire {
namespace {

constexpr std::string_view kBearer = "Bearer";

// Registrations and credentials come from public clients: strict, as API.md asks. Users and tokens
// are read from the users service's answers by other services: tolerant, so users may add a field
// in a minor version and be deployed before the services that read it.
constexpr auto kPublicRequest = json::ObjectReader::Strictness::kRejectUnknown;
constexpr auto kAnswer = json::ObjectReader::Strictness::kIgnoreUnknown;

std::optional<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kCustomer, Role::kAdmin}) {
    if (RoleName(role) == name) return role;
  }
  return std::nullopt;
}

constexpr std::string_view kClientCredentialsGrant = "client_credentials";

/// application/x-www-form-urlencoded (the URL Standard's serializer): letters, digits and `*-._`
/// stay, a space becomes `+`, any other byte `%XX`.
std::string FormEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '*' || c == '-' ||
        c == '.' || c == '_') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// The inverse of FormEncode; nullopt for a broken `%` escape.
std::optional<std::string> FormDecode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace

std::string BasicAuthorization(const ClientCredentials& client) {
  const std::string pair = FormEncode(client.client_id) + ":" + FormEncode(client.client_secret);
  std::string encoded(sodium_base64_encoded_len(pair.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(encoded.data(), encoded.size(), reinterpret_cast<const unsigned char*>(pair.data()), pair.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  encoded.pop_back();  // the terminating NUL
  return "Basic " + encoded;
}

std::optional<ClientCredentials> ParseBasicAuthorization(std::string_view header) {
  constexpr std::string_view kScheme = "Basic ";
  // No credentials are longer: ids are 64 characters, secrets a few hundred.
  if (header.size() <= kScheme.size() || header.size() > 2048 ||
      !http::EqualsIgnoreCase(header.substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  const std::string_view encoded = header.substr(kScheme.size());
  std::string pair(encoded.size(), '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(pair.data()), pair.size(), encoded.data(), encoded.size(),
                        nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != encoded.data() + encoded.size()) {
    return std::nullopt;
  }
  pair.resize(len);
  const auto colon = pair.find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto id = FormDecode(std::string_view(pair).substr(0, colon));
  auto secret = FormDecode(std::string_view(pair).substr(colon + 1));
  if (!id || !secret || !text::DecodeUtf8(*id) || !text::DecodeUtf8(*secret)) return std::nullopt;
  return ClientCredentials{std::move(*id), std::move(*secret)};
}

std::string ClientCredentialsGrantBody() { return "grant_type=" + std::string(kClientCredentialsGrant); }

std::expected<void, std::string> CheckClientCredentialsGrant(std::string_view body) {
  std::vector<std::string> seen;
  std::optional<std::string> grant_type;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto name = FormDecode(pair.substr(0, eq));
    auto value = FormDecode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!name || !value) return std::unexpected("the body is not application/x-www-form-urlencoded");
    if (std::ranges::find(seen, *name) != seen.end()) return std::unexpected(*name + ": must not be repeated");
    seen.push_back(*name);
    if (*name == "grant_type") grant_type = std::move(*value);
    if (*name == "scope") return std::unexpected("scope: no scope can be requested");
    if (*name == "client_id" || *name == "client_secret") {
      return std::unexpected("client credentials go in the Authorization header (HTTP Basic), not the body");
    }
  }
  if (!grant_type) return std::unexpected("grant_type: required");
  if (*grant_type != kClientCredentialsGrant) return std::unexpected("grant_type: must be client_credentials");
  return {};
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const Credentials& credentials) {
  json = boost::json::object{{"email", credentials.email}, {"password", credentials.password}};
}

std::expected<User, json::DecodeError> DecodeUser(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  json::ObjectReader reader(*object, kAnswer);
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

std::expected<NewUser, json::DecodeError> DecodeNewUser(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  json::ObjectReader reader(*object, kPublicRequest);
  auto email = reader.String("email");
  auto password = reader.String("password");
  auto name = reader.String("name");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return NewUser{std::move(*email), std::move(*password), std::move(*name)};
}

std::expected<Credentials, json::DecodeError> DecodeCredentials(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  json::ObjectReader reader(*object, kPublicRequest);
  auto email = reader.String("email");
  auto password = reader.String("password");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return Credentials{std::move(*email), std::move(*password)};
}

std::expected<AccessToken, json::DecodeError> DecodeAccessToken(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  json::ObjectReader reader(*object, kAnswer);
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

namespace shop::users {

void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const User& user) {
  json = boost::json::object{{"id", user.id},
          {"email", user.email},
          {"name", user.name},
          {"role", RoleName(user.role)},
          {"created_at", user.created_at}};
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const NewUser& user) {
  json = boost::json::object{{"email", user.email}, {"password", user.password}, {"name", user.name}};
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const AccessToken& token) {
  json = boost::json::object{{"access_token", token.token}, {"token_type", wire::kBearer}, {"expires_in", token.expires_in}};
}

}  // namespace shop::users
