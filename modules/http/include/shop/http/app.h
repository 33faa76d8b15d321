#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shop/http/message.h"
#include "shop/http/router.h"
#include "shop/platform/metrics.h"
#include "shop/platform/rate_limiter.h"

namespace shop::http {

/// The 500 `internal` problem for a handler that failed with `error` (the exception in flight or a
/// captured one): its message is logged with the request id, never shown to the client.
Response InternalError(std::string_view request_id, std::exception_ptr error);

/// One process's HTTP front: the router plus everything every request goes through, in order:
/// request id, Api-Version, guards (Guard), routing (404/405), media type (415), the handler (exceptions become
/// 500 `internal`), the common response headers, one JSON log line, and metrics.
/// Serves /health/live, /health/ready and /metrics itself.
class App {
 public:
  /// A named readiness check, e.g. {"products_db", [&]{ return db.Ping(); }}.
  struct ReadinessCheck {
    std::string name;
    std::function<bool()> ready;
  };

  App(std::string service, std::string version);

  Router& router() { return router_; }
  void AddReadinessCheck(std::string name, std::function<bool()> ready);
  /// True when every readiness check passes now (what /health/ready answers 200 for).
  bool Ready() const;
  /// Shows `report()` (a short state, e.g. "ok" or "publisher_down") under `name` among the checks
  /// of /health/ready without deciding readiness: for what the process keeps serving through (an
  /// outbox relay whose broker is away). Call before serving.
  void AddStatusReport(std::string name, std::function<std::string()> report);
  /// Appends `render()` (Prometheus text exposition format 0.0.4, complete families with their
  /// HELP and TYPE lines) to /metrics. Call before serving; `render` is called on every scrape.
  void AddMetrics(std::function<std::string()> render);

  /// Answers requests that match no route (instead of 404): the gateway's proxy. `label` names
  /// them in logs and metrics.
  void SetFallback(std::string label, Handler handler);

  /// As SetFallback, for an asynchronous handler (the gateway's proxy on the server's event loop).
  /// The server then answers through Handle(Request&, Respond).
  void SetAsyncFallback(std::string label, AsyncHandler handler);
  /// True when some route answers asynchronously.
  bool has_async_routes() const { return has_async_routes_; }
  /// True when some handler must run on the server's event loop (the asynchronous fallback: its
  /// client runs on that loop), so a server must not move handlers to a pool.
  bool needs_event_loop() const { return static_cast<bool>(async_fallback_); }

  /// Makes this App the edge: requests over `limiter`'s limit get 429 `rate_limited` with
  /// Retry-After (PLATFORM.md `edge.rate_limit.*`), before routing. `client_of` names the client
  /// (a token's subject, else the peer address) and is called only while a limit is set.
  /// /health/*, /metrics and /admin/* are never limited. `limiter` must outlive the App.
  void SetEdgeLimiter(RateLimiter* limiter, std::function<std::string(const Request&)> client_of);

  /// Requests for `prefix` itself or any path under it (`prefix` + "/...") are first put to `guard`,
  /// before routing and the route's body checks: its answer (e.g. 401 or 403) is final, so a request it
  /// refuses learns nothing from a 404, 405, 413 or 415 (PLATFORM.md: every /admin route needs an admin
  /// token). nullopt lets the request through. Call before Seal(); `guard` must not throw.
  void Guard(std::string prefix, std::function<std::optional<Response>(const Request&)> guard);

  /// Call once after every route is added and before serving.
  void Seal();

  /// Answers one request. Never throws. For an asynchronous route it waits on the calling thread
  /// (servers use the overload below).
  Response Handle(Request& request);
  /// Answers one request through `respond` (at once for synchronous routes, later for asynchronous
  /// ones), with the same pipeline: request id, limits, logging, metrics. `request` must stay alive
  /// until `respond` is called. Never throws.
  void Handle(Request& request, Respond respond);

  /// Answers a request the transport had to reject before it was complete (bad framing, too large):
  /// logged and counted like any other.
  Response Reject(const Request& partial, int status, std::string_view code, std::string_view detail);

  const std::string& service() const { return service_; }

 private:
  /// The answer, or nullopt when the request goes to the asynchronous fallback (the caller starts it).
  std::optional<Response> Dispatch(Request& request, std::string_view request_id, const Router::Route*& route,
                                   std::array<std::string_view, Context::kMaxParams>& params);
  void StartAsync(const Router::Route* route, const Context& ctx, Respond respond);
  void Finish(const Request& request, Response& response, std::string_view request_id, std::string_view trace_id,
              const Router::Route* route, double seconds);

  std::string service_;
  std::string version_;
  Router router_;
  std::vector<ReadinessCheck> checks_;
  std::vector<std::pair<std::string, std::function<std::string()>>> reports_;
  std::vector<std::function<std::string()>> extra_metrics_;
  metrics::HttpMetrics metrics_;
  metrics::HttpMetrics::RouteId unmatched_metrics_id_ = 0;
  Router::Route fallback_;
  AsyncHandler async_fallback_;
  bool has_async_routes_ = false;  ///< set by Seal()
  std::vector<std::pair<std::string, std::function<std::optional<Response>(const Request&)>>> guards_;
  RateLimiter* limiter_ = nullptr;
  std::function<std::string(const Request&)> client_of_;
};

}  // namespace shop::http
