// shop-users: the users module as a service. It alone holds the signing key; everyone else
// verifies tokens with the public key it serves at /.well-known/jwks.json.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "shop/runtime/runtime.h"
#include "shop/users/http.h"
#include "shop/users/users.h"

namespace {

using namespace shop;

int Run(const Flags& flags) {
  const http::ServerOptions server_options = runtime::ServerOptionsFrom(flags);
  auto ttl = flags.GetInt("token-ttl", 60, 30 * 24 * 3600);
  if (!ttl) throw std::invalid_argument(ttl.error());
  const std::filesystem::path data_dir = flags.Get("data-dir");
  std::filesystem::create_directories(data_dir);
  ::chmod(data_dir.c_str(), 0700);
  auto db = sqlite::Database::Open({(data_dir / "users.db").string()}, users::EmbeddedMigrations());
  const std::string key_file = flags.Get("signing-key");
  auth::SigningKey key = key_file.empty() ? auth::SigningKey::LoadOrCreate(data_dir / "jwt-ed25519.pem")
                                          : auth::SigningKey::Load(key_file);
  auth::Verifier verifier;
  verifier.SetKeys({key.public_key()});

  users::ServiceOptions options;
  options.token_ttl = std::chrono::seconds(*ttl);
  if (const char* email = std::getenv("SHOP_ADMIN_EMAIL")) options.admin_email = email;
  if (const char* password = std::getenv("SHOP_ADMIN_PASSWORD")) options.admin_password = password;
  auto service = users::MakeService(*db, key, options);

  http::App app("users", SHOP_VERSION);
  users::AddRoutes(app.router(), *service, verifier);
  app.AddReadinessCheck("users_db", [&] { return db->Ping(); });
  return runtime::Serve(app, server_options);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags("shop-users", "The users module as a service: accounts, credentials, tokens and their public keys.");
  runtime::AddServerFlags(flags, "8081");
  flags.Add("data-dir", "DIR", "where users.db and the signing key live", "./data/users", "SHOP_DATA_DIR");
  flags.Add("signing-key", "FILE", "Ed25519 private key (PEM); default: DATA_DIR/jwt-ed25519.pem, made if missing", "",
            "SHOP_SIGNING_KEY");
  flags.Add("token-ttl", "SECONDS", "lifetime of access tokens", "3600", "SHOP_TOKEN_TTL");
  if (auto code = runtime::Start(flags, argc, argv, "users",
                                 "\nEnvironment: SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD create the first admin.\n")) {
    return *code;
  }
  return runtime::Guard("shop-users", [&] { return Run(flags); });
}
