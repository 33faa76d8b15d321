#pragma once

#include "shop/auth/token.h"
#include "shop/http/router.h"
#include "shop/orders/api.h"

namespace shop::orders {

/// Serves the orders module's public routes on `router`: POST /orders, GET /orders,
/// GET /orders/{id}, POST /orders/{id}/cancel. `orders` must outlive the router. POST /orders is
/// answered in batches (http::Batcher, Api::PlaceOrders): the orders a server thread reads in one
/// pass of its event loop are placed together, one commit per database per saga step.
void AddRoutes(http::Router& router, Api& orders, const auth::Verifier& verifier);

}  // namespace shop::orders
