#pragma once

// The orders module's wire format, in one place: how its errors are answered and how its values
// travel as JSON.

#include <boost/json/value_from.hpp>
#include <expected>
#include <string_view>

#include "shop/http/error_table.h"
#include "shop/json/page.h"
#include "shop/json/reader.h"
#include "shop/orders/api.h"

namespace shop::orders::wire {

/// How every Errc is answered (http::ErrorTable).
inline constexpr http::ErrorMapping<Errc> kErrorRows[] = {
    {Errc::kValidationFailed, 400, "validation_failed"},
    {Errc::kNotFound, 404, "not_found"},
    {Errc::kUnknownProduct, 422, "unknown_product"},
    {Errc::kInsufficientStock, 409, "insufficient_stock"},
    {Errc::kIdempotencyKeyReused, 422, "idempotency_key_reused"},
    {Errc::kRequestInProgress, 409, "request_in_progress"},
    {Errc::kDependencyUnavailable, 503, "dependency_unavailable"},
};
inline constexpr http::ErrorTable<Errc> kErrors(kErrorRows);
static_assert(kErrors.Complete(Errc::kDependencyUnavailable),
              "every orders::Errc needs a row in kErrorRows, and no status and code may be in two rows");

/// POST /orders: `{"items":[{"product_id","quantity"}]}`, a public request body read strictly (an
/// unknown field is an error too). The Idempotency-Key travels in a header, not here.
std::expected<NewOrder, json::DecodeError> DecodeNewOrder(std::string_view body);

}  // namespace shop::orders::wire

// The JSON form of the module's values: boost::json::value_from finds these beside the types (ADL);
// a page of orders is shop/json/page.h's.
namespace shop::orders {

/// `{"product_id","quantity","unit_price_cents"}`.
void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const OrderLine& line);
/// `{"id","user_id","status","items":[line...],"total_cents","created_at"}`.
void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const Order& order);

}  // namespace shop::orders
