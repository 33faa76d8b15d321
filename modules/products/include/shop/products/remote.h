#pragma once

#include <memory>
#include <string>
#include <vector>

#include "shop/auth/token.h"
#include "shop/http/router.h"
#include "shop/http_client/client.h"
#include "shop/products/api.h"

/// Split mode: the products module across a process boundary.
namespace shop::products {

/// Serves the routes other services need and the gateway never exposes:
/// POST /internal/reservations {"order_ref","lines":[{"product_id","quantity"}]} -> {"lines":[...]}
/// POST /internal/releases {"order_ref"} -> {"order_ref","released":true}
/// Only services named in `allowed_callers` may call them, proving it with a service token that
/// `verifier` checks locally (http::AuthenticateService): without a valid one 401 `unauthenticated`;
/// with a user's token, or a service's not allowed, 403 `forbidden`. Either way nothing changes.
/// `products` and `verifier` must outlive the router.
void AddInternalRoutes(http::Router& router, Api& products, const auth::Verifier& verifier,
                       std::vector<std::string> allowed_callers);

/// products::Api over HTTP against a products service: a drop-in for the in-process implementation,
/// with the same results and errors. A call that gets no answer fails with Errc::kUnavailable.
/// Calls on a caller's behalf present the caller's credential as a Bearer token; Reserve and Release
/// present a service token from `identity` (once more with a fresh one if it is refused with 401).
/// Without an identity, or when it has no token or the service refuses it, they fail with
/// kUnavailable. `identity`, when given, must outlive the client.
std::unique_ptr<Api> MakeHttpClient(http::ClientOptions options, auth::ServiceTokenProvider* identity = nullptr);

}  // namespace shop::products
