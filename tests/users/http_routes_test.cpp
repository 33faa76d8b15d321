#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "shop/core/time.h"
#include "shop/http/app.h"
#include "shop/users/http.h"
#include "users_fixture.h"

namespace shop::users {
namespace {

using testing::Base64Url;
using testing::FastOptions;
using testing::ServiceFixture;

constexpr std::string_view kAdminEmail = "root@shop.example";
constexpr std::string_view kAdminPassword = "admin password";

ServiceOptions WithAdmin() {
  ServiceOptions options = FastOptions();
  options.admin_email = kAdminEmail;
  options.admin_password = kAdminPassword;
  return options;
}

/// The users routes on an App, over a real service with a bootstrap admin.
struct RoutesFixture : ServiceFixture {
  RoutesFixture() : ServiceFixture(WithAdmin()) {
    verifier.SetKeys({key.public_key()});
    AddRoutes(app.router(), *service, verifier);
    app.Seal();
  }

  http::Response Send(std::string method, std::string target, std::string body = {},
                      std::string content_type = "application/json", std::string token = {}) {
    http::Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    if (!content_type.empty()) request.headers.Add("Content-Type", std::move(content_type));
    if (!token.empty()) request.headers.Add("Authorization", "Bearer " + token);
    request.body = std::move(body);
    return app.Handle(request);
  }

  http::Response Post(std::string target, std::string body) { return Send("POST", std::move(target), std::move(body)); }

  http::Response Get(std::string target, std::string token = {}) {
    return Send("GET", std::move(target), {}, {}, std::move(token));
  }

  http::Response Authorized(std::string target, std::string authorization) {
    http::Request request;
    request.method = "GET";
    request.target = std::move(target);
    request.headers.Add("Authorization", std::move(authorization));
    return app.Handle(request);
  }

  /// Registers over HTTP and returns the new user's id.
  std::int64_t Register(std::string_view email, std::string_view password = "correct horse") {
    http::Response r = Post("/users", boost::json::serialize(boost::json::object{
                                          {"email", email}, {"password", password}, {"name", "Someone"}}));
    REQUIRE(r.status == 201);
    return boost::json::parse(r.body).at("id").as_int64();
  }

  std::string Token(std::string_view email, std::string_view password = "correct horse") {
    http::Response r =
        Post("/auth/token", boost::json::serialize(boost::json::object{{"email", email}, {"password", password}}));
    REQUIRE(r.status == 200);
    return std::string(boost::json::parse(r.body).at("access_token").as_string());
  }

  auth::Verifier verifier;
  http::App app{"users", "test"};
};

boost::json::object Body(const http::Response& r) { return boost::json::parse(r.body).as_object(); }

/// Asserts an RFC 9457 problem with this status and code, and returns its detail.
std::string CheckProblem(const http::Response& r, int status, std::string_view code) {
  CAPTURE(r.body);
  CHECK(r.status == status);
  CHECK(r.headers.Get("Content-Type") == "application/problem+json");
  boost::json::object body = Body(r);
  CHECK(body.at("status").as_int64() == status);
  CHECK(body.at("code").as_string() == code);
  CHECK(body.at("type").as_string() == "about:blank");
  return std::string(body.at("detail").as_string());
}

/// Asserts the one JSON form of a user: exactly these five fields.
void CheckUser(const boost::json::object& user, std::int64_t id, std::string_view email, std::string_view name,
               std::string_view role) {
  CAPTURE(boost::json::serialize(user));
  CHECK(user.size() == 5);
  CHECK(user.at("id").as_int64() == id);
  CHECK(user.at("email").as_string() == email);
  CHECK(user.at("name").as_string() == name);
  CHECK(user.at("role").as_string() == role);
  CHECK(user.at("created_at").is_string());
}

TEST_CASE("POST /users creates a customer: 201, Location and the user without any password field") {
  RoutesFixture f;
  http::Response r =
      f.Post("/users", R"({"email":"  Alice@Example.COM ","password":"correct horse","name":" Alice "})");
  CAPTURE(r.body);
  REQUIRE(r.status == 201);
  CHECK(r.headers.Get("Content-Type") == "application/json");
  CHECK(r.headers.Get("Api-Version") == "1");
  const boost::json::object user = Body(r);
  const std::int64_t id = user.at("id").as_int64();
  CHECK(id > 0);
  CHECK(r.headers.Get("Location") == "/users/" + std::to_string(id));
  CheckUser(user, id, "alice@example.com", "Alice", "customer");
  CHECK(r.body.find("password") == std::string::npos);
  CHECK(r.body.find("argon2") == std::string::npos);
}

TEST_CASE("POST /users rejects invalid input with 400 validation_failed naming the field") {
  RoutesFixture f;
  CHECK(CheckProblem(f.Post("/users", R"({"email":"alice","password":"correct horse","name":"A"})"), 400,
                     "validation_failed")
            .starts_with("email:"));
  CHECK(CheckProblem(f.Post("/users", R"({"email":"a@example.com","password":"short","name":"A"})"), 400,
                     "validation_failed")
            .starts_with("password:"));
  CHECK(CheckProblem(f.Post("/users", R"({"email":"a@example.com","password":"correct horse","name":"  "})"), 400,
                     "validation_failed")
            .starts_with("name:"));
  CHECK(CheckProblem(f.Post("/users", R"({"email":"a@example.com","name":"A"})"), 400, "validation_failed") ==
        "password: is required");
  CHECK(CheckProblem(f.Post("/users", R"({"email":"a@example.com","password":"correct horse","name":5})"), 400,
                     "validation_failed") == "name: must be a string");
  CHECK(CheckProblem(f.Post("/users", R"({"email":null,"password":"correct horse","name":"A"})"), 400,
                     "validation_failed") == "email: must be a string");
  CHECK(CheckProblem(f.Post("/users", R"(["a@example.com"])"), 400, "validation_failed") ==
        "request body must be a JSON object");
  // Nobody makes themselves admin: role is not a field of the request.
  CHECK(CheckProblem(
            f.Post("/users", R"({"email":"a@example.com","password":"correct horse","name":"A","role":"admin"})"), 400,
            "validation_failed") == "role: is not a known field");
  // None of the above was stored.
  CHECK(f.Post("/users", R"({"email":"a@example.com","password":"correct horse","name":"A"})").status == 201);
}

TEST_CASE("POST /users answers 400 malformed_json, 415 for other media types and 409 email_taken") {
  RoutesFixture f;
  CheckProblem(f.Post("/users", R"({"email":"a@example.com",)"), 400, "malformed_json");
  CheckProblem(f.Post("/users", ""), 400, "malformed_json");
  const std::string valid = R"({"email":"a@example.com","password":"correct horse","name":"A"})";
  CheckProblem(f.Send("POST", "/users", valid, "text/plain"), 415, "unsupported_media_type");
  CheckProblem(f.Send("POST", "/users", valid, ""), 415, "unsupported_media_type");
  CHECK(f.Send("POST", "/users", valid, "application/json; charset=utf-8").status == 201);
  CHECK(CheckProblem(f.Post("/users", R"({"email":" A@EXAMPLE.com","password":"other password","name":"B"})"), 409,
                     "email_taken")
            .starts_with("email:"));
  CheckProblem(f.Post("/users", R"({"email":"root@SHOP.example","password":"other password","name":"B"})"), 409,
               "email_taken");
}

TEST_CASE("POST /auth/token issues a bearer token that signs the user in") {
  RoutesFixture f;
  const std::int64_t id = f.Register("bob@example.com", "bob's password");
  http::Response r = f.Post("/auth/token", R"({"email":" BOB@example.com","password":"bob's password"})");
  CAPTURE(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.headers.Get("Content-Type") == "application/json");
  CHECK(r.headers.Get("Cache-Control") == "no-store");
  const boost::json::object body = Body(r);
  CHECK(body.size() == 3);
  CHECK(body.at("token_type").as_string() == "Bearer");
  CHECK(body.at("expires_in").as_int64() == 600);
  const std::string token(body.at("access_token").as_string());
  auto principal = f.verifier.Verify(token);
  REQUIRE(principal);
  CHECK(principal->user_id == id);
  CHECK(principal->role == Role::kCustomer);

  http::Response me = f.Get("/users/me", token);
  REQUIRE(me.status == 200);
  CheckUser(Body(me), id, "bob@example.com", "Someone", "customer");
}

TEST_CASE("POST /auth/token: wrong password and unknown email get the same 401 invalid_credentials") {
  RoutesFixture f;
  f.Register("carol@example.com", "carol's password");
  http::Response wrong_password = f.Post("/auth/token", R"({"email":"carol@example.com","password":"guess"})");
  http::Response unknown_email = f.Post("/auth/token", R"({"email":"nobody@example.com","password":"guess"})");
  CheckProblem(wrong_password, 401, "invalid_credentials");
  CheckProblem(unknown_email, 401, "invalid_credentials");
  CHECK(wrong_password.body == unknown_email.body);
}

TEST_CASE("POST /auth/token rejects bodies of the wrong shape") {
  RoutesFixture f;
  CHECK(CheckProblem(f.Post("/auth/token", R"({"email":"carol@example.com"})"), 400, "validation_failed") ==
        "password: is required");
  CHECK(CheckProblem(f.Post("/auth/token", R"({"email":1,"password":"x"})"), 400, "validation_failed") ==
        "email: must be a string");
  CHECK(CheckProblem(f.Post("/auth/token", R"({"email":"a@example.com","password":"x","grant_type":"password"})"), 400,
                     "validation_failed") == "grant_type: is not a known field");
  CheckProblem(f.Post("/auth/token", "{"), 400, "malformed_json");
  CheckProblem(
      f.Send("POST", "/auth/token", R"({"email":"a@example.com","password":"x"})", "application/x-www-form-urlencoded"),
      415, "unsupported_media_type");
}

TEST_CASE("GET /users/me and /users/{id} answer 401 unauthenticated for any token that is not valid") {
  RoutesFixture f;
  const std::int64_t id = f.Register("dave@example.com");
  const std::string token = f.Token("dave@example.com");
  const auto dot1 = token.find('.');
  const auto dot2 = token.rfind('.');
  const std::string header = token.substr(0, dot1);
  const std::string signature = token.substr(dot2 + 1);
  const std::int64_t now = UnixNow();
  const std::string admin_payload =
      Base64Url(R"({"sub":")" + std::to_string(id) + R"(","role":"admin","iat":)" + std::to_string(now) + R"(,"exp":)" +
                std::to_string(now + 600) + R"(,"iss":"shop"})");

  const std::string tampered = header + "." + admin_payload + "." + signature;
  const std::string alg_none = Base64Url(R"({"alg":"none","typ":"JWT"})") + "." + admin_payload + ".";
  const std::string expired = f.key.Sign(auth::Claims{Principal{id, Role::kCustomer}, now - 7200, now - 3600});
  const std::string foreign =
      auth::SigningKey::Generate().Sign(auth::Claims{Principal{id, Role::kAdmin}, now, now + 600});
  const std::string bad_signature = token.substr(0, dot2 + 1) + (signature[0] == 'A' ? "B" : "A") + signature.substr(1);

  struct Case {
    std::string name;
    std::string authorization;
  };
  const std::vector<Case> cases = {
      {"garbage", "Bearer not-a-token"},      {"empty bearer", "Bearer "},
      {"other scheme", "Basic ZGF2ZTpwdw=="}, {"tampered payload", "Bearer " + tampered},
      {"alg none", "Bearer " + alg_none},     {"expired", "Bearer " + expired},
      {"unknown key", "Bearer " + foreign},   {"bad signature", "Bearer " + bad_signature},
  };
  for (const std::string& target : std::vector<std::string>{"/users/me", "/users/" + std::to_string(id)}) {
    CAPTURE(target);
    CheckProblem(f.Get(target), 401, "unauthenticated");
    for (const Case& c : cases) {
      CAPTURE(c.name);
      CheckProblem(f.Authorized(target, c.authorization), 401, "unauthenticated");
    }
    CHECK(f.Get(target, token).status == 200);
  }
}

TEST_CASE("GET /users/{id} shows a user to that user and to admins, and answers others 404 not_found") {
  RoutesFixture f;
  const std::int64_t erin = f.Register("erin@example.com");
  const std::int64_t frank = f.Register("frank@example.com");
  const std::string erin_token = f.Token("erin@example.com");
  const std::string admin_token = f.Token(kAdminEmail, kAdminPassword);

  http::Response own = f.Get("/users/" + std::to_string(erin), erin_token);
  REQUIRE(own.status == 200);
  CheckUser(Body(own), erin, "erin@example.com", "Someone", "customer");

  http::Response other = f.Get("/users/" + std::to_string(frank), erin_token);
  http::Response missing = f.Get("/users/999999", erin_token);
  CheckProblem(other, 404, "not_found");
  CheckProblem(missing, 404, "not_found");
  CHECK(other.body == missing.body);  // existence is not revealed

  for (const char* bad :
       {"/users/abc", "/users/0", "/users/-1", "/users/01", "/users/1.5", "/users/99999999999999999999"}) {
    CAPTURE(bad);
    CheckProblem(f.Get(bad, erin_token), 404, "not_found");
  }

  http::Response by_admin = f.Get("/users/" + std::to_string(frank), admin_token);
  REQUIRE(by_admin.status == 200);
  CheckUser(Body(by_admin), frank, "frank@example.com", "Someone", "customer");
  CheckProblem(f.Get("/users/999999", admin_token), 404, "not_found");

  http::Response admin_me = f.Get("/users/me", admin_token);
  REQUIRE(admin_me.status == 200);
  CHECK(Body(admin_me).at("role").as_string() == "admin");
  CHECK(Body(admin_me).at("email").as_string() == kAdminEmail);
}

TEST_CASE("GET /.well-known/jwks.json serves the key that verifies issued tokens, cacheable") {
  RoutesFixture f;
  http::Response r = f.Get("/.well-known/jwks.json");
  CAPTURE(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.headers.Get("Content-Type") == "application/json");
  CHECK(r.headers.Get("Cache-Control") == "public, max-age=300");
  const boost::json::object body = Body(r);
  REQUIRE(body.size() == 1);
  const boost::json::array& keys = body.at("keys").as_array();
  REQUIRE(keys.size() == 1);
  const boost::json::object& jwk = keys[0].as_object();
  CHECK(jwk.at("kty").as_string() == "OKP");
  CHECK(jwk.at("crv").as_string() == "Ed25519");
  CHECK(jwk.at("alg").as_string() == "EdDSA");
  CHECK(jwk.at("use").as_string() == "sig");
  CHECK(jwk.at("kid").as_string() == f.key.public_key().kid);
  CHECK(jwk.at("x").as_string() == Base64Url(f.key.public_key().raw));
  CHECK_FALSE(jwk.contains("d"));  // never the private key

  // What another module does: trust the published keys, then verify locally.
  auto published = auth::ParseJwks(r.body);
  REQUIRE(published);
  auth::Verifier elsewhere;
  elsewhere.SetKeys(*published);
  f.Register("grace@example.com");
  CHECK(elsewhere.Verify(f.Token("grace@example.com")));
}

TEST_CASE("Routes answer 405 for other methods on their paths") {
  RoutesFixture f;
  http::Response r = f.Send("DELETE", "/users", "", "");
  CheckProblem(r, 405, "method_not_allowed");
  CHECK(r.headers.Get("Allow") == "POST");
  CheckProblem(f.Send("GET", "/auth/token", "", ""), 405, "method_not_allowed");
}

/// An implementation that cannot reach the users module, as the remote client would report it.
class UnavailableUsers final : public Api {
 public:
  std::expected<User, Error> Register(const NewUser&) override { return Down(); }
  std::expected<AccessToken, Error> IssueToken(std::string_view, std::string_view) override { return Down(); }
  std::expected<AccessToken, Error> IssueServiceToken(const ClientCredentials&) override { return Down(); }
  std::expected<User, Error> GetUser(const Principal&, std::int64_t) override { return Down(); }
  std::expected<std::string, Error> Jwks() override { return Down(); }

 private:
  static std::unexpected<Error> Down() { return Fail(Errc::kUnavailable, "the users service did not answer"); }
};

TEST_CASE("An unavailable users module is answered with 503 dependency_unavailable on every route") {
  auto key = auth::SigningKey::Generate();
  auth::Verifier verifier;
  verifier.SetKeys({key.public_key()});
  UnavailableUsers users;
  http::App app("users", "test");
  AddRoutes(app.router(), users, verifier);
  app.Seal();
  const std::string token = key.Sign(auth::Claims{Principal{7, Role::kCustomer}, UnixNow(), UnixNow() + 600});

  auto send = [&](std::string method, std::string target, std::string body) {
    http::Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.headers.Add("Content-Type", "application/json");
    request.headers.Add("Authorization", "Bearer " + token);
    request.body = std::move(body);
    return app.Handle(request);
  };
  for (const auto& r :
       {send("POST", "/users", R"({"email":"a@example.com","password":"correct horse","name":"A"})"),
        send("POST", "/auth/token", R"({"email":"a@example.com","password":"correct horse"})"),
        send("GET", "/users/me", ""), send("GET", "/users/7", ""), send("GET", "/.well-known/jwks.json", "")}) {
    CHECK(CheckProblem(r, 503, "dependency_unavailable") == "the users service did not answer");
  }
}

}  // namespace
}  // namespace shop::users
