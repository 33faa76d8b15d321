// API.md "Orders": placing (all or nothing), the item rules, listing, lookup, cancelling,
// price snapshots and Idempotency-Key.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "api_client.h"
#include "server_harness.h"

namespace shop::e2e {
namespace {

using boost::json::array;
using boost::json::object;

constexpr std::int64_t kNoSuchProduct = 999999999999;

void CheckOrderShape(const boost::json::value& o) {
  CAPTURE(Dump(o));
  REQUIRE(o.is_object());
  CHECK(Keys(o.as_object()) == std::set<std::string>{"id", "user_id", "status", "items", "total_cents", "created_at"});
  CHECK(Int(o, "id") > 0);
  CHECK(IsRfc3339Utc(Str(o, "created_at")));
  std::string status = Str(o, "status");
  CHECK((status == "confirmed" || status == "cancelled"));
  REQUIRE(o.at("items").is_array());
  std::int64_t total = 0;
  for (const boost::json::value& line : o.at("items").as_array()) {
    REQUIRE(line.is_object());
    CHECK(Keys(line.as_object()) == std::set<std::string>{"product_id", "quantity", "unit_price_cents"});
    total += Int(line, "quantity") * Int(line, "unit_price_cents");
  }
  CHECK(Int(o, "total_cents") == total);
}

/// The line of `order` for `product`; fails the test when there is none.
boost::json::value LineFor(const boost::json::value& order, std::int64_t product) {
  for (const boost::json::value& line : order.at("items").as_array()) {
    if (Int(line, "product_id") == product) return line;
  }
  FAIL("order has no line for product ", product, ": ", Dump(order));
  return {};
}

std::string OrderPath(std::int64_t id) { return "/orders/" + std::to_string(id); }

std::vector<std::int64_t> Ids(const boost::json::value& page) {
  std::vector<std::int64_t> ids;
  for (const boost::json::value& o : page.at("items").as_array()) ids.push_back(Int(o, "id"));
  return ids;
}

HttpHeaders Key(std::string key) { return {{"Idempotency-Key", std::move(key)}}; }

}  // namespace

TEST_SUITE("orders") {
  TEST_CASE("placing an order: 201 with unit prices, total and status confirmed; the stock is taken") {
    Api api;
    std::int64_t p1 = Int(CreateProduct(api, 250, 10, "o1"), "id");
    std::int64_t p2 = Int(CreateProduct(api, 1000, 5, "o2"), "id");
    User u = RegisterUser(api, "buyer");
    HttpResponse r = api.Post("/orders", OrderBody({{p1, 2}, {p2, 1}}), u.token);
    REQUIRE(r.status == 201);
    boost::json::value order = r.Json();
    CheckOrderShape(order);
    CHECK(Int(order, "user_id") == u.id);
    CHECK(Str(order, "status") == "confirmed");
    CHECK(order.at("items").as_array().size() == 2);
    CHECK(Int(LineFor(order, p1), "quantity") == 2);
    CHECK(Int(LineFor(order, p1), "unit_price_cents") == 250);
    CHECK(Int(LineFor(order, p2), "quantity") == 1);
    CHECK(Int(LineFor(order, p2), "unit_price_cents") == 1000);
    CHECK(Int(order, "total_cents") == 1500);
    CHECK(StockOf(api, p1) == 8);
    CHECK(StockOf(api, p2) == 4);
    HttpResponse get = api.Get(OrderPath(Int(order, "id")), u.token);
    REQUIRE(get.status == 200);
    CHECK(get.Json() == order);
  }

  TEST_CASE("an unknown product is 422 unknown_product and takes no stock") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 100, 10, "known"), "id");
    User u = RegisterUser(api, "unknownbuyer");
    CheckProblem(api.Post("/orders", OrderBody({{p, 1}, {kNoSuchProduct, 1}}), u.token), 422, "unknown_product");
    CheckProblem(api.Post("/orders", OrderBody({{kNoSuchProduct, 1}, {p, 1}}), u.token), 422, "unknown_product");
    CheckProblem(api.Post("/orders", OrderBody({{kNoSuchProduct, 1}}), u.token), 422, "unknown_product");
    CHECK(StockOf(api, p) == 10);
    CHECK(api.Get("/orders", u.token).Json().at("items").as_array().empty());
  }

  TEST_CASE("not enough stock for any line is 409 insufficient_stock and no line's stock is taken") {
    Api api;
    std::int64_t a = Int(CreateProduct(api, 100, 10, "plenty"), "id");
    std::int64_t b = Int(CreateProduct(api, 200, 3, "scarce"), "id");
    std::int64_t empty = Int(CreateProduct(api, 300, 0, "empty"), "id");
    User u = RegisterUser(api, "greedy");
    CheckProblem(api.Post("/orders", OrderBody({{a, 1}, {b, 4}}), u.token), 409, "insufficient_stock");
    CheckProblem(api.Post("/orders", OrderBody({{b, 4}, {a, 1}}), u.token), 409, "insufficient_stock");
    CheckProblem(api.Post("/orders", OrderBody({{a, 11}}), u.token), 409, "insufficient_stock");
    CheckProblem(api.Post("/orders", OrderBody({{a, 1}, {empty, 1}}), u.token), 409, "insufficient_stock");
    CHECK(StockOf(api, a) == 10);
    CHECK(StockOf(api, b) == 3);
    CHECK(api.Get("/orders", u.token).Json().at("items").as_array().empty());
    // Exactly what is left is enough.
    PlaceOrder(api, u.token, {{a, 10}, {b, 3}});
    CHECK(StockOf(api, a) == 0);
    CHECK(StockOf(api, b) == 0);
    CheckProblem(api.Post("/orders", OrderBody({{a, 1}}), u.token), 409, "insufficient_stock");
  }

  TEST_CASE("items: 1..100 lines, quantity 1..1000, each product at most once") {
    Api api;
    std::vector<std::int64_t> products;
    for (int i = 0; i < 101; ++i) products.push_back(Int(CreateProduct(api, 1, 10, "many"), "id"));
    std::int64_t big = Int(CreateProduct(api, 1, 1000, "big"), "id");
    User u = RegisterUser(api, "rules");
    const std::int64_t a = products[0];

    OrderLines lines101;
    for (std::int64_t p : products) lines101.emplace_back(p, 1);
    OrderLines lines100(lines101.begin(), lines101.begin() + 100);

    std::vector<boost::json::value> bad = {
        OrderBody({}),
        OrderBody(lines101),
        OrderBody({{a, 0}}),
        OrderBody({{a, -1}}),
        OrderBody({{a, 1001}}),
        OrderBody({{a, 1}, {a, 2}}),
        OrderBody({{a, 1}, {products[1], 1}, {a, 1}}),
        object{},
        object{{"items", nullptr}},
        object{{"items", object{}}},
        object{{"items", "x"}},
        object{{"items", array{1, 2}}},
        object{{"items", array{object{{"product_id", a}}}}},
        object{{"items", array{object{{"quantity", 1}}}}},
        object{{"items", array{object{{"product_id", a}, {"quantity", "1"}}}}},
        object{{"items", array{object{{"product_id", a}, {"quantity", 1.5}}}}},
        object{{"items", array{object{{"product_id", a}, {"quantity", nullptr}}}}},
        object{{"items", array{object{{"product_id", std::to_string(a)}, {"quantity", 1}}}}},
        object{{"items", array{object{{"product_id", a}, {"quantity", 1}, {"unit_price_cents", 0}}}}},
        object{{"items", array{object{{"product_id", a}, {"quantity", 1}}}}, {"user_id", 1}},
        object{{"items", array{object{{"product_id", a}, {"quantity", 1}}}}, {"status", "cancelled"}},
    };
    for (const boost::json::value& body : bad) {
      CAPTURE(Dump(body).substr(0, 300));
      CheckProblem(api.Post("/orders", body, u.token), 400, "validation_failed");
    }
    CHECK(StockOf(api, a) == 10);
    CHECK(StockOf(api, products[1]) == 10);
    CHECK(StockOf(api, products[100]) == 10);

    boost::json::object hundred = PlaceOrder(api, u.token, lines100);
    CHECK(hundred.at("items").as_array().size() == 100);
    CHECK(Int(hundred, "total_cents") == 100);
    boost::json::object thousand = PlaceOrder(api, u.token, {{big, 1000}});
    CHECK(Int(thousand, "total_cents") == 1000);
    CHECK(StockOf(api, big) == 0);
  }

  TEST_CASE("placing an order needs a valid token") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 1, 10, "anon"), "id");
    CheckProblem(api.Post("/orders", OrderBody({{p, 1}})), 401, "unauthenticated");
    CheckProblem(api.Post("/orders", OrderBody({{p, 1}}), "x.y.z"), 401, "unauthenticated");
    CHECK(StockOf(api, p) == 10);
  }

  TEST_CASE("GET /orders: only the caller's own, newest first, paginated with after") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 10, 100, "listing"), "id");
    User a = RegisterUser(api, "lista");
    User b = RegisterUser(api, "listb");
    std::vector<std::int64_t> a_ids;
    for (int i = 0; i < 3; ++i) a_ids.push_back(Int(PlaceOrder(api, a.token, {{p, 1}}), "id"));
    std::int64_t b_id = Int(PlaceOrder(api, b.token, {{p, 2}}), "id");

    HttpResponse r = api.Get("/orders", a.token);
    REQUIRE(r.status == 200);
    boost::json::value page = r.Json();
    CHECK(Keys(page.as_object()) == std::set<std::string>{"items", "next_after"});
    CHECK(Ids(page) == std::vector<std::int64_t>{a_ids[2], a_ids[1], a_ids[0]});
    CHECK(page.at("next_after").is_null());
    for (const boost::json::value& o : page.at("items").as_array()) {
      CheckOrderShape(o);
      CHECK(Int(o, "user_id") == a.id);
    }
    CHECK(Ids(api.Get("/orders", b.token).Json()) == std::vector<std::int64_t>{b_id});

    boost::json::value first = api.Get("/orders?limit=2", a.token).Json();
    CHECK(Ids(first) == std::vector<std::int64_t>{a_ids[2], a_ids[1]});
    REQUIRE(first.at("next_after").is_int64());
    CHECK(Int(first, "next_after") == a_ids[1]);
    boost::json::value second = api.Get("/orders?limit=2&after=" + std::to_string(a_ids[1]), a.token).Json();
    CHECK(Ids(second) == std::vector<std::int64_t>{a_ids[0]});
    CHECK(second.at("next_after").is_null());
    // after=ID continues below ID even when ID is someone else's.
    CHECK(Ids(api.Get("/orders?after=" + std::to_string(b_id), a.token).Json()) ==
          std::vector<std::int64_t>{a_ids[2], a_ids[1], a_ids[0]});
    // An admin's list is the admin's own orders too, not everybody's.
    for (std::int64_t id : Ids(api.Get("/orders?limit=100", Admin().token).Json())) {
      CHECK(id != b_id);
      CHECK(std::find(a_ids.begin(), a_ids.end(), id) == a_ids.end());
    }
    for (const char* query : {"limit=0", "limit=101", "limit=abc", "after=abc"}) {
      CAPTURE(std::string(query));
      CheckProblem(api.Get(std::string("/orders?") + query, a.token), 400, "validation_failed");
    }
    CheckProblem(api.Get("/orders"), 401, "unauthenticated");
  }

  TEST_CASE("GET /orders: the default limit is 20") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 1, 100, "deflimit"), "id");
    User u = RegisterUser(api, "deflimit");
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 21; ++i) ids.push_back(Int(PlaceOrder(api, u.token, {{p, 1}}), "id"));
    HttpResponse r = api.Get("/orders", u.token);
    REQUIRE(r.status == 200);
    std::vector<std::int64_t> listed = Ids(r.Json());
    REQUIRE(listed.size() == 20);
    CHECK(listed.front() == ids.back());
    CHECK(listed.back() == ids[1]);
    CHECK(Int(r.Json(), "next_after") == ids[1]);
    boost::json::value rest = api.Get("/orders?after=" + std::to_string(ids[1]), u.token).Json();
    CHECK(Ids(rest) == std::vector<std::int64_t>{ids[0]});
    CHECK(rest.at("next_after").is_null());
  }

  TEST_CASE("GET /orders/{id}: the owner and an admin; another customer gets 404") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 10, 10, "lookup"), "id");
    User owner = RegisterUser(api, "owner");
    User other = RegisterUser(api, "other");
    boost::json::object order = PlaceOrder(api, owner.token, {{p, 1}});
    const std::string path = OrderPath(Int(order, "id"));
    CHECK(api.Get(path, owner.token).Json() == boost::json::value(order));
    HttpResponse by_admin = api.Get(path, Admin().token);
    REQUIRE(by_admin.status == 200);
    CHECK(by_admin.Json() == boost::json::value(order));
    HttpResponse others = api.Get(path, other.token);
    CheckProblem(others, 404, "not_found");
    HttpResponse missing = api.Get(OrderPath(kNoSuchProduct), owner.token);
    CheckProblem(missing, 404, "not_found");
    CHECK(others.body.size() == missing.body.size());
    CheckProblem(api.Get(OrderPath(kNoSuchProduct), Admin().token), 404, "not_found");
    CheckProblem(api.Get(path), 401, "unauthenticated");
  }

  TEST_CASE("cancel: status cancelled and the stock back; cancelling again is 200 unchanged, stock back once") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 10, 10, "cancel"), "id");
    std::int64_t q = Int(CreateProduct(api, 20, 5, "cancel2"), "id");
    User u = RegisterUser(api, "canceller");
    boost::json::object order = PlaceOrder(api, u.token, {{p, 4}, {q, 5}});
    CHECK(StockOf(api, p) == 6);
    CHECK(StockOf(api, q) == 0);
    const std::string path = OrderPath(Int(order, "id"));

    HttpResponse first = api.Send("POST", path + "/cancel", WithAuth(u.token));
    REQUIRE(first.status == 200);
    boost::json::value cancelled = first.Json();
    CheckOrderShape(cancelled);
    CHECK(Str(cancelled, "status") == "cancelled");
    CHECK(Int(cancelled, "id") == Int(order, "id"));
    CHECK(cancelled.at("items") == order.at("items"));
    CHECK(Int(cancelled, "total_cents") == Int(order, "total_cents"));
    CHECK(StockWithin(api, p, 10) == 10);
    CHECK(StockWithin(api, q, 5) == 5);

    HttpResponse again = api.Send("POST", path + "/cancel", WithAuth(u.token));
    REQUIRE(again.status == 200);
    CHECK(again.Json() == cancelled);
    // A later order's cancel is the barrier: had the second cancel given stock back too, it would
    // have done so before this one (events of a module are delivered in order).
    const std::string later = OrderPath(Int(PlaceOrder(api, u.token, {{p, 1}}), "id"));
    REQUIRE(api.Send("POST", later + "/cancel", WithAuth(u.token)).status == 200);
    CHECK(StockWithin(api, p, 10) == 10);
    CHECK(StockOf(api, q) == 5);
    CHECK(api.Get(path, u.token).Json() == cancelled);
    CHECK(Str(api.Get("/orders", u.token).Json().at("items").as_array().at(0), "status") == "cancelled");
  }

  TEST_CASE("cancel: another customer gets 404 and nothing changes; an admin may cancel") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 10, 10, "cancelother"), "id");
    User owner = RegisterUser(api, "cowner");
    User other = RegisterUser(api, "cother");
    boost::json::object order = PlaceOrder(api, owner.token, {{p, 3}});
    const std::string path = OrderPath(Int(order, "id"));
    CheckProblem(api.Send("POST", path + "/cancel", WithAuth(other.token)), 404, "not_found");
    CheckProblem(api.Send("POST", path + "/cancel"), 401, "unauthenticated");
    CheckProblem(api.Send("POST", OrderPath(kNoSuchProduct) + "/cancel", WithAuth(owner.token)), 404, "not_found");
    CHECK(Str(api.Get(path, owner.token).Json(), "status") == "confirmed");
    CHECK(StockOf(api, p) == 7);
    HttpResponse by_admin = api.Send("POST", path + "/cancel", WithAuth(Admin().token));
    REQUIRE(by_admin.status == 200);
    CHECK(Str(by_admin.Json(), "status") == "cancelled");
    CHECK(Int(by_admin.Json(), "user_id") == owner.id);
    CHECK(StockWithin(api, p, 10) == 10);
  }

  TEST_CASE("a later price change does not alter an existing order") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 250, 10, "price"), "id");
    User u = RegisterUser(api, "pricewatch");
    boost::json::object order = PlaceOrder(api, u.token, {{p, 2}});
    REQUIRE(api.Patch("/products/" + std::to_string(p), object{{"price_cents", 999}}, Admin().token).status == 200);
    boost::json::value again = api.Get(OrderPath(Int(order, "id")), u.token).Json();
    CHECK(Int(LineFor(again, p), "unit_price_cents") == 250);
    CHECK(Int(again, "total_cents") == 500);
    boost::json::object later = PlaceOrder(api, u.token, {{p, 1}});
    CHECK(Int(LineFor(later, p), "unit_price_cents") == 999);
    CHECK(Int(later, "total_cents") == 999);
    // Cancelling the old order still shows the old price.
    HttpResponse cancelled = api.Send("POST", OrderPath(Int(order, "id")) + "/cancel", WithAuth(u.token));
    REQUIRE(cancelled.status == 200);
    CHECK(Int(cancelled.Json(), "total_cents") == 500);
  }

  TEST_CASE("Idempotency-Key: the same key and body replay the first response and take no more stock") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 100, 10, "idem"), "id");
    User u = RegisterUser(api, "idem");
    const std::string key = Unique("key");
    HttpResponse first = api.Post("/orders", OrderBody({{p, 3}}), u.token, Key(key));
    REQUIRE(first.status == 201);
    CHECK(StockOf(api, p) == 7);
    for (int i = 0; i < 3; ++i) {
      HttpResponse replay = api.Post("/orders", OrderBody({{p, 3}}), u.token, Key(key));
      REQUIRE(replay.status == 201);
      CHECK(Int(replay.Json(), "id") == Int(first.Json(), "id"));
      CHECK(replay.Json() == first.Json());
    }
    CHECK(StockOf(api, p) == 7);
    CHECK(Ids(api.Get("/orders", u.token).Json()) == std::vector<std::int64_t>{Int(first.Json(), "id")});
    // Without the key, the same body is a new order.
    PlaceOrder(api, u.token, {{p, 3}});
    CHECK(StockOf(api, p) == 4);
  }

  TEST_CASE("Idempotency-Key: the same key with a different body is 422 idempotency_key_reused") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 100, 10, "reuse"), "id");
    std::int64_t q = Int(CreateProduct(api, 100, 10, "reuse2"), "id");
    User u = RegisterUser(api, "reuse");
    const std::string key = Unique("key");
    REQUIRE(api.Post("/orders", OrderBody({{p, 1}}), u.token, Key(key)).status == 201);
    CheckProblem(api.Post("/orders", OrderBody({{p, 2}}), u.token, Key(key)), 422, "idempotency_key_reused");
    CheckProblem(api.Post("/orders", OrderBody({{q, 1}}), u.token, Key(key)), 422, "idempotency_key_reused");
    CheckProblem(api.Post("/orders", OrderBody({{p, 1}, {q, 1}}), u.token, Key(key)), 422, "idempotency_key_reused");
    CHECK(StockOf(api, p) == 9);
    CHECK(StockOf(api, q) == 10);
  }

  TEST_CASE("Idempotency-Key: 1..255 printable ASCII characters, else 400") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 100, 10, "keyrules"), "id");
    User u = RegisterUser(api, "keyrules");
    for (std::string key : {std::string(256, 'k'), std::string(1000, 'k'), std::string("cl\xc3\xa9")}) {
      CAPTURE(key.size());
      CheckProblem(api.Post("/orders", OrderBody({{p, 1}}), u.token, Key(key)), 400, "validation_failed");
    }
    SUBCASE("an empty key is not 1..255 characters") {
      CheckProblem(api.Post("/orders", OrderBody({{p, 1}}), u.token, Key("")), 400, "validation_failed");
    }
    CHECK(StockOf(api, p) == 10);
    std::string longest = Unique("k");
    longest += std::string(255 - longest.size(), 'k');
    CHECK(api.Post("/orders", OrderBody({{p, 1}}), u.token, Key(longest)).status == 201);
    CHECK(api.Post("/orders", OrderBody({{p, 1}}), u.token, Key("!")).status == 201);
    CHECK(api.Post("/orders", OrderBody({{p, 1}}), u.token, Key("~{}[]<>@#$%^&*()=+|\\/'\"`,.;:?")).status == 201);
  }

  TEST_CASE("Idempotency-Key: different users may use the same key independently") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 100, 10, "shared"), "id");
    User a = RegisterUser(api, "keya");
    User b = RegisterUser(api, "keyb");
    const std::string key = Unique("shared-key");
    HttpResponse ra = api.Post("/orders", OrderBody({{p, 1}}), a.token, Key(key));
    HttpResponse rb = api.Post("/orders", OrderBody({{p, 2}}), b.token, Key(key));
    REQUIRE(ra.status == 201);
    REQUIRE(rb.status == 201);
    CHECK(Int(ra.Json(), "id") != Int(rb.Json(), "id"));
    CHECK(Int(ra.Json(), "user_id") == a.id);
    CHECK(Int(rb.Json(), "user_id") == b.id);
    CHECK(StockOf(api, p) == 7);
  }
}

}  // namespace shop::e2e
