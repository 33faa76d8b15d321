#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "shop/auth/token.h"
#include "shop/sqlite/database.h"
#include "shop/sqlite/migrations.h"
#include "shop/users/api.h"

namespace shop::users {

struct ServiceOptions {
  std::chrono::seconds token_ttl{3600};
  /// When both are set and no user has this email, an admin with them is created at start.
  std::string admin_email;
  std::string admin_password;
  /// Argon2id cost: libsodium ops and memory limits. Defaults follow OWASP (t=2, m=19 MiB).
  unsigned long long pwhash_ops = 2;
  std::size_t pwhash_mem = 19 * 1024 * 1024;
};

/// Migrations of `users.db`, compiled into the binary from migrations/users/.
std::span<const sqlite::Migration> EmbeddedMigrations();

/// The in-process implementation over the module's own database. Creates the bootstrap admin
/// (see ServiceOptions) before returning; throws std::invalid_argument if those settings are invalid.
std::unique_ptr<Api> MakeService(sqlite::Database& db, const auth::SigningKey& key, ServiceOptions options);

}  // namespace shop::users
