#pragma once

#include "shop/auth/token.h"
#include "shop/http/router.h"
#include "shop/users/api.h"

namespace shop::users {

/// Serves the users module's public routes on `router`: POST /users, POST /auth/token,
/// GET /users/me, GET /users/{id}, GET /.well-known/jwks.json. `users` must outlive the router.
void AddRoutes(http::Router& router, Api& users, const auth::Verifier& verifier);

}  // namespace shop::users
