// Fault isolation of the split layout, with real processes stopped and restarted:
// users down, products down, a cancel whose release must survive products being down and orders
// restarting. The cases share one layout and run in file order (--order-by=file).
#include <doctest/doctest.h>

#include <poll.h>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "service_process.h"
#include "shop/http_client/client.h"
#include "temp_dir.h"

namespace {

using shop::testing::ServiceProcess;
using shop::testing::WriteOrdersSecret;
using Clock = std::chrono::steady_clock;

constexpr const char* kAdminEmail = "fault-admin@example.com";
constexpr const char* kAdminPassword = "fault-admin-password";

struct Reply {
  int status = 0;  // 0: no answer at all
  boost::json::value body;
};

/// The four processes of the split layout on free loopback ports, with the orders service's identity.
struct Layout {
  shop::testing::TempDir dir;
  std::filesystem::path secrets = WriteOrdersSecret(dir / "secrets");
  shop::testing::NatsServer nats{dir.path()};
  std::unique_ptr<ServiceProcess> users, products, orders, gateway;
  std::unique_ptr<shop::http::Client> client;

  /// The services find each other through the registry on NATS: no process is given another's URL.
  Layout() {
    nats.Start();
    const auto bin = ServiceProcess::BinDir();
    const std::vector<std::pair<std::string, std::string>> platform{{"SHOP_NATS_URL", nats.url()}};
    users = std::make_unique<ServiceProcess>(
        ServiceProcess::Options{bin / "shop-users",
                                {"--port", "{port}", "--data-dir", (dir / "users").string(), "--threads", "2",
                                 "--service-credentials-dir", secrets.string()},
                                {{"SHOP_ADMIN_EMAIL", kAdminEmail},
                                 {"SHOP_ADMIN_PASSWORD", kAdminPassword},
                                 platform[0]},
                                dir / "users.log"});
    users->Start();
    products = std::make_unique<ServiceProcess>(ServiceProcess::Options{
        bin / "shop-products",
        {"--port", "{port}", "--data-dir", (dir / "products").string(), "--threads", "2"}, platform,
        dir / "products.log"});
    products->Start();
    orders = std::make_unique<ServiceProcess>(
        ServiceProcess::Options{bin / "shop-orders",
                                {"--port", "{port}", "--data-dir", (dir / "orders").string(), "--threads", "2"},
                                {{"SHOP_SERVICE_SECRET_FILE", (secrets / "orders").string()}, platform[0]},
                                dir / "orders.log"});
    orders->Start();
    gateway = std::make_unique<ServiceProcess>(ServiceProcess::Options{
        bin / "shop-gateway",
        {"--port", "{port}", "--threads", "2"}, platform, dir / "gateway.log"});
    gateway->Start();
    // The test's own client never retries and never opens its circuit: it must see every answer.
    client = std::make_unique<shop::http::Client>(shop::http::ClientOptions{
        .name = "test", .base_url = gateway->url(), .max_attempts = 1, .breaker_failures = 1 << 30});
  }

  Reply Call(const std::string& method, const std::string& target, const std::string& token = {},
             const std::string& body = {}) {
    shop::http::Request request;
    request.method = method;
    request.target = target;
    if (!token.empty()) request.headers.Add("Authorization", "Bearer " + token);
    if (!body.empty()) {
      request.headers.Add("Content-Type", "application/json");
      request.body = body;
    }
    auto response = client->Send(std::move(request), false);
    Reply reply;
    if (!response) return reply;
    reply.status = response->status;
    boost::system::error_code ec;
    reply.body = boost::json::parse(response->body, ec);
    return reply;
  }

  /// Polls `call` until it answers `status` or `deadline` passes; returns the last reply.
  template <class F>
  Reply Await(int status, F call, std::chrono::seconds deadline = std::chrono::seconds(15)) {
    const auto until = Clock::now() + deadline;
    Reply reply = call();
    while (reply.status != status && Clock::now() < until) {
      ::poll(nullptr, 0, 50);
      reply = call();
    }
    return reply;
  }
};

Layout& TheLayout() {
  static Layout layout;
  return layout;
}

struct Session {
  std::string admin, customer;
  std::int64_t product = 0;
  std::int64_t initial_stock = 100;
};

Session& TheSession() {
  static Session session;
  return session;
}

std::string Token(Layout& l, const std::string& email, const std::string& password) {
  Reply r = l.Call("POST", "/auth/token", {},
                   boost::json::serialize(boost::json::object{{"email", email}, {"password", password}}));
  REQUIRE(r.status == 200);
  return std::string(r.body.at("access_token").as_string());
}

std::int64_t Stock(Layout& l, std::int64_t product) {
  Reply r = l.Call("GET", "/products/" + std::to_string(product));
  REQUIRE(r.status == 200);
  return r.body.at("stock").as_int64();
}

/// Units of `product` in the customer's confirmed orders.
std::int64_t ConfirmedUnits(Layout& l, const std::string& token, std::int64_t product) {
  Reply r = l.Call("GET", "/orders?limit=100", token);
  REQUIRE(r.status == 200);
  std::int64_t units = 0;
  for (const auto& order : r.body.at("items").as_array()) {
    if (order.at("status").as_string() != "confirmed") continue;
    for (const auto& line : order.at("items").as_array()) {
      if (line.at("product_id").as_int64() == product) units += line.at("quantity").as_int64();
    }
  }
  return units;
}

std::string OrderBody(std::int64_t product, int quantity) {
  return R"({"items":[{"product_id":)" + std::to_string(product) + R"(,"quantity":)" + std::to_string(quantity) + "}]}";
}

std::string Code(const Reply& r) {
  const auto* code = r.body.is_object() ? r.body.as_object().if_contains("code") : nullptr;
  return code && code->is_string() ? std::string(code->as_string()) : std::string();
}

}  // namespace

TEST_CASE("the split layout serves the API through the gateway") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  REQUIRE(l.Call("POST", "/users", {},
                 R"({"email":"fault-customer@example.com","password":"customer-password","name":"C"})")
              .status == 201);
  s.customer = Token(l, "fault-customer@example.com", "customer-password");
  s.admin = Token(l, kAdminEmail, kAdminPassword);
  Reply product = l.Call("POST", "/products", s.admin,
                         R"({"sku":"fault-1","name":"Fault","price_cents":100,"stock":)" +
                             std::to_string(s.initial_stock) + "}");
  REQUIRE(product.status == 201);
  s.product = product.body.at("id").as_int64();
  CHECK(l.Call("POST", "/orders", s.customer, OrderBody(s.product, 2)).status == 201);
  CHECK(Stock(l, s.product) + ConfirmedUnits(l, s.customer, s.product) == s.initial_stock);
}

TEST_CASE("reaching the products port is not enough: internal routes want the orders service's identity") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  shop::http::Client direct({.name = "products", .base_url = l.products->url(), .max_attempts = 1});
  const std::int64_t stock = Stock(l, s.product);
  const std::string reserve =
      R"({"order_ref":"intruder-1","lines":[{"product_id":)" + std::to_string(s.product) + R"(,"quantity":5}]})";
  for (const auto& [token, status] :
       std::vector<std::pair<std::string, int>>{{"", 401}, {"not-a-token", 401}, {s.customer, 403}, {s.admin, 403}}) {
    CAPTURE(status);
    for (const auto& [target, body] : std::vector<std::pair<std::string, std::string>>{
             {"/internal/reservations", reserve}, {"/internal/releases", R"({"order_ref":"intruder-1"})"}}) {
      shop::http::Request request;
      request.method = "POST";
      request.target = target;
      request.headers.Add("Content-Type", "application/json");
      if (!token.empty()) request.headers.Add("Authorization", "Bearer " + token);
      request.body = body;
      auto response = direct.Send(std::move(request), false);
      REQUIRE(response.has_value());
      CHECK(response->status == status);
    }
  }
  CHECK(Stock(l, s.product) == stock);
  // The orders service itself still reserves through the same routes.
  CHECK(l.Call("POST", "/orders", s.customer, OrderBody(s.product, 1)).status == 201);
  CHECK(Stock(l, s.product) == stock - 1);
}

TEST_CASE("users down: catalogue, orders and earlier tokens keep working; users routes fail fast with 503") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  REQUIRE(l.users->Stop() == 0);

  CHECK(l.Call("GET", "/products").status == 200);
  CHECK(l.Call("POST", "/orders", s.customer, OrderBody(s.product, 1)).status == 201);
  CHECK(l.Call("GET", "/orders", s.customer).status == 200);

  Reply me = l.Call("GET", "/users/me", s.customer);
  CHECK(me.status == 503);
  CHECK(Code(me) == "dependency_unavailable");
  // Once the gateway's circuit to users is open, the answer comes without trying to connect.
  for (int i = 0; i < 8; ++i) {
    const auto start = Clock::now();
    Reply token = l.Call("POST", "/auth/token", {}, R"({"email":"fault-customer@example.com","password":"x"})");
    const auto took = Clock::now() - start;
    CHECK(token.status == 503);
    CHECK(Code(token) == "dependency_unavailable");
    CHECK(took < std::chrono::milliseconds(500));
  }
  CHECK(Stock(l, s.product) + ConfirmedUnits(l, s.customer, s.product) == s.initial_stock);
}

TEST_CASE("users restarted: the gateway recovers by itself and the data is still there") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  l.users->Start();
  Reply me = l.Await(200, [&] { return l.Call("GET", "/users/me", s.customer); });
  CHECK(me.status == 200);
  CHECK(me.body.at("email").as_string() == "fault-customer@example.com");
  CHECK(Token(l, "fault-customer@example.com", "customer-password").size() > 20);
}

TEST_CASE("products down: orders are refused with 503 and nothing is recorded; listing orders still works") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  const auto orders_before = l.Call("GET", "/orders?limit=100", s.customer).body.at("items").as_array().size();
  REQUIRE(l.products->Stop() == 0);

  Reply placed = l.Call("POST", "/orders", s.customer, OrderBody(s.product, 3));
  CHECK(placed.status == 503);
  CHECK(Code(placed) == "dependency_unavailable");
  Reply listed = l.Call("GET", "/orders?limit=100", s.customer);
  CHECK(listed.status == 200);
  CHECK(listed.body.at("items").as_array().size() == orders_before);
  CHECK(l.Call("GET", "/products").status == 503);

  l.products->Start();
  Reply again = l.Await(201, [&] { return l.Call("POST", "/orders", s.customer, OrderBody(s.product, 1)); });
  CHECK(again.status == 201);
  CHECK(Stock(l, s.product) + ConfirmedUnits(l, s.customer, s.product) == s.initial_stock);
}

TEST_CASE("a cancel while products is down gives the stock back once, across a restart of orders") {
  Layout& l = TheLayout();
  Session& s = TheSession();
  Reply order = l.Call("POST", "/orders", s.customer, OrderBody(s.product, 5));
  REQUIRE(order.status == 201);
  const std::string id = std::to_string(order.body.at("id").as_int64());
  const std::int64_t stock_with_order = Stock(l, s.product);

  REQUIRE(l.products->Stop() == 0);
  Reply cancelled = l.Call("POST", "/orders/" + id + "/cancel", s.customer);
  CHECK(cancelled.status == 200);
  CHECK(cancelled.body.at("status").as_string() == "cancelled");
  REQUIRE(l.orders->Stop() == 0);  // the event is in orders' outbox or already in JetStream

  l.products->Start();
  l.orders->Start();
  const auto until = Clock::now() + std::chrono::seconds(20);
  while (Stock(l, s.product) != stock_with_order + 5 && Clock::now() < until) ::poll(nullptr, 0, 50);
  CHECK(Stock(l, s.product) == stock_with_order + 5);
  // Cancelling again changes nothing; the stock came back exactly once. (The stock travels as an
  // event products consumes, so it can be back before the gateway has seen the restarted orders
  // instance in the registry: the call waits for orders to be routable.)
  CHECK(l.Await(200, [&] { return l.Call("POST", "/orders/" + id + "/cancel", s.customer); }).status == 200);
  CHECK(Stock(l, s.product) == stock_with_order + 5);
  CHECK(Stock(l, s.product) + ConfirmedUnits(l, s.customer, s.product) == s.initial_stock);
}

TEST_CASE("every process stops cleanly on SIGTERM") {
  Layout& l = TheLayout();
  CHECK(l.gateway->Stop() == 0);
  CHECK(l.orders->Stop() == 0);
  CHECK(l.products->Stop() == 0);
  CHECK(l.users->Stop() == 0);
}
