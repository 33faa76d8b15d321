#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "shop/auth/token.h"
#include "shop/http/app.h"
#include "shop/http_server/server.h"
#include "shop/platform/flags.h"

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

/// Declares --signing-key and --token-ttl, for the process that issues tokens.
void AddTokenFlags(Flags& flags);
/// The signing key named by --signing-key, else DATA_DIR/jwt-ed25519.pem (made on first start).
auth::SigningKey SigningKeyFrom(const Flags& flags, const std::filesystem::path& data_dir);
/// --token-ttl, checked.
std::chrono::seconds TokenTtlFrom(const Flags& flags);

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

/// Serves `app` (sealed here) until SIGINT or SIGTERM, with "listening" and "stopped" log lines.
int Serve(http::App& app, const http::ServerOptions& options);

/// Runs `body`; an exception becomes an error log line, a message on stderr and exit code 1.
int Guard(std::string_view service, const std::function<int()>& body);

}  // namespace shop::runtime
