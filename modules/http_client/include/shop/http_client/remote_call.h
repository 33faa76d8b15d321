#pragma once

// One way to cross a module boundary: the plumbing every module's HTTP client shares. A module's
// client builds a RemoteRequest, and RemoteCaller sends it with the retry rule and the breaker of
// http::Client, then turns the outcome into the module's own result:
//   no answer, a 5xx, this service's identity refused  -> the module's `unavailable` error, naming the service
//   a problem answer whose status and code are in the module's error table -> that error, with its detail
//   any other answer but the expected success      -> `unavailable`
//   the expected success                           -> the body, for the module's decoder
// It knows no module's types: the error table and the decoder are the module's.

#include <concepts>
#include <expected>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "shop/auth/token.h"
#include "shop/core/error.h"
#include "shop/http/error_table.h"
#include "shop/http/message.h"
#include "shop/http_client/client.h"
#include "shop/json/reader.h"

namespace shop::http {

/// One call to another service.
struct RemoteRequest {
  std::string method;
  std::string target;  ///< a path on the service, with its query
  std::string body;    ///< sent, with content_type, when not empty
  std::string content_type = "application/json";
  std::string authorization;  ///< the Authorization value (BearerAuthorization, HTTP Basic); none when empty
  /// Present this service's own token instead (an /internal route): refused once with 401, the token
  /// is dropped and the call made once more with a fresh one.
  bool as_service = false;
  int success = 200;  ///< the status of the answer that carries the result
  /// Retried on transport failures and 502/503/504 (http::Client::Send): reads, and writes that are
  /// idempotent. A write whose answer may be lost after it happened must not be repeated.
  bool safe_to_repeat = true;
};

/// True for text that can be a compact JWS: 1..4096 base64url characters and dots. Anything else is
/// no token and must not reach a header.
bool IsTokenText(std::string_view credential);

/// `Bearer <credential>` for a caller's credential; empty (no header: the callee answers as for a
/// request without one) when the credential is not token text.
std::string BearerAuthorization(std::string_view credential);

/// The transport half of RemoteCaller, without a module's types. Thread-safe.
class RemoteService {
 public:
  /// `identity`, when given, must outlive this; without one, as_service calls fail.
  explicit RemoteService(ClientOptions options, auth::ServiceTokenProvider* identity = nullptr);

  /// Sends `request`. Every answer below 500 is returned, whatever its status, except a 401 or 403 to
  /// an as_service call. Otherwise the error says why there is no usable answer, naming the service
  /// ("products service could not be reached: timed out").
  std::expected<Response, std::string> Send(RemoteRequest request);

  /// "<name> service <what>".
  std::string Says(std::string_view what) const;

 private:
  std::expected<Response, std::string> Answer(std::expected<Response, CallError>&& response) const;
  std::expected<Response, std::string> SendAsService(Request request, bool safe_to_repeat);

  Client client_;
  auth::ServiceTokenProvider* identity_;
};

/// A module's client to its service: RemoteService plus the module's error table. Thread-safe.
template <class Errc>
class RemoteCaller {
 public:
  using Error = Failure<Errc>;

  /// `unavailable` is the module's error for a dependency that cannot be used.
  RemoteCaller(ClientOptions options, ErrorTable<Errc> errors, Errc unavailable,
               auth::ServiceTokenProvider* identity = nullptr)
      : service_(std::move(options), identity), errors_(errors), unavailable_(unavailable) {}

  /// The answer with the `success` status, or the error any other outcome stands for (see the top).
  std::expected<Response, Error> Call(RemoteRequest request) {
    const int success = request.success;
    auto response = service_.Send(std::move(request));
    if (!response) return std::unexpected(Error(unavailable_, std::move(response.error())));
    if (response->status == success) return std::move(*response);
    if (auto failure = errors_.FailureFrom(*response)) return std::unexpected(std::move(*failure));
    std::string answer = "HTTP " + std::to_string(response->status);
    if (auto problem = ReadProblem(*response)) answer.append(" ").append(problem->code);
    return std::unexpected(Unavailable("sent an unexpected answer: " + answer));
  }

  /// Call, then the success's body through `decode` (std::string_view -> std::expected<T,
  /// json::DecodeError>); a body it refuses is `unavailable`.
  template <class Decode>
  requires std::invocable<Decode&, std::string_view>
  auto Call(RemoteRequest request, Decode&& decode)
      -> std::expected<typename std::invoke_result_t<Decode&, std::string_view>::value_type, Error> {
    auto response = Call(std::move(request));
    if (!response) return std::unexpected(std::move(response.error()));
    return Decoded(std::invoke(decode, std::string_view(response->body)));
  }

  /// A decoded answer, or `unavailable` saying why it could not be read.
  template <class T>
  std::expected<T, Error> Decoded(std::expected<T, json::DecodeError>&& value) const {
    if (!value) return std::unexpected(Unavailable("sent an unreadable answer: " + value.error().detail));
    return std::move(*value);
  }

  /// The module's `unavailable` error: "<name> service <what>".
  Error Unavailable(std::string_view what) const { return Error(unavailable_, service_.Says(what)); }

 private:
  RemoteService service_;
  ErrorTable<Errc> errors_;
  Errc unavailable_;
};

}  // namespace shop::http
