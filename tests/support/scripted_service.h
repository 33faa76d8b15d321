#pragma once

// Split builds only (link shop::http_server): a stand-in service on a real loopback socket that answers
// every request with what the test scripts, and records what it was sent. For testing a module's HTTP
// client against answers its real service does not give (yet): newer versions, failures, refusals.

#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "shop/http/app.h"
#include "shop/http/message.h"
#include "shop/http_server/server.h"

namespace shop::testing {

class ScriptedService {
 public:
  ScriptedService() {
    app_.SetFallback("scripted", [this](const http::Context& ctx) {
      std::lock_guard lock(mu_);
      requests_.push_back(ctx.request);
      http::Response response = script_.front();
      if (script_.size() > 1) script_.pop_front();
      return response;
    });
    app_.Seal();
    server_ = std::make_unique<http::Server>(http::ServerOptions{.port = 0, .threads = 1}, app_);
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~ScriptedService() {
    server_->Stop();
    thread_.join();
  }
  ScriptedService(const ScriptedService&) = delete;
  ScriptedService& operator=(const ScriptedService&) = delete;

  /// Every request from now on is answered with `response`; forgets the requests so far.
  void Answer(http::Response response) { Script({std::move(response)}); }
  void Answer(int status, std::string body, std::string content_type = "application/json") {
    Answer(Response(status, std::move(body), std::move(content_type)));
  }
  void AnswerProblem(int status, std::string_view code, std::string_view detail) {
    Answer(http::Problem(status, code, detail));
  }
  /// The next requests are answered with these, in turn; the last one from then on.
  void Script(std::vector<http::Response> responses) {
    std::lock_guard lock(mu_);
    script_.assign(std::make_move_iterator(responses.begin()), std::make_move_iterator(responses.end()));
    requests_.clear();
  }

  static http::Response Response(int status, std::string body, std::string content_type = "application/json") {
    http::Response response;
    response.status = status;
    response.headers.Add("Content-Type", std::move(content_type));
    response.body = std::move(body);
    return response;
  }

  std::vector<http::Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::size_t calls() {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  http::Request last_request() {
    std::lock_guard lock(mu_);
    return requests_.empty() ? http::Request{} : requests_.back();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

 private:
  http::App app_{"scripted", "test"};
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  std::mutex mu_;
  std::deque<http::Response> script_{Response(200, "{}")};
  std::vector<http::Request> requests_;
};

}  // namespace shop::testing
