#pragma once

#include <memory>
#include <span>
#include <vector>

#include "shop/events/events.h"
#include "shop/products/api.h"
#include "shop/sql/database.h"
#include "shop/sql/migrations.h"

namespace shop::products {

/// Migrations of `products.db`, compiled into the binary from migrations/products/.
sql::Migrations EmbeddedMigrations();

/// The in-process implementation over the module's own database. Every change writes its events
/// (shop/products/events.h) to the database's outbox in its own transaction.
class Service : public Api {
 public:
  using Api::Reserve;
  /// The subscriptions of products' consumers of other modules' events (PLATFORM.md "Events"), for
  /// the process to hand to its Subscriber: the stock of a cancelled order comes back on
  /// `order_cancelled`, once whatever the number of deliveries; poison events go to dead_letters.
  virtual std::vector<events::Subscription> Consumers() = 0;
};

std::unique_ptr<Service> MakeService(sql::Database& db);

}  // namespace shop::products
