// The modular monolith: the three modules over their own databases, orders given the in-process
// products implementation, every module's routes on one App behind one port. Only wiring here.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "shop/auth/token.h"
#include "shop/orders/http.h"
#include "shop/orders/orders.h"
#include "shop/platform/periodic.h"
#include "shop/products/http.h"
#include "shop/products/products.h"
#include "shop/runtime/runtime.h"
#include "shop/users/http.h"
#include "shop/users/users.h"

namespace {

using namespace shop;

const char* EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

int Run(const Flags& flags) {
  const http::ServerOptions server_options = runtime::ServerOptionsFrom(flags);
  auto ttl = flags.GetInt("token-ttl", 60, 30 * 24 * 3600);
  if (!ttl) throw std::invalid_argument(ttl.error());

  const std::filesystem::path data_dir = flags.Get("data-dir");
  std::filesystem::create_directories(data_dir);
  ::chmod(data_dir.c_str(), 0700);
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

  // Stock whose release could not be confirmed (see the orders saga) is given back in the background.
  PeriodicTask release_retrier("retry pending releases", std::chrono::seconds(5),
                               [&] { orders_service->RetryPendingReleases(); });
  return runtime::Serve(app, server_options);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags("shop", "The shop API (users, products, orders) as one process on one port.");
  runtime::AddServerFlags(flags, "8080");
  flags.Add("data-dir", "DIR", "where users.db, products.db, orders.db and the signing key live", "./data",
            "SHOP_DATA_DIR");
  flags.Add("signing-key", "FILE", "Ed25519 private key (PEM) for tokens; default: DATA_DIR/jwt-ed25519.pem, made if missing",
            "", "SHOP_SIGNING_KEY");
  flags.Add("token-ttl", "SECONDS", "lifetime of access tokens", "3600", "SHOP_TOKEN_TTL");
  if (auto exit_code = runtime::Start(flags, argc, argv, "shop",
                                      "\nEnvironment: SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD create the first admin.\n")) {
    return *exit_code;
  }
  return runtime::Guard("shop", [&] { return Run(flags); });
}
