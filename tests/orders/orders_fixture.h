#pragma once

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <doctest/doctest.h>

#include "fake_products.h"
#include "shop/events/events.h"
#include "shop/orders/events.h"
#include "shop/orders/orders.h"
#include "shop/sql/database.h"
#include "temp_dir.h"
#include "test_database.h"

namespace shop::testing {

inline Principal Caller(std::int64_t user_id, Role role = Role::kCustomer) {
  Principal caller;
  caller.user_id = user_id;
  caller.role = role;
  return caller;
}

inline const Principal kAlice = Caller(1);
inline const Principal kBob = Caller(2);
inline const Principal kAdmin = Caller(99, Role::kAdmin);

/// An orders service over a fresh database and a FakeProducts.
struct OrdersFixture {
  TempDir dir;
  std::string location = FreshDatabase(dir.path(), "orders.db");  // a file, or a PostgreSQL database
  std::unique_ptr<sql::Database> db = OpenDatabase();
  FakeProducts products;
  std::unique_ptr<orders::Service> service = orders::MakeService(*db, products);
  /// Orders' events delivered in process, as the single binary does: order_cancelled gives the
  /// stock back through FakeProducts::Release, by the reference reserved for the order's id.
  events::InProcessBus bus;
  bool subscribed = SubscribeFakeProducts();
  events::Relay relay{*db, bus,
                      {.destination = "in_process",
                       .poll_every = std::chrono::milliseconds(50),
                       .retry_after_failure = std::chrono::milliseconds(5)}};

  /// Waits until every event written so far was delivered; false after 5 s.
  bool DeliverEvents() { return relay.WaitDrained(std::chrono::seconds(5)); }

  bool SubscribeFakeProducts() {
    bus.Subscribe({.consumer = "fake-products",
                 .type = std::string(orders::kOrderCancelled),
                 .handle =
                     [this](const events::Event& event) {
                       auto cancelled = orders::ReadOrderCancelled(event);
                       if (!cancelled) throw std::runtime_error("unreadable order_cancelled");
                       for (const auto& [ref, order_id] : products.OrderIds()) {
                         if (order_id == cancelled->order_id) {
                           if (!products.Release(ref)) throw std::runtime_error("products is down (fake)");
                           return;
                         }
                       }
                       throw std::runtime_error("no reservation for the cancelled order");
                     },
                 .set_aside = {},
                 .max_attempts = 1'000'000});
    return true;
  }

  std::unique_ptr<sql::Database> OpenDatabase() {
    return sql::Database::Open({.path = location, .busy_timeout_ms = 60000},
                                  orders::EmbeddedMigrations());
  }

  /// The first column of the first row of `sql`, on the test thread's connection.
  std::int64_t Int(const std::string& sql) {
    sql::Statement st = db->ThisThread().Prepare(sql);
    REQUIRE(st.Step());
    return st.Int(0);
  }
  std::string Text(const std::string& sql) {
    sql::Statement st = db->ThisThread().Prepare(sql);
    REQUIRE(st.Step());
    return st.Text(0);
  }
  void Exec(const std::string& sql) { db->ThisThread().Exec(sql); }

  /// Makes every INSERT into orders fail (a trigger that raises), in the run's dialect.
  void BreakOrderInserts() {
    if (OnPostgres()) {
      Exec("CREATE FUNCTION fail_orders() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$;"
           "CREATE TRIGGER fail_orders BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION fail_orders()");
    } else {
      Exec("CREATE TRIGGER fail_orders BEFORE INSERT ON orders BEGIN SELECT RAISE(ABORT, 'boom'); END");
    }
  }
  /// Undoes BreakOrderInserts.
  void RepairOrderInserts() { Exec(OnPostgres() ? "DROP TRIGGER fail_orders ON orders" : "DROP TRIGGER fail_orders"); }
};

inline orders::NewOrder Lines(std::initializer_list<std::pair<std::int64_t, std::int64_t>> lines,
                              std::optional<std::string> key = std::nullopt) {
  orders::NewOrder order;
  for (auto [product_id, quantity] : lines) order.items.push_back({product_id, quantity});
  order.idempotency_key = std::move(key);
  return order;
}

}  // namespace shop::testing
