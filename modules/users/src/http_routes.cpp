#include <boost/json/object.hpp>
#include <string>

#include "shop/http/adapter.h"
#include "shop/json/reader.h"
#include "shop/users/http.h"

namespace shop::users {
namespace {

http::ProblemCode ProblemFor(Errc code) {
  switch (code) {
    case Errc::kValidationFailed:
      return {400, "validation_failed"};
    case Errc::kEmailTaken:
      return {409, "email_taken"};
    case Errc::kInvalidCredentials:
      return {401, "invalid_credentials"};
    case Errc::kNotFound:
      return {404, "not_found"};
    case Errc::kUnavailable:
      return {503, "dependency_unavailable"};
  }
  return {500, "internal"};
}

http::Response Problem(const Error& error) { return http::FailureProblem(error, ProblemFor); }

/// The one JSON form of a user. Never any password field.
boost::json::object UserJson(const User& user) {
  return {{"id", user.id},
          {"email", user.email},
          {"name", user.name},
          {"role", RoleName(user.role)},
          {"created_at", user.created_at}};
}

http::Response UserResponse(int status, const std::expected<User, Error>& user) {
  if (!user) return Problem(user.error());
  return http::JsonValue(status, UserJson(*user));
}

http::Response Register(const http::Context& ctx, Api& users) {
  auto body = http::ParseJsonBody(ctx.request);
  if (!body) return std::move(body.error());
  json::ObjectReader reader(*body);
  auto email = reader.String("email");
  auto password = reader.String("password");
  auto name = reader.String("name");
  if (auto error = reader.Finish()) return http::DecodeProblem(*error);

  auto user = users.Register(NewUser{std::move(*email), std::move(*password), std::move(*name)});
  http::Response response = UserResponse(201, user);
  if (user) response.headers.Add("Location", "/users/" + std::to_string(user->id));
  return response;
}

http::Response IssueToken(const http::Context& ctx, Api& users) {
  auto body = http::ParseJsonBody(ctx.request);
  if (!body) return std::move(body.error());
  json::ObjectReader reader(*body);
  auto email = reader.String("email");
  auto password = reader.String("password");
  if (auto error = reader.Finish()) return http::DecodeProblem(*error);

  auto token = users.IssueToken(*email, *password);
  if (!token) return Problem(token.error());
  http::Response response = http::JsonValue(
      200,
      boost::json::object{{"access_token", token->token}, {"token_type", "Bearer"}, {"expires_in", token->expires_in}});
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
