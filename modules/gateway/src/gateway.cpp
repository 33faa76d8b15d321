#include "shop/gateway/gateway.h"

#include <memory>

namespace shop::gateway {
namespace {

bool Owns(const Upstream& upstream, std::string_view path) {
  for (const std::string& prefix : upstream.prefixes) {
    if (path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/')) return true;
  }
  return false;
}

/// Retrying is safe for reads, and for order placement that carries an Idempotency-Key.
bool SafeToRepeat(const http::Request& request) {
  return request.method == "GET" || request.method == "HEAD" || request.headers.Has("Idempotency-Key");
}

}  // namespace

void Mount(http::App& app, std::vector<Upstream> upstreams) {
  auto table = std::make_shared<const std::vector<Upstream>>(std::move(upstreams));
  app.SetFallback("proxy", [table](const http::Context& ctx) {
    const std::string_view path = ctx.request.Path();
    for (const Upstream& upstream : *table) {
      if (!Owns(upstream, path)) continue;
      http::Request forwarded = ctx.request;
      auto response = upstream.client->Send(std::move(forwarded), SafeToRepeat(ctx.request));
      if (!response) {
        return http::Problem(503, "dependency_unavailable",
                             "the " + upstream.name + " service " + std::string(http::Describe(response.error())));
      }
      return std::move(*response);
    }
    return http::Problem(404, "not_found", "no such resource");
  });
  for (const Upstream& upstream : *table) {
    http::Client* client = upstream.client;
    app.AddReadinessCheck(upstream.name, [client] { return client->Probe("/health/ready"); });
  }
}

}  // namespace shop::gateway
