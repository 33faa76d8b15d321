#pragma once

#include "shop/auth/token.h"
#include "shop/http/router.h"
#include "shop/orders/api.h"

namespace shop::orders {

/// Serves the orders module's public routes on `router`: POST /orders, GET /orders,
/// GET /orders/{id}, POST /orders/{id}/cancel. `orders` must outlive the router.
void AddRoutes(http::Router& router, Api& orders, const auth::Verifier& verifier);

}  // namespace shop::orders
