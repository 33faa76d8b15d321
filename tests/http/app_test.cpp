#include "shop/http/app.h"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <stdexcept>

using shop::http::App;
using shop::http::Context;
using shop::http::Request;
using shop::http::Response;

namespace {

Request Make(std::string method, std::string target, std::string body = {}, std::string content_type = {}) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  if (!content_type.empty()) r.headers.Add("Content-Type", content_type);
  return r;
}

struct Fixture {
  App app{"test", "9.9"};
  bool ready = true;
  Fixture() {
    app.router().Add("GET", "/things/{id}", [](const Context& ctx) {
      return shop::http::JsonResponse(200, "{\"id\":\"" + std::string(ctx.params[0]) + "\"}");
    });
    app.router().Add("POST", "/things", [](const Context&) { return shop::http::JsonResponse(201, "{}"); },
                     {.json_body = true});
    app.router().Add("GET", "/boom", [](const Context&) -> Response { throw std::runtime_error("secret detail"); });
    app.AddReadinessCheck("db", [this] { return ready; });
    app.Seal();
  }
  Response Handle(Request r) { return app.Handle(r); }
};

boost::json::object Body(const Response& r) { return boost::json::parse(r.body).as_object(); }

void CheckProblem(const Response& r, int status, std::string_view code) {
  CHECK(r.status == status);
  CHECK(r.headers.Get("Content-Type") == "application/problem+json");
  auto body = Body(r);
  CHECK(body["status"].as_int64() == status);
  CHECK(body["code"].as_string() == code);
  CHECK(body["type"].as_string() == "about:blank");
  CHECK(body.contains("title"));
  CHECK(body.contains("detail"));
}

}  // namespace

TEST_CASE("every response carries Api-Version and a request id") {
  Fixture f;
  for (Request r : {Make("GET", "/things/1"), Make("GET", "/nowhere"), Make("DELETE", "/things")}) {
    Response res = f.Handle(r);
    CHECK(res.headers.Get("Api-Version") == "1");
    CHECK(res.headers.Get("X-Request-Id").size() == 16);
  }
}

TEST_CASE("a valid request id is echoed, an invalid one replaced") {
  Fixture f;
  Request r = Make("GET", "/things/1");
  r.headers.Add("X-Request-Id", "abc.DEF_123-x");
  CHECK(f.Handle(r).headers.Get("X-Request-Id") == "abc.DEF_123-x");
  for (std::string bad : {std::string(129, 'a'), std::string("has space"), std::string("semi;colon"), std::string()}) {
    Request b = Make("GET", "/things/1");
    b.headers.Add("X-Request-Id", bad);
    auto id = f.Handle(b).headers.Get("X-Request-Id");
    CHECK(id != bad);
    CHECK(id.size() == 16);
  }
  CHECK(f.Handle(Make("GET", "/things/1")).headers.Get("X-Request-Id") !=
        f.Handle(Make("GET", "/things/1")).headers.Get("X-Request-Id"));
}

TEST_CASE("Api-Version: absent or 1 is served, anything else is 400") {
  Fixture f;
  Request one = Make("GET", "/things/1");
  one.headers.Add("Api-Version", "1");
  CHECK(f.Handle(one).status == 200);
  for (std::string v : {"2", "1.0", "", "v1"}) {
    Request r = Make("GET", "/things/1");
    r.headers.Add("Api-Version", v);
    CheckProblem(f.Handle(r), 400, "unsupported_api_version");
  }
}

TEST_CASE("unknown paths are 404, other methods 405 with Allow") {
  Fixture f;
  CheckProblem(f.Handle(Make("GET", "/nowhere")), 404, "not_found");
  Response r = f.Handle(Make("PUT", "/things"));
  CheckProblem(r, 405, "method_not_allowed");
  CHECK(r.headers.Get("Allow") == "POST");
}

TEST_CASE("routes that take JSON insist on its media type") {
  Fixture f;
  CHECK(f.Handle(Make("POST", "/things", "{}", "application/json")).status == 201);
  CHECK(f.Handle(Make("POST", "/things", "{}", "Application/JSON; charset=utf-8")).status == 201);
  CheckProblem(f.Handle(Make("POST", "/things", "{}", "text/plain")), 415, "unsupported_media_type");
  CheckProblem(f.Handle(Make("POST", "/things", "{}")), 415, "unsupported_media_type");
  CheckProblem(f.Handle(Make("POST", "/things", std::string(1024 * 1024 + 1, ' '), "application/json")), 413,
               "payload_too_large");
}

TEST_CASE("a handler's exception is a 500 that reveals nothing") {
  Fixture f;
  Response r = f.Handle(Make("GET", "/boom"));
  CheckProblem(r, 500, "internal");
  CHECK(r.body.find("secret") == std::string::npos);
}

TEST_CASE("health and metrics are served by every app") {
  Fixture f;
  CHECK(f.Handle(Make("GET", "/health/live")).status == 200);
  Response ready = f.Handle(Make("GET", "/health/ready"));
  CHECK(ready.status == 200);
  auto body = Body(ready);
  CHECK(body["status"].as_string() == "ready");
  CHECK(body["service"].as_string() == "test");
  CHECK(body["version"].as_string() == "9.9");
  CHECK(body["checks"].as_object()["db"].as_string() == "ok");
  f.ready = false;
  Response not_ready = f.Handle(Make("GET", "/health/ready"));
  CHECK(not_ready.status == 503);
  CHECK(Body(not_ready)["checks"].as_object()["db"].as_string() == "failing");

  f.Handle(Make("GET", "/things/1"));
  Response metrics = f.Handle(Make("GET", "/metrics"));
  CHECK(metrics.status == 200);
  CHECK(metrics.headers.Get("Content-Type").starts_with("text/plain; version=0.0.4"));
  CHECK(metrics.body.find(R"(shop_http_requests_total{method="GET",route="/things/{id}",status="200"} 1)") !=
        std::string::npos);
}
