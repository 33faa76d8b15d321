#include "shop/http/adapter.h"

#include <boost/json/serialize.hpp>
#include <charconv>

namespace shop::http {
namespace {

std::optional<std::string_view> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::int64_t> ParseInt(std::string_view text) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

namespace {

/// 401 `unauthenticated`, with the challenge RFC 6750 §3 asks every such answer to carry.
Response Unauthenticated(std::string_view detail) {
  Response r = Problem(401, "unauthenticated", detail);
  r.headers.Add("WWW-Authenticate", "Bearer");
  return r;
}

/// The token of `Authorization: Bearer <token>`, or the 401 to answer with.
std::expected<std::string_view, Response> BearerToken(const Request& request) {
  std::string_view header = request.headers.Get("Authorization");
  if (header.empty()) return std::unexpected(Unauthenticated("missing Authorization: Bearer token"));
  constexpr std::string_view kScheme = "Bearer ";
  if (header.size() <= kScheme.size() || !EqualsIgnoreCase(header.substr(0, kScheme.size()), kScheme)) {
    return std::unexpected(Unauthenticated("Authorization must use the Bearer scheme"));
  }
  return header.substr(kScheme.size());
}

Response InvalidToken(auth::VerifyError error) { return Unauthenticated(auth::Describe(error)); }

}  // namespace

std::expected<Principal, Response> Authenticate(const Request& request, const auth::Verifier& verifier) {
  auto token = BearerToken(request);
  if (!token) return std::unexpected(std::move(token.error()));
  auto principal = verifier.Verify(*token);
  if (!principal) return std::unexpected(InvalidToken(principal.error()));
  principal->credential = std::string(*token);
  return *principal;
}

std::expected<auth::ServiceIdentity, Response> AuthenticateService(const Request& request,
                                                                   const auth::Verifier& verifier) {
  auto token = BearerToken(request);
  if (!token) return std::unexpected(std::move(token.error()));
  auto service = verifier.VerifyService(*token);
  if (service) return std::move(*service);
  // A signed-in customer or admin is known, but is not a service.
  if (service.error() == auth::VerifyError::kWrongType && verifier.Verify(*token)) {
    return std::unexpected(Problem(403, "forbidden", "this route serves other services only, not users"));
  }
  return std::unexpected(InvalidToken(service.error()));
}

std::expected<PageRequest, Response> ParsePageRequest(const Request& request) {
  PageRequest page;
  std::string_view query = request.Query();
  if (auto limit = QueryParam(query, "limit")) {
    auto v = ParseInt(*limit);
    if (!v || *v < 1 || *v > PageRequest::kMaxLimit) {
      return std::unexpected(Problem(400, "validation_failed", "limit must be an integer from 1 to 100"));
    }
    page.limit = static_cast<int>(*v);
  }
  if (auto after = QueryParam(query, "after")) {
    auto v = ParseInt(*after);
    if (!v || *v < 0) return std::unexpected(Problem(400, "validation_failed", "after must be a non-negative id"));
    page.after = *v;
  }
  return page;
}

Response DecodeProblem(const json::DecodeError& error) {
  return Problem(400, error.kind == json::DecodeError::Kind::kMalformed ? "malformed_json" : "validation_failed",
                 error.detail);
}

std::expected<boost::json::object, Response> ParseJsonBody(const Request& request) {
  auto object = json::ParseObject(request.body);
  if (!object) return std::unexpected(DecodeProblem(object.error()));
  return std::move(*object);
}

Response JsonValue(int status, const boost::json::value& value) {
  return JsonResponse(status, boost::json::serialize(value));
}

}  // namespace shop::http
