#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "shop/http/app.h"
#include "shop/http_server/server.h"

namespace shop::testing {

/// An http::Server on a free loopback port with one I/O thread, serving an App that `configure`
/// sets up (routes, fallbacks; Seal() is called after it), until destroyed.
class RunningServer {
 public:
  RunningServer(http::ServerOptions options, const std::function<void(http::App&)>& configure)
      : app_("test", "1.0.0") {
    configure(app_);
    app_.Seal();
    options.port = 0;
    options.threads = 1;
    server_ = std::make_unique<http::Server>(std::move(options), app_);
    thread_ = std::thread([this] { server_->Run(); });
  }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;
  ~RunningServer() {
    server_->Stop();
    thread_.join();
  }
  std::uint16_t port() const { return server_->port(); }

 private:
  http::App app_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

}  // namespace shop::testing
