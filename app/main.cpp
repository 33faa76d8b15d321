// The modular monolith: the three modules over their own databases, orders given the in-process
// products implementation, every module's routes on one App behind one port. Only wiring here.
#include "shop/admin/admin.h"
#include "shop/events/events.h"
#include "shop/nats/event_publisher.h"
#include "shop/orders/http.h"
#include "shop/orders/orders.h"
#include "shop/platform/periodic.h"
#include "shop/products/http.h"
#include "shop/products/products.h"
#include "shop/runtime/events.h"
#include "shop/runtime/runtime.h"
#include "shop/users/http.h"
#include "shop/users/users.h"

namespace {

using namespace shop;

int Run(const Flags& flags) {
  http::ServerOptions server_options = runtime::ServerOptionsFrom(flags);
  const std::filesystem::path data_dir = runtime::DataDir(flags);

  // Configuration: defaults, then flags and environment, then what was set through the admin API
  // (kept in DATA_DIR/config.json, so it survives restarts).
  std::unique_ptr<config::Config> config = runtime::MakeConfig(flags);
  config::FileStore config_store((data_dir / "config.json").string(), *config);
  config->ResetCentral(config_store.LoadAll());
  runtime::FollowLogLevel(*config);
  const config::Settings settings = config->Current()->settings;  // a copy: snapshots come and go
  server_options.handler_threads = settings.handler_threads;
  auto token_ttl = std::make_shared<std::atomic<std::int64_t>>();
  config->Subscribe([token_ttl](const config::Snapshot& s) { token_ttl->store(s.settings.token_ttl.count()); });

  auto users_db = runtime::OpenDatabase(flags, "users-database-url", data_dir, "users.db", users::EmbeddedMigrations());
  auto products_db =
      runtime::OpenDatabase(flags, "products-database-url", data_dir, "products.db", products::EmbeddedMigrations());
  auto orders_db = runtime::OpenDatabase(flags, "orders-database-url", data_dir, "orders.db", orders::EmbeddedMigrations());
  server_options.thread_start = [&] {  // each handler thread's sessions, up front
    users_db->ThisThread();
    products_db->ThisThread();
    orders_db->ThisThread();
  };

  auth::SigningKey key = runtime::SigningKeyFrom(flags, data_dir);
  auth::Verifier verifier;
  verifier.SetKeys({key.public_key()});

  const runtime::AdminBootstrap admin = runtime::AdminFromEnvironment();
  auto users_service = users::MakeService(
      *users_db, key,
      {.token_ttl_seconds = token_ttl, .admin_email = admin.email, .admin_password = admin.password});
  auto products_service = products::MakeService(*products_db);
  auto orders_service = orders::MakeService(*orders_db, *products_service);

  // Events: every module's outbox is delivered in process to the consumers (products takes a
  // cancelled order's stock back), and, given a NATS URL, also to JetStream for outside consumers,
  // each destination with its own cursor so one being away never holds up the other.
  events::InProcessBus bus;
  for (events::Subscription& s : products_service->Consumers()) bus.Subscribe(std::move(s));
  const std::string nats_url = flags.Get("nats-url");
  std::unique_ptr<nats::Connection> nats;
  std::unique_ptr<nats::JetStreamPublisher> jetstream;
  if (!nats_url.empty() && nats_url != "off") {
    nats = std::make_unique<nats::Connection>(nats_url, "shop");
    jetstream = std::make_unique<nats::JetStreamPublisher>(*nats);
  }
  runtime::EventRelays relays;
  const std::pair<const char*, sql::Database*> modules[] = {
      {"users", users_db.get()}, {"products", products_db.get()}, {"orders", orders_db.get()}};
  for (auto [module, db] : modules) {
    relays.Add(module, *db, bus, "in_process");
    if (jetstream) {
      relays.Add(module, *db, *jetstream, "jetstream");
    } else {
      events::Relay::Retire(*db, "jetstream");  // a NATS given before no longer holds back pruning
    }
  }

  http::App app("shop", SHOP_VERSION);
  users::AddRoutes(app.router(), *users_service, verifier);
  products::AddRoutes(app.router(), *products_service, verifier);
  orders::AddRoutes(app.router(), *orders_service, verifier);
  admin::SelfDirectory self("shop", SHOP_VERSION);
  admin::AddRoutes(app, *config, config_store, self, verifier);
  runtime::LimitRateAtEdge(*config, app, verifier);
  runtime::ReportTokenCache(app, verifier);
  app.AddReadinessCheck("users_db", [&] { return users_db->Ping(); });
  app.AddReadinessCheck("products_db", [&] { return products_db->Ping(); });
  app.AddReadinessCheck("orders_db", [&] { return orders_db->Ping(); });
  relays.Mount(app, &bus);

  // Sagas whose compensation could not be confirmed (see the orders saga) are finished in the background.
  PeriodicTask saga_compensator("compensate pending sagas", settings.release_retry_every,
                               [&] { orders_service->CompensatePendingSagas(); });
  return runtime::Serve(app, server_options, [&](std::uint16_t port) {
    self.SetUrl("http://" + server_options.host + ":" + std::to_string(port));
  });
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags("shop", "The shop API (users, products, orders) as one process on one port.");
  runtime::AddServerFlags(flags, "8080");
  flags.Add("data-dir", "DIR", "where users.db, products.db, orders.db, config.json and the signing key live",
            "./data", "SHOP_DATA_DIR");
  runtime::AddDatabaseFlag(flags, "users-database-url", "SHOP_USERS_DATABASE_URL", "users", "users.db");
  runtime::AddDatabaseFlag(flags, "products-database-url", "SHOP_PRODUCTS_DATABASE_URL", "products", "products.db");
  runtime::AddDatabaseFlag(flags, "orders-database-url", "SHOP_ORDERS_DATABASE_URL", "orders", "orders.db");
  runtime::AddTokenFlags(flags);
  runtime::AddConfigFlags(flags);
  flags.Add("nats-url", "URL",
            "also publish domain events to NATS JetStream at URL (stream SHOP_EVENTS), e.g. nats://127.0.0.1:4222; "
            "empty or 'off': in process only",
            "", "SHOP_NATS_URL");
  if (auto exit_code = runtime::Start(flags, argc, argv, "shop",
                                      "\nEnvironment: SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD create the first admin.\n")) {
    return *exit_code;
  }
  return runtime::Guard("shop", [&] { return Run(flags); });
}
