// shop-products: the products module as a service, with the internal reservation routes the
// orders service calls. Tokens, users' and services', are verified locally with the keys users
// publishes; only the orders service may call the internal routes. It finds users through the
// registry and registers itself there once ready.
#include "shop/products/http.h"
#include "shop/products/products.h"
#include "shop/products/remote.h"
#include "shop/runtime/runtime.h"
#include "shop/runtime/split.h"
#include "shop/users/remote.h"

namespace {

using namespace shop;

int Run(const Flags& flags) {
  http::ServerOptions server_options = runtime::ServerOptionsFrom(flags);
  runtime::SplitPlatform platform(flags, "products", SHOP_VERSION, {{"users", SHOP_VERSION_MAJOR}});
  server_options.local_socket = platform.local_socket();  // callers on this host skip TCP
  server_options.handler_threads = platform.config().Current()->settings.handler_threads;
  const std::filesystem::path data_dir = runtime::DataDir(flags);
  auto db = runtime::OpenDatabase(flags, "database-url", data_dir, "products.db", products::EmbeddedMigrations());
  server_options.thread_start = [&db] { db->ThisThread(); };  // each handler thread's session, up front
  auto service = products::MakeService(*db);

  auto users = users::MakeHttpClient(platform.ClientOptionsFor("users", flags.Get("users-url")));
  auth::Verifier verifier;
  users::KeySync keys(*users, verifier);

  http::App app("products", SHOP_VERSION);
  products::AddRoutes(app.router(), *service, verifier);
  products::AddInternalRoutes(app.router(), *service, verifier, {"orders"});
  platform.Mount(app, verifier);
  // products' events go out to JetStream; its consumer gives a cancelled order's stock back.
  runtime::SplitEvents events(platform, "products", *db, service->Consumers());
  events.Mount(app);
  app.AddReadinessCheck("products_db", [&] { return db->Ping(); });
  app.AddReadinessCheck("token_keys", [&] { return verifier.HasKeys(); });
  return runtime::Serve(app, server_options, [&](std::uint16_t port) { platform.Listening(port, app); });
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags("shop-products", "The products module as a service: the catalogue and its stock.");
  runtime::AddServerFlags(flags, "8082");
  flags.Add("data-dir", "DIR", "where products.db lives", "./data/products", "SHOP_DATA_DIR");
  runtime::AddDatabaseFlag(flags, "database-url", "SHOP_DATABASE_URL", "products", "products.db");
  flags.Add("users-url", "URL", "a static URL of the users service, instead of the registry's", "", "SHOP_USERS_URL");
  runtime::AddPlatformFlags(flags);
  runtime::AddConfigFlags(flags);
  if (auto code = runtime::Start(flags, argc, argv, "products", "")) return *code;
  return runtime::Guard("shop-products", [&] { return Run(flags); });
}
