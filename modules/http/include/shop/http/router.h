#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shop/http/message.h"

namespace shop::http {

/// What a handler sees: the request, the values of the pattern's `{placeholders}` in order,
/// and the request id the pipeline settled on.
struct Context {
  static constexpr std::size_t kMaxParams = 4;

  const Request& request;
  std::array<std::string_view, kMaxParams> params{};
  std::string_view request_id;

  /// Placeholder `index` as a positive id; nullopt when it is not one (the caller answers 404).
  std::optional<std::int64_t> IdParam(std::size_t index) const;
};

using Handler = std::function<Response(const Context&)>;

/// Completes an asynchronous answer. Called exactly once, on the thread that started the request.
using Respond = std::function<void(Response)>;
/// A handler that holds no thread while it waits: it starts its work and returns; `respond` is
/// called once when the answer is there. The request stays alive until then.
using AsyncHandler = std::function<void(const Context&, Respond)>;

struct RouteOptions {
  /// The route takes a JSON body: anything but `application/json` gets 415.
  bool json_body = false;
};

/// Maps method and path to a handler. Patterns are literal segments and `{name}` placeholders,
/// e.g. `/products/{id}`; the pattern is also the route's label in logs and metrics.
class Router {
 public:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
    RouteOptions options;
    AsyncHandler async_handler;  ///< set instead of `handler` for an asynchronous route
    std::size_t metrics_id = 0;
  };

  struct Match {
    const Route* route = nullptr;                        ///< set when found
    std::array<std::string_view, Context::kMaxParams> params{};
    std::string allowed;                                 ///< when the path exists for other methods: "GET, POST"
  };

  void Add(std::string_view method, std::string_view pattern, Handler handler, RouteOptions options = {});
  /// As Add, for a handler that answers later through `Respond` (e.g. one that batches requests:
  /// http::Batcher). A server answers it without holding a thread meanwhile.
  void AddAsync(std::string_view method, std::string_view pattern, AsyncHandler handler, RouteOptions options = {});
  Match Find(std::string_view method, std::string_view path) const;

  std::vector<Route>& routes() { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace shop::http
