#pragma once

#include <memory>
#include <span>

#include "shop/products/api.h"
#include "shop/sqlite/database.h"
#include "shop/sqlite/migrations.h"

namespace shop::products {

/// Migrations of `products.db`, compiled into the binary from migrations/products/.
std::span<const sqlite::Migration> EmbeddedMigrations();

/// The in-process implementation over the module's own database.
std::unique_ptr<Api> MakeService(sqlite::Database& db);

}  // namespace shop::products
