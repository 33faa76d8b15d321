#pragma once

#include "shop/auth/token.h"
#include "shop/http/router.h"
#include "shop/products/api.h"

namespace shop::products {

/// Serves the products module's public routes on `router`: GET /products, GET /products/{id},
/// POST /products, PATCH /products/{id}. `products` must outlive the router.
void AddRoutes(http::Router& router, Api& products, const auth::Verifier& verifier);

}  // namespace shop::products
