#pragma once

#include <memory>

#include "shop/http/router.h"
#include "shop/http_client/client.h"
#include "shop/products/api.h"

/// Split mode: the products module across a process boundary.
namespace shop::products {

/// Serves the routes other services need and the gateway never exposes:
/// POST /internal/reservations {"order_ref","lines":[{"product_id","quantity"}]} -> {"lines":[...]}
/// POST /internal/releases {"order_ref"} -> {"order_ref","released":true}
void AddInternalRoutes(http::Router& router, Api& products);

/// products::Api over HTTP against a products service: a drop-in for the in-process implementation,
/// with the same results and errors. A call that gets no answer fails with Errc::kUnavailable.
/// Calls on a caller's behalf present the caller's credential as a Bearer token.
std::unique_ptr<Api> MakeHttpClient(http::ClientOptions options);

}  // namespace shop::products
