#include "shop/http/router.h"

#include <doctest/doctest.h>

using shop::http::Context;
using shop::http::Request;
using shop::http::Response;
using shop::http::Router;

namespace {
Response Ok(const Context&) { return {}; }
}  // namespace

TEST_CASE("literal and placeholder segments match exactly") {
  Router router;
  router.Add("GET", "/products", Ok);
  router.Add("GET", "/products/{id}", Ok);
  router.Add("POST", "/orders/{id}/cancel", Ok);

  auto m = router.Find("GET", "/products/12");
  REQUIRE(m.route);
  CHECK(m.route->pattern == "/products/{id}");
  CHECK(m.params[0] == "12");
  CHECK(router.Find("POST", "/orders/5/cancel").params[0] == "5");

  for (std::string_view path : {"/products/", "/products/1/", "//products", "/products/1/x", "/nope", "", "products"}) {
    INFO(path);
    auto miss = router.Find("GET", path);
    CHECK(miss.route == nullptr);
  }
}

TEST_CASE("a path served for other methods reports them for 405") {
  Router router;
  router.Add("GET", "/products", Ok);
  router.Add("POST", "/products", Ok);
  auto m = router.Find("DELETE", "/products");
  CHECK(m.route == nullptr);
  CHECK(m.allowed == "GET, POST");
  CHECK(router.Find("DELETE", "/other").allowed.empty());
  router.Add("GET", "/products/me", Ok);
  router.Add("GET", "/products/{id}", Ok);
  CHECK(router.Find("POST", "/products/me").allowed == "GET");  // two patterns match, GET is listed once
}

TEST_CASE("id placeholders accept positive decimal ids only") {
  Request request;
  auto id = [&](std::string_view text) {
    Context ctx{request, {text}, ""};
    return ctx.IdParam(0);
  };
  CHECK(id("1") == 1);
  CHECK(id("123456789012345678") == 123456789012345678);
  for (std::string_view bad : {"0", "-1", "+1", "01", "1.0", "abc", "%31", "1234567890123456789", ""}) {
    INFO(bad);
    CHECK_FALSE(id(bad).has_value());
  }
}
