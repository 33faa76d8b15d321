// The users service's internal route: service tokens through the OAuth 2.0 client credentials grant.
#include <string>

#include "shop/http/adapter.h"
#include "shop/users/remote.h"
#include "wire.h"

namespace shop::users {
namespace {

constexpr std::string_view kFormMediaType = "application/x-www-form-urlencoded";

bool IsFormMediaType(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  return http::EqualsIgnoreCase(type, kFormMediaType);
}

/// 401 for a client that did not authenticate, or not as a registered one (RFC 6749 §5.2
/// invalid_client: with the scheme it should use in WWW-Authenticate).
http::Response Unauthenticated(std::string_view detail) {
  http::Response response = http::Problem(401, "unauthenticated", detail);
  response.headers.Add("WWW-Authenticate", R"(Basic realm="shop-internal", charset="UTF-8")");
  return response;
}

http::Response IssueServiceToken(const http::Context& ctx, Api& users) {
  if (!IsFormMediaType(ctx.request.headers.Get("Content-Type"))) {
    return http::Problem(415, "unsupported_media_type",
                         "the token request must be sent as Content-Type: application/x-www-form-urlencoded");
  }
  const std::string_view authorization = ctx.request.headers.Get("Authorization");
  if (authorization.empty()) return Unauthenticated("missing Authorization: Basic client credentials");
  auto client = wire::ParseBasicAuthorization(authorization);
  if (!client) return Unauthenticated("Authorization must be Basic base64(client_id:client_secret)");
  if (auto grant = wire::CheckClientCredentialsGrant(ctx.request.body); !grant) {
    return http::Problem(400, "validation_failed", grant.error());
  }
  auto token = users.IssueServiceToken(*client);
  if (!token) {
    if (token.error().code == Errc::kUnauthenticated) return Unauthenticated(token.error().detail);
    return wire::kErrors.Problem(token.error());
  }
  http::Response response = http::JsonValue(200, boost::json::value_from(*token));
  // RFC 6749 §5.1: responses holding tokens must not be cached.
  response.headers.Add("Cache-Control", "no-store");
  response.headers.Add("Pragma", "no-cache");
  return response;
}

}  // namespace

void AddInternalRoutes(http::Router& router, Api& users) {
  // The media type is checked by the handler: the route takes a form, not JSON.
  router.Add("POST", "/internal/oauth/token",
             [&users](const http::Context& ctx) { return IssueServiceToken(ctx, users); });
}

}  // namespace shop::users
