#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <expected>
#include <string>
#include <string_view>

#include "shop/auth/token.h"
#include "shop/core/page.h"
#include "shop/core/principal.h"
#include "shop/http/message.h"
#include "shop/json/reader.h"

/// Helpers shared by the modules' HTTP adapters: the common ways a request is rejected.
namespace shop::http {

/// The caller named by `Authorization: Bearer <JWT>`, or the 401 `unauthenticated` to answer with.
std::expected<Principal, Response> Authenticate(const Request& request, const auth::Verifier& verifier);

/// The service named by `Authorization: Bearer <service token>` (auth::Verifier::VerifyService), or
/// the response to answer with: 401 `unauthenticated` (with `WWW-Authenticate: Bearer`) for no token
/// or one that does not verify; 403 `forbidden` for a valid user token: a customer or an admin is
/// not a service.
std::expected<auth::ServiceIdentity, Response> AuthenticateService(const Request& request,
                                                                   const auth::Verifier& verifier);

/// `?limit=N&after=ID` with the API's defaults and bounds, or the 400 to answer with.
std::expected<PageRequest, Response> ParsePageRequest(const Request& request);

/// The body as one JSON object, or the 400 (`malformed_json` / `validation_failed`) to answer with.
std::expected<boost::json::object, Response> ParseJsonBody(const Request& request);

/// 400 for a body that is JSON but not of the expected shape (or not JSON at all).
Response DecodeProblem(const json::DecodeError& error);

/// A 200/201 JSON response holding `value`.
Response JsonValue(int status, const boost::json::value& value);

}  // namespace shop::http
