#include "shop/http/adapter.h"
#include "shop/products/remote.h"
#include "wire.h"

namespace shop::products {

// No authentication here: /internal routes are reachable only inside the deployment (the orders
// service calls them; the gateway never routes /internal), and they act for an order, not a user.
void AddInternalRoutes(http::Router& router, Api& products) {
  router.Add(
      "POST", "/internal/reservations",
      [&products](const http::Context& ctx) {
        auto input = wire::DecodeReserveRequest(ctx.request.body);
        if (!input) return http::DecodeProblem(input.error());
        auto lines = products.Reserve(input->order_ref, input->lines);
        if (!lines) return wire::FailureResponse(lines.error());
        return http::JsonResponse(200, wire::EncodeReservedLines(*lines));
      },
      http::RouteOptions{.json_body = true});

  router.Add(
      "POST", "/internal/releases",
      [&products](const http::Context& ctx) {
        auto order_ref = wire::DecodeReleaseRequest(ctx.request.body);
        if (!order_ref) return http::DecodeProblem(order_ref.error());
        auto released = products.Release(*order_ref);
        if (!released) return wire::FailureResponse(released.error());
        return http::JsonResponse(200, wire::EncodeReleased(*order_ref));
      },
      http::RouteOptions{.json_body = true});
}

}  // namespace shop::products
