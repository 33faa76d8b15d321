#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "shop/http/adapter.h"
#include "shop/products/remote.h"
#include "wire.h"

namespace shop::products {
namespace {

/// The 401/403 to answer a caller that is not an allowed service with; nullopt for one that is.
std::optional<http::Response> Refusal(const http::Request& request, const auth::Verifier& verifier,
                                      const std::vector<std::string>& allowed_callers) {
  auto caller = http::AuthenticateService(request, verifier);
  if (!caller) return std::move(caller.error());
  if (std::ranges::find(allowed_callers, caller->service) == allowed_callers.end()) {
    return http::Problem(403, "forbidden", "the service " + caller->service + " may not call this route");
  }
  return std::nullopt;
}

}  // namespace

// /internal routes act for an order, not a user: the caller proves which service it is (a service
// token from users, verified here with the keys users publishes), and only allowed services pass.
// The gateway never routes /internal, so reaching the port is not enough either way.
void AddInternalRoutes(http::Router& router, Api& products, const auth::Verifier& verifier,
                       std::vector<std::string> allowed_callers) {
  auto allowed = std::make_shared<const std::vector<std::string>>(std::move(allowed_callers));
  router.Add(
      "POST", "/internal/reservations",
      [&products, &verifier, allowed](const http::Context& ctx) {
        if (auto refusal = Refusal(ctx.request, verifier, *allowed)) return std::move(*refusal);
        auto input = wire::DecodeReserveRequest(ctx.request.body);
        if (!input) return http::DecodeProblem(input.error());
        auto lines = products.Reserve(input->order_ref, input->order_id, input->lines);
        if (!lines) return wire::kErrors.Problem(lines.error());
        return http::JsonResponse(200, wire::EncodeReservedLines(*lines));
      },
      http::RouteOptions{.json_body = true});

  router.Add(
      "POST", "/internal/releases",
      [&products, &verifier, allowed](const http::Context& ctx) {
        if (auto refusal = Refusal(ctx.request, verifier, *allowed)) return std::move(*refusal);
        auto order_ref = wire::DecodeReleaseRequest(ctx.request.body);
        if (!order_ref) return http::DecodeProblem(order_ref.error());
        auto released = products.Release(*order_ref);
        if (!released) return wire::kErrors.Problem(released.error());
        return http::JsonResponse(200, wire::EncodeReleased(*order_ref));
      },
      http::RouteOptions{.json_body = true});
}

}  // namespace shop::products
