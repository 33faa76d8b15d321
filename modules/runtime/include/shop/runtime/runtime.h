#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "shop/auth/token.h"
#include "shop/config/config.h"
#include "shop/http/app.h"
#include "shop/http_server/server.h"
#include "shop/platform/flags.h"
#include "shop/sql/database.h"
#include "shop/sql/migrations.h"

namespace shop::runtime {

/// Declares --host, --port, --threads and --log-level (with SHOP_* environment variables).
void AddServerFlags(Flags& flags, std::string default_port);

/// Parses the command line and sets up logging for `service`. Returns an exit code when the
/// process should stop now (0 after --help, 2 after a usage error), nullopt to go on.
std::optional<int> Start(Flags& flags, int argc, char** argv, std::string_view service, std::string_view help_footer);

/// Server options from the flags AddServerFlags declared; throws std::invalid_argument with the
/// flag's message when one is out of range.
http::ServerOptions ServerOptionsFrom(const Flags& flags);

/// The --data-dir flag's directory, created if missing and made private (0700).
std::filesystem::path DataDir(const Flags& flags);

/// Declares the flag --NAME (environment ENV) that chooses where `module`'s data lives: empty for the
/// SQLite file DATA_DIR/FILE (the default: no server), or a PostgreSQL URI.
void AddDatabaseFlag(Flags& flags, std::string name, std::string env, std::string_view module, std::string_view file);
/// Opens the database the flag --NAME names (else DATA_DIR/`file`) and applies `migrations`; logs
/// where (without a password). Throws sql::Error or sql::MigrationError naming the database.
std::unique_ptr<sql::Database> OpenDatabase(const Flags& flags, std::string_view name,
                                            const std::filesystem::path& data_dir, std::string_view file,
                                            const sql::Migrations& migrations);

/// Declares --signing-key, for the process that issues tokens (--token-ttl comes with AddConfigFlags).
void AddTokenFlags(Flags& flags);
/// The signing key named by --signing-key, else DATA_DIR/jwt-ed25519.pem (made on first start).
auth::SigningKey SigningKeyFrom(const Flags& flags, const std::filesystem::path& data_dir);

/// The first admin's credentials from SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD (empty when unset).
struct AdminBootstrap {
  std::string email;
  std::string password;
};
AdminBootstrap AdminFromEnvironment();

/// This service's client secret for service tokens: $SHOP_SERVICE_SECRET, else the contents of the
/// file named by $SHOP_SERVICE_SECRET_FILE (the Docker secrets `_FILE` convention; one trailing
/// newline is ignored). Throws std::runtime_error when neither is set, both are, or the file cannot
/// be read or is empty.
std::string ServiceSecretFromEnvironment();

/// Declares a flag and environment variable for each configuration key of PLATFORM.md that has
/// none yet: --rate-limit-rps (SHOP_RATE_LIMIT_RPS), --rate-limit-burst, --client-timeout-ms,
/// --breaker-failures and --token-ttl (SHOP_TOKEN_TTL); --log-level comes with AddServerFlags. And
/// one per process setting (not central: flags and environment only): --client-connect-timeout-ms,
/// --client-max-attempts, --client-backoff-ms, --breaker-open-ms, --release-retry-ms,
/// --handler-threads. `process_defaults` (key -> text) gives this process's own defaults, e.g.
/// {"server.handler_threads", "32"} for a service whose handlers wait on another.
void AddConfigFlags(Flags& flags, const std::map<std::string, std::string, std::less<>>& process_defaults = {});

/// The process's configuration, its starting values taken from the flags above (those left at
/// their default are not starting values: the key's default stays). Throws std::invalid_argument
/// naming the flag when a value is invalid.
std::unique_ptr<config::Config> MakeConfig(const Flags& flags);

/// Makes the log level follow `log.level` from now on.
void FollowLogLevel(config::Config& config);

/// Adds the verified-token cache's counts of `verifier` to `app`'s /metrics:
/// shop_token_cache_hits_total, shop_token_cache_misses_total, shop_token_cache_evictions_total
/// (counters) and shop_token_cache_entries (gauge). `verifier` must outlive `app`.
void ReportTokenCache(http::App& app, const auth::Verifier& verifier);

/// Makes `app` the edge: per-client rate limits following `edge.rate_limit.*` from now on. A
/// client is a valid token's subject (`user:<id>`, `service:<name>`), else the peer address (IPv6
/// by its /64, which one host can fill at will). `verifier` must outlive `app`.
void LimitRateAtEdge(config::Config& config, http::App& app, const auth::Verifier& verifier);

/// Serves `app` (sealed here) until SIGINT or SIGTERM, with "listening" and "stopped" log lines.
/// `on_listening`, when given, is called with the bound port before serving starts.
int Serve(http::App& app, const http::ServerOptions& options,
          const std::function<void(std::uint16_t port)>& on_listening = {});

/// Runs `body`; an exception becomes an error log line, a message on stderr and exit code 1.
int Guard(std::string_view service, const std::function<int()>& body);

}  // namespace shop::runtime
