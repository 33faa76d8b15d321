#pragma once

#include <expected>
#include <functional>
#include <memory>

#include "shop/http/message.h"
#include "shop/http_client/client.h"

namespace shop::http {

/// The Client's calls without a thread waiting on each: Boost.Beast on the event loop of the server
/// thread that makes the call (ThisThreadEventLoop()), so a proxy holds no thread while an upstream
/// answers. Same rules as Client: instances from `endpoints` (or base_url) round robin, a breaker per
/// instance, keep-alive pools (per event loop), the answer timeout per attempt, retries with backoff
/// for calls that are safe to repeat, a request that never left moved to another instance, the
/// request id and W3C traceparent of the request being handled. With ClientOptions::pipeline_gets,
/// GET calls that are safe to repeat share one connection per event loop and instance (RFC 9112
/// §9.3.2 pipelining: a loop pass's requests in one write, the answers read in order); a call the
/// instance did not answer before the connection ended is sent again, as a new call. Asio stays in
/// src/.
class AsyncClient {
 public:
  using Completion = std::function<void(std::expected<Response, CallError>)>;

  /// Throws std::invalid_argument when base_url is needed and is not `http://host:port`.
  explicit AsyncClient(ClientOptions options);
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  /// Starts sending `request` and returns; `done` is called exactly once, later, on the same event
  /// loop, with the answer or why there is none (see Client::Send for the errors). `request` is read
  /// until then, not copied: it must stay alive until `done` is called (a server's request does).
  /// Must be called on a server I/O thread (std::logic_error otherwise).
  void Send(const Request& request, bool safe_to_repeat, Completion done);

  /// True when at least one instance is live and compatible now. No I/O.
  bool HasLiveEndpoint() const;

 private:
  struct Impl;
  ClientOptions options_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shop::http
