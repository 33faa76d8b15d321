#include <boost/json/value_from.hpp>
#include <string>

#include "shop/http/adapter.h"
#include "shop/orders/http.h"
#include "wire.h"

namespace shop::orders {

namespace {

http::Response Problem(const Error& error) { return wire::kErrors.Problem(error); }

http::Response NotFound() { return http::Problem(404, "not_found", "no such order"); }

/// The body's order (wire::DecodeNewOrder) with the Idempotency-Key header, or the 400 to answer with.
std::expected<NewOrder, http::Response> DecodeNewOrder(const http::Request& request) {
  auto order = wire::DecodeNewOrder(request.body);
  if (!order) return std::unexpected(http::DecodeProblem(order.error()));
  if (request.headers.Has("Idempotency-Key")) {
    order->idempotency_key = std::string(request.headers.Get("Idempotency-Key"));
  }
  return std::move(*order);
}

}  // namespace

void AddRoutes(http::Router& router, Api& orders, const auth::Verifier& verifier) {
  router.Add("POST", "/orders",
             [&orders, &verifier](const http::Context& ctx) -> http::Response {
               auto caller = http::Authenticate(ctx.request, verifier);
               if (!caller) return std::move(caller.error());
               auto order = DecodeNewOrder(ctx.request);
               if (!order) return std::move(order.error());
               auto placed = orders.PlaceOrder(*caller, *order);
               if (!placed) return Problem(placed.error());
               http::Response response = http::JsonValue(201, boost::json::value_from(*placed));
               response.headers.Add("Location", "/orders/" + std::to_string(placed->id));
               return response;
             },
             {.json_body = true});

  router.Add("GET", "/orders", [&orders, &verifier](const http::Context& ctx) -> http::Response {
    auto caller = http::Authenticate(ctx.request, verifier);
    if (!caller) return std::move(caller.error());
    auto page = http::ParsePageRequest(ctx.request);
    if (!page) return std::move(page.error());
    auto listed = orders.ListOrders(*caller, *page);
    if (!listed) return Problem(listed.error());
    return http::JsonValue(200, boost::json::value_from(*listed));
  });

  router.Add("GET", "/orders/{id}", [&orders, &verifier](const http::Context& ctx) -> http::Response {
    auto caller = http::Authenticate(ctx.request, verifier);
    if (!caller) return std::move(caller.error());
    std::optional<std::int64_t> id = ctx.IdParam(0);
    if (!id) return NotFound();
    auto order = orders.GetOrder(*caller, *id);
    if (!order) return Problem(order.error());
    return http::JsonValue(200, boost::json::value_from(*order));
  });

  router.Add("POST", "/orders/{id}/cancel", [&orders, &verifier](const http::Context& ctx) -> http::Response {
    auto caller = http::Authenticate(ctx.request, verifier);
    if (!caller) return std::move(caller.error());
    std::optional<std::int64_t> id = ctx.IdParam(0);
    if (!id) return NotFound();
    auto order = orders.CancelOrder(*caller, *id);
    if (!order) return Problem(order.error());
    return http::JsonValue(200, boost::json::value_from(*order));
  });
}

}  // namespace shop::orders
