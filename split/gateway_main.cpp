// shop-gateway: the split layout's single public entry. It routes each public path to a live
// instance of the service that owns it (found in the registry) and passes bodies through untouched.
// The admin API (PLATFORM.md) is served here, on the central configuration and the registry.
#include "shop/gateway/gateway.h"
#include "shop/runtime/runtime.h"
#include "shop/runtime/split.h"
#include "shop/users/remote.h"

namespace {

using namespace shop;

int Run(const Flags& flags) {
  // No handler threads: the proxy runs on the server's event loop (http::AsyncClient).
  http::ServerOptions server_options = runtime::ServerOptionsFrom(flags);
  runtime::SplitPlatform platform(
      flags, "gateway", SHOP_VERSION,
      {{"users", SHOP_VERSION_MAJOR}, {"products", SHOP_VERSION_MAJOR}, {"orders", SHOP_VERSION_MAJOR}});
  server_options.local_socket = platform.local_socket();  // callers on this host skip TCP
  // GETs to users and products go pipelined (they answer on their event loops); not to orders, whose
  // handlers run on a thread pool (they wait on products) and would take a connection's requests in turn.
  http::ClientOptions users_options = platform.ClientOptionsFor("users", flags.Get("users-url"));
  users_options.pipeline_gets = true;
  http::ClientOptions products_options = platform.ClientOptionsFor("products", flags.Get("products-url"));
  products_options.pipeline_gets = true;
  http::AsyncClient users(users_options);
  http::AsyncClient products(products_options);
  http::AsyncClient orders(platform.ClientOptionsFor("orders", flags.Get("orders-url")));
  // Admin tokens are verified here, with the keys users publishes.
  auto users_api = users::MakeHttpClient(platform.ClientOptionsFor("users", flags.Get("users-url")));
  auth::Verifier verifier;
  users::KeySync keys(*users_api, verifier);

  http::App app("gateway", SHOP_VERSION);
  platform.Mount(app, verifier);
  runtime::LimitRateAtEdge(platform.config(), app, verifier);
  gateway::Mount(app, {{"users", {"/users", "/auth", "/.well-known"}, &users},
                       {"products", {"/products"}, &products},
                       {"orders", {"/orders"}, &orders}});
  app.AddReadinessCheck("token_keys", [&] { return verifier.HasKeys(); });
  return runtime::Serve(app, server_options, [&](std::uint16_t port) { platform.Listening(port, app); });
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags("shop-gateway", "The public entry of the split layout: routes the API to the users, products and orders services.");
  runtime::AddServerFlags(flags, "8080");
  flags.Add("users-url", "URL", "a static URL of the users service, instead of the registry's", "", "SHOP_USERS_URL");
  flags.Add("products-url", "URL", "a static URL of the products service, instead of the registry's", "",
            "SHOP_PRODUCTS_URL");
  flags.Add("orders-url", "URL", "a static URL of the orders service, instead of the registry's", "", "SHOP_ORDERS_URL");
  runtime::AddPlatformFlags(flags);
  runtime::AddConfigFlags(flags);
  if (auto code = runtime::Start(flags, argc, argv, "gateway", "")) return *code;
  return runtime::Guard("shop-gateway", [&] { return Run(flags); });
}
