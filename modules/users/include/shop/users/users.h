#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shop/auth/token.h"
#include "shop/sql/database.h"
#include "shop/sql/migrations.h"
#include "shop/users/api.h"

namespace shop::users {

struct ServiceOptions {
  std::chrono::seconds token_ttl{3600};
  /// When set, the lifetime of user tokens is read from here at every issue, in seconds (the hot
  /// setting `auth.token_ttl_seconds`), and token_ttl is ignored. Values outside 1..86400 are clamped.
  std::shared_ptr<const std::atomic<std::int64_t>> token_ttl_seconds;
  /// When both are set and no user has this email, an admin with them is created at start.
  std::string admin_email;
  std::string admin_password;
  /// The services that may obtain service tokens (IssueServiceToken), each with its secret.
  std::vector<ClientCredentials> service_clients;
  /// Lifetime of service tokens: short, so a leaked one is soon worthless (at most
  /// auth::kMaxServiceTokenLifetime).
  std::chrono::seconds service_token_ttl{300};
  /// Argon2id cost: libsodium ops and memory limits. Defaults follow OWASP (t=2, m=19 MiB).
  unsigned long long pwhash_ops = 2;
  std::size_t pwhash_mem = 19 * 1024 * 1024;
};

/// True for a secret that can hold at least 32 random bytes: 64 or more hex digits, or 43 or more
/// base64url characters (RFC 4648 §5, without padding); at most 512 characters.
bool IsServiceSecret(std::string_view secret);

/// The service clients in `dir`, Docker-secrets style: one file per client, named after its id
/// (auth::IsServiceName), holding its secret (IsServiceSecret; one trailing newline is ignored).
/// Files whose names start with a dot are skipped. Throws std::runtime_error naming the file when a
/// name or secret is not acceptable, or the directory cannot be read.
std::vector<ClientCredentials> LoadServiceClients(const std::filesystem::path& dir);

/// Migrations of `users.db`, compiled into the binary from migrations/users/.
sql::Migrations EmbeddedMigrations();

/// The in-process implementation over the module's own database. Creates the bootstrap admin
/// (see ServiceOptions) before returning; throws std::invalid_argument if those settings, the
/// service clients or the service token lifetime are invalid.
std::unique_ptr<Api> MakeService(sql::Database& db, const auth::SigningKey& key, ServiceOptions options);

}  // namespace shop::users
