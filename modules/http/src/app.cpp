#include "shop/http/app.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <future>
#include <memory>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "shop/core/random.h"
#include "shop/http/request_context.h"
#include "shop/platform/log.h"

namespace shop::http {
namespace {

constexpr std::size_t kMaxBody = 1024 * 1024;

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

/// 16 hex digits from a per-thread generator: unique enough, with no lock or syscall per request.
std::string NewRequestId() { return FastRandomHex(16); }

bool IsJsonMediaType(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  return EqualsIgnoreCase(type, "application/json");
}

}  // namespace

App::App(std::string service, std::string version)
    : service_(std::move(service)), version_(std::move(version)), metrics_(service_, version_) {
  router_.Add("GET", "/health/live", [](const Context&) { return JsonResponse(200, R"({"status":"live"})"); });
  router_.Add("GET", "/health/ready", [this](const Context&) {
    bool all = true;
    std::string checks;
    for (const ReadinessCheck& c : checks_) {
      bool ok = false;
      try {
        ok = c.ready();
      } catch (const std::exception&) {
        ok = false;
      }
      all = all && ok;
      if (!checks.empty()) checks += ',';
      checks += '"' + c.name + "\":\"" + (ok ? "ok" : "failing") + '"';
    }
    for (const auto& [name, report] : reports_) {
      std::string state;
      try {
        state = report();
      } catch (const std::exception&) {
        state = "unknown";
      }
      if (!checks.empty()) checks += ',';
      checks += '"' + name + "\":" + boost::json::serialize(boost::json::value(state));
    }
    return JsonResponse(all ? 200 : 503, std::string(R"({"status":")") + (all ? "ready" : "not_ready") +
                                             R"(","service":")" + service_ + R"(","version":")" + version_ +
                                             R"(","checks":{)" + checks + "}}");
  });
  router_.Add("GET", "/metrics", [this](const Context&) {
    Response r;
    r.headers.Add("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.body = metrics_.Render();
    for (const auto& render : extra_metrics_) r.body += render();
    return r;
  });
}

bool App::Ready() const {
  for (const ReadinessCheck& c : checks_) {
    try {
      if (!c.ready()) return false;
    } catch (const std::exception&) {
      return false;
    }
  }
  return true;
}

void App::AddReadinessCheck(std::string name, std::function<bool()> ready) {
  checks_.push_back({std::move(name), std::move(ready)});
}

void App::AddStatusReport(std::string name, std::function<std::string()> report) {
  reports_.emplace_back(std::move(name), std::move(report));
}

void App::AddMetrics(std::function<std::string()> render) { extra_metrics_.push_back(std::move(render)); }

void App::SetFallback(std::string label, Handler handler) {
  fallback_.method = "ANY";
  fallback_.pattern = std::move(label);
  fallback_.handler = std::move(handler);
}

void App::SetAsyncFallback(std::string label, AsyncHandler handler) {
  fallback_.method = "ANY";
  fallback_.pattern = std::move(label);
  fallback_.handler = nullptr;
  async_fallback_ = std::move(handler);
}

void App::Seal() {
  for (Router::Route& route : router_.routes()) route.metrics_id = metrics_.RegisterRoute(route.method, route.pattern);
  if (fallback_.handler || async_fallback_) {
    fallback_.metrics_id = metrics_.RegisterRoute(fallback_.method, fallback_.pattern);
  }
  unmatched_metrics_id_ = metrics_.RegisterRoute("OTHER", "unmatched");
  has_async_routes_ = static_cast<bool>(async_fallback_) ||
                      std::ranges::any_of(router_.routes(), [](const Router::Route& r) { return r.async_handler != nullptr; });
}

void App::SetEdgeLimiter(RateLimiter* limiter, std::function<std::string(const Request&)> client_of) {
  limiter_ = limiter;
  client_of_ = std::move(client_of);
}

namespace {

/// Paths an admin must always reach, whatever a client did: PLATFORM.md exempts them from limits.
bool NeverLimited(std::string_view path) {
  return path.starts_with("/health/") || path == "/metrics" || path == "/admin" || path.starts_with("/admin/");
}

}  // namespace

std::optional<Response> App::Dispatch(Request& request, std::string_view request_id, const Router::Route*& route,
                                      std::array<std::string_view, Context::kMaxParams>& params) {
  if (limiter_ && limiter_->limits().rate_per_second > 0 && !NeverLimited(request.Path())) {
    const RateLimiter::Decision decision = limiter_->Allow(client_of_(request), std::chrono::steady_clock::now());
    if (!decision.allowed) {
      Response r = Problem(429, "rate_limited", "too many requests; retry after " +
                                                    std::to_string(decision.retry_after.count()) + " s");
      r.headers.Add("Retry-After", std::to_string(decision.retry_after.count()));
      return r;
    }
  }
  if (std::string_view version = request.headers.Get("Api-Version");
      !version.empty() || request.headers.Has("Api-Version")) {
    if (version != "1") {
      return Problem(400, "unsupported_api_version", "Api-Version must be 1 (or absent)");
    }
  }
  Router::Match match = router_.Find(request.method, request.Path());
  if (!match.route && match.allowed.empty() && (fallback_.handler || async_fallback_)) match.route = &fallback_;
  for (const auto& [prefix, guard] : guards_) {
    const std::string_view path = request.Path();
    if (path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/')) {
      if (auto refused = guard(request)) {
        if (match.route != &fallback_) route = match.route;  // logged and counted under its route, if any
        return refused;
      }
    }
  }
  if (!match.route) {
    if (!match.allowed.empty()) {
      Response r = Problem(405, "method_not_allowed", request.method + " is not allowed here; use " + match.allowed);
      r.headers.Add("Allow", match.allowed);
      return r;
    }
    return Problem(404, "not_found", "no such resource");
  }
  route = match.route;
  if (route->options.json_body) {
    if (!IsJsonMediaType(request.headers.Get("Content-Type"))) {
      return Problem(415, "unsupported_media_type", "the request body must be sent as Content-Type: application/json");
    }
    if (request.body.size() > kMaxBody) {
      return Problem(413, "payload_too_large", "the request body exceeds 1 MiB");
    }
  }
  params = match.params;
  if (route->async_handler || (route == &fallback_ && async_fallback_)) return std::nullopt;
  Context ctx{request, match.params, request_id};
  try {
    return route->handler(ctx);
  } catch (...) {
    return InternalError(request_id, std::current_exception());
  }
}

void App::Guard(std::string prefix, std::function<std::optional<Response>(const Request&)> guard) {
  guards_.emplace_back(std::move(prefix), std::move(guard));
}

Response InternalError(std::string_view request_id, std::exception_ptr error) {
  try {
    std::rethrow_exception(std::move(error));
  } catch (const std::exception& e) {
    log::Write(log::Level::kError, "unhandled error", {{"request_id", request_id}, {"error", e.what()}});
  } catch (...) {
    log::Write(log::Level::kError, "unhandled error", {{"request_id", request_id}});
  }
  return Problem(500, "internal", "an internal error occurred; it has been logged with this request id");
}

Response App::Handle(Request& request) {
  const auto start = std::chrono::steady_clock::now();
  metrics_.AddInFlight(1);
  std::string_view sent_id = request.headers.Get("X-Request-Id");
  RequestContext context;
  context.request_id = IsValidRequestId(sent_id) ? std::string(sent_id) : NewRequestId();
  context.trace_id = std::string(TraceIdFrom(request.headers.Get("traceparent")));
  const Router::Route* route = nullptr;
  Response response;
  {
    RequestScope scope(context);
    std::array<std::string_view, Context::kMaxParams> params{};
    if (auto answered = Dispatch(request, context.request_id, route, params)) {
      response = std::move(*answered);
    } else {
      // An asynchronous route on a thread that can wait: wait for it.
      std::promise<Response> done;
      auto answer = done.get_future();
      Context ctx{request, params, context.request_id};
      StartAsync(route, ctx, [&done](Response r) { done.set_value(std::move(r)); });
      response = answer.get();
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Finish(request, response, context.request_id, context.trace_id, route, seconds);
  metrics_.AddInFlight(-1);
  return response;
}

void App::StartAsync(const Router::Route* route, const Context& ctx, Respond respond) {
  try {
    if (route->async_handler) {
      route->async_handler(ctx, std::move(respond));
    } else {
      async_fallback_(ctx, std::move(respond));
    }
  } catch (...) {
    Response failed = InternalError(ctx.request_id, std::current_exception());
    // `respond` went to the handler as its argument: still here only if the call never started.
    if (respond) respond(std::move(failed));
  }
}

void App::Handle(Request& request, Respond respond) {
  if (!has_async_routes_) {
    respond(Handle(request));
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  metrics_.AddInFlight(1);
  std::string_view sent_id = request.headers.Get("X-Request-Id");
  auto context = std::make_shared<RequestContext>();
  context->request_id = IsValidRequestId(sent_id) ? std::string(sent_id) : NewRequestId();
  context->trace_id = std::string(TraceIdFrom(request.headers.Get("traceparent")));
  const Router::Route* route = nullptr;
  RequestScope scope(*context);
  std::array<std::string_view, Context::kMaxParams> params{};
  std::optional<Response> answered = Dispatch(request, context->request_id, route, params);
  auto finish = [this, &request, context, route, start, respond = std::move(respond)](Response response) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    Finish(request, response, context->request_id, context->trace_id, route, seconds);
    metrics_.AddInFlight(-1);
    respond(std::move(response));
  };
  if (answered) {
    finish(std::move(*answered));
    return;
  }
  Context ctx{request, params, context->request_id};
  StartAsync(route, ctx, std::move(finish));
}

Response App::Reject(const Request& partial, int status, std::string_view code, std::string_view detail) {
  std::string_view sent_id = partial.headers.Get("X-Request-Id");
  std::string request_id = IsValidRequestId(sent_id) ? std::string(sent_id) : NewRequestId();
  Response response = Problem(status, code, detail);
  Finish(partial, response, request_id, TraceIdFrom(partial.headers.Get("traceparent")), nullptr, 0.0);
  return response;
}

void App::Finish(const Request& request, Response& response, std::string_view request_id, std::string_view trace_id,
                 const Router::Route* route, double seconds) {
  response.headers.Set("Api-Version", "1");
  response.headers.Set("X-Request-Id", std::string(request_id));
  metrics_.Record(route ? route->metrics_id : unmatched_metrics_id_, response.status, seconds);
  log::WriteBuffered(response.status >= 500 ? log::Level::kError : log::Level::kInfo, "request",
                     {{"request_id", request_id},
                      {"trace_id", trace_id},
                      {"method", request.method},
                      {"route", route ? std::string_view(route->pattern) : std::string_view("unmatched")},
                      {"status", response.status},
                      {"duration_ms", seconds * 1000.0}});
}

}  // namespace shop::http
