// API.md "Conventions": versioning, request ids, problem details, media types, body limits,
// malformed and mis-shaped JSON, unknown paths and methods.
#include <doctest/doctest.h>

#include <regex>
#include <set>
#include <string>

#include "api_client.h"
#include "server_harness.h"

namespace shop::e2e {
namespace {

using boost::json::object;

std::set<std::string> AllowList(std::string_view allow) {
  std::set<std::string> methods;
  while (!allow.empty()) {
    std::size_t comma = allow.find(',');
    std::string_view m = allow.substr(0, comma);
    while (!m.empty() && m.front() == ' ') m.remove_prefix(1);
    while (!m.empty() && m.back() == ' ') m.remove_suffix(1);
    if (!m.empty()) methods.emplace(m);
    if (comma == std::string_view::npos) break;
    allow.remove_prefix(comma + 1);
  }
  return methods;
}

bool IsValidRequestId(std::string_view id) {
  static const std::regex re("^[A-Za-z0-9._-]{1,128}$");
  return std::regex_match(id.begin(), id.end(), re);
}

std::string RegistrationBody(std::string_view email) {
  return Dump(object{{"email", email}, {"password", "password-123"}, {"name", "Conventions"}});
}

/// `json` followed by spaces up to exactly `size` bytes.
std::string PadTo(std::string json, std::size_t size) {
  REQUIRE(json.size() <= size);
  json.append(size - json.size(), ' ');
  return json;
}

}  // namespace

TEST_SUITE("conventions") {
  TEST_CASE("Api-Version absent or 1 is served") {
    Api api;
    CHECK(api.Get("/products?limit=1").status == 200);
    CHECK(api.Get("/products?limit=1", {}, {{"Api-Version", "1"}}).status == 200);
    CHECK(api.Get("/health/live", {}, {{"Api-Version", "1"}}).status == 200);
  }

  TEST_CASE("any other Api-Version is 400 unsupported_api_version") {
    Api api;
    for (const char* version : {"2", "abc", "0", "1.0", "01", "1,2"}) {
      CAPTURE(std::string(version));
      CheckProblem(api.Get("/products?limit=1", {}, {{"Api-Version", version}}), 400, "unsupported_api_version");
    }
    SUBCASE("an empty value is not 1") {
      CheckProblem(api.Get("/products?limit=1", {}, {{"Api-Version", ""}}), 400, "unsupported_api_version");
    }
    SUBCASE("a rejected version does not run the request") {
      std::string email = Unique("apiver") + "@e2e.test";
      CheckProblem(api.PostRaw("/users", RegistrationBody(email), "application/json", {}, {{"Api-Version", "2"}}), 400,
                   "unsupported_api_version");
      CHECK(api.PostRaw("/users", RegistrationBody(email), "application/json").status == 201);
    }
  }

  TEST_CASE("every response carries Api-Version: 1 and X-Request-Id, success or error") {
    // CheckConventions (run by Api on every response) asserts both; these cover each kind of answer.
    Api api;
    CHECK(api.Get("/products").status == 200);
    CHECK(api.PostRaw("/users", RegistrationBody(Unique("hdr") + "@e2e.test"), "application/json").status == 201);
    CHECK(api.PostRaw("/users", "{", "application/json").status == 400);
    CHECK(api.Get("/users/me").status == 401);
    CHECK(api.Post("/products", object{{"sku", Unique("x")}, {"name", "x"}, {"price_cents", 1}, {"stock", 1}},
                   RegisterUser(api).token)
              .status == 403);
    CHECK(api.Get("/no/such/path").status == 404);
    CHECK(api.Send("DELETE", "/products").status == 405);
    CHECK(api.PostRaw("/users", "{}", "text/plain").status == 415);
    CHECK(api.Get("/health/live").status == 200);
    CHECK(api.Get("/health/ready").status == 200);
    CHECK(api.Get("/metrics").status == 200);
    CHECK(api.Get("/.well-known/jwks.json").status == 200);
    HttpResponse r = api.Get("/no/such/path");
    CHECK(r.Header("Api-Version") == "1");
    CHECK(IsValidRequestId(r.Header("X-Request-Id")));
  }

  TEST_CASE("a valid X-Request-Id is echoed") {
    Api api;
    for (std::string id :
         {std::string("e2e-Req_1.x"), std::string("a"), std::string(128, 'z'), "A-z_0.9-" + RandomHexString(8)}) {
      CAPTURE(id);
      CHECK(api.Get("/products?limit=1", {}, {{"X-Request-Id", id}}).Header("X-Request-Id") == id);
      CHECK(api.Get("/no/such/path", {}, {{"X-Request-Id", id}}).Header("X-Request-Id") == id);
      CHECK(api.PostRaw("/users", "{", "application/json", {}, {{"X-Request-Id", id}}).Header("X-Request-Id") == id);
    }
  }

  TEST_CASE("an invalid X-Request-Id is replaced by a generated one") {
    Api api;
    for (std::string id : {std::string(129, 'a'), std::string("bad id!"), std::string("a/b"), std::string("x:y"),
                           std::string("caf\xc3\xa9"), std::string("semi;colon"), std::string("{json}")}) {
      CAPTURE(id);
      HttpResponse r = api.Get("/products?limit=1", {}, {{"X-Request-Id", id}});
      CHECK(r.status == 200);
      CHECK(r.Header("X-Request-Id") != id);
      CHECK(IsValidRequestId(r.Header("X-Request-Id")));
    }
  }

  TEST_CASE("generated request ids differ between requests") {
    Api api;
    std::set<std::string> ids;
    for (int i = 0; i < 20; ++i) ids.insert(std::string(api.Get("/health/live").Header("X-Request-Id")));
    CHECK(ids.size() == 20);
  }

  TEST_CASE("errors are problem+json with type, title, status, detail and code") {
    Api api;
    HttpResponse r = api.Get("/no/such/path");
    CheckProblem(r, 404, "not_found");
    boost::json::value v = r.Json();
    CHECK(v.at("type").is_string());
    CHECK(v.at("title").is_string());
    CHECK(v.at("detail").is_string());
    CHECK(v.at("status").as_int64() == 404);
  }

  TEST_CASE("a body that is not application/json is 415 unsupported_media_type") {
    Api api;
    const std::string body = RegistrationBody(Unique("media") + "@e2e.test");
    CheckProblem(api.PostRaw("/users", body, "text/plain"), 415, "unsupported_media_type");
    CheckProblem(api.PostRaw("/users", body, ""), 415, "unsupported_media_type");
    CheckProblem(api.PostRaw("/users", body, "application/x-www-form-urlencoded"), 415, "unsupported_media_type");
    CheckProblem(api.PostRaw("/auth/token", R"({"email":"a@b.c","password":"12345678"})", "text/plain"), 415,
                 "unsupported_media_type");
    CheckProblem(
        api.PostRaw("/products", R"({"sku":"x","name":"x","price_cents":1,"stock":1})", "text/plain", Admin().token),
        415, "unsupported_media_type");
    CheckProblem(api.PostRaw("/orders", R"({"items":[]})", "text/plain", Admin().token), 415, "unsupported_media_type");
    HttpResponse patch =
        api.Send("PATCH", "/products/1", WithAuth(Admin().token, {{"Content-Type", "text/plain"}}), R"({"name":"x"})");
    CheckProblem(patch, 415, "unsupported_media_type");
  }

  TEST_CASE("application/json with parameters or in another case is accepted") {
    Api api;
    CHECK(api.PostRaw("/users", RegistrationBody(Unique("charset") + "@e2e.test"), "application/json; charset=utf-8")
              .status == 201);
    CHECK(api.PostRaw("/users", RegistrationBody(Unique("case") + "@e2e.test"), "Application/JSON").status == 201);
  }

  TEST_CASE("a body over 1 MiB is 413 payload_too_large; exactly 1 MiB is accepted") {
    constexpr std::size_t kMiB = 1024 * 1024;
    {
      Api api;
      CheckProblem(
          api.PostRaw("/users", PadTo(RegistrationBody(Unique("big") + "@e2e.test"), kMiB + 1), "application/json"),
          413, "payload_too_large");
    }
    {
      Api api;
      std::string email = Unique("mib") + "@e2e.test";
      HttpResponse r = api.PostRaw("/users", PadTo(RegistrationBody(email), kMiB), "application/json");
      CHECK(r.status == 201);
    }
    {
      Api api;
      CheckProblem(api.PostRaw("/products", PadTo(R"({"sku":"big","name":"x","price_cents":1,"stock":1})", 3 * kMiB),
                               "application/json", Admin().token),
                   413, "payload_too_large");
    }
    SUBCASE("a declared Content-Length over 1 MiB is answered without waiting for the body") {
      Connection c(TestServer::Get().endpoint(), std::chrono::seconds(20));
      REQUIRE(
          c.SendRaw("POST /users HTTP/1.1\r\nHost: e2e\r\nContent-Type: application/json\r\n"
                    "Content-Length: 10485760\r\n\r\n{\"email\":"));
      std::optional<HttpResponse> r = c.ReadResponse();
      REQUIRE(r.has_value());
      CheckConventions(*r, "POST /users with Content-Length: 10485760");
      CheckProblem(*r, 413, "payload_too_large");
    }
    Api after;
    CHECK(after.Get("/health/ready").status == 200);
  }

  TEST_CASE("malformed JSON is 400 malformed_json") {
    Api api;
    for (std::string body : {std::string(R"({"email":)"), std::string("not json"), std::string(""),
                             std::string(R"({"email":"a@b.c"} trailing)"), std::string("{'email':'a@b.c'}"),
                             std::string(R"({"email":"a@b.c",})"), std::string(R"({"email" "a@b.c"})"),
                             std::string("{\"email\":\"a\nb@c.d\"}")}) {
      CAPTURE(body);
      CheckProblem(api.PostRaw("/users", body, "application/json"), 400, "malformed_json");
    }
  }

  TEST_CASE("JSON that is not an object is 400 validation_failed") {
    Api api;
    for (std::string body :
         {"[]", R"("text")", "null", "42", "true", R"([{"email":"a@b.c","password":"12345678","name":"n"}])"}) {
      CAPTURE(body);
      CheckProblem(api.PostRaw("/users", body, "application/json"), 400, "validation_failed");
    }
  }

  TEST_CASE("wrong types, missing and unknown fields are 400 validation_failed") {
    Api api;
    const std::string email = Unique("shape") + "@e2e.test";
    const object good{{"email", email}, {"password", "password-123"}, {"name", "Shape"}};
    auto with = [&](std::string_view key, boost::json::value v) {
      object o = good;
      o[key] = std::move(v);
      return o;
    };
    auto without = [&](std::string_view key) {
      object o = good;
      o.erase(key);
      return o;
    };
    CheckProblem(api.Post("/users", with("email", 5)), 400, "validation_failed");
    CheckProblem(api.Post("/users", with("password", nullptr)), 400, "validation_failed");
    CheckProblem(api.Post("/users", with("name", boost::json::array{"x"})), 400, "validation_failed");
    CheckProblem(api.Post("/users", with("name", true)), 400, "validation_failed");
    CheckProblem(api.Post("/users", with("email", object{{"a", 1}})), 400, "validation_failed");
    CheckProblem(api.Post("/users", without("email")), 400, "validation_failed");
    CheckProblem(api.Post("/users", without("password")), 400, "validation_failed");
    CheckProblem(api.Post("/users", without("name")), 400, "validation_failed");
    CheckProblem(api.Post("/users", object{}), 400, "validation_failed");
    CheckProblem(api.Post("/users", with("nickname", "x")), 400, "validation_failed");
    // None of these created the user.
    CHECK(api.Post("/users", good).status == 201);
  }

  TEST_CASE("an unknown path is 404 not_found") {
    Api api;
    // Signed in, so that a route that needs a caller cannot answer 401 first.
    const std::string token = RegisterUser(api, "paths").token;
    for (const char* target : {"/", "/nope", "/products/0", "/products/-1", "/products/abc", "/products/1.0",
                               "/products/99999999999999999999", "/users/0", "/users/abc", "/orders/0/cancel/x",
                               "/api/v1/products", "/PRODUCTS", "/health", "/.well-known/other.json"}) {
      CAPTURE(std::string(target));
      CheckProblem(api.Get(target, token), 404, "not_found");
    }
    CheckProblem(api.PostRaw("/nope", "{}", "application/json"), 404, "not_found");
  }

  TEST_CASE("a known path with another method is 405 method_not_allowed with Allow") {
    Api api;
    struct Case {
      const char* method;
      const char* target;
      std::set<std::string> allowed;
    };
    const Case cases[] = {
        {"DELETE", "/products", {"GET", "POST"}},
        {"PUT", "/products", {"GET", "POST"}},
        {"PUT", "/products/1", {"GET", "PATCH"}},
        {"DELETE", "/products/1", {"GET", "PATCH"}},
        {"GET", "/auth/token", {"POST"}},
        {"DELETE", "/users/me", {"GET"}},
        {"PATCH", "/orders", {"GET", "POST"}},
        {"DELETE", "/orders/1", {"GET"}},
        {"GET", "/orders/1/cancel", {"POST"}},
        {"POST", "/health/live", {"GET"}},
        {"POST", "/.well-known/jwks.json", {"GET"}},
    };
    for (const Case& c : cases) {
      CAPTURE(std::string(c.method));
      CAPTURE(std::string(c.target));
      HttpResponse r = api.Send(c.method, c.target);
      CheckProblem(r, 405, "method_not_allowed");
      std::set<std::string> allowed = AllowList(r.Header("Allow"));
      for (const std::string& m : c.allowed) CHECK_MESSAGE(allowed.contains(m), "Allow: ", r.Header("Allow"));
    }
  }
}

}  // namespace shop::e2e
