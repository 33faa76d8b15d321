// Split builds only: the internal routes other services call (modules/products/src/internal_routes.cpp),
// through the same App pipeline a server runs. Only an allowed service, proving it with a service
// token, may reserve or release; anyone else is refused and nothing changes.

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <utility>

#include "products_testing.h"
#include "shop/auth/token.h"
#include "shop/core/time.h"
#include "shop/http/app.h"
#include "shop/products/remote.h"

namespace {

using shop::Principal;
using shop::Role;
using shop::products::NewProduct;
using shop::products::Product;
using shop::products::testing::InProcessService;
using shop::products::testing::kAdmin;
namespace auth = shop::auth;
namespace http = shop::http;

/// The in-process service behind the internal routes, which allow the "orders" service only.
class Fixture {
 public:
  Fixture() : key_(auth::SigningKey::Generate()) {
    verifier_.SetKeys({key_.public_key()});
    shop::products::AddInternalRoutes(app_.router(), service_.api(), verifier_, {"orders"});
    app_.Seal();
  }

  Product Create(std::string sku, std::int64_t stock) {
    auto product = service_.api().CreateProduct(kAdmin, NewProduct{std::move(sku), "Widget", 100, stock});
    REQUIRE(product.has_value());
    return *product;
  }

  std::int64_t StockOf(std::int64_t id) { return service_.api().GetProduct(id)->stock; }

  std::string ServiceToken(const std::string& service) const {
    const std::int64_t now = shop::UnixNow();
    return key_.SignService({service, now - 5, now + 300});
  }
  std::string UserToken(Role role) const {
    const std::int64_t now = shop::UnixNow();
    return key_.Sign(auth::Claims{Principal{role == Role::kAdmin ? 1 : 2, role}, now - 5, now + 600});
  }

  /// POSTs `body` to `target` with `authorization` as the Authorization header (none when empty).
  http::Response Post(std::string target, std::string body, std::string authorization) {
    http::Request request;
    request.method = "POST";
    request.target = std::move(target);
    request.headers.Add("Content-Type", "application/json");
    if (!authorization.empty()) request.headers.Add("Authorization", std::move(authorization));
    request.body = std::move(body);
    return app_.Handle(request);
  }

  http::Response Reserve(std::int64_t product, int quantity, std::string authorization, std::string ref = "order-1") {
    return Post("/internal/reservations",
                R"({"order_ref":")" + ref + R"(","lines":[{"product_id":)" + std::to_string(product) +
                    R"(,"quantity":)" + std::to_string(quantity) + "}]}",
                std::move(authorization));
  }
  http::Response Release(std::string authorization, std::string ref = "order-1") {
    return Post("/internal/releases", R"({"order_ref":")" + ref + R"("})", std::move(authorization));
  }

  const auth::SigningKey& key() const { return key_; }

 private:
  InProcessService service_;
  auth::SigningKey key_;
  auth::Verifier verifier_;
  http::App app_{"products", "test"};
};

std::string CodeOf(const http::Response& r) {
  boost::system::error_code ec;
  auto body = boost::json::parse(r.body, ec);
  if (ec || !body.is_object() || !body.as_object().contains("code")) return {};
  return std::string(body.at("code").as_string());
}

TEST_CASE("internal routes: the orders service with its service token may reserve and release") {
  Fixture f;
  const Product p = f.Create("A", 10);
  http::Response reserved = f.Reserve(p.id, 3, "Bearer " + f.ServiceToken("orders"));
  CAPTURE(reserved.body);
  CHECK(reserved.status == 200);
  CHECK(f.StockOf(p.id) == 7);
  http::Response released = f.Release("Bearer " + f.ServiceToken("orders"));
  CAPTURE(released.body);
  CHECK(released.status == 200);
  CHECK(f.StockOf(p.id) == 10);
}

TEST_CASE("internal routes: requests from a newer orders, with fields products does not know, are served") {
  Fixture f;
  const Product p = f.Create("A", 10);
  http::Response reserved = f.Post(
      "/internal/reservations",
      R"({"order_ref":"order-1","lines":[{"product_id":)" + std::to_string(p.id) +
          R"(,"quantity":3,"gift_wrap":true}],"placed_at":"2026-11-21T10:00:00Z"})",
      "Bearer " + f.ServiceToken("orders"));
  CAPTURE(reserved.body);
  CHECK(reserved.status == 200);
  CHECK(f.StockOf(p.id) == 7);
  http::Response released = f.Post("/internal/releases", R"({"order_ref":"order-1","reason":"cancelled"})",
                                   "Bearer " + f.ServiceToken("orders"));
  CAPTURE(released.body);
  CHECK(released.status == 200);
  CHECK(f.StockOf(p.id) == 10);
}

TEST_CASE("internal routes: no service identity is 401, a user's or another service's is 403, and nothing changes") {
  Fixture f;
  const Product p = f.Create("A", 10);
  // Taken by orders first, so that a release by anyone else would visibly give stock back.
  REQUIRE(f.Reserve(p.id, 4, "Bearer " + f.ServiceToken("orders"), "held").status == 200);
  REQUIRE(f.StockOf(p.id) == 6);

  const std::int64_t now = shop::UnixNow();
  const auth::SigningKey stranger = auth::SigningKey::Generate();
  const struct {
    const char* who;
    std::string authorization;
    int status;
    const char* code;
  } refused[] = {
      {"no Authorization header", "", 401, "unauthenticated"},
      {"not a Bearer token", "Basic b3JkZXJzOnNlY3JldA==", 401, "unauthenticated"},
      {"garbage", "Bearer not-a-token", 401, "unauthenticated"},
      {"a service token signed by another key", "Bearer " + stranger.SignService({"orders", now, now + 300}), 401,
       "unauthenticated"},
      {"an expired service token", "Bearer " + f.key().SignService({"orders", now - 400, now - 100}), 401,
       "unauthenticated"},
      {"a customer's token", "Bearer " + f.UserToken(Role::kCustomer), 403, "forbidden"},
      {"an admin's token", "Bearer " + f.UserToken(Role::kAdmin), 403, "forbidden"},
      {"a service that is not allowed", "Bearer " + f.ServiceToken("payments"), 403, "forbidden"},
      {"a service named like a prefix of orders", "Bearer " + f.ServiceToken("order"), 403, "forbidden"},
  };
  for (const auto& caller : refused) {
    CAPTURE(caller.who);
    http::Response reserve = f.Reserve(p.id, 1, caller.authorization, "order-2");
    CAPTURE(reserve.body);
    CHECK(reserve.status == caller.status);
    CHECK(CodeOf(reserve) == caller.code);
    if (caller.status == 401) CHECK(reserve.headers.Get("WWW-Authenticate") == "Bearer");
    http::Response release = f.Release(caller.authorization, "held");
    CHECK(release.status == caller.status);
    CHECK(CodeOf(release) == caller.code);
    CHECK(f.StockOf(p.id) == 6);
  }
  // The reservation refused above was never made: orders can still reserve under that reference.
  CHECK(f.Reserve(p.id, 2, "Bearer " + f.ServiceToken("orders"), "order-2").status == 200);
  CHECK(f.StockOf(p.id) == 4);
}

TEST_CASE("internal routes: authentication comes before the body is read") {
  Fixture f;
  http::Response r = f.Post("/internal/reservations", "{not json", "");
  CHECK(r.status == 401);
  r = f.Post("/internal/reservations", "{not json", "Bearer " + f.UserToken(Role::kAdmin));
  CHECK(r.status == 403);
  r = f.Post("/internal/reservations", "{not json", "Bearer " + f.ServiceToken("orders"));
  CHECK(r.status == 400);
}

}  // namespace
