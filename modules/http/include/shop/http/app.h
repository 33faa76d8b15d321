#pragma once

#include <functional>
#include <string>
#include <vector>

#include "shop/http/message.h"
#include "shop/http/router.h"
#include "shop/platform/metrics.h"
#include "shop/platform/rate_limiter.h"

namespace shop::http {

/// One process's HTTP front: the router plus everything every request goes through, in order:
/// request id, Api-Version, routing (404/405), media type (415), the handler (exceptions become
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

  /// Answers requests that match no route (instead of 404): the gateway's proxy. `label` names
  /// them in logs and metrics.
  void SetFallback(std::string label, Handler handler);

  /// Makes this App the edge: requests over `limiter`'s limit get 429 `rate_limited` with
  /// Retry-After (PLATFORM.md `edge.rate_limit.*`), before routing. `client_of` names the client
  /// (a token's subject, else the peer address) and is called only while a limit is set.
  /// /health/*, /metrics and /admin/* are never limited. `limiter` must outlive the App.
  void SetEdgeLimiter(RateLimiter* limiter, std::function<std::string(const Request&)> client_of);

  /// Call once after every route is added and before serving.
  void Seal();

  /// Answers one request. Never throws.
  Response Handle(Request& request);

  /// Answers a request the transport had to reject before it was complete (bad framing, too large):
  /// logged and counted like any other.
  Response Reject(const Request& partial, int status, std::string_view code, std::string_view detail);

  const std::string& service() const { return service_; }

 private:
  Response Dispatch(Request& request, std::string_view request_id, const Router::Route*& route);
  void Finish(const Request& request, Response& response, std::string_view request_id, std::string_view trace_id,
              const Router::Route* route, double seconds);

  std::string service_;
  std::string version_;
  Router router_;
  std::vector<ReadinessCheck> checks_;
  metrics::HttpMetrics metrics_;
  metrics::HttpMetrics::RouteId unmatched_metrics_id_ = 0;
  Router::Route fallback_;
  RateLimiter* limiter_ = nullptr;
  std::function<std::string(const Request&)> client_of_;
};

}  // namespace shop::http
