#include <boost/json/value_from.hpp>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "shop/http/adapter.h"
#include "shop/http/app.h"
#include "shop/http/batcher.h"
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

/// A POST /orders waiting in its batch.
struct PendingOrder {
  PlaceOrderCall call;
  http::Respond respond;
  std::string request_id;  ///< for the log line of a failure: the batch runs outside the request's scope
};

http::Response Answer(PlaceOrderOutcome& outcome, std::string_view request_id) {
  if (outcome.failure) return http::InternalError(request_id, outcome.failure);
  if (!outcome.result) return Problem(outcome.result.error());
  http::Response response = http::JsonValue(201, boost::json::value_from(*outcome.result));
  response.headers.Add("Location", "/orders/" + std::to_string(outcome.result->id));
  return response;
}

void PlaceBatch(Api& orders, std::vector<PendingOrder>& batch) {
  std::vector<PlaceOrderCall> calls;
  calls.reserve(batch.size());
  for (PendingOrder& pending : batch) calls.push_back(std::move(pending.call));
  std::vector<PlaceOrderOutcome> outcomes;
  try {
    outcomes = orders.PlaceOrders(calls);
  } catch (...) {
    outcomes.assign(batch.size(), PlaceOrderOutcome{.failure = std::current_exception()});
  }
  if (outcomes.size() != batch.size()) {
    auto wrong = std::make_exception_ptr(std::logic_error("PlaceOrders answered a different number of calls"));
    outcomes.assign(batch.size(), PlaceOrderOutcome{.failure = wrong});
  }
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i].respond(Answer(outcomes[i], batch[i].request_id));
}

/// How long a batch of orders smaller than the recent ones waits for more (http::Batcher's linger):
/// about a loopback client's turnaround. An order's database work is mostly per batch (three commits,
/// pages shared by its orders), so larger batches cost less per order: with 16 connections, batches
/// grew from ~8 to ~16 orders, and in interleaved runs on one core the single binary went from
/// 8,360-8,420 to 9,280-9,610 orders/s (bench/README.md "Orders: where the time goes"). A lone client
/// never waits.
constexpr std::chrono::microseconds kPlaceOrderLinger{200};

}  // namespace

void AddRoutes(http::Router& router, Api& orders, const auth::Verifier& verifier) {
  auto batcher = std::make_shared<http::Batcher<PendingOrder>>(
      [&orders](std::vector<PendingOrder>& batch) { PlaceBatch(orders, batch); }, kPlaceOrderLinger);
  router.AddAsync("POST", "/orders",
                  [batcher, &verifier](const http::Context& ctx, http::Respond respond) {
                    auto caller = http::Authenticate(ctx.request, verifier);
                    if (!caller) return respond(std::move(caller.error()));
                    auto order = DecodeNewOrder(ctx.request);
                    if (!order) return respond(std::move(order.error()));
                    batcher->Add({{std::move(*caller), std::move(*order)}, std::move(respond), std::string(ctx.request_id)});
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
