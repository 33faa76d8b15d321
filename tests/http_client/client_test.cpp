// The HTTP client against a real server: what a caller sends is never a failure of the dependency.
#include "shop/http_client/client.h"

#include <doctest/doctest.h>

#include <thread>

#include "shop/http/adapter.h"
#include "shop/http/app.h"
#include "shop/http_server/server.h"

namespace shop::http {
namespace {

/// A server on a free loopback port with routes that answer what the test asks for.
class TestUpstream {
 public:
  TestUpstream() : app_("upstream", "1.0.0") {
    app_.router().Add(
        "POST", "/echo", [](const Context& ctx) { return JsonResponse(200, ctx.request.body); },
        RouteOptions{.json_body = true});
    app_.router().Add("GET", "/status/{code}", [](const Context& ctx) {
      const int code = static_cast<int>(ctx.IdParam(0).value_or(500));
      return Problem(code, code >= 500 ? "internal" : "validation_failed", "as asked");
    });
    ServerOptions options;
    options.port = 0;
    options.threads = 1;
    options.wire.max_body_bytes = 64 * 1024;
    server_ = std::make_unique<Server>(options, app_);
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~TestUpstream() {
    server_->Stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

 private:
  App app_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

Request Post(std::string body) {
  Request r;
  r.method = "POST";
  r.target = "/echo";
  r.headers.Add("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

Request Get(std::string target) {
  Request r;
  r.method = "GET";
  r.target = std::move(target);
  return r;
}

}  // namespace

TEST_SUITE("http client") {
  TEST_CASE("an answer sent while the request is still going out is read, and is not a failure") {
    TestUpstream upstream;
    Client client({.name = "upstream", .base_url = upstream.url(), .breaker_failures = 2});
    for (int i = 0; i < 6; ++i) {
      auto r = client.Send(Post(std::string(4 << 20, ' ')), false);
      REQUIRE(r.has_value());
      CHECK(r->status == 413);
    }
    auto after = client.Send(Get("/health/live"), false);
    REQUIRE(after.has_value());
    CHECK(after->status == 200);
  }

  TEST_CASE("4xx answers never open the breaker, 5xx answers do") {
    TestUpstream upstream;
    Client client({.name = "upstream", .base_url = upstream.url(), .breaker_failures = 3});
    for (int code : {400, 401, 403, 404, 409, 413, 422, 429}) {
      for (int i = 0; i < 4; ++i) {
        auto r = client.Send(Get("/status/" + std::to_string(code)), true);
        REQUIRE(r.has_value());
        CHECK(r->status == code);
      }
    }
    for (int i = 0; i < 3; ++i) CHECK(client.Send(Get("/status/500"), false).has_value());
    auto refused = client.Send(Get("/health/live"), false);
    REQUIRE(!refused.has_value());
    CHECK(refused.error() == CallError::kCircuitOpen);
  }
}

}  // namespace shop::http
