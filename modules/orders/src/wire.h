#pragma once

// The orders module's wire format, in one place: how its errors are answered.

#include "shop/http/error_table.h"
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

}  // namespace shop::orders::wire
