// shop-users: the users module as a service. It alone holds the signing key; everyone else
// verifies tokens with the public key it serves at /.well-known/jwks.json. It also issues the
// service tokens the other services prove their identity with (POST /internal/oauth/token).
#include "shop/platform/log.h"
#include "shop/runtime/runtime.h"
#include "shop/runtime/split.h"
#include "shop/users/http.h"
#include "shop/users/remote.h"
#include "shop/users/users.h"

namespace {

using namespace shop;

int Run(const Flags& flags) {
  http::ServerOptions server_options = runtime::ServerOptionsFrom(flags);
  runtime::SplitPlatform platform(flags, "users", SHOP_VERSION, {});
  server_options.local_socket = platform.local_socket();  // callers on this host skip TCP
  server_options.handler_threads = platform.config().Current()->settings.handler_threads;
  const std::filesystem::path data_dir = runtime::DataDir(flags);
  auto db = runtime::OpenDatabase(flags, "database-url", data_dir, "users.db", users::EmbeddedMigrations());
  server_options.thread_start = [&db] { db->ThisThread(); };  // each handler thread's session, up front
  auth::SigningKey key = runtime::SigningKeyFrom(flags, data_dir);
  auth::Verifier verifier;
  verifier.SetKeys({key.public_key()});
  const runtime::AdminBootstrap admin = runtime::AdminFromEnvironment();
  const std::string& clients_dir = flags.Get("service-credentials-dir");
  std::vector<users::ClientCredentials> clients;
  if (!clients_dir.empty()) clients = users::LoadServiceClients(clients_dir);
  std::string client_ids;
  for (const auto& client : clients) client_ids += (client_ids.empty() ? "" : ",") + client.client_id;
  log::Write(log::Level::kInfo, "service clients", {{"clients", client_ids}});
  auto token_ttl = std::make_shared<std::atomic<std::int64_t>>();
  platform.config().Subscribe(
      [token_ttl](const config::Snapshot& s) { token_ttl->store(s.settings.token_ttl.count()); });
  auto service = users::MakeService(*db, key,
                                    {.token_ttl_seconds = token_ttl,
                                     .admin_email = admin.email,
                                     .admin_password = admin.password,
                                     .service_clients = std::move(clients)});

  http::App app("users", SHOP_VERSION);
  users::AddRoutes(app.router(), *service, verifier);
  users::AddInternalRoutes(app.router(), *service);
  platform.Mount(app, verifier);
  runtime::SplitEvents events(platform, "users", *db, {});
  events.Mount(app);
  app.AddReadinessCheck("users_db", [&] { return db->Ping(); });
  return runtime::Serve(app, server_options, [&](std::uint16_t port) { platform.Listening(port, app); });
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags("shop-users", "The users module as a service: accounts, credentials, tokens and their public keys.");
  runtime::AddServerFlags(flags, "8081");
  flags.Add("data-dir", "DIR", "where users.db and the signing key live", "./data/users", "SHOP_DATA_DIR");
  runtime::AddDatabaseFlag(flags, "database-url", "SHOP_DATABASE_URL", "users", "users.db");
  runtime::AddTokenFlags(flags);
  flags.Add("service-credentials-dir", "DIR",
            "the services that may get service tokens: one file per service, named after it, holding its secret "
            "(Docker secrets style); none when empty",
            "", "SHOP_SERVICE_CREDENTIALS_DIR");
  runtime::AddPlatformFlags(flags);
  runtime::AddConfigFlags(flags);
  if (auto code = runtime::Start(flags, argc, argv, "users",
                                 "\nEnvironment: SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD create the first admin.\n")) {
    return *code;
  }
  return runtime::Guard("shop-users", [&] { return Run(flags); });
}
