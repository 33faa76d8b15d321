// API.md "Users and auth": registration and its rules, tokens, /users/me and /users/{id},
// the JWKS document, and every way a bad token must be refused.
#include <doctest/doctest.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "api_client.h"
#include "jwt_tools.h"
#include "server_harness.h"

namespace shop::e2e {
namespace {

using boost::json::object;

object Registration(std::string_view email, std::string_view password = "password-123",
                    std::string_view name = "Test User") {
  return object{{"email", email}, {"password", password}, {"name", name}};
}

/// An email of exactly `length` characters: a short unique local part and a long dotted domain.
std::string EmailOfLength(std::size_t length) {
  const std::string local = Unique("len");
  REQUIRE(length > local.size() + 1 + 6);
  std::size_t remaining = length - local.size() - 1 - 5;  // the labels before ".test"
  std::string labels;
  while (remaining > 61) {
    labels += std::string(60, 'd') + ".";
    remaining -= 61;
  }
  labels += std::string(remaining, 'd');
  std::string email = local + "@" + labels + ".test";
  REQUIRE(email.size() == length);
  return email;
}

boost::json::object Jwks(Api& api) {
  HttpResponse r = api.Get("/.well-known/jwks.json");
  REQUIRE(r.status == 200);
  boost::json::value v = r.Json();
  REQUIRE(v.is_object());
  return v.as_object();
}

void CheckUnauthenticated(Api& api, const std::string& authorization) {
  CAPTURE(authorization);
  CheckProblem(api.Get("/users/me", {}, {{"Authorization", authorization}}), 401, "unauthenticated");
}

double MedianSeconds(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

TEST_SUITE("users") {
  TEST_CASE("register: 201 with the user; email trimmed and lower-cased; no password field") {
    Api api;
    std::string local = Unique("MiXeD");
    HttpResponse r = api.Post("/users", Registration("  " + local + "@E2E.Test  ", "password-123", "Mixed Case"));
    REQUIRE(r.status == 201);
    boost::json::value user = r.Json();
    REQUIRE(user.is_object());
    CHECK(Keys(user.as_object()) == std::set<std::string>{"id", "email", "name", "role", "created_at"});
    CHECK(Int(user, "id") > 0);
    std::string lower = local;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    CHECK(Str(user, "email") == lower + "@e2e.test");
    CHECK(Str(user, "name") == "Mixed Case");
    CHECK(Str(user, "role") == "customer");
    CHECK(IsRfc3339Utc(Str(user, "created_at")));
    std::string body = r.body;
    std::transform(body.begin(), body.end(), body.begin(), [](unsigned char c) { return std::tolower(c); });
    CHECK(body.find("password") == std::string::npos);
    CHECK(body.find("hash") == std::string::npos);

    std::string token = Login(api, lower + "@e2e.test", "password-123");
    HttpResponse me = api.Get("/users/me", token);
    REQUIRE(me.status == 200);
    CHECK(me.Json() == user);
  }

  TEST_CASE("register: email rules") {
    Api api;
    for (std::string email :
         {std::string(""), std::string("   "), std::string("plain"), std::string("no-at.e2e.test"),
          "two@@" + Unique("x") + ".test", Unique("a") + "@b@e2e.test", Unique("nodot") + "@localhost",
          std::string("@e2e.test"), Unique("nodomain") + "@", EmailOfLength(255), EmailOfLength(300)}) {
      CAPTURE(email);
      CheckProblem(api.Post("/users", Registration(email)), 400, "validation_failed");
    }
    std::string longest = EmailOfLength(254);
    CAPTURE(longest);
    HttpResponse r = api.Post("/users", Registration(longest));
    CHECK(r.status == 201);
    if (r.status == 201) CHECK(Str(r.Json(), "email") == longest);
  }

  TEST_CASE("register: password is 8..128 characters") {
    Api api;
    for (std::size_t length : {0, 1, 7, 129, 1000}) {
      CAPTURE(length);
      CheckProblem(api.Post("/users", Registration(Unique("pw") + "@e2e.test", std::string(length, 'p'))), 400,
                   "validation_failed");
    }
    for (std::size_t length : {8, 128}) {
      CAPTURE(length);
      std::string email = Unique("pw") + "@e2e.test";
      CHECK(api.Post("/users", Registration(email, std::string(length, 'p'))).status == 201);
      CHECK(api.Post("/auth/token", object{{"email", email}, {"password", std::string(length, 'p')}}).status == 200);
    }
  }

  TEST_CASE("register: name is 1..100 characters after trimming") {
    Api api;
    for (std::string name : {std::string(""), std::string(" "), std::string("   \t "), std::string(101, 'n'),
                             " " + std::string(101, 'n') + " "}) {
      CAPTURE(name);
      CheckProblem(api.Post("/users", Registration(Unique("name") + "@e2e.test", "password-123", name)), 400,
                   "validation_failed");
    }
    for (std::string name : {std::string("n"), std::string(100, 'n'), "  " + std::string(100, 'n') + "  "}) {
      CAPTURE(name);
      CHECK(api.Post("/users", Registration(Unique("name") + "@e2e.test", "password-123", name)).status == 201);
    }
  }

  TEST_CASE("register: name length counts characters, not bytes") {
    Api api;
    std::string e_acute = "\xc3\xa9";
    std::string hundred, hundred_one;
    for (int i = 0; i < 100; ++i) hundred += e_acute;
    hundred_one = hundred + e_acute;
    CHECK(api.Post("/users", Registration(Unique("utf8") + "@e2e.test", "password-123", hundred)).status == 201);
    CheckProblem(api.Post("/users", Registration(Unique("utf8") + "@e2e.test", "password-123", hundred_one)), 400,
                 "validation_failed");
  }

  TEST_CASE("register: a duplicate email in any case or spacing is 409 email_taken") {
    Api api;
    std::string local = Unique("dup");
    REQUIRE(api.Post("/users", Registration(local + "@e2e.test")).status == 201);
    std::string upper = local;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    for (std::string email :
         {local + "@e2e.test", upper + "@E2E.TEST", "  " + local + "@e2e.test ", local + "@E2e.Test"}) {
      CAPTURE(email);
      CheckProblem(api.Post("/users", Registration(email, "other-password", "Other")), 409, "email_taken");
    }
  }

  TEST_CASE("nobody can register as admin: a role field is rejected") {
    Api api;
    std::string email = Unique("wannabe") + "@e2e.test";
    for (const char* role : {"admin", "customer", "ADMIN"}) {
      object body = Registration(email);
      body["role"] = role;
      CheckProblem(api.Post("/users", body), 400, "validation_failed");
    }
    object body = Registration(email);
    body["is_admin"] = true;
    CheckProblem(api.Post("/users", body), 400, "validation_failed");
    HttpResponse r = api.Post("/users", Registration(email));
    REQUIRE(r.status == 201);
    CHECK(Str(r.Json(), "role") == "customer");
    std::string token = Login(api, email, "password-123");
    CheckProblem(
        api.Post("/products", object{{"sku", Unique("x")}, {"name", "x"}, {"price_cents", 1}, {"stock", 1}}, token),
        403, "forbidden");
  }

  TEST_CASE("token: 200 with access_token, token_type Bearer and expires_in") {
    Api api;
    User u = RegisterUser(api, "tok");
    HttpResponse r = api.Post("/auth/token", object{{"email", u.email}, {"password", u.password}});
    REQUIRE(r.status == 200);
    boost::json::value v = r.Json();
    REQUIRE(v.is_object());
    CHECK(Keys(v.as_object()) == std::set<std::string>{"access_token", "token_type", "expires_in"});
    CHECK(Str(v, "token_type") == "Bearer");
    CHECK(Int(v, "expires_in") > 0);
    std::string token = Str(v, "access_token");
    CHECK(std::count(token.begin(), token.end(), '.') == 2);
    HttpResponse me = api.Get("/users/me", token);
    REQUIRE(me.status == 200);
    CHECK(Int(me.Json(), "id") == u.id);
    CHECK(Str(me.Json(), "email") == u.email);
    CHECK(Str(me.Json(), "role") == "customer");
  }

  TEST_CASE("token: the email is matched case-insensitively and trimmed") {
    Api api;
    User u = RegisterUser(api, "tokcase");
    std::string upper = u.email;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    CHECK(api.Post("/auth/token", object{{"email", upper}, {"password", u.password}}).status == 200);
    CHECK(api.Post("/auth/token", object{{"email", " " + u.email + " "}, {"password", u.password}}).status == 200);
  }

  TEST_CASE("token: body rules") {
    Api api;
    CheckProblem(api.Post("/auth/token", object{{"email", "a@e2e.test"}}), 400, "validation_failed");
    CheckProblem(api.Post("/auth/token", object{{"password", "password-123"}}), 400, "validation_failed");
    CheckProblem(api.Post("/auth/token", object{{"email", 1}, {"password", "password-123"}}), 400, "validation_failed");
    CheckProblem(api.Post("/auth/token", object{{"email", "a@e2e.test"}, {"password", "password-123"}, {"ttl", 1}}),
                 400, "validation_failed");
    CheckProblem(api.PostRaw("/auth/token", "{", "application/json"), 400, "malformed_json");
  }

  TEST_CASE("token: wrong password and unknown email are the same 401 invalid_credentials, in similar time") {
    Api api;
    User u = RegisterUser(api, "creds");
    std::string unknown = Unique("nobody") + "@e2e.test";
    HttpResponse wrong = api.Post("/auth/token", object{{"email", u.email}, {"password", u.password + "x"}});
    HttpResponse missing = api.Post("/auth/token", object{{"email", unknown}, {"password", u.password}});
    CheckProblem(wrong, 401, "invalid_credentials");
    CheckProblem(missing, 401, "invalid_credentials");
    CHECK(wrong.Json().at("title") == missing.Json().at("title"));
    CHECK(wrong.Json().at("detail") == missing.Json().at("detail"));
    CHECK(wrong.body.size() == missing.body.size());

    std::vector<double> wrong_s, missing_s;
    for (int i = 0; i < 5; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      api.Post("/auth/token", object{{"email", u.email}, {"password", "wrong-password"}});
      auto t1 = std::chrono::steady_clock::now();
      api.Post("/auth/token", object{{"email", unknown}, {"password", "wrong-password"}});
      auto t2 = std::chrono::steady_clock::now();
      wrong_s.push_back(std::chrono::duration<double>(t1 - t0).count());
      missing_s.push_back(std::chrono::duration<double>(t2 - t1).count());
    }
    double w = MedianSeconds(wrong_s), m = MedianSeconds(missing_s);
    MESSAGE("median time: wrong password ", w * 1000, " ms, unknown email ", m * 1000, " ms");
    if (w >= 0.01) CHECK_MESSAGE(m >= 0.3 * w, "an unknown email answers much faster than a wrong password");
  }

  TEST_CASE("/users/me: missing or malformed credentials are 401 unauthenticated") {
    Api api;
    CheckProblem(api.Get("/users/me"), 401, "unauthenticated");
    User u = RegisterUser(api, "me");
    for (std::string authorization :
         {std::string(""), std::string("Bearer"), std::string("Bearer "), std::string("Bearer abc"),
          std::string("Bearer a.b.c"), std::string("Bearer ..."), std::string("Bearer a.b"),
          std::string("Basic dXNlcjpwYXNzd29yZA=="), u.token, "Token " + u.token, "Bearer " + u.token + "x",
          "Bearer " + u.token + ".x", "Bearer " + u.token.substr(0, u.token.size() / 2),
          std::string("Bearer e30.e30.e30"), std::string("Bearer !!!.???.***")}) {
      CheckUnauthenticated(api, authorization);
    }
    CHECK(api.Get("/users/me", u.token).status == 200);
  }

  TEST_CASE("tampered, alg:none, HS256 and other-key tokens are 401 unauthenticated") {
    Api api;
    User u = RegisterUser(api, "forge");
    std::optional<JwtParts> parts = SplitJwt(u.token);
    REQUIRE(parts.has_value());
    boost::json::object header = boost::json::parse(parts->header_json).as_object();
    boost::json::object payload = boost::json::parse(parts->payload_json).as_object();
    const std::string h64 = Base64UrlEncode(parts->header_json);
    const std::string sig = parts->signature_b64;
    std::string kid = header.contains("kid") ? std::string(header.at("kid").as_string()) : "";

    auto with_payload = [&](boost::json::object p) { return Base64UrlEncode(Dump(p)); };
    boost::json::object as_admin = payload;
    as_admin["role"] = "admin";
    boost::json::object as_other = payload;
    as_other["sub"] = std::to_string(Admin().id);
    boost::json::object longer = payload;
    longer["exp"] = Int(payload, "exp") + 3600 * 24 * 365;

    SUBCASE("payload changed, signature kept") {
      CheckUnauthenticated(api, "Bearer " + h64 + "." + with_payload(as_admin) + "." + sig);
      CheckUnauthenticated(api, "Bearer " + h64 + "." + with_payload(as_other) + "." + sig);
      CheckUnauthenticated(api, "Bearer " + h64 + "." + with_payload(longer) + "." + sig);
      // A forged admin token must not create products either.
      HttpResponse r =
          api.Post("/products", object{{"sku", Unique("forged")}, {"name", "x"}, {"price_cents", 1}, {"stock", 1}},
                   h64 + "." + with_payload(as_admin) + "." + sig);
      CheckProblem(r, 401, "unauthenticated");
    }
    SUBCASE("signature changed or missing") {
      std::string flipped = sig;
      flipped[0] = flipped[0] == 'A' ? 'B' : 'A';
      CheckUnauthenticated(api, "Bearer " + parts->signing_input + "." + flipped);
      std::string middle = sig;
      middle[sig.size() / 2] = middle[sig.size() / 2] == 'A' ? 'B' : 'A';
      CheckUnauthenticated(api, "Bearer " + parts->signing_input + "." + middle);
      CheckUnauthenticated(api, "Bearer " + parts->signing_input + ".");
      CheckUnauthenticated(api, "Bearer " + parts->signing_input);
      CheckUnauthenticated(api, "Bearer " + parts->signing_input + "." + Base64UrlEncode(std::string(64, '\0')));
    }
    SUBCASE("alg none") {
      for (const char* alg : {"none", "None", "NONE"}) {
        CAPTURE(std::string(alg));
        std::string none_header = Base64UrlEncode(Dump(object{{"alg", alg}, {"typ", "JWT"}}));
        std::string none_kid = Base64UrlEncode(Dump(object{{"alg", alg}, {"typ", "JWT"}, {"kid", kid}}));
        for (const boost::json::object& p : {payload, as_admin}) {
          CheckUnauthenticated(api, "Bearer " + none_header + "." + with_payload(p) + ".");
          CheckUnauthenticated(api, "Bearer " + none_header + "." + with_payload(p));
          CheckUnauthenticated(api, "Bearer " + none_kid + "." + with_payload(p) + ".");
          CheckUnauthenticated(api, "Bearer " + none_header + "." + with_payload(p) + "." + sig);
        }
      }
    }
    SUBCASE("HS256 keyed with the public key (algorithm confusion)") {
      boost::json::object jwks = Jwks(api);
      REQUIRE(!jwks.at("keys").as_array().empty());
      std::string x = Str(jwks.at("keys").as_array().at(0), "x");
      std::optional<std::string> raw = Base64UrlDecode(x);
      REQUIRE(raw.has_value());
      std::string hs_header = Base64UrlEncode(Dump(object{{"alg", "HS256"}, {"typ", "JWT"}, {"kid", kid}}));
      for (const std::string& secret : {*raw, x, Dump(jwks)}) {
        std::string input = hs_header + "." + with_payload(payload);
        CheckUnauthenticated(api, "Bearer " + input + "." + Base64UrlEncode(HmacSha256(secret, input)));
      }
    }
    SUBCASE("signed by another Ed25519 key") {
      Ed25519Key other;
      for (const boost::json::object& p : {payload, as_admin}) {
        CheckUnauthenticated(api, "Bearer " + SignJwt(parts->header_json, Dump(p), other));
        CheckUnauthenticated(api, "Bearer " + SignJwt(Dump(object{{"alg", "EdDSA"}, {"typ", "JWT"}}), Dump(p), other));
        CheckUnauthenticated(
            api,
            "Bearer " + SignJwt(Dump(object{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", "e2e-other"}}), Dump(p), other));
      }
    }
    // The genuine token still works.
    CHECK(api.Get("/users/me", u.token).status == 200);
  }

  TEST_CASE("GET /users/{id}: that user or an admin; another customer gets 404") {
    Api api;
    User a = RegisterUser(api, "ua");
    User b = RegisterUser(api, "ub");
    const std::string a_path = "/users/" + std::to_string(a.id);
    HttpResponse self = api.Get(a_path, a.token);
    REQUIRE(self.status == 200);
    CHECK(self.Json() == api.Get("/users/me", a.token).Json());
    HttpResponse by_admin = api.Get(a_path, Admin().token);
    REQUIRE(by_admin.status == 200);
    CHECK(by_admin.Json() == self.Json());
    CheckProblem(api.Get(a_path, b.token), 404, "not_found");
    CheckProblem(api.Get("/users/" + std::to_string(Admin().id), a.token), 404, "not_found");
    // A missing user looks the same as someone else's.
    HttpResponse other = api.Get("/users/" + std::to_string(b.id), a.token);
    HttpResponse none = api.Get("/users/999999999999", a.token);
    CheckProblem(none, 404, "not_found");
    CHECK(other.body.size() == none.body.size());
    CheckProblem(api.Get("/users/999999999999", Admin().token), 404, "not_found");
    CheckProblem(api.Get(a_path), 401, "unauthenticated");
    HttpResponse admin_self = api.Get("/users/" + std::to_string(Admin().id), Admin().token);
    REQUIRE(admin_self.status == 200);
    CHECK(Str(admin_self.Json(), "role") == "admin");
    CHECK(Str(admin_self.Json(), "email") == Admin().email);
  }

  TEST_CASE("JWKS: Ed25519 public keys only; the token's kid names one and its signature verifies") {
    Api api;
    boost::json::object jwks = Jwks(api);
    REQUIRE(jwks.contains("keys"));
    REQUIRE(jwks.at("keys").is_array());
    const boost::json::array& keys = jwks.at("keys").as_array();
    REQUIRE(!keys.empty());
    for (const boost::json::value& key : keys) {
      CAPTURE(Dump(key));
      CHECK(Str(key, "kty") == "OKP");
      CHECK(Str(key, "crv") == "Ed25519");
      CHECK(!Str(key, "kid").empty());
      std::optional<std::string> x = Base64UrlDecode(Str(key, "x"));
      REQUIRE(x.has_value());
      CHECK(x->size() == 32);
      CHECK_FALSE(key.as_object().contains("d"));  // never the private part
      if (key.as_object().contains("alg")) CHECK(Str(key, "alg") == "EdDSA");
      if (key.as_object().contains("use")) CHECK(Str(key, "use") == "sig");
    }

    User u = RegisterUser(api, "jwks");
    for (const auto& [token, role, id] :
         {std::tuple{u.token, "customer", u.id}, std::tuple{Admin().token, "admin", Admin().id}}) {
      std::optional<JwtParts> parts = SplitJwt(token);
      REQUIRE(parts.has_value());
      boost::json::value header = boost::json::parse(parts->header_json);
      boost::json::value claims = boost::json::parse(parts->payload_json);
      CAPTURE(parts->header_json);
      CAPTURE(parts->payload_json);
      CHECK(Str(header, "alg") == "EdDSA");
      std::string kid = Str(header, "kid");
      const boost::json::value* match = nullptr;
      for (const boost::json::value& key : keys) {
        if (Str(key, "kid") == kid) match = &key;
      }
      REQUIRE_MESSAGE(match != nullptr, "the token's kid is not in the JWKS");
      std::optional<std::string> signature = Base64UrlDecode(parts->signature_b64);
      REQUIRE(signature.has_value());
      CHECK(VerifyEd25519(*Base64UrlDecode(Str(*match, "x")), parts->signing_input, *signature));
      CHECK(Str(claims, "sub") == std::to_string(id));
      CHECK(Str(claims, "role") == role);
      CHECK(!Str(claims, "iss").empty());
      CHECK(Int(claims, "exp") > Int(claims, "iat"));
      auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
      CHECK(Int(claims, "iat") <= now.count() + 60);
      CHECK(Int(claims, "exp") > now.count());
    }
    HttpResponse token = api.Post("/auth/token", object{{"email", u.email}, {"password", u.password}});
    REQUIRE(token.status == 200);
    boost::json::value claims = boost::json::parse(SplitJwt(Str(token.Json(), "access_token"))->payload_json);
    CHECK(Int(claims, "exp") - Int(claims, "iat") == Int(token.Json(), "expires_in"));
  }
}

}  // namespace shop::e2e
