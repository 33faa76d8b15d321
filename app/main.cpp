// The modular monolith: builds the three modules over their own databases, hands orders the
// in-process products implementation, mounts every module's routes on one App and serves it.
// Only wiring lives here.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "shop/auth/token.h"
#include "shop/http/app.h"
#include "shop/http_server/server.h"
#include "shop/orders/http.h"
#include "shop/orders/orders.h"
#include "shop/platform/flags.h"
#include "shop/platform/log.h"
#include "shop/platform/periodic.h"
#include "shop/products/http.h"
#include "shop/products/products.h"
#include "shop/users/http.h"
#include "shop/users/users.h"

namespace {

const char* EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

int Serve(const shop::Flags& flags) {
  using namespace shop;
  const std::filesystem::path data_dir = flags.Get("data-dir");
  std::filesystem::create_directories(data_dir);
  ::chmod(data_dir.c_str(), 0700);

  auto threads = flags.GetInt("threads", 0, 1024);
  auto port = flags.GetInt("port", 0, 65535);
  auto ttl = flags.GetInt("token-ttl", 60, 30 * 24 * 3600);
  for (const auto* bad : {&threads, &port, &ttl}) {
    if (!*bad) {
      std::cerr << "shop: " << bad->error() << '\n';
      return 2;
    }
  }

  auto users_db = sqlite::Database::Open({(data_dir / "users.db").string()}, users::EmbeddedMigrations());
  auto products_db = sqlite::Database::Open({(data_dir / "products.db").string()}, products::EmbeddedMigrations());
  auto orders_db = sqlite::Database::Open({(data_dir / "orders.db").string()}, orders::EmbeddedMigrations());

  const std::string key_file = flags.Get("signing-key");
  auth::SigningKey key = key_file.empty() ? auth::SigningKey::LoadOrCreate(data_dir / "jwt-ed25519.pem")
                                          : auth::SigningKey::Load(key_file);
  auth::Verifier verifier;
  verifier.SetKeys({key.public_key()});

  users::ServiceOptions user_options;
  user_options.token_ttl = std::chrono::seconds(*ttl);
  user_options.admin_email = EnvOr("SHOP_ADMIN_EMAIL", "");
  user_options.admin_password = EnvOr("SHOP_ADMIN_PASSWORD", "");
  auto users_service = users::MakeService(*users_db, key, user_options);
  auto products_service = products::MakeService(*products_db);
  auto orders_service = orders::MakeService(*orders_db, *products_service);

  http::App app("shop", SHOP_VERSION);
  users::AddRoutes(app.router(), *users_service, verifier);
  products::AddRoutes(app.router(), *products_service, verifier);
  orders::AddRoutes(app.router(), *orders_service, verifier);
  app.AddReadinessCheck("users_db", [&] { return users_db->Ping(); });
  app.AddReadinessCheck("products_db", [&] { return products_db->Ping(); });
  app.AddReadinessCheck("orders_db", [&] { return orders_db->Ping(); });
  app.Seal();

  http::ServerOptions server_options;
  server_options.host = flags.Get("host");
  server_options.port = static_cast<std::uint16_t>(*port);
  server_options.threads = static_cast<int>(*threads);
  http::Server server(server_options, app);
  // Stock whose release could not be confirmed (see the orders saga) is given back in the background.
  PeriodicTask release_retrier("retry pending releases", std::chrono::seconds(5),
                               [&] { orders_service->RetryPendingReleases(); });
  log::Write(log::Level::kInfo, "listening",
             {{"host", server_options.host}, {"port", static_cast<int>(server.port())}, {"data_dir", data_dir.string()}});
  server.Run();
  log::Write(log::Level::kInfo, "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  shop::Flags flags("shop", "The shop API (users, products, orders) as one process on one port.");
  flags.Add("host", "ADDR", "address to listen on", "127.0.0.1", "SHOP_HOST");
  flags.Add("port", "PORT", "TCP port to listen on (0: any free port)", "8080", "SHOP_PORT");
  flags.Add("data-dir", "DIR", "where users.db, products.db, orders.db and the signing key live", "./data",
            "SHOP_DATA_DIR");
  flags.Add("threads", "N", "server threads; 0 means one per core", "0", "SHOP_THREADS");
  flags.Add("log-level", "LEVEL", "debug, info, warn or error", "info", "SHOP_LOG_LEVEL");
  flags.Add("signing-key", "FILE", "Ed25519 private key (PEM) for tokens; default: DATA_DIR/jwt-ed25519.pem, made if missing",
            "", "SHOP_SIGNING_KEY");
  flags.Add("token-ttl", "SECONDS", "lifetime of access tokens", "3600", "SHOP_TOKEN_TTL");
  if (auto parsed = flags.Parse(argc, argv); !parsed) {
    std::cerr << "shop: " << parsed.error() << '\n';
    return 2;
  }
  if (flags.help_requested()) {
    std::cout << flags.Usage() << "\nEnvironment: SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD create the first admin.\n";
    return 0;
  }
  shop::log::Level level{};
  if (!shop::log::ParseLevel(flags.Get("log-level"), level)) {
    std::cerr << "shop: --log-level must be debug, info, warn or error\n";
    return 2;
  }
  shop::log::Configure("shop", level);
  try {
    return Serve(flags);
  } catch (const std::exception& e) {
    shop::log::Write(shop::log::Level::kError, "start-up failed", {{"error", e.what()}});
    std::cerr << "shop: " << e.what() << '\n';
    return 1;
  }
}
