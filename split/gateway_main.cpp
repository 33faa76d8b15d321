// shop-gateway: the split layout's single public entry. It routes each public path to the service
// that owns it and passes bodies through untouched.
#include "shop/gateway/gateway.h"
#include "shop/runtime/runtime.h"

namespace {

using namespace shop;

int Run(const Flags& flags) {
  http::ServerOptions server_options = runtime::ServerOptionsFrom(flags);
  server_options.handler_threads = 64;  // every request waits on an upstream
  http::Client users({.name = "users", .base_url = flags.Get("users-url")});
  http::Client products({.name = "products", .base_url = flags.Get("products-url")});
  http::Client orders({.name = "orders", .base_url = flags.Get("orders-url")});

  http::App app("gateway", SHOP_VERSION);
  gateway::Mount(app, {{"users", {"/users", "/auth", "/.well-known"}, &users},
                       {"products", {"/products"}, &products},
                       {"orders", {"/orders"}, &orders}});
  return runtime::Serve(app, server_options);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags("shop-gateway", "The public entry of the split layout: routes the API to the users, products and orders services.");
  runtime::AddServerFlags(flags, "8080");
  flags.Add("users-url", "URL", "the users service", "http://127.0.0.1:8081", "SHOP_USERS_URL");
  flags.Add("products-url", "URL", "the products service", "http://127.0.0.1:8082", "SHOP_PRODUCTS_URL");
  flags.Add("orders-url", "URL", "the orders service", "http://127.0.0.1:8083", "SHOP_ORDERS_URL");
  if (auto code = runtime::Start(flags, argc, argv, "gateway", "")) return *code;
  return runtime::Guard("shop-gateway", [&] { return Run(flags); });
}
