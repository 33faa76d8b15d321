#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "shop/admin/directory.h"
#include "shop/auth/token.h"
#include "shop/config/config.h"
#include "shop/http/app.h"

/// The admin API of PLATFORM.md: configuration and the service directory, for admins only.
namespace shop::admin {

/// Serves the single binary itself as the one instance of service `shop`.
class SelfDirectory final : public Directory {
 public:
  SelfDirectory(std::string service, std::string version);
  /// Call once the server listens: its URL becomes the instance's.
  void SetUrl(std::string url);
  std::vector<Service> Services() const override;

 private:
  std::string service_;
  Instance self_;
  mutable std::mutex mu_;
};

/// Mounts GET /admin/config, PUT and DELETE /admin/config/{key}, GET /admin/services and
/// GET /admin/services/prometheus (Prometheus HTTP SD, https://prometheus.io/docs/prometheus/latest/http_sd/).
/// Every route needs an admin token: 401 `unauthenticated`, 403 `forbidden` otherwise, for any path
/// under /admin, before anything else is said of the request (App::Guard: no 404, 405 or 415 first). A change is
/// checked (404 `not_found` for an unknown key, 400 `validation_failed` for a wrong type or range,
/// and then nothing changes), written to `store` (503 `dependency_unavailable` when it cannot be:
/// again nothing changes), applied to `config` at once, and reaches the other processes through the
/// store. `config`, `store`, `directory` and `verifier` must outlive the app.
void AddRoutes(http::App& app, config::Config& config, config::Store& store, const Directory& directory,
               const auth::Verifier& verifier);

}  // namespace shop::admin
