// The products wire format (modules/products/src/wire.h): what one side writes the other reads back
// unchanged, and what does not fit the format is rejected, naming the field.

#include <doctest/doctest.h>

#include <string>

#include "shop/http/message.h"
#include "wire.h"

namespace {

namespace wire = shop::products::wire;
using shop::Page;
using shop::products::Errc;
using shop::products::NewProduct;
using shop::products::Product;
using shop::products::ProductPatch;
using shop::products::ReservedLine;

const Product kMug{.id = 7,
                   .sku = "MUG-1",
                   .name = "Say \"hi\" \\ caf\xC3\xA9 \xF0\x9F\x8D\xB5",
                   .price_cents = 1999,
                   .stock = 0,
                   .created_at = "2026-11-21T10:00:00Z"};

void CheckSame(const Product& actual, const Product& expected) {
  CHECK(actual.id == expected.id);
  CHECK(actual.sku == expected.sku);
  CHECK(actual.name == expected.name);
  CHECK(actual.price_cents == expected.price_cents);
  CHECK(actual.stock == expected.stock);
  CHECK(actual.created_at == expected.created_at);
}

/// The decode error's detail, or "" when it decoded.
template <class T>
std::string Rejection(const std::expected<T, shop::json::DecodeError>& decoded) {
  return decoded ? std::string() : decoded.error().detail;
}

}  // namespace

TEST_CASE("products wire: every error code travels as one status and code, and reads back as itself") {
  for (int i = 0; i <= static_cast<int>(Errc::kUnavailable); ++i) {
    const auto code = static_cast<Errc>(i);
    CAPTURE(i);
    const shop::http::ProblemCode problem = wire::kErrors.ProblemFor(code);
    CHECK(wire::kErrors.ErrcFor(problem.status, problem.code) == code);

    const shop::http::Response response = wire::kErrors.Problem(shop::products::Error(code, "the \"detail\""));
    CHECK(response.status == problem.status);
    auto failure = wire::kErrors.FailureFrom(response);
    REQUIRE(failure.has_value());
    CHECK(failure->code == code);
    CHECK(failure->detail == "the \"detail\"");
  }
  CHECK(wire::kErrors.ProblemFor(Errc::kReservationReleased).status == 409);
  CHECK(wire::kErrors.ErrcFor(401, "unauthenticated") == Errc::kForbidden);
  CHECK(wire::kErrors.ErrcFor(400, "malformed_json") == Errc::kValidationFailed);
  CHECK_FALSE(wire::kErrors.ErrcFor(409, "email_taken").has_value());
  CHECK_FALSE(wire::kErrors.ErrcFor(404, "sku_taken").has_value());  // status and code must agree

  // A problem may carry members a client does not know; anything else is not the module's failure.
  auto answer = [](int status, std::string body) {
    shop::http::Response response;
    response.status = status;
    response.body = std::move(body);
    return response;
  };
  auto extended = wire::kErrors.FailureFrom(answer(409, R"({"code":"sku_taken","detail":"d","instance":"/x","retry":1})"));
  REQUIRE(extended.has_value());
  CHECK(extended->code == Errc::kSkuTaken);
  CHECK(extended->detail == "d");
  CHECK_FALSE(wire::kErrors.FailureFrom(answer(429, R"({"code":"rate_limited","detail":"d"})")).has_value());
  CHECK_FALSE(wire::kErrors.FailureFrom(answer(409, R"({"detail":"d"})")).has_value());
  CHECK_FALSE(wire::kErrors.FailureFrom(answer(409, R"({"code":"sku_taken","detail":7})")).has_value());
  CHECK_FALSE(wire::kErrors.FailureFrom(answer(502, "<html>Bad Gateway</html>")).has_value());
}

TEST_CASE("products wire: products and pages") {
  auto product = wire::DecodeProduct(wire::EncodeProduct(kMug));
  REQUIRE_MESSAGE(product.has_value(), Rejection(product));
  CheckSame(*product, kMug);

  const Product other{.id = 8, .sku = "S", .name = "x", .price_cents = 0, .stock = 3, .created_at = "t"};
  for (const Page<Product>& page :
       {Page<Product>{{kMug, other}, 8}, Page<Product>{{kMug}, std::nullopt}, Page<Product>{{}, std::nullopt}}) {
    auto decoded = wire::DecodePage(wire::EncodePage(page));
    REQUIRE_MESSAGE(decoded.has_value(), Rejection(decoded));
    REQUIRE(decoded->items.size() == page.items.size());
    for (std::size_t i = 0; i < page.items.size(); ++i) CheckSame(decoded->items[i], page.items[i]);
    CHECK(decoded->next_after == page.next_after);
  }

  const std::string fields = R"("sku":"S","name":"N","price_cents":1,"stock":2,"created_at":"t")";
  CHECK(Rejection(wire::DecodeProduct("{\"id\":1," + fields + "}")).empty());
  CHECK(Rejection(wire::DecodeProduct("{" + fields + "}")) == "id: is required");
  CHECK(Rejection(wire::DecodeProduct("{\"id\":\"1\"," + fields + "}")) == "id: must be an integer");
  // Products and pages are answers from the products service: a field a newer version added is ignored.
  auto newer = wire::DecodeProduct("{\"id\":1," + fields + R"(,"colour":"red","dimensions":{"cm":[1,2]}})");
  REQUIRE_MESSAGE(newer.has_value(), Rejection(newer));
  CHECK(newer->id == 1);
  CHECK(newer->sku == "S");
  CHECK(newer->created_at == "t");
  auto newer_page =
      wire::DecodePage(R"({"items":[{"id":1,)" + fields + R"(,"colour":"red"}],"next_after":null,"total":1})");
  REQUIRE_MESSAGE(newer_page.has_value(), Rejection(newer_page));
  REQUIRE(newer_page->items.size() == 1);
  CHECK(newer_page->items[0].name == "N");
  CHECK_FALSE(newer_page->next_after.has_value());
  // Still read: the fields it knows keep their types.
  CHECK(Rejection(wire::DecodeProduct(
            R"({"id":1,"sku":"S","name":"N","price_cents":1,"stock":"2","created_at":"t","colour":"red"})")) ==
        "stock: must be an integer");
  CHECK_FALSE(Rejection(wire::DecodeProduct("{\"id\":1,")).empty());
  CHECK(Rejection(wire::DecodePage(R"({"items":[]})")) == "next_after: is required");
  CHECK(Rejection(wire::DecodePage(R"({"items":[1],"next_after":null})")) == "items[0]: must be an object");
  CHECK(Rejection(wire::DecodePage(R"({"items":[{"id":1}],"next_after":null})")) == "items[0].sku: is required");
  CHECK(Rejection(wire::DecodePage(R"({"items":[],"next_after":"3"})")) == "next_after: must be an integer");
}

TEST_CASE("products wire: new products and patches") {
  auto body = wire::EncodeNewProduct(NewProduct{"S-1", kMug.name, 5, 6});
  REQUIRE(body.has_value());
  auto decoded = wire::DecodeNewProduct(*body);
  REQUIRE_MESSAGE(decoded.has_value(), Rejection(decoded));
  CHECK(decoded->sku == "S-1");
  CHECK(decoded->name == kMug.name);
  CHECK(decoded->price_cents == 5);
  CHECK(decoded->stock == 6);

  for (const ProductPatch& patch : {ProductPatch{}, ProductPatch{"n", std::nullopt, std::nullopt},
                                    ProductPatch{std::nullopt, 0, std::nullopt}, ProductPatch{"n", 1, 2}}) {
    auto encoded = wire::EncodePatch(patch);
    REQUIRE(encoded.has_value());
    auto back = wire::DecodePatch(*encoded);
    REQUIRE_MESSAGE(back.has_value(), Rejection(back));
    CHECK(back->name == patch.name);
    CHECK(back->price_cents == patch.price_cents);
    CHECK(back->stock == patch.stock);
  }
  CHECK(Rejection(wire::DecodePatch(R"({"sku":"X"})")) == "sku: cannot be changed");
  // Public request bodies stay strict (API.md: unknown fields are 400).
  CHECK(Rejection(wire::DecodeNewProduct(R"({"sku":"S","name":"N","price_cents":1,"stock":2,"colour":"red"})")) ==
        "colour: is not a known field");
  CHECK(Rejection(wire::DecodePatch(R"({"stock":2,"colour":"red"})")) == "colour: is not a known field");
  CHECK(Rejection(wire::DecodeNewProduct(R"({"sku":"S","name":"N","price_cents":1})")) == "stock: is required");

  // JSON cannot carry text that is not UTF-8: it fails as the service fails such a field.
  auto not_utf8 = wire::EncodeNewProduct(NewProduct{"S", "a\xFF", 1, 1});
  REQUIRE_FALSE(not_utf8.has_value());
  CHECK(not_utf8.error().code == Errc::kValidationFailed);
  CHECK(not_utf8.error().detail.find("name") != std::string::npos);
  CHECK_FALSE(wire::EncodePatch(ProductPatch{"\xC0\xAF", std::nullopt, std::nullopt}).has_value());
  CHECK_FALSE(wire::EncodeReserveRequest("ref\xED\xA0\x80", std::nullopt, {{1, 1}}).has_value());
  CHECK_FALSE(wire::EncodeReleaseRequest("ref\xC3").has_value());
}

TEST_CASE("products wire: reservations and releases") {
  auto request = wire::EncodeReserveRequest("order \"1\"", 7, {{3, 2}, {1, -5}});
  REQUIRE(request.has_value());
  auto decoded = wire::DecodeReserveRequest(*request);
  REQUIRE_MESSAGE(decoded.has_value(), Rejection(decoded));
  CHECK(decoded->order_ref == "order \"1\"");
  CHECK(decoded->order_id == 7);
  REQUIRE(decoded->lines.size() == 2);
  CHECK(decoded->lines[1].product_id == 1);
  CHECK(decoded->lines[1].quantity == -5);  // rules are the domain's; the format only carries it
  auto empty = wire::DecodeReserveRequest(*wire::EncodeReserveRequest("r", std::nullopt, {}));
  REQUIRE(empty.has_value());
  CHECK(empty->lines.empty());
  CHECK_FALSE(empty->order_id.has_value());
  // A caller of an earlier minor version sends no order_id at all.
  auto older = wire::DecodeReserveRequest(R"({"order_ref":"r","lines":[]})");
  REQUIRE(older.has_value());
  CHECK_FALSE(older->order_id.has_value());
  CHECK(Rejection(wire::DecodeReserveRequest(R"({"order_ref":"r","order_id":"7","lines":[]})")) ==
        "order_id: must be an integer");
  CHECK(Rejection(wire::DecodeReserveRequest(R"({"order_ref":"r","lines":[{"product_id":1}]})")) ==
        "lines[0].quantity: is required");
  CHECK(Rejection(wire::DecodeReserveRequest(R"({"order_ref":"r","lines":{}})")) == "lines: must be an array");

  const std::vector<ReservedLine> lines = {{3, 2, 250}, {1, 1, 0}};
  auto reserved = wire::DecodeReservedLines(wire::EncodeReservedLines(lines));
  REQUIRE_MESSAGE(reserved.has_value(), Rejection(reserved));
  REQUIRE(reserved->size() == 2);
  CHECK(reserved->at(0).product_id == 3);
  CHECK(reserved->at(0).quantity == 2);
  CHECK(reserved->at(0).unit_price_cents == 250);
  CHECK(reserved->at(1).unit_price_cents == 0);
  CHECK(Rejection(wire::DecodeReservedLines(R"({"lines":[{"product_id":1,"quantity":1}]})")) ==
        "lines[0].unit_price_cents: is required");

  CHECK(wire::DecodeReleaseRequest(*wire::EncodeReleaseRequest("r\xC3\xA9")) == "r\xC3\xA9");
  CHECK(Rejection(wire::DecodeReleaseRequest(R"({"lines":[]})")) == "order_ref: is required");
  CHECK(wire::DecodeReleased(wire::EncodeReleased("r-1")) == "r-1");
  CHECK(Rejection(wire::DecodeReleased(R"({"order_ref":"r"})")) == "released: is required");
  CHECK(Rejection(wire::DecodeReleased(R"({"order_ref":"r","released":false})")) == "released: must be true");

  // Internal requests and their answers travel between services: fields a newer version added are ignored.
  auto newer_request =
      wire::DecodeReserveRequest(R"({"order_ref":"r","lines":[{"product_id":1,"quantity":2,"note":"x"}],"v":2})");
  REQUIRE_MESSAGE(newer_request.has_value(), Rejection(newer_request));
  CHECK(newer_request->lines.at(0).quantity == 2);
  auto newer_lines =
      wire::DecodeReservedLines(R"({"lines":[{"product_id":1,"quantity":2,"unit_price_cents":5,"tax_cents":1}]})");
  REQUIRE_MESSAGE(newer_lines.has_value(), Rejection(newer_lines));
  CHECK(newer_lines->at(0).unit_price_cents == 5);
  CHECK(wire::DecodeReleaseRequest(R"({"order_ref":"r","reason":"cancelled"})") == "r");
  CHECK(wire::DecodeReleased(R"({"order_ref":"r","released":true,"at":"2026-01-01T00:00:00Z"})") == "r");
}
