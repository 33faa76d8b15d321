// The products module's events: what each change writes to the outbox, in its transaction, and its
// consumer of order_cancelled (effect once, poison set aside).
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "products_testing.h"
#include "shop/events/events.h"
#include "shop/orders/events.h"
#include "shop/products/events.h"

namespace {

using shop::products::NewProduct;
using shop::products::ProductPatch;
using shop::products::testing::Detail;
using shop::products::testing::InProcessService;
using shop::products::testing::kAdmin;

struct Outboxed {
  std::string type;
  boost::json::object data;
};

/// The outbox's events after sequence `after`, in order.
std::vector<Outboxed> EventsAfter(InProcessService& s, std::int64_t after = 0) {
  auto st = s.db().ThisThread().Prepare("SELECT type, data, source FROM outbox WHERE seq > ? ORDER BY seq");
  st.Bind(1, after);
  std::vector<Outboxed> events;
  while (st.Step()) {
    CHECK(st.Text(2) == "/shop/products");
    events.push_back({st.Text(0), boost::json::parse(st.Text(1)).as_object()});
  }
  return events;
}

std::int64_t LastSeq(InProcessService& s) {
  auto st = s.db().ThisThread().Prepare("SELECT coalesce(max(seq), 0) FROM outbox");
  st.Step();
  return st.Int(0);
}

shop::events::Event CancelledEvent(std::int64_t order_id, std::int64_t product_id, std::int64_t quantity) {
  shop::orders::Order order;
  order.id = order_id;
  order.user_id = 7;
  order.items = {{product_id, quantity, 100}};
  return shop::orders::OrderCancelledEvent(order);
}

TEST_CASE("products events: each change writes its events with the values after it") {
  InProcessService s;
  auto created = s.api().CreateProduct(kAdmin, NewProduct{"ev-1", "  Mug ", 1200, 10});
  REQUIRE_MESSAGE(created, Detail(created));
  auto events = EventsAfter(s);
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "shop.products.product_created.v1");
  CHECK(events[0].data == boost::json::object{{"product_id", created->id}, {"sku", "ev-1"}, {"name", "Mug"},
                                              {"price_cents", 1200}, {"stock", 10}});

  std::int64_t seq = LastSeq(s);
  REQUIRE(s.api().UpdateProduct(kAdmin, created->id, ProductPatch{.name = "Cup", .price_cents = {}, .stock = {}}));
  events = EventsAfter(s, seq);
  REQUIRE(events.size() == 1);  // the stock did not change: no stock_changed
  CHECK(events[0].type == "shop.products.product_updated.v1");
  CHECK(events[0].data == boost::json::object{{"product_id", created->id}, {"name", "Cup"}, {"price_cents", 1200},
                                              {"stock", 10}});

  seq = LastSeq(s);
  REQUIRE(s.api().UpdateProduct(kAdmin, created->id, ProductPatch{.name = {}, .price_cents = {}, .stock = 10}));
  CHECK(EventsAfter(s, seq).size() == 1);  // the same stock again: updated, not changed

  seq = LastSeq(s);
  REQUIRE(s.api().UpdateProduct(kAdmin, created->id, ProductPatch{.name = {}, .price_cents = {}, .stock = 25}));
  events = EventsAfter(s, seq);
  REQUIRE(events.size() == 2);
  CHECK(events[1].type == "shop.products.stock_changed.v1");
  CHECK(events[1].data ==
        boost::json::object{{"product_id", created->id}, {"stock", 25}, {"order_id", nullptr}});

  // Refused changes write nothing.
  seq = LastSeq(s);
  CHECK_FALSE(s.api().CreateProduct(kAdmin, NewProduct{"ev-1", "Dup", 1, 1}));
  CHECK_FALSE(s.api().UpdateProduct(kAdmin, created->id + 100, ProductPatch{.name = "x", .price_cents = {}, .stock = {}}));
  CHECK_FALSE(s.api().Reserve("refused", 41, {{created->id, 1000}}));
  CHECK(EventsAfter(s, seq).empty());
}

TEST_CASE("products events: a reservation and its release announce each line's stock with the order id") {
  InProcessService s;
  auto a = s.api().CreateProduct(kAdmin, NewProduct{"ev-a", "A", 100, 10});
  auto b = s.api().CreateProduct(kAdmin, NewProduct{"ev-b", "B", 100, 5});
  REQUIRE(a);
  REQUIRE(b);
  std::int64_t seq = LastSeq(s);
  REQUIRE(s.api().Reserve("ref-1", 42, {{a->id, 3}, {b->id, 5}}));
  auto events = EventsAfter(s, seq);
  REQUIRE(events.size() == 2);
  CHECK(events[0].data == boost::json::object{{"product_id", a->id}, {"stock", 7}, {"order_id", 42}});
  CHECK(events[1].data == boost::json::object{{"product_id", b->id}, {"stock", 0}, {"order_id", 42}});
  seq = LastSeq(s);
  REQUIRE(s.api().Reserve("ref-1", 42, {{a->id, 3}, {b->id, 5}}));  // a repeat takes nothing, says nothing
  CHECK(EventsAfter(s, seq).empty());
  // Another reservation may not claim the same order id.
  CHECK_FALSE(s.api().Reserve("ref-2", 42, {{a->id, 1}}));

  REQUIRE(s.api().Release("ref-1"));
  events = EventsAfter(s, seq);
  REQUIRE(events.size() == 2);
  CHECK(events[0].data == boost::json::object{{"product_id", a->id}, {"stock", 10}, {"order_id", 42}});
  seq = LastSeq(s);
  REQUIRE(s.api().Release("ref-1"));
  CHECK(EventsAfter(s, seq).empty());
}

TEST_CASE("products consumes order_cancelled once, whatever the number of deliveries") {
  InProcessService s;
  auto p = s.api().CreateProduct(kAdmin, NewProduct{"ev-c", "C", 100, 10});
  REQUIRE(p);
  REQUIRE(s.api().Reserve("ref-9", 9, {{p->id, 4}}));
  auto subscriptions = s.service().Consumers();
  REQUIRE(subscriptions.size() == 1);
  const auto& consumer = subscriptions[0];
  CHECK(consumer.type == "shop.orders.order_cancelled.v1");

  const shop::events::Event cancelled = CancelledEvent(9, p->id, 4);
  consumer.handle(cancelled);
  CHECK(s.api().GetProduct(p->id)->stock == 10);
  consumer.handle(cancelled);  // a redelivery
  CHECK(s.api().GetProduct(p->id)->stock == 10);
  // Another event for the same order (a cancel published twice under two ids) gives nothing more:
  // the reservation is released once.
  consumer.handle(CancelledEvent(9, p->id, 4));
  CHECK(s.api().GetProduct(p->id)->stock == 10);
  // An order this products never reserved for: nothing to give back, and no error.
  consumer.handle(CancelledEvent(12345, p->id, 4));
  CHECK(s.api().GetProduct(p->id)->stock == 10);
}

TEST_CASE("an unreadable order_cancelled fails every time and is set aside with its data") {
  InProcessService s;
  auto subscriptions = s.service().Consumers();
  REQUIRE(subscriptions.size() == 1);
  shop::events::Event poison = CancelledEvent(1, 1, 1);
  poison.data = R"({"order_id":"one"})";
  CHECK_THROWS(subscriptions[0].handle(poison));
  subscriptions[0].set_aside(poison, "unreadable", 5);
  auto st = s.db().ThisThread().Prepare("SELECT consumer, event_id, payload, attempts FROM dead_letters");
  REQUIRE(st.Step());
  CHECK(st.Text(0) == "products-stock-release");
  CHECK(st.Text(1) == poison.id);
  CHECK(st.Text(2) == poison.data);
  CHECK(st.Int(3) == 5);
}

}  // namespace
