#pragma once

#include <string>
#include <vector>

#include "shop/http/app.h"
#include "shop/http_client/async_client.h"

namespace shop::gateway {

/// Which service owns which public paths: a path is routed to the first upstream with a prefix
/// that equals it or is followed by '/'. `/internal/...` routes of the services are never routed.
struct Upstream {
  std::string name;                   ///< "products"
  std::vector<std::string> prefixes;  ///< {"/products"}
  http::AsyncClient* client;          ///< not owned
};

/// Mounts the proxy on `app` (as its asynchronous fallback: it runs on the server's event loop and
/// holds no thread while an upstream answers) and a readiness check per upstream (a live instance is
/// known). Requests and responses pass through unchanged but for hop-by-hop headers; the request id
/// and trace context go along. An upstream that cannot be reached answers 503 `dependency_unavailable`.
void Mount(http::App& app, std::vector<Upstream> upstreams);

}  // namespace shop::gateway
