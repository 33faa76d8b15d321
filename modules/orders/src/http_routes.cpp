#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value_from.hpp>
#include <string>

#include "shop/http/adapter.h"
#include "shop/json/reader.h"
#include "shop/orders/http.h"
#include "wire.h"

namespace shop::orders {

// The API's representation of an order, in this one place (found by value_from through ADL).
void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const OrderLine& line) {
  jv = boost::json::object{
      {"product_id", line.product_id}, {"quantity", line.quantity}, {"unit_price_cents", line.unit_price_cents}};
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const Order& order) {
  jv = boost::json::object{
      {"id", order.id},
      {"user_id", order.user_id},
      {"status", StatusName(order.status)},
      {"items", boost::json::value_from(order.items)},
      {"total_cents", order.total_cents},
      {"created_at", order.created_at},
  };
}

namespace {

http::Response Problem(const Error& error) { return wire::kErrors.Problem(error); }

http::Response NotFound() { return http::Problem(404, "not_found", "no such order"); }

/// `{"items":[{"product_id","quantity"}]}` read strictly, plus the Idempotency-Key header.
std::expected<NewOrder, http::Response> DecodeNewOrder(const http::Request& request) {
  auto body = http::ParseJsonBody(request);
  if (!body) return std::unexpected(std::move(body.error()));
  // A public request body: strict (API.md: unknown fields are 400).
  constexpr auto kStrict = json::ObjectReader::Strictness::kRejectUnknown;
  json::ObjectReader reader(*body, kStrict);
  NewOrder order;
  if (const boost::json::array* items = reader.Array("items")) {
    order.items.reserve(items->size());
    for (std::size_t i = 0; i < items->size(); ++i) {
      const std::string field = "items[" + std::to_string(i) + "]";
      const boost::json::object* item = json::AsObject((*items)[i]);
      if (!item) {
        reader.Reject(field, "must be an object");
        break;
      }
      json::ObjectReader line(*item, kStrict, field + ".");
      std::optional<std::int64_t> product_id = line.Int("product_id");
      std::optional<std::int64_t> quantity = line.Int("quantity");
      if (auto error = line.Finish()) return std::unexpected(http::DecodeProblem(*error));
      order.items.push_back({*product_id, *quantity});
    }
  }
  if (auto error = reader.Finish()) return std::unexpected(http::DecodeProblem(*error));
  if (request.headers.Has("Idempotency-Key")) {
    order.idempotency_key = std::string(request.headers.Get("Idempotency-Key"));
  }
  return order;
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
    boost::json::object body{{"items", boost::json::value_from(listed->items)}, {"next_after", nullptr}};
    if (listed->next_after) body["next_after"] = *listed->next_after;
    return http::JsonValue(200, body);
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
