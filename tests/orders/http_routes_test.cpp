#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "orders_fixture.h"
#include "shop/auth/token.h"
#include "shop/core/time.h"
#include "shop/http/app.h"
#include "shop/orders/http.h"

namespace shop::testing {
namespace {

namespace bj = boost::json;

/// The orders routes served by an App, as the process serves them, with tokens from a test key.
struct HttpFixture : OrdersFixture {
  auth::SigningKey key = auth::SigningKey::Generate();
  auth::Verifier verifier;
  http::App app{"orders", "test"};

  explicit HttpFixture(orders::Api* api = nullptr) {
    verifier.SetKeys({key.public_key()});
    orders::AddRoutes(app.router(), api ? *api : *service, verifier);
    app.Seal();
  }

  std::string Token(const Principal& who) {
    const std::int64_t now = UnixNow();
    return key.Sign({who, now, now + 3600});
  }

  http::Response Send(std::string method, std::string target, const std::optional<Principal>& who,
                      std::optional<std::string> body = std::nullopt,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    if (who) request.headers.Add("Authorization", "Bearer " + Token(*who));
    if (body) {
      request.headers.Add("Content-Type", "application/json");
      request.body = std::move(*body);
    }
    for (auto& [name, value] : headers) request.headers.Add(std::move(name), std::move(value));
    return app.Handle(request);
  }

  http::Response Post(const std::string& body, const Principal& who = kAlice,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    return Send("POST", "/orders", who, body, std::move(headers));
  }
};

bj::object Json(const http::Response& response) {
  bj::value v = bj::parse(response.body);
  REQUIRE(v.is_object());
  return v.as_object();
}

/// Asserts an RFC 9457 problem with `status` and `code`; returns its detail.
std::string ExpectProblem(const http::Response& response, int status, std::string_view code) {
  CHECK(response.status == status);
  CHECK(response.headers.Get("Content-Type") == "application/problem+json");
  CHECK(response.headers.Get("Api-Version") == "1");
  bj::object body = Json(response);
  CHECK(body.at("status").as_int64() == status);
  CHECK(body.at("code").as_string() == code);
  CHECK(body.at("type").as_string() == "about:blank");
  return std::string(body.at("detail").as_string());
}

std::string ItemsBody(std::int64_t product_id, std::int64_t quantity) {
  return R"({"items":[{"product_id":)" + std::to_string(product_id) + R"(,"quantity":)" + std::to_string(quantity) +
         "}]}";
}

TEST_CASE("POST /orders places the order: 201, Location and the order") {
  HttpFixture f;
  const auto pen = f.products.Add(250, 10);
  const auto ink = f.products.Add(1000, 5);
  auto response = f.Post(R"({"items":[{"product_id":)" + std::to_string(pen) +
                         R"(,"quantity":2},{"quantity":3,"product_id":)" + std::to_string(ink) + "}]}");
  CHECK(response.status == 201);
  CHECK(response.headers.Get("Content-Type") == "application/json");
  CHECK(response.headers.Get("Api-Version") == "1");
  bj::object order = Json(response);
  const std::int64_t id = order.at("id").as_int64();
  CHECK(response.headers.Get("Location") == "/orders/" + std::to_string(id));
  CHECK(order.size() == 6);
  CHECK(order.at("user_id").as_int64() == kAlice.user_id);
  CHECK(order.at("status").as_string() == "confirmed");
  CHECK(order.at("total_cents").as_int64() == 3500);
  CHECK(order.at("created_at").as_string().size() == 20);
  const bj::array& items = order.at("items").as_array();
  REQUIRE(items.size() == 2);
  CHECK(items[0].as_object().size() == 3);
  CHECK(items[0].at("product_id").as_int64() == pen);
  CHECK(items[0].at("quantity").as_int64() == 2);
  CHECK(items[0].at("unit_price_cents").as_int64() == 250);
  CHECK(items[1].at("product_id").as_int64() == ink);
  CHECK(items[1].at("quantity").as_int64() == 3);
  CHECK(items[1].at("unit_price_cents").as_int64() == 1000);
  CHECK(f.products.Stock(pen) == 8);

  auto read = f.Send("GET", "/orders/" + std::to_string(id), kAlice);
  CHECK(read.status == 200);
  CHECK(Json(read) == order);
}

TEST_CASE("POST /orders needs a valid token") {
  HttpFixture f;
  const auto pen = f.products.Add(100, 10);
  ExpectProblem(f.Send("POST", "/orders", std::nullopt, ItemsBody(pen, 1)), 401, "unauthenticated");
  ExpectProblem(f.Send("POST", "/orders", std::nullopt, ItemsBody(pen, 1), {{"Authorization", "Bearer nonsense"}}), 401,
                "unauthenticated");
  auto other_key = auth::SigningKey::Generate();
  const std::int64_t now = UnixNow();
  ExpectProblem(f.Send("POST", "/orders", std::nullopt, ItemsBody(pen, 1),
                       {{"Authorization", "Bearer " + other_key.Sign({kAlice, now, now + 60})}}),
                401, "unauthenticated");
  CHECK(f.products.reserve_calls == 0);
  CHECK(f.products.Stock(pen) == 10);
}

TEST_CASE("POST /orders rejects bodies that are not exactly the order shape with 400") {
  HttpFixture f;
  const auto pen = f.products.Add(100, 10);
  const std::string p = std::to_string(pen);

  CHECK(ExpectProblem(f.Post("{\"items\":"), 400, "malformed_json").starts_with("request body is not valid JSON"));
  CHECK(ExpectProblem(f.Post("[]"), 400, "validation_failed") == "request body must be a JSON object");
  CHECK(ExpectProblem(f.Post("{}"), 400, "validation_failed") == "items: is required");
  CHECK(ExpectProblem(f.Post(R"({"items":{}})"), 400, "validation_failed") == "items: must be an array");
  CHECK(ExpectProblem(f.Post(R"({"items":[{"product_id":)" + p + R"(,"quantity":1}],"note":"x"})"), 400,
                      "validation_failed") == "note: is not a known field");
  CHECK(ExpectProblem(f.Post(R"({"items":[{"product_id":)" + p + R"(,"quantity":1,"price_cents":1}]})"), 400,
                      "validation_failed") == "items[0].price_cents: is not a known field");
  CHECK(ExpectProblem(f.Post(R"({"items":[{"product_id":)" + p + R"(,"quantity":1},7]})"), 400, "validation_failed") ==
        "items[1]: must be an object");
  CHECK(ExpectProblem(f.Post(R"({"items":[{"product_id":")" + p + R"(","quantity":1}]})"), 400, "validation_failed") ==
        "items[0].product_id: must be an integer");
  CHECK(ExpectProblem(f.Post(R"({"items":[{"product_id":)" + p + R"(,"quantity":1.5}]})"), 400, "validation_failed")
            .starts_with("items[0].quantity: must be an integer"));
  CHECK(ExpectProblem(f.Post(R"({"items":[{"product_id":)" + p + R"(}]})"), 400, "validation_failed") ==
        "items[0].quantity: is required");
  CHECK(ExpectProblem(f.Post(R"({"items":[]})"), 400, "validation_failed") == "items: must have 1..100 lines");
  CHECK(ExpectProblem(f.Post(ItemsBody(pen, 0)), 400, "validation_failed") == "items[0].quantity: must be 1..1000");
  CHECK(ExpectProblem(f.Post(ItemsBody(pen, 1001)), 400, "validation_failed") == "items[0].quantity: must be 1..1000");
  CHECK(ExpectProblem(f.Post(ItemsBody(0, 1)), 400, "validation_failed") ==
        "items[0].product_id: must be a positive id");
  CHECK(ExpectProblem(
            f.Post(R"({"items":[{"product_id":)" + p + R"(,"quantity":1},{"product_id":)" + p + R"(,"quantity":1}]})"),
            400, "validation_failed")
            .starts_with("items[1].product_id: product " + p + " is already on line 0"));
  CHECK(ExpectProblem(f.Post(ItemsBody(pen, 1), kAlice, {{"Idempotency-Key", std::string(256, 'a')}}), 400,
                      "validation_failed") == "Idempotency-Key: must be 1..255 printable ASCII characters");
  CHECK(ExpectProblem(f.Post(ItemsBody(pen, 1), kAlice, {{"Idempotency-Key", ""}}), 400, "validation_failed") ==
        "Idempotency-Key: must be 1..255 printable ASCII characters");

  // Only application/json is accepted.
  http::Request text;
  text.method = "POST";
  text.target = "/orders";
  text.headers.Add("Authorization", "Bearer " + f.Token(kAlice));
  text.headers.Add("Content-Type", "text/plain");
  text.body = ItemsBody(pen, 1);
  ExpectProblem(f.app.Handle(text), 415, "unsupported_media_type");

  CHECK(f.products.reserve_calls == 0);
  CHECK(f.products.Stock(pen) == 10);
}

TEST_CASE("POST /orders maps refusals: unknown product 422, insufficient stock 409, products down 503") {
  HttpFixture f;
  const auto pen = f.products.Add(100, 3);
  ExpectProblem(f.Post(ItemsBody(pen + 1, 1)), 422, "unknown_product");
  ExpectProblem(f.Post(ItemsBody(pen, 4)), 409, "insufficient_stock");
  CHECK(f.products.Stock(pen) == 3);
  f.products.reserve_unavailable = true;
  auto down = f.Post(ItemsBody(pen, 1));
  ExpectProblem(down, 503, "dependency_unavailable");
  CHECK(f.products.Stock(pen) == 3);
}

TEST_CASE("POST /orders with an Idempotency-Key replays, rejects reuse and reports in-flight requests") {
  HttpFixture f;
  const auto pen = f.products.Add(100, 10);
  auto first = f.Post(ItemsBody(pen, 2), kAlice, {{"Idempotency-Key", "abc-123"}});
  REQUIRE(first.status == 201);
  auto replay = f.Post(ItemsBody(pen, 2), kAlice, {{"Idempotency-Key", "abc-123"}});
  CHECK(replay.status == 201);
  CHECK(replay.headers.Get("Location") == first.headers.Get("Location"));
  CHECK(Json(replay) == Json(first));
  CHECK(f.products.Stock(pen) == 8);

  CHECK(
      ExpectProblem(f.Post(ItemsBody(pen, 3), kAlice, {{"Idempotency-Key", "abc-123"}}), 422, "idempotency_key_reused")
          .find("Idempotency-Key") != std::string::npos);

  f.Exec(
      "INSERT INTO idempotency_keys (user_id, key, request_fingerprint, state, created_at) "
      "VALUES (1, 'busy', '" +
      std::to_string(pen) + "x1', 'in_progress', 0)");
  ExpectProblem(f.Post(ItemsBody(pen, 1), kAlice, {{"Idempotency-Key", "busy"}}), 409, "request_in_progress");
  ExpectProblem(f.Post(ItemsBody(pen, 5), kAlice, {{"Idempotency-Key", "busy"}}), 422, "idempotency_key_reused");
  CHECK(f.products.Stock(pen) == 8);
}

TEST_CASE("GET /orders lists the caller's own orders, newest first, with keyset pages") {
  HttpFixture f;
  const auto pen = f.products.Add(100, 100);
  std::vector<std::int64_t> ids;
  for (int i = 1; i <= 3; ++i) {
    auto r = f.Post(ItemsBody(pen, i));
    REQUIRE(r.status == 201);
    ids.push_back(Json(r).at("id").as_int64());
  }
  REQUIRE(f.Post(ItemsBody(pen, 1), kBob).status == 201);

  auto page1 = f.Send("GET", "/orders?limit=2", kAlice);
  CHECK(page1.status == 200);
  CHECK(page1.headers.Get("Content-Type") == "application/json");
  bj::object body1 = Json(page1);
  CHECK(body1.size() == 2);
  const bj::array& items1 = body1.at("items").as_array();
  REQUIRE(items1.size() == 2);
  CHECK(items1[0].at("id").as_int64() == ids[2]);
  CHECK(items1[0].at("items").as_array()[0].at("quantity").as_int64() == 3);
  CHECK(items1[1].at("id").as_int64() == ids[1]);
  CHECK(items1[1].as_object().size() == 6);
  CHECK(body1.at("next_after").as_int64() == ids[1]);

  auto page2 = f.Send("GET", "/orders?limit=2&after=" + std::to_string(ids[1]), kAlice);
  CHECK(page2.status == 200);
  bj::object body2 = Json(page2);
  REQUIRE(body2.at("items").as_array().size() == 1);
  CHECK(body2.at("items").as_array()[0].at("id").as_int64() == ids[0]);
  CHECK(body2.at("next_after").is_null());

  bj::object all = Json(f.Send("GET", "/orders", kAlice));
  CHECK(all.at("items").as_array().size() == 3);
  CHECK(all.at("next_after").is_null());

  bj::object bobs = Json(f.Send("GET", "/orders", kBob));
  REQUIRE(bobs.at("items").as_array().size() == 1);
  CHECK(bobs.at("items").as_array()[0].at("user_id").as_int64() == kBob.user_id);

  bj::object nobody = Json(f.Send("GET", "/orders", Caller(77)));
  CHECK(nobody.at("items").as_array().empty());
  CHECK(nobody.at("next_after").is_null());

  ExpectProblem(f.Send("GET", "/orders?limit=0", kAlice), 400, "validation_failed");
  ExpectProblem(f.Send("GET", "/orders?limit=101", kAlice), 400, "validation_failed");
  ExpectProblem(f.Send("GET", "/orders?after=x", kAlice), 400, "validation_failed");
  ExpectProblem(f.Send("GET", "/orders", std::nullopt), 401, "unauthenticated");
}

TEST_CASE("GET /orders/{id}: owner or admin get it, anyone else, bad ids and missing orders get 404") {
  HttpFixture f;
  const auto pen = f.products.Add(100, 10);
  auto placed = f.Post(ItemsBody(pen, 1));
  REQUIRE(placed.status == 201);
  const std::string path = "/orders/" + std::to_string(Json(placed).at("id").as_int64());

  auto mine = f.Send("GET", path, kAlice);
  CHECK(mine.status == 200);
  CHECK(Json(mine) == Json(placed));
  auto admins = f.Send("GET", path, kAdmin);
  CHECK(admins.status == 200);
  CHECK(Json(admins) == Json(placed));

  ExpectProblem(f.Send("GET", path, kBob), 404, "not_found");
  ExpectProblem(f.Send("GET", "/orders/999", kAlice), 404, "not_found");
  ExpectProblem(f.Send("GET", "/orders/abc", kAlice), 404, "not_found");
  ExpectProblem(f.Send("GET", "/orders/0", kAlice), 404, "not_found");
  ExpectProblem(f.Send("GET", "/orders/-1", kAlice), 404, "not_found");
  ExpectProblem(f.Send("GET", path, std::nullopt), 401, "unauthenticated");
  auto wrong_method = f.Send("DELETE", path, kAlice);
  ExpectProblem(wrong_method, 405, "method_not_allowed");
  CHECK(wrong_method.headers.Get("Allow") == "GET");
}

TEST_CASE("POST /orders/{id}/cancel: 200 cancelled, stock back once, repeat unchanged, others 404") {
  HttpFixture f;
  const auto pen = f.products.Add(100, 10);
  auto placed = f.Post(ItemsBody(pen, 4));
  REQUIRE(placed.status == 201);
  const std::string path = "/orders/" + std::to_string(Json(placed).at("id").as_int64()) + "/cancel";

  ExpectProblem(f.Send("POST", path, kBob), 404, "not_found");
  ExpectProblem(f.Send("POST", path, std::nullopt), 401, "unauthenticated");
  ExpectProblem(f.Send("POST", "/orders/abc/cancel", kAlice), 404, "not_found");
  ExpectProblem(f.Send("POST", "/orders/999/cancel", kAlice), 404, "not_found");
  CHECK(f.products.Stock(pen) == 6);

  auto cancelled = f.Send("POST", path, kAlice);
  CHECK(cancelled.status == 200);
  CHECK(cancelled.headers.Get("Content-Type") == "application/json");
  bj::object body = Json(cancelled);
  CHECK(body.at("status").as_string() == "cancelled");
  bj::object expected = Json(placed);
  expected["status"] = "cancelled";
  CHECK(body == expected);
  REQUIRE(f.DeliverEvents());
  CHECK(f.products.Stock(pen) == 10);

  auto again = f.Send("POST", path, kAdmin);
  CHECK(again.status == 200);
  CHECK(Json(again) == body);
  CHECK(f.products.Stock(pen) == 10);
  CHECK(f.products.release_calls == 1);
}

/// Answers every call with one configurable failure, to check the adapter's error table.
class FailingOrders final : public orders::Api {
 public:
  orders::Errc code = orders::Errc::kNotFound;

  std::expected<orders::Order, orders::Error> PlaceOrder(const Principal&, const orders::NewOrder&) override {
    return Fail(code, "placed");
  }
  std::expected<Page<orders::Order>, orders::Error> ListOrders(const Principal&, const PageRequest&) override {
    return Fail(code, "listed");
  }
  std::expected<orders::Order, orders::Error> GetOrder(const Principal&, std::int64_t) override {
    return Fail(code, "got");
  }
  std::expected<orders::Order, orders::Error> CancelOrder(const Principal&, std::int64_t) override {
    return Fail(code, "");
  }
};

TEST_CASE("every orders error has its one status and code on every route") {
  FailingOrders failing;
  HttpFixture f(&failing);
  const std::vector<std::tuple<orders::Errc, int, std::string_view>> table = {
      {orders::Errc::kValidationFailed, 400, "validation_failed"},
      {orders::Errc::kNotFound, 404, "not_found"},
      {orders::Errc::kUnknownProduct, 422, "unknown_product"},
      {orders::Errc::kInsufficientStock, 409, "insufficient_stock"},
      {orders::Errc::kIdempotencyKeyReused, 422, "idempotency_key_reused"},
      {orders::Errc::kRequestInProgress, 409, "request_in_progress"},
      {orders::Errc::kDependencyUnavailable, 503, "dependency_unavailable"},
  };
  for (const auto& [code, status, name] : table) {
    CAPTURE(name);
    failing.code = code;
    CHECK(ExpectProblem(f.Post(ItemsBody(1, 1)), status, name) == "placed");
    CHECK(ExpectProblem(f.Send("GET", "/orders", kAlice), status, name) == "listed");
    CHECK(ExpectProblem(f.Send("GET", "/orders/1", kAlice), status, name) == "got");
    // An empty detail falls back to the reason phrase.
    CHECK(ExpectProblem(f.Send("POST", "/orders/1/cancel", kAlice), status, name) == http::ReasonPhrase(status));
  }
}

}  // namespace
}  // namespace shop::testing
