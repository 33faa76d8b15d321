#include "shop/runtime/runtime.h"

#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>

#include "shop/platform/log.h"

namespace shop::runtime {

void AddServerFlags(Flags& flags, std::string default_port) {
  flags.Add("host", "ADDR", "address to listen on", "127.0.0.1", "SHOP_HOST");
  flags.Add("port", "PORT", "TCP port to listen on (0: any free port)", std::move(default_port), "SHOP_PORT");
  flags.Add("threads", "N", "server threads; 0 means one per core", "0", "SHOP_THREADS");
  flags.Add("log-level", "LEVEL", "debug, info, warn or error", "info", "SHOP_LOG_LEVEL");
}

std::optional<int> Start(Flags& flags, int argc, char** argv, std::string_view service, std::string_view help_footer) {
  if (auto parsed = flags.Parse(argc, argv); !parsed) {
    std::cerr << service << ": " << parsed.error() << '\n';
    return 2;
  }
  if (flags.help_requested()) {
    std::cout << flags.Usage() << help_footer;
    return 0;
  }
  log::Level level{};
  if (!log::ParseLevel(flags.Get("log-level"), level)) {
    std::cerr << service << ": --log-level must be debug, info, warn or error\n";
    return 2;
  }
  log::Configure(std::string(service), level);
  return std::nullopt;
}

http::ServerOptions ServerOptionsFrom(const Flags& flags) {
  auto value = [&](std::string_view name, std::int64_t min, std::int64_t max) {
    auto v = flags.GetInt(name, min, max);
    if (!v) throw std::invalid_argument(v.error());
    return *v;
  };
  http::ServerOptions options;
  options.host = flags.Get("host");
  options.port = static_cast<std::uint16_t>(value("port", 0, 65535));
  options.threads = static_cast<int>(value("threads", 0, 1024));
  return options;
}

std::filesystem::path DataDir(const Flags& flags) {
  const std::filesystem::path dir = flags.Get("data-dir");
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
  return dir;
}

void AddTokenFlags(Flags& flags) {
  flags.Add("signing-key", "FILE",
            "Ed25519 private key (PEM) for tokens; default: DATA_DIR/jwt-ed25519.pem, made if missing", "",
            "SHOP_SIGNING_KEY");
  flags.Add("token-ttl", "SECONDS", "lifetime of access tokens", "3600", "SHOP_TOKEN_TTL");
}

auth::SigningKey SigningKeyFrom(const Flags& flags, const std::filesystem::path& data_dir) {
  const std::string& file = flags.Get("signing-key");
  return file.empty() ? auth::SigningKey::LoadOrCreate(data_dir / "jwt-ed25519.pem") : auth::SigningKey::Load(file);
}

std::chrono::seconds TokenTtlFrom(const Flags& flags) {
  // Verifiers refuse user tokens that live longer than a day (auth::kMaxUserTokenLifetime).
  auto ttl = flags.GetInt("token-ttl", 60, auth::kMaxUserTokenLifetime);
  if (!ttl) throw std::invalid_argument(ttl.error());
  return std::chrono::seconds(*ttl);
}

AdminBootstrap AdminFromEnvironment() {
  AdminBootstrap admin;
  if (const char* email = std::getenv("SHOP_ADMIN_EMAIL")) admin.email = email;
  if (const char* password = std::getenv("SHOP_ADMIN_PASSWORD")) admin.password = password;
  return admin;
}

std::string ServiceSecretFromEnvironment() {
  const char* value = std::getenv("SHOP_SERVICE_SECRET");
  const char* file = std::getenv("SHOP_SERVICE_SECRET_FILE");
  if (value && file) throw std::runtime_error("set SHOP_SERVICE_SECRET or SHOP_SERVICE_SECRET_FILE, not both");
  std::string secret;
  if (value) {
    secret = value;
  } else if (file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error(std::string("cannot read SHOP_SERVICE_SECRET_FILE ") + file);
    secret.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (secret.ends_with('\n')) secret.pop_back();
  } else {
    throw std::runtime_error(
        "this service needs its client secret for service tokens: set SHOP_SERVICE_SECRET_FILE (or "
        "SHOP_SERVICE_SECRET)");
  }
  if (secret.empty()) throw std::runtime_error("the service's client secret is empty");
  return secret;
}

int Serve(http::App& app, const http::ServerOptions& options) {
  app.Seal();
  http::Server server(options, app);
  log::Write(log::Level::kInfo, "listening", {{"host", options.host}, {"port", static_cast<int>(server.port())}});
  server.Run();
  log::Write(log::Level::kInfo, "stopped");
  return 0;
}

int Guard(std::string_view service, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    log::Write(log::Level::kError, "start-up failed", {{"error", e.what()}});
    std::cerr << service << ": " << e.what() << '\n';
    return 1;
  }
}

}  // namespace shop::runtime
