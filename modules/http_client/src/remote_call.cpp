#include "shop/http_client/remote_call.h"

namespace shop::http {
namespace {

// Verifiers refuse longer tokens (auth::Verifier), so the callee would.
constexpr std::size_t kMaxTokenBytes = 4096;

std::string_view Why(CallError error) {
  switch (error) {
    case CallError::kUnavailable:
      return "connection failed";
    case CallError::kTimeout:
      return "timed out";
    case CallError::kCircuitOpen:
      return "calls paused after repeated failures (circuit open)";
    case CallError::kBadResponse:
      return "invalid HTTP response";
  }
  return "failed";
}

}  // namespace

bool IsTokenText(std::string_view credential) {
  if (credential.empty() || credential.size() > kMaxTokenBytes) return false;
  for (char c : credential) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string BearerAuthorization(std::string_view credential) {
  return IsTokenText(credential) ? "Bearer " + std::string(credential) : std::string();
}

RemoteService::RemoteService(ClientOptions options, auth::ServiceTokenProvider* identity)
    : client_(std::move(options)), identity_(identity) {}

std::string RemoteService::Says(std::string_view what) const {
  return client_.options().name + " service " + std::string(what);
}

std::expected<Response, std::string> RemoteService::Send(RemoteRequest call) {
  Request request;
  request.method = std::move(call.method);
  request.target = std::move(call.target);
  request.headers.Add("Accept", "application/json");
  if (!call.authorization.empty() && !call.as_service)
    request.headers.Add("Authorization", std::move(call.authorization));
  if (!call.body.empty()) {
    request.headers.Add("Content-Type", std::move(call.content_type));
    request.body = std::move(call.body);
  }
  if (call.as_service) return SendAsService(std::move(request), call.safe_to_repeat);
  return Answer(client_.Send(std::move(request), call.safe_to_repeat));
}

std::expected<Response, std::string> RemoteService::Answer(std::expected<Response, CallError>&& response) const {
  if (!response) return std::unexpected(Says("could not be reached: " + std::string(Why(response.error()))));
  if (response->status >= 500) return std::unexpected(Says("failed: HTTP " + std::to_string(response->status)));
  return std::move(*response);
}

// A token refused with 401 (expired early, say, or signed by a key users has since replaced) is dropped
// and the call made once more with a new one. Refusals the caller cannot fix make the dependency
// unusable to it: they are errors, not answers.
std::expected<Response, std::string> RemoteService::SendAsService(Request request, bool safe_to_repeat) {
  if (!identity_) return std::unexpected(Says("cannot be called: this service has no identity"));
  for (int attempt = 0;; ++attempt) {
    auto token = identity_->Token();
    if (!token) return std::unexpected(Says("cannot be called without a service token: " + token.error()));
    Request sent = request;
    sent.headers.Set("Authorization", "Bearer " + *token);
    auto response = Answer(client_.Send(std::move(sent), safe_to_repeat));
    if (!response) return response;
    if (response->status == 401 && attempt == 0) {
      identity_->Refused(*token);
      continue;
    }
    if (response->status == 401 || response->status == 403) {
      return std::unexpected(Says("refused this service's identity (HTTP " + std::to_string(response->status) + ")"));
    }
    return response;
  }
}

}  // namespace shop::http
