#pragma once

#include <memory>
#include <span>

#include "shop/orders/api.h"
#include "shop/products/api.h"
#include "shop/sql/database.h"
#include "shop/sql/migrations.h"

namespace shop::orders {

/// Migrations of `orders.db`, compiled into the binary from migrations/orders/.
sql::Migrations EmbeddedMigrations();

/// The in-process implementation over the module's own database. It reaches products only
/// through `products` (in process or remote alike). Compensations that could not be confirmed
/// (the release of a failed placement's stock) are kept in the saga log and retried by
/// CompensatePendingSagas(). A cancel's stock travels as the order_cancelled event instead.
class Service : public Api {
 public:
  /// Compensates sagas that did not finish (a crash, products unreachable): those logged as
  /// compensating, and those still running after 60 s; returns how many are still compensating.
  /// Safe to call at any time, from any thread.
  virtual int CompensatePendingSagas() = 0;
};

std::unique_ptr<Service> MakeService(sql::Database& db, products::Api& products);

}  // namespace shop::orders
