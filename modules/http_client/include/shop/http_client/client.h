#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "shop/http/message.h"
#include "shop/http_client/endpoints.h"

namespace shop::http {

/// Settings that change while the process runs (`client.timeout_ms`, `client.breaker.failures`),
/// shared by every Client of a process and read at each call.
struct CallSettings {
  std::atomic<std::int64_t> request_timeout_ms{3000};
  std::atomic<int> breaker_failures{5};
};

struct ClientOptions {
  std::string name;      ///< the dependency, for logs: "products"
  std::string base_url;  ///< `http://host:port`: a static override, used when `endpoints` is null
  /// The dependency's instances from the service registry (not owned); calls are spread over the
  /// live ones round robin, each with its own breaker. Null: base_url is the one instance.
  const EndpointSource* endpoints = nullptr;
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds request_timeout{3000};  ///< write plus read, per attempt (unless `settings`)
  int max_attempts = 3;                             ///< for calls that are safe to repeat
  std::chrono::milliseconds backoff{20};            ///< before the 2nd attempt; doubles, with jitter
  int breaker_failures = 5;  ///< consecutive failures that open an instance's circuit (unless `settings`)
  std::chrono::milliseconds breaker_open_for{1000};
  std::chrono::seconds max_idle{20};  ///< pooled connections idle longer are closed, not reused
  std::size_t max_response_bytes = 8 * 1024 * 1024;         ///< body; larger answers are kBadResponse
  std::size_t max_response_header_bytes = 64 * 1024;
  /// Hot settings (not owned); when set they replace request_timeout and breaker_failures.
  const CallSettings* settings = nullptr;
  /// AsyncClient only: GET calls that are safe to repeat go pipelined, per event loop and instance, on
  /// one connection (RFC 9112 §9.3.2). For a dependency that answers on its event loop: one whose
  /// handlers run on a thread pool would answer a connection's requests one after another.
  bool pipeline_gets = false;
};

/// The one endpoint of `options.base_url` (std::invalid_argument when it is not `http://host:port`).
std::unique_ptr<EndpointSource> MakeStaticEndpoints(const ClientOptions& options);

/// Why a call got no response.
enum class CallError {
  kUnavailable,  ///< could not connect, or the connection broke
  kTimeout,      ///< connecting or answering took too long
  kCircuitOpen,  ///< refused without trying: the dependency has been failing
  kBadResponse,  ///< what came back was not HTTP
};
std::string_view Describe(CallError error);

/// A client for one dependency. Thread-safe. Each thread keeps its own pool of keep-alive
/// connections per instance, so calls never share a socket and never wait for each other. Every
/// call carries the current request's X-Request-Id and a W3C traceparent.
class Client {
 public:
  /// Throws std::invalid_argument when base_url is not `http://host:port`.
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Sends `request` (its target is a path) to one live instance, round robin. With `safe_to_repeat`,
  /// transport failures and 502/503/504 answers are retried with backoff up to max_attempts, each
  /// time on the next instance. A request that never left (no connection) moves to the next
  /// instance whatever `safe_to_repeat` says. Any HTTP answer is a response, errors included; 5xx
  /// answers and transport failures count against that instance's breaker. kUnavailable when no
  /// instance is live, kCircuitOpen when every live one's breaker is open.
  std::expected<Response, CallError> Send(Request request, bool safe_to_repeat);

  /// True when GET `path` (e.g. "/health/ready") answers 200 now. Never retried.
  bool Probe(std::string_view path);

  const ClientOptions& options() const { return options_; }

 private:
  struct Impl;
  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shop::http
