// shop-orders: the orders module as a service. The same orders code as in the monolith, handed a
// products::Api that is an HTTP client of the products service instead of the in-process one. It
// proves it is the orders service to products with service tokens from users (its client secret
// comes from SHOP_SERVICE_SECRET_FILE or SHOP_SERVICE_SECRET). Users and products instances are
// found in the registry; calls spread over the live ones.
#include "shop/orders/http.h"
#include "shop/orders/orders.h"
#include "shop/platform/periodic.h"
#include "shop/products/remote.h"
#include "shop/runtime/runtime.h"
#include "shop/runtime/split.h"
#include "shop/users/remote.h"

namespace {

using namespace shop;

int Run(const Flags& flags) {
  http::ServerOptions server_options = runtime::ServerOptionsFrom(flags);
  runtime::SplitPlatform platform(flags, "orders", SHOP_VERSION,
                                  {{"users", SHOP_VERSION_MAJOR}, {"products", SHOP_VERSION_MAJOR}});
  server_options.local_socket = platform.local_socket();  // callers on this host skip TCP
  const config::Settings settings = platform.config().Current()->settings;  // a copy: snapshots come and go
  server_options.handler_threads = settings.handler_threads;
  const std::filesystem::path data_dir = runtime::DataDir(flags);
  auto db = runtime::OpenDatabase(flags, "database-url", data_dir, "orders.db", orders::EmbeddedMigrations());
  server_options.thread_start = [&db] { db->ThisThread(); };  // each handler thread's session, up front

  auto users = users::MakeHttpClient(platform.ClientOptionsFor("users", flags.Get("users-url")));
  users::ServiceTokenSource identity(*users, {"orders", runtime::ServiceSecretFromEnvironment()});
  auto products = products::MakeHttpClient(platform.ClientOptionsFor("products", flags.Get("products-url")), &identity);
  auto service = orders::MakeService(*db, *products);
  auth::Verifier verifier;
  users::KeySync keys(*users, verifier);

  http::App app("orders", SHOP_VERSION);
  orders::AddRoutes(app.router(), *service, verifier);
  platform.Mount(app, verifier);
  runtime::SplitEvents events(platform, "orders", *db, {});
  events.Mount(app);
  app.AddReadinessCheck("orders_db", [&] { return db->Ping(); });
  app.AddReadinessCheck("token_keys", [&] { return verifier.HasKeys(); });
  http::Client products_probe(platform.ClientOptionsFor("products", flags.Get("products-url")));
  // Reported, not required: orders serves its reads and cancels (whose stock travels as an event)
  // while products is down; only placing an order needs it, and that fails fast on its own.
  app.AddStatusReport("products", [&] { return products_probe.Probe("/health/live") ? "ok" : "unreachable"; });
  // Without a service token products refuses every reservation.
  app.AddReadinessCheck("service_identity", [&] { return identity.Token().has_value(); });
  // Compensations products could not confirm (a failed placement's release) are retried from
  // orders.db until it does. A cancel's release travels as the order_cancelled event instead.
  PeriodicTask saga_compensator("compensate pending sagas", settings.release_retry_every,
                               [&] { service->CompensatePendingSagas(); });
  return runtime::Serve(app, server_options, [&](std::uint16_t port) { platform.Listening(port, app); });
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags("shop-orders", "The orders module as a service: placing, listing and cancelling orders.");
  runtime::AddServerFlags(flags, "8083");
  flags.Add("data-dir", "DIR", "where orders.db lives", "./data/orders", "SHOP_DATA_DIR");
  runtime::AddDatabaseFlag(flags, "database-url", "SHOP_DATABASE_URL", "orders", "orders.db");
  flags.Add("users-url", "URL", "a static URL of the users service, instead of the registry's", "", "SHOP_USERS_URL");
  flags.Add("products-url", "URL", "a static URL of the products service, instead of the registry's", "",
            "SHOP_PRODUCTS_URL");
  runtime::AddPlatformFlags(flags);
  // Handlers wait on the products service: a pool keeps one slow call from stalling other connections.
  runtime::AddConfigFlags(flags, {{"server.handler_threads", "32"}});
  if (auto code =
          runtime::Start(flags, argc, argv, "orders",
                         "\nEnvironment: SHOP_SERVICE_SECRET_FILE (or SHOP_SERVICE_SECRET): this service's client "
                         "secret, registered with users as the client \"orders\".\n")) {
    return *code;
  }
  return runtime::Guard("shop-orders", [&] { return Run(flags); });
}
