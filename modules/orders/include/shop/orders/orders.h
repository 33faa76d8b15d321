#pragma once

#include <memory>
#include <span>

#include "shop/orders/api.h"
#include "shop/products/api.h"
#include "shop/sqlite/database.h"
#include "shop/sqlite/migrations.h"

namespace shop::orders {

/// Migrations of `orders.db`, compiled into the binary from migrations/orders/.
std::span<const sqlite::Migration> EmbeddedMigrations();

/// The in-process implementation over the module's own database. It reaches products only
/// through `products` (in process or remote alike). Releases that could not be confirmed are
/// kept in the database and retried by RetryPendingReleases().
class Service : public Api {
 public:
  /// Gives back stock for sagas that did not finish (a crash, products unreachable); returns how
  /// many are still pending. Safe to call at any time, from any thread.
  virtual int RetryPendingReleases() = 0;
};

std::unique_ptr<Service> MakeService(sqlite::Database& db, products::Api& products);

}  // namespace shop::orders
