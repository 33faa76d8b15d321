// The contract of products::Api, written once and run against every implementation of it.
// A fixture type provides `Api& api()` and the callers `admin()` and `customer()` (principals the
// implementation accepts as such); each implementation's fixture is listed in ContractFixtures.

#include <doctest/doctest.h>

#include <cstdint>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "products_testing.h"

#if SHOP_SPLIT_TESTS
#include "remote_testing.h"
#include "shop/products/remote.h"
#endif

namespace {

using shop::Page;
using shop::PageRequest;
using shop::Principal;
using shop::products::Api;
using shop::products::NewProduct;
using shop::products::Product;
using shop::products::ProductPatch;
using shop::products::ReservedLine;
using shop::products::ReserveLine;
using shop::products::testing::Detail;
using shop::products::testing::kAdmin;
using shop::products::testing::kCustomer;
using shop::products::testing::Outcome;

/// The in-process service over a fresh database; it takes principals as they are.
class InProcessFixture {
 public:
  Api& api() { return service_.api(); }
  const Principal& admin() const { return kAdmin; }
  const Principal& customer() const { return kCustomer; }

 private:
  shop::products::testing::InProcessService service_;
};

#if SHOP_SPLIT_TESTS
/// The HTTP client against a shop-products process of its own (fresh database); callers carry
/// tokens the products service verifies with the keys of the shared shop-users process.
class HttpFixture {
 public:
  Api& api() { return *client_; }
  const Principal& admin() const { return admin_; }
  const Principal& customer() const { return customer_; }

 private:
  shop::products::testing::ProductsProcess products_;
  shop::products::testing::SignedServiceIdentity identity_;  // the orders service's, for the internal routes
  std::unique_ptr<Api> client_ =
      shop::products::MakeHttpClient({.name = "products", .base_url = products_.url()}, &identity_);
  Principal admin_ = shop::products::testing::UsersProcess::Shared().SignedIn(kAdmin);
  Principal customer_ = shop::products::testing::UsersProcess::Shared().SignedIn(kCustomer);
};
#endif

Product Create(Api& api, const Principal& admin, std::string sku, std::int64_t price_cents, std::int64_t stock,
               std::string name = "Widget") {
  auto product = api.CreateProduct(admin, NewProduct{std::move(sku), std::move(name), price_cents, stock});
  REQUIRE_MESSAGE(product.has_value(), Detail(product));
  return *product;
}

std::int64_t StockOf(Api& api, std::int64_t id) {
  auto product = api.GetProduct(id);
  REQUIRE(product.has_value());
  return product->stock;
}

Page<Product> List(Api& api, int limit, std::optional<std::int64_t> after = std::nullopt) {
  auto page = api.ListProducts(PageRequest{limit, after});
  REQUIRE_MESSAGE(page.has_value(), Detail(page));
  return *page;
}

std::vector<std::int64_t> Ids(const Page<Product>& page) {
  std::vector<std::int64_t> ids;
  for (const Product& p : page.items) ids.push_back(p.id);
  return ids;
}

void CheckSame(const Product& actual, const Product& expected) {
  CHECK(actual.id == expected.id);
  CHECK(actual.sku == expected.sku);
  CHECK(actual.name == expected.name);
  CHECK(actual.price_cents == expected.price_cents);
  CHECK(actual.stock == expected.stock);
  CHECK(actual.created_at == expected.created_at);
}

void CheckLine(const ReservedLine& line, std::int64_t product_id, std::int64_t quantity, std::int64_t unit_price) {
  CHECK(line.product_id == product_id);
  CHECK(line.quantity == quantity);
  CHECK(line.unit_price_cents == unit_price);
}

}  // namespace

DOCTEST_TYPE_TO_STRING(InProcessFixture);
#if SHOP_SPLIT_TESTS
DOCTEST_TYPE_TO_STRING(HttpFixture);
#endif

TEST_CASE_TEMPLATE_DEFINE("products contract: get a product", Fixture, contract_get) {
  Fixture f;
  Api& api = f.api();
  const Principal& admin = f.admin();
  const Product created = Create(api, admin, "SKU-1", 1999, 7, "  Blue mug  ");

  CHECK(created.id > 0);
  CHECK(created.sku == "SKU-1");
  CHECK(created.name == "Blue mug");
  CHECK(created.price_cents == 1999);
  CHECK(created.stock == 7);
  CHECK(std::regex_match(created.created_at, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)")));

  auto got = api.GetProduct(created.id);
  REQUIRE(Outcome(got) == "ok");
  CheckSame(*got, created);

  CHECK(Outcome(api.GetProduct(created.id + 1)) == "not_found");
  CHECK(Outcome(api.GetProduct(0)) == "not_found");
  CHECK(Outcome(api.GetProduct(-1)) == "not_found");
  CHECK(Detail(api.GetProduct(created.id + 1)).find(std::to_string(created.id + 1)) != std::string::npos);
}

TEST_CASE_TEMPLATE_DEFINE("products contract: text comes back exactly as it was stored", Fixture, contract_text) {
  Fixture f;
  Api& api = f.api();
  const Principal& admin = f.admin();
  // Quotes, backslashes, a slash, non-ASCII and characters JSON writes as escapes or keeps as they are.
  const std::string name = "Say \"hi\" \\ caf\xC3\xA9 / \xE2\x82\xAC \xF0\x9F\x8D\xB5 <&>";
  const Product created = Create(api, admin, "T-1", 1, 5, name);
  CHECK(created.name == name);
  CHECK(api.GetProduct(created.id)->name == name);
  CHECK(List(api, 10).items.at(0).name == name);
  auto renamed = api.UpdateProduct(admin, created.id, ProductPatch{name + "!", std::nullopt, std::nullopt});
  REQUIRE(Outcome(renamed) == "ok");
  CHECK(renamed->name == name + "!");

  // An order reference is opaque bytes to the module, compared exactly.
  const std::string ref = "order \"7\" \\ \xC3\xA9\t\x01";
  REQUIRE(Outcome(api.Reserve(ref, {{created.id, 2}})) == "ok");
  CHECK(Outcome(api.Reserve(ref + " ", {{created.id, 2}})) == "ok");
  CHECK(StockOf(api, created.id) == 1);
  REQUIRE(Outcome(api.Release(ref)) == "ok");
  CHECK(StockOf(api, created.id) == 3);
  auto late = api.Reserve(ref, {{created.id, 1}});
  CHECK(Outcome(late) == "reservation_released");
  CHECK(Detail(late).find(ref) != std::string::npos);
}

TEST_CASE_TEMPLATE_DEFINE("products contract: list pages by id", Fixture, contract_list) {
  Fixture f;
  Api& api = f.api();
  const Principal& admin = f.admin();

  SUBCASE("an empty catalogue is one empty page") {
    auto page = List(api, 20);
    CHECK(page.items.empty());
    CHECK_FALSE(page.next_after.has_value());
  }

  SUBCASE("pages follow each other by id ascending") {
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 5; ++i) {
      ids.push_back(Create(api, admin, std::string{'P', static_cast<char>('0' + i)}, 100 + i, i).id);
    }

    auto first = List(api, 2);
    CHECK(Ids(first) == std::vector<std::int64_t>{ids[0], ids[1]});
    REQUIRE(first.next_after.has_value());
    CHECK(*first.next_after == ids[1]);
    CheckSame(first.items[0], *api.GetProduct(ids[0]));

    auto second = List(api, 2, first.next_after);
    CHECK(Ids(second) == std::vector<std::int64_t>{ids[2], ids[3]});
    REQUIRE(second.next_after.has_value());
    CHECK(*second.next_after == ids[3]);

    auto last = List(api, 2, second.next_after);
    CHECK(Ids(last) == std::vector<std::int64_t>{ids[4]});
    CHECK_FALSE(last.next_after.has_value());

    // A page that ends exactly at the last product has no next page.
    auto exact = List(api, 5);
    CHECK(Ids(exact) == ids);
    CHECK_FALSE(exact.next_after.has_value());

    auto all = List(api, 100);
    CHECK(Ids(all) == ids);
    CHECK_FALSE(all.next_after.has_value());

    CHECK(Ids(List(api, 1, ids[4])).empty());
    CHECK(Ids(List(api, 20, 0)) == ids);
    CHECK(Ids(List(api, 20, ids[0] + 1000)).empty());
  }

  SUBCASE("a limit outside 1..100 or a negative after is a validation error") {
    CHECK(Outcome(api.ListProducts(PageRequest{0, std::nullopt})) == "validation_failed");
    CHECK(Outcome(api.ListProducts(PageRequest{101, std::nullopt})) == "validation_failed");
    CHECK(Outcome(api.ListProducts(PageRequest{-1, std::nullopt})) == "validation_failed");
    CHECK(Outcome(api.ListProducts(PageRequest{10, -1})) == "validation_failed");
    CHECK(Detail(api.ListProducts(PageRequest{0, std::nullopt})).find("limit") != std::string::npos);
  }
}

TEST_CASE_TEMPLATE_DEFINE("products contract: create", Fixture, contract_create) {
  Fixture f;
  Api& api = f.api();
  const Principal& admin = f.admin();
  const Principal& customer = f.customer();

  SUBCASE("values at the edges of every rule are accepted") {
    const std::string sku64(64, 'a');
    Create(api, admin, sku64, 0, 0, "x");
    Create(api, admin, "AZaz09_-", 100'000'000, 1'000'000'000, std::string(200, 'n'));
    // 200 characters of two bytes each: the limit counts characters, not bytes.
    std::string accents;
    for (int i = 0; i < 200; ++i) accents += "\xC3\xA9";
    auto wide = Create(api, admin, "wide", 1, 1, "\t " + accents + " \n");
    CHECK(wide.name == accents);
    auto emoji = Create(api, admin, "emoji", 1, 1, "Tea \xF0\x9F\x8D\xB5");
    CHECK(api.GetProduct(emoji.id)->name == "Tea \xF0\x9F\x8D\xB5");
    CHECK(List(api, 100).items.size() == 4);
  }

  SUBCASE("a sku is unique") {
    Create(api, admin, "DUP", 100, 1);
    auto again = api.CreateProduct(admin, NewProduct{"DUP", "Other", 5, 5});
    CHECK(Outcome(again) == "sku_taken");
    CHECK(Detail(again).find("sku") != std::string::npos);
    CHECK(List(api, 100).items.size() == 1);
    // Sku matching is exact: another spelling is another sku.
    Create(api, admin, "dup", 100, 1);
  }

  SUBCASE("only an admin may create, and that is checked before anything else") {
    CHECK(Outcome(api.CreateProduct(customer, NewProduct{"OK", "Fine", 1, 1})) == "forbidden");
    CHECK(Outcome(api.CreateProduct(customer, NewProduct{"", "", -1, -1})) == "forbidden");
    CHECK(Detail(api.CreateProduct(customer, NewProduct{"OK", "Fine", 1, 1})).find("admin") != std::string::npos);
    CHECK(List(api, 100).items.empty());
  }
}

TEST_CASE_TEMPLATE_DEFINE("products contract: create rejects invalid fields", Fixture, contract_create_invalid) {
  Fixture f;
  Api& api = f.api();
  const Principal& admin = f.admin();
  struct Case {
    const char* why;
    NewProduct product;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"empty sku", {"", "Name", 1, 1}, "sku"},
      {"sku of 65", {std::string(65, 'a'), "Name", 1, 1}, "sku"},
      {"sku with a space", {"a b", "Name", 1, 1}, "sku"},
      {"sku with a dot", {"a.b", "Name", 1, 1}, "sku"},
      {"sku with non-ASCII", {"caf\xC3\xA9", "Name", 1, 1}, "sku"},
      {"empty name", {"S", "", 1, 1}, "name"},
      {"blank name", {"S", " \t\r\n ", 1, 1}, "name"},
      {"name of 201", {"S", std::string(201, 'n'), 1, 1}, "name"},
      {"name with a control character", {"S", "a\001b", 1, 1}, "name"},
      {"name with a newline inside", {"S", "a\nb", 1, 1}, "name"},
      {"name with DEL", {"S", "a\x7F", 1, 1}, "name"},
      {"name with a C1 control", {"S", "a\xC2\x85z", 1, 1}, "name"},
      {"name of invalid UTF-8", {"S", "a\xFF", 1, 1}, "name"},
      {"name of truncated UTF-8", {"S", "a\xC3", 1, 1}, "name"},
      {"name of overlong UTF-8", {"S", "\xC0\xAF", 1, 1}, "name"},
      {"name with a surrogate", {"S", "\xED\xA0\x80", 1, 1}, "name"},
      {"negative price", {"S", "Name", -1, 1}, "price_cents"},
      {"price too high", {"S", "Name", 100'000'001, 1}, "price_cents"},
      {"negative stock", {"S", "Name", 1, -1}, "stock"},
      {"stock too high", {"S", "Name", 1, 1'000'000'001}, "stock"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.why);
    auto result = api.CreateProduct(admin, c.product);
    CHECK(Outcome(result) == "validation_failed");
    CHECK(Detail(result).find(c.field) != std::string::npos);
  }
  CHECK(List(api, 100).items.empty());
}

TEST_CASE_TEMPLATE_DEFINE("products contract: update", Fixture, contract_update) {
  Fixture f;
  Api& api = f.api();
  const Principal& admin = f.admin();
  const Principal& customer = f.customer();
  const Product original = Create(api, admin, "UPD", 500, 10, "Old name");

  SUBCASE("each field changes alone and the rest stay") {
    auto renamed = api.UpdateProduct(admin, original.id, ProductPatch{"  New name ", std::nullopt, std::nullopt});
    REQUIRE(Outcome(renamed) == "ok");
    CHECK(renamed->name == "New name");
    CHECK(renamed->price_cents == 500);
    CHECK(renamed->stock == 10);

    auto repriced = api.UpdateProduct(admin, original.id, ProductPatch{std::nullopt, 0, std::nullopt});
    REQUIRE(Outcome(repriced) == "ok");
    CHECK(repriced->name == "New name");
    CHECK(repriced->price_cents == 0);

    auto restocked = api.UpdateProduct(admin, original.id, ProductPatch{std::nullopt, std::nullopt, 1'000'000'000});
    REQUIRE(Outcome(restocked) == "ok");
    CHECK(restocked->stock == 1'000'000'000);
    CHECK(restocked->price_cents == 0);
    CHECK(restocked->sku == "UPD");
    CHECK(restocked->id == original.id);
    CHECK(restocked->created_at == original.created_at);
    CheckSame(*api.GetProduct(original.id), *restocked);
  }

  SUBCASE("all fields at once") {
    auto all = api.UpdateProduct(admin, original.id, ProductPatch{"All", 100'000'000, 0});
    REQUIRE(Outcome(all) == "ok");
    CHECK(all->name == "All");
    CHECK(all->price_cents == 100'000'000);
    CHECK(all->stock == 0);
  }

  SUBCASE("an empty patch is a validation error") {
    CHECK(Outcome(api.UpdateProduct(admin, original.id, ProductPatch{})) == "validation_failed");
  }

  SUBCASE("invalid values are rejected and change nothing") {
    CHECK(Outcome(api.UpdateProduct(admin, original.id, ProductPatch{"  ", std::nullopt, std::nullopt})) ==
          "validation_failed");
    auto bad_price = api.UpdateProduct(admin, original.id, ProductPatch{"Fine", 100'000'001, std::nullopt});
    CHECK(Outcome(bad_price) == "validation_failed");
    CHECK(Detail(bad_price).find("price_cents") != std::string::npos);
    auto bad_stock = api.UpdateProduct(admin, original.id, ProductPatch{std::nullopt, std::nullopt, -1});
    CHECK(Outcome(bad_stock) == "validation_failed");
    CHECK(Detail(bad_stock).find("stock") != std::string::npos);
    CheckSame(*api.GetProduct(original.id), original);
  }

  SUBCASE("an unknown id is not found, after validation") {
    auto unknown = api.UpdateProduct(admin, original.id + 1, ProductPatch{"X", std::nullopt, std::nullopt});
    CHECK(Outcome(unknown) == "not_found");
    CHECK(Detail(unknown).find(std::to_string(original.id + 1)) != std::string::npos);
    CHECK(Outcome(api.UpdateProduct(admin, 0, ProductPatch{"X", std::nullopt, std::nullopt})) == "not_found");
    CHECK(Outcome(api.UpdateProduct(admin, original.id + 1, ProductPatch{})) == "validation_failed");
  }

  SUBCASE("only an admin may update, checked before validation and existence") {
    CHECK(Outcome(api.UpdateProduct(customer, original.id, ProductPatch{"X", std::nullopt, std::nullopt})) ==
          "forbidden");
    CHECK(Outcome(api.UpdateProduct(customer, original.id, ProductPatch{})) == "forbidden");
    CHECK(Outcome(api.UpdateProduct(customer, original.id + 1, ProductPatch{"X", std::nullopt, std::nullopt})) ==
          "forbidden");
    auto refused = api.UpdateProduct(customer, original.id, ProductPatch{"X", std::nullopt, std::nullopt});
    CHECK(Detail(refused).find("admin") != std::string::npos);
    CheckSame(*api.GetProduct(original.id), original);
  }
}

TEST_CASE_TEMPLATE_DEFINE("products contract: reserve takes every line at its current price", Fixture,
                          contract_reserve) {
  Fixture f;
  Api& api = f.api();
  const Principal& admin = f.admin();
  const Product a = Create(api, admin, "A", 250, 10);
  const Product b = Create(api, admin, "B", 1000, 3);

  // Given out of id order: the answer keeps the order given.
  auto lines = api.Reserve("order-1", {{b.id, 3}, {a.id, 4}});
  REQUIRE_MESSAGE(Outcome(lines) == "ok", Detail(lines));
  REQUIRE(lines->size() == 2);
  CheckLine((*lines)[0], b.id, 3, 1000);
  CheckLine((*lines)[1], a.id, 4, 250);
  CHECK(StockOf(api, a.id) == 6);
  CHECK(StockOf(api, b.id) == 0);

  // A second reference competes for what is left.
  auto more = api.Reserve("order-2", {{a.id, 6}});
  REQUIRE(Outcome(more) == "ok");
  CHECK(StockOf(api, a.id) == 0);
  CHECK(Outcome(api.Reserve("order-3", {{a.id, 1}})) == "insufficient_stock");
}

TEST_CASE_TEMPLATE_DEFINE("products contract: reserve is all or nothing", Fixture, contract_reserve_atomic) {
  Fixture f;
  Api& api = f.api();
  const Principal& admin = f.admin();
  const Product a = Create(api, admin, "A", 100, 5);
  const Product b = Create(api, admin, "B", 200, 2);
  const Product c = Create(api, admin, "C", 300, 9);

  SUBCASE("one short line fails the whole reservation") {
    auto result = api.Reserve("order-1", {{a.id, 5}, {b.id, 3}, {c.id, 1}});
    CHECK(Outcome(result) == "insufficient_stock");
    CHECK(Detail(result).find(std::to_string(b.id)) != std::string::npos);
    CHECK(StockOf(api, a.id) == 5);
    CHECK(StockOf(api, b.id) == 2);
    CHECK(StockOf(api, c.id) == 9);
  }

  SUBCASE("an unknown product fails it, and is reported before any stock shortage") {
    const std::int64_t unknown = c.id + 100;
    auto result = api.Reserve("order-1", {{b.id, 3}, {a.id, 1}, {unknown, 1}});
    CHECK(Outcome(result) == "unknown_product");
    CHECK(Detail(result).find(std::to_string(unknown)) != std::string::npos);
    CHECK(StockOf(api, a.id) == 5);
    CHECK(StockOf(api, b.id) == 2);
    CHECK(Outcome(api.Reserve("order-2", {{0, 1}})) == "unknown_product");
  }

  SUBCASE("invalid lines are rejected and take nothing") {
    CHECK(Outcome(api.Reserve("order-1", {})) == "validation_failed");
    CHECK(Outcome(api.Reserve("order-1", {{a.id, 1}, {b.id, 0}})) == "validation_failed");
    CHECK(Outcome(api.Reserve("order-1", {{a.id, 1}, {b.id, -2}})) == "validation_failed");
    auto twice = api.Reserve("order-1", {{a.id, 1}, {b.id, 1}, {a.id, 1}});
    CHECK(Outcome(twice) == "validation_failed");
    CHECK(Detail(twice).find(std::to_string(a.id)) != std::string::npos);
    CHECK(Outcome(api.Reserve("", {{a.id, 1}})) == "validation_failed");
    CHECK(Detail(api.Reserve("", {{a.id, 1}})).find("order_ref") != std::string::npos);
    CHECK(Outcome(api.Reserve(std::string(256, 'r'), {{a.id, 1}})) == "validation_failed");
    CHECK(StockOf(api, a.id) == 5);
    CHECK(StockOf(api, b.id) == 2);
  }

  SUBCASE("a failed reservation records nothing: the reference can reserve later") {
    CHECK(Outcome(api.Reserve("order-1", {{b.id, 4}})) == "insufficient_stock");
    REQUIRE(Outcome(api.UpdateProduct(admin, b.id, ProductPatch{std::nullopt, std::nullopt, 4})) == "ok");
    auto later = api.Reserve("order-1", {{b.id, 4}});
    REQUIRE(Outcome(later) == "ok");
    CHECK(StockOf(api, b.id) == 0);
  }
}

TEST_CASE_TEMPLATE_DEFINE("products contract: reserving a reference again takes nothing more", Fixture,
                          contract_reserve_idempotent) {
  Fixture f;
  Api& api = f.api();
  const Principal& admin = f.admin();
  const Product a = Create(api, admin, "A", 100, 10);
  const Product b = Create(api, admin, "B", 200, 10);

  auto first = api.Reserve("order-1", {{a.id, 2}, {b.id, 3}});
  REQUIRE(Outcome(first) == "ok");
  CHECK(StockOf(api, a.id) == 8);

  auto again = api.Reserve("order-1", {{a.id, 2}, {b.id, 3}});
  REQUIRE(Outcome(again) == "ok");
  REQUIRE(again->size() == 2);
  CheckLine((*again)[0], a.id, 2, 100);
  CheckLine((*again)[1], b.id, 3, 200);
  CHECK(StockOf(api, a.id) == 8);
  CHECK(StockOf(api, b.id) == 7);

  // A repeat answers with what the reference holds, whatever the repeat asks for.
  auto different = api.Reserve("order-1", {{b.id, 9}});
  REQUIRE(Outcome(different) == "ok");
  REQUIRE(different->size() == 2);
  CheckLine((*different)[0], a.id, 2, 100);
  CHECK(StockOf(api, b.id) == 7);
}

TEST_CASE_TEMPLATE_DEFINE("products contract: release gives stock back once", Fixture, contract_release) {
  Fixture f;
  Api& api = f.api();
  const Principal& admin = f.admin();
  const Product a = Create(api, admin, "A", 100, 10);
  const Product b = Create(api, admin, "B", 200, 5);

  REQUIRE(Outcome(api.Reserve("order-1", {{a.id, 4}, {b.id, 5}})) == "ok");
  REQUIRE(Outcome(api.Reserve("order-2", {{a.id, 1}})) == "ok");
  CHECK(StockOf(api, a.id) == 5);
  CHECK(StockOf(api, b.id) == 0);

  REQUIRE(Outcome(api.Release("order-1")) == "ok");
  CHECK(StockOf(api, a.id) == 9);
  CHECK(StockOf(api, b.id) == 5);

  REQUIRE(Outcome(api.Release("order-1")) == "ok");
  CHECK(StockOf(api, a.id) == 9);
  CHECK(StockOf(api, b.id) == 5);

  auto reserve_again = api.Reserve("order-1", {{a.id, 1}});
  CHECK(Outcome(reserve_again) == "reservation_released");
  CHECK(Detail(reserve_again).find("order-1") != std::string::npos);
  CHECK(StockOf(api, a.id) == 9);

  // Other references are untouched.
  REQUIRE(Outcome(api.Release("order-2")) == "ok");
  CHECK(StockOf(api, a.id) == 10);

  CHECK(Outcome(api.Release("")) == "validation_failed");
  CHECK(Detail(api.Release("")).find("order_ref") != std::string::npos);
  CHECK(Outcome(api.Release(std::string(256, 'r'))) == "validation_failed");
}

TEST_CASE_TEMPLATE_DEFINE("products contract: release before reserve leaves a tombstone", Fixture,
                          contract_release_first) {
  Fixture f;
  Api& api = f.api();
  const Principal& admin = f.admin();
  const Product a = Create(api, admin, "A", 100, 10);

  REQUIRE(Outcome(api.Release("late-order")) == "ok");
  CHECK(StockOf(api, a.id) == 10);

  auto late = api.Reserve("late-order", {{a.id, 3}});
  CHECK(Outcome(late) == "reservation_released");
  CHECK(Detail(late).find("late-order") != std::string::npos);
  CHECK(StockOf(api, a.id) == 10);

  REQUIRE(Outcome(api.Release("late-order")) == "ok");
  CHECK(StockOf(api, a.id) == 10);
}

TEST_CASE_TEMPLATE_DEFINE("products contract: a reservation keeps the price it was taken at", Fixture,
                          contract_price_snapshot) {
  Fixture f;
  Api& api = f.api();
  const Principal& admin = f.admin();
  const Product a = Create(api, admin, "A", 100, 10);

  REQUIRE(Outcome(api.Reserve("order-1", {{a.id, 2}})) == "ok");
  REQUIRE(Outcome(api.UpdateProduct(admin, a.id, ProductPatch{std::nullopt, 175, std::nullopt})) == "ok");

  auto old_order = api.Reserve("order-1", {{a.id, 2}});
  REQUIRE(Outcome(old_order) == "ok");
  CheckLine(old_order->at(0), a.id, 2, 100);

  auto new_order = api.Reserve("order-2", {{a.id, 2}});
  REQUIRE(Outcome(new_order) == "ok");
  CheckLine(new_order->at(0), a.id, 2, 175);

  // Releasing gives back units; prices play no part.
  REQUIRE(Outcome(api.Release("order-1")) == "ok");
  CHECK(StockOf(api, a.id) == 8);
}

/// Every implementation of products::Api; each must pass every case above.
#if SHOP_SPLIT_TESTS
using ContractFixtures = std::tuple<InProcessFixture, HttpFixture>;
#else
using ContractFixtures = std::tuple<InProcessFixture>;
#endif

TEST_CASE_TEMPLATE_APPLY(contract_get, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_text, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_list, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_create, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_create_invalid, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_update, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_reserve, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_reserve_atomic, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_reserve_idempotent, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_release, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_release_first, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_price_snapshot, ContractFixtures);
