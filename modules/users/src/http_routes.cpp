#include <string>

#include "shop/http/adapter.h"
#include "shop/users/http.h"
#include "wire.h"

namespace shop::users {
namespace {

http::Response Problem(const Error& error) { return wire::kErrors.Problem(error); }

http::Response UserResponse(int status, const std::expected<User, Error>& user) {
  if (!user) return Problem(user.error());
  return http::JsonValue(status, boost::json::value_from(*user));
}

http::Response Register(const http::Context& ctx, Api& users) {
  auto new_user = wire::DecodeNewUser(ctx.request.body);
  if (!new_user) return http::DecodeProblem(new_user.error());

  auto user = users.Register(*new_user);
  http::Response response = UserResponse(201, user);
  if (user) response.headers.Add("Location", "/users/" + std::to_string(user->id));
  return response;
}

http::Response IssueToken(const http::Context& ctx, Api& users) {
  auto credentials = wire::DecodeCredentials(ctx.request.body);
  if (!credentials) return http::DecodeProblem(credentials.error());

  auto token = users.IssueToken(credentials->email, credentials->password);
  if (!token) return Problem(token.error());
  http::Response response = http::JsonValue(200, boost::json::value_from(*token));
  // RFC 6749 5.1: responses holding tokens must not be cached.
  response.headers.Add("Cache-Control", "no-store");
  return response;
}

}  // namespace

void AddRoutes(http::Router& router, Api& users, const auth::Verifier& verifier) {
  router.Add(
      "POST", "/users", [&users](const http::Context& ctx) { return Register(ctx, users); },
      http::RouteOptions{.json_body = true});
  router.Add(
      "POST", "/auth/token", [&users](const http::Context& ctx) { return IssueToken(ctx, users); },
      http::RouteOptions{.json_body = true});
  // Before /users/{id}: the router takes the first pattern that matches.
  router.Add("GET", "/users/me", [&users, &verifier](const http::Context& ctx) {
    auto caller = http::Authenticate(ctx.request, verifier);
    if (!caller) return std::move(caller.error());
    return UserResponse(200, users.GetUser(*caller, caller->user_id));
  });
  router.Add("GET", "/users/{id}", [&users, &verifier](const http::Context& ctx) {
    auto caller = http::Authenticate(ctx.request, verifier);
    if (!caller) return std::move(caller.error());
    auto id = ctx.IdParam(0);
    if (!id) return Problem(Error(Errc::kNotFound, "no such user"));
    return UserResponse(200, users.GetUser(*caller, *id));
  });
  router.Add("GET", "/.well-known/jwks.json", [&users](const http::Context&) {
    auto jwks = users.Jwks();
    if (!jwks) return Problem(jwks.error());
    http::Response response = http::JsonResponse(200, std::move(*jwks));
    response.headers.Add("Cache-Control", "public, max-age=300");
    return response;
  });
}

}  // namespace shop::users
