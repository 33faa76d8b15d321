// The products HTTP adapter, through the same App pipeline a server runs: every route, status,
// problem code and body.

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <utility>

#include "products_testing.h"
#include "shop/auth/token.h"
#include "shop/core/time.h"
#include "shop/http/app.h"
#include "shop/products/http.h"

namespace {

using shop::Principal;
using shop::Role;
using shop::products::Api;
using shop::products::Errc;
using shop::products::NewProduct;
using shop::products::Product;
using shop::products::testing::kAdmin;
namespace auth = shop::auth;
namespace http = shop::http;
namespace products = shop::products;

std::string SignToken(const auth::SigningKey& key, Role role, std::int64_t lifetime_seconds = 600) {
  const std::int64_t now = shop::UnixNow();
  return key.Sign(auth::Claims{Principal{role == Role::kAdmin ? 1 : 2, role}, now - 5, now + lifetime_seconds});
}

/// An App serving the products routes over `api`, and signed-in callers to send requests as.
class Server {
 public:
  explicit Server(Api& api) : key_(auth::SigningKey::Generate()) {
    verifier_.SetKeys({key_.public_key()});
    products::AddRoutes(app_.router(), api, verifier_);
    app_.Seal();
    admin_ = SignToken(key_, Role::kAdmin);
    customer_ = SignToken(key_, Role::kCustomer);
  }

  const std::string& admin() const { return admin_; }
  const std::string& customer() const { return customer_; }
  const auth::SigningKey& key() const { return key_; }

  /// Sends one request; `token` (if any) as a bearer token, `body` (if any) with `content_type`.
  http::Response Send(std::string method, std::string target, std::string body = {}, std::string_view token = {},
                      std::string_view content_type = "application/json") {
    http::Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    if (!token.empty()) request.headers.Add("Authorization", "Bearer " + std::string(token));
    if (!body.empty() && !content_type.empty()) request.headers.Add("Content-Type", std::string(content_type));
    request.body = std::move(body);
    return app_.Handle(request);
  }

 private:
  auth::SigningKey key_;
  auth::Verifier verifier_;
  http::App app_{"products", "test"};
  std::string admin_;
  std::string customer_;
};

/// The in-process service with the adapter in front of it.
class Fixture {
 public:
  Fixture() : server_(service_.api()) {}
  Api& api() { return service_.api(); }
  Server& server() { return server_; }

  Product Create(std::string sku, std::string name = "Widget", std::int64_t price_cents = 100, std::int64_t stock = 1) {
    auto product = api().CreateProduct(kAdmin, NewProduct{std::move(sku), std::move(name), price_cents, stock});
    REQUIRE(product.has_value());
    return *product;
  }

 private:
  products::testing::InProcessService service_;
  Server server_;
};

boost::json::value Json(const http::Response& response) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(response.body, ec);
  REQUIRE_MESSAGE(!ec, "body is not JSON: " << response.body);
  return value;
}

/// A JSON string's text; empty (and a failed check) for anything else.
std::string Text(const boost::json::value& value) {
  CHECK(value.is_string());
  if (!value.is_string()) return {};
  return std::string(value.get_string().data(), value.get_string().size());
}

/// Checks that `response` is a problem+json with `status` and `code`; returns its detail.
std::string CheckProblem(const http::Response& response, int status, std::string_view code) {
  CHECK(response.status == status);
  CHECK(response.headers.Get("Content-Type") == "application/problem+json");
  boost::json::value body = Json(response);
  REQUIRE(body.is_object());
  CHECK(body.at("status") == status);
  CHECK(Text(body.at("code")) == code);
  CHECK(Text(body.at("type")) == "about:blank");
  CHECK(Text(body.at("title")) == http::ReasonPhrase(status));
  return Text(body.at("detail"));
}

std::string ProductJson(const Product& p) {
  return R"({"id":)" + std::to_string(p.id) + R"(,"sku":")" + p.sku + R"(","name":")" + p.name + R"(","price_cents":)" +
         std::to_string(p.price_cents) + R"(,"stock":)" + std::to_string(p.stock) + R"(,"created_at":")" +
         p.created_at + R"("})";
}

bool Contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

}  // namespace

TEST_CASE("products http: GET /products/{id}") {
  Fixture f;
  Server& server = f.server();
  const Product mug = f.Create("MUG-1", "Blue mug", 1999, 7);

  SUBCASE("answers the product, exactly these fields in this order") {
    http::Response r = server.Send("GET", "/products/" + std::to_string(mug.id));
    CHECK(r.status == 200);
    CHECK(r.headers.Get("Content-Type") == "application/json");
    CHECK(r.headers.Get("Api-Version") == "1");
    CHECK_FALSE(r.headers.Get("X-Request-Id").empty());
    CHECK(r.body == ProductJson(mug));
    boost::json::value body = Json(r);
    CHECK(body.at("id") == mug.id);
    CHECK(Text(body.at("sku")) == "MUG-1");
    CHECK(Text(body.at("name")) == "Blue mug");
    CHECK(body.at("price_cents") == 1999);
    CHECK(body.at("stock") == 7);
    CHECK(Text(body.at("created_at")) == mug.created_at);
  }

  SUBCASE("escapes what JSON needs and keeps UTF-8 as it is") {
    const std::string name = "Say \"hi\" \\ caf\xC3\xA9 \xF0\x9F\x8D\xB5";
    const Product odd = f.Create("ODD", name);
    http::Response r = server.Send("GET", "/products/" + std::to_string(odd.id));
    CHECK(r.status == 200);
    CHECK(Contains(r.body, R"("name":"Say \"hi\" \\ caf)"));
    CHECK(Text(Json(r).at("name")) == name);
  }

  SUBCASE("an unknown id or text that is not an id is 404") {
    for (const std::string& target :
         {"/products/" + std::to_string(mug.id + 1), std::string("/products/abc"), std::string("/products/0"),
          std::string("/products/-1"), std::string("/products/01"), std::string("/products/1.5"),
          std::string("/products/99999999999999999999")}) {
      CAPTURE(target);
      CheckProblem(server.Send("GET", target), 404, "not_found");
    }
    CHECK(Contains(CheckProblem(server.Send("GET", "/products/" + std::to_string(mug.id + 1)), 404, "not_found"),
                   std::to_string(mug.id + 1)));
  }

  SUBCASE("other methods are 405 with Allow") {
    http::Response r = server.Send("DELETE", "/products/" + std::to_string(mug.id));
    CheckProblem(r, 405, "method_not_allowed");
    CHECK(Contains(r.headers.Get("Allow"), "GET"));
    CHECK(Contains(r.headers.Get("Allow"), "PATCH"));
    http::Response put = server.Send("PUT", "/products", "{}", server.admin());
    CheckProblem(put, 405, "method_not_allowed");
    CHECK(put.headers.Get("Allow") == "GET, POST");
  }
}

TEST_CASE("products http: GET /products") {
  Fixture f;
  Server& server = f.server();

  SUBCASE("an empty catalogue") {
    http::Response r = server.Send("GET", "/products");
    CHECK(r.status == 200);
    CHECK(r.headers.Get("Content-Type") == "application/json");
    CHECK(r.body == R"({"items":[],"next_after":null})");
  }

  SUBCASE("pages by id with next_after") {
    const Product a = f.Create("A");
    const Product b = f.Create("B");
    const Product c = f.Create("C");

    http::Response first = server.Send("GET", "/products?limit=2");
    CHECK(first.status == 200);
    CHECK(first.body ==
          R"({"items":[)" + ProductJson(a) + "," + ProductJson(b) + R"(],"next_after":)" + std::to_string(b.id) + "}");

    http::Response rest = server.Send("GET", "/products?limit=2&after=" + std::to_string(b.id));
    CHECK(rest.body == R"({"items":[)" + ProductJson(c) + R"(],"next_after":null})");

    boost::json::value all = Json(server.Send("GET", "/products"));
    CHECK(all.at("items").as_array().size() == 3);
    CHECK(all.at("next_after").is_null());

    boost::json::value one = Json(server.Send("GET", "/products?after=" + std::to_string(a.id) + "&limit=1"));
    REQUIRE(one.at("items").as_array().size() == 1);
    CHECK(one.at("items").at(0).at("id") == b.id);
    CHECK(one.at("next_after") == b.id);

    CHECK(Json(server.Send("GET", "/products?limit=100")).at("items").as_array().size() == 3);
    CHECK(Json(server.Send("GET", "/products?after=0")).at("items").as_array().size() == 3);
    CHECK(Json(server.Send("GET", "/products?after=" + std::to_string(c.id))).at("items").as_array().empty());
  }

  SUBCASE("a limit or after out of range or not a number is 400") {
    for (const char* target :
         {"/products?limit=0", "/products?limit=101", "/products?limit=abc", "/products?limit=", "/products?limit=-1",
          "/products?limit=1.5", "/products?after=abc", "/products?after=-1", "/products?after="}) {
      CAPTURE(target);
      CheckProblem(server.Send("GET", target), 400, "validation_failed");
    }
    CHECK(Contains(CheckProblem(server.Send("GET", "/products?limit=101"), 400, "validation_failed"), "limit"));
  }
}

TEST_CASE("products http: POST /products") {
  Fixture f;
  Server& server = f.server();
  const std::string valid = R"({"sku":"NEW-1","name":"  Teapot ","price_cents":2500,"stock":4})";

  SUBCASE("an admin creates: 201, the product and its Location") {
    http::Response r = server.Send("POST", "/products", valid, server.admin());
    CHECK(r.status == 201);
    CHECK(r.headers.Get("Content-Type") == "application/json");
    boost::json::value body = Json(r);
    const std::int64_t id = body.at("id").as_int64();
    CHECK(id > 0);
    CHECK(Text(body.at("sku")) == "NEW-1");
    CHECK(Text(body.at("name")) == "Teapot");
    CHECK(body.at("price_cents") == 2500);
    CHECK(body.at("stock") == 4);
    CHECK(body.at("created_at").is_string());
    CHECK(r.headers.Get("Location") == "/products/" + std::to_string(id));

    http::Response got = server.Send("GET", std::string(r.headers.Get("Location")));
    CHECK(got.status == 200);
    CHECK(got.body == r.body);
  }

  SUBCASE("without a valid token: 401") {
    http::Response none = server.Send("POST", "/products", valid);
    CheckProblem(none, 401, "unauthenticated");
    CheckProblem(server.Send("POST", "/products", valid, "not-a-jwt"), 401, "unauthenticated");
    const auth::SigningKey stranger = auth::SigningKey::Generate();
    CheckProblem(server.Send("POST", "/products", valid, SignToken(stranger, Role::kAdmin)), 401, "unauthenticated");
    CheckProblem(server.Send("POST", "/products", valid, SignToken(server.key(), Role::kAdmin, -60)), 401,
                 "unauthenticated");
    CHECK(f.api().ListProducts({})->items.empty());
  }

  SUBCASE("a customer: 403") {
    CheckProblem(server.Send("POST", "/products", valid, server.customer()), 403, "forbidden");
    CHECK(f.api().ListProducts({})->items.empty());
  }

  SUBCASE("a duplicate sku: 409") {
    CHECK(server.Send("POST", "/products", valid, server.admin()).status == 201);
    CheckProblem(server.Send("POST", "/products", valid, server.admin()), 409, "sku_taken");
  }

  SUBCASE("not JSON: 415 and 400") {
    CheckProblem(server.Send("POST", "/products", valid, server.admin(), "text/plain"), 415, "unsupported_media_type");
    CheckProblem(server.Send("POST", "/products", valid, server.admin(), ""), 415, "unsupported_media_type");
    CheckProblem(server.Send("POST", "/products", R"({"sku":)", server.admin()), 400, "malformed_json");
    CheckProblem(server.Send("POST", "/products", "", server.admin()), 415, "unsupported_media_type");
    CheckProblem(server.Send("POST", "/products", "[1]", server.admin()), 400, "validation_failed");
    CHECK(server.Send("POST", "/products", valid, server.admin(), "application/json; charset=utf-8").status == 201);
  }

  SUBCASE("the wrong shape: 400 naming the field") {
    struct Case {
      const char* body;
      const char* field;
    };
    for (const Case& c : {
             Case{R"({"name":"N","price_cents":1,"stock":1})", "sku"},
             Case{R"({"sku":"S","price_cents":1,"stock":1})", "name"},
             Case{R"({"sku":"S","name":"N","stock":1})", "price_cents"},
             Case{R"({"sku":"S","name":"N","price_cents":1})", "stock"},
             Case{R"({"sku":5,"name":"N","price_cents":1,"stock":1})", "sku"},
             Case{R"({"sku":"S","name":null,"price_cents":1,"stock":1})", "name"},
             Case{R"({"sku":"S","name":"N","price_cents":"1","stock":1})", "price_cents"},
             Case{R"({"sku":"S","name":"N","price_cents":1.5,"stock":1})", "price_cents"},
             Case{R"({"sku":"S","name":"N","price_cents":1,"stock":1e30})", "stock"},
             Case{R"({"sku":"S","name":"N","price_cents":1,"stock":18446744073709551615})", "stock"},
             Case{R"({"sku":"S","name":"N","price_cents":1,"stock":true})", "stock"},
             Case{R"({"sku":"S","name":"N","price_cents":1,"stock":1,"colour":"red"})", "colour"},
             Case{R"({"sku":"S","name":"N","price_cents":1,"stock":1,"id":7})", "id"},
         }) {
      CAPTURE(c.body);
      CHECK(Contains(CheckProblem(server.Send("POST", "/products", c.body, server.admin()), 400, "validation_failed"),
                     c.field));
    }
    CHECK(f.api().ListProducts({})->items.empty());
  }

  SUBCASE("values the domain rejects: 400 naming the field") {
    struct Case {
      const char* body;
      const char* field;
    };
    for (const Case& c : {
             Case{R"({"sku":"bad sku","name":"N","price_cents":1,"stock":1})", "sku"},
             Case{R"({"sku":"S","name":"   ","price_cents":1,"stock":1})", "name"},
             Case{R"({"sku":"S","name":"a\u0007b","price_cents":1,"stock":1})", "name"},
             Case{R"({"sku":"S","name":"N","price_cents":100000001,"stock":1})", "price_cents"},
             Case{R"({"sku":"S","name":"N","price_cents":1,"stock":-1})", "stock"},
         }) {
      CAPTURE(c.body);
      CHECK(Contains(CheckProblem(server.Send("POST", "/products", c.body, server.admin()), 400, "validation_failed"),
                     c.field));
    }
  }
}

TEST_CASE("products http: PATCH /products/{id}") {
  Fixture f;
  Server& server = f.server();
  const Product p = f.Create("P-1", "Plain", 100, 5);
  const std::string target = "/products/" + std::to_string(p.id);

  SUBCASE("an admin changes any of name, price and stock: 200 and the product") {
    http::Response r = server.Send("PATCH", target, R"({"price_cents":150})", server.admin());
    CHECK(r.status == 200);
    Product expected = p;
    expected.price_cents = 150;
    CHECK(r.body == ProductJson(expected));

    r = server.Send("PATCH", target, R"({"name":" Fancy ","stock":0,"price_cents":0})", server.admin());
    CHECK(r.status == 200);
    expected.name = "Fancy";
    expected.stock = 0;
    expected.price_cents = 0;
    CHECK(r.body == ProductJson(expected));
    CHECK(server.Send("GET", target).body == ProductJson(expected));
  }

  SUBCASE("without a valid token: 401; a customer: 403") {
    CheckProblem(server.Send("PATCH", target, R"({"stock":1})"), 401, "unauthenticated");
    CheckProblem(server.Send("PATCH", target, R"({"stock":1})", "x.y.z"), 401, "unauthenticated");
    CheckProblem(server.Send("PATCH", target, R"({"stock":1})", server.customer()), 403, "forbidden");
    CheckProblem(server.Send("PATCH", "/products/abc", R"({"stock":1})", server.customer()), 403, "forbidden");
    CHECK(f.api().GetProduct(p.id)->stock == 5);
  }

  SUBCASE("an unknown id or text that is not an id: 404") {
    CheckProblem(server.Send("PATCH", "/products/" + std::to_string(p.id + 1), R"({"stock":1})", server.admin()), 404,
                 "not_found");
    CheckProblem(server.Send("PATCH", "/products/abc", R"({"stock":1})", server.admin()), 404, "not_found");
  }

  SUBCASE("a body of the wrong shape or values: 400, nothing changes") {
    struct Case {
      const char* body;
      const char* field;
    };
    for (const Case& c : {
             Case{R"({})", "patch"},
             Case{R"({"sku":"OTHER"})", "sku"},
             Case{R"({"sku":"OTHER","stock":1})", "sku"},
             Case{R"({"stock":1,"colour":"red"})", "colour"},
             Case{R"({"name":7})", "name"},
             Case{R"({"name":null})", "name"},
             Case{R"({"stock":"9"})", "stock"},
             Case{R"({"price_cents":0.5})", "price_cents"},
             Case{R"({"price_cents":100000001})", "price_cents"},
             Case{R"({"stock":1000000001})", "stock"},
             Case{R"({"name":""})", "name"},
         }) {
      CAPTURE(c.body);
      CHECK(Contains(CheckProblem(server.Send("PATCH", target, c.body, server.admin()), 400, "validation_failed"),
                     c.field));
    }
    CheckProblem(server.Send("PATCH", target, R"({"stock":)", server.admin()), 400, "malformed_json");
    CheckProblem(server.Send("PATCH", target, R"({"stock":1})", server.admin(), "text/plain"), 415,
                 "unsupported_media_type");
    CHECK(server.Send("GET", target).body == ProductJson(p));
  }
}

namespace {

/// An Api whose every call fails with one code, to see how the adapter answers each.
class FailingApi final : public Api {
 public:
  explicit FailingApi(Errc code) : code_(code) {}
  std::expected<Product, products::Error> GetProduct(std::int64_t) override { return Failure(); }
  std::expected<shop::Page<Product>, products::Error> ListProducts(const shop::PageRequest&) override {
    return Failure();
  }
  std::expected<Product, products::Error> CreateProduct(const Principal&, const NewProduct&) override {
    return Failure();
  }
  std::expected<Product, products::Error> UpdateProduct(const Principal&, std::int64_t,
                                                        const products::ProductPatch&) override {
    return Failure();
  }
  std::expected<std::vector<products::ReservedLine>, products::Error> Reserve(
      std::string_view, std::optional<std::int64_t>, const std::vector<products::ReserveLine>&) override {
    return Failure();
  }
  std::expected<void, products::Error> Release(std::string_view) override { return Failure(); }

 private:
  std::unexpected<products::Error> Failure() const { return shop::Fail(code_, "the detail"); }
  Errc code_;
};

}  // namespace

TEST_CASE("products http: every domain error has its status and code") {
  struct Case {
    Errc code;
    int status;
    const char* name;
  };
  for (const Case& c : {
           Case{Errc::kValidationFailed, 400, "validation_failed"},
           Case{Errc::kSkuTaken, 409, "sku_taken"},
           Case{Errc::kNotFound, 404, "not_found"},
           Case{Errc::kForbidden, 403, "forbidden"},
           Case{Errc::kUnknownProduct, 422, "unknown_product"},
           Case{Errc::kInsufficientStock, 409, "insufficient_stock"},
           Case{Errc::kReservationReleased, 409, "reservation_released"},
           Case{Errc::kUnavailable, 503, "dependency_unavailable"},
       }) {
    CAPTURE(c.name);
    FailingApi api(c.code);
    Server server(api);
    CHECK(CheckProblem(server.Send("GET", "/products/1"), c.status, c.name) == "the detail");
    CheckProblem(server.Send("GET", "/products"), c.status, c.name);
    CheckProblem(
        server.Send("POST", "/products", R"({"sku":"S","name":"N","price_cents":1,"stock":1})", server.admin()),
        c.status, c.name);
    CheckProblem(server.Send("PATCH", "/products/1", R"({"stock":1})", server.admin()), c.status, c.name);
  }
}

TEST_CASE("products http: reservations are not public routes") {
  Fixture f;
  Server& server = f.server();
  CheckProblem(server.Send("POST", "/products/reserve", "{}", server.admin()), 405, "method_not_allowed");
  CheckProblem(server.Send("POST", "/reservations", "{}", server.admin()), 404, "not_found");
}
