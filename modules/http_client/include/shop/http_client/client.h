#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "shop/http/message.h"

namespace shop::http {

struct ClientOptions {
  std::string name;      ///< the dependency, for logs: "products"
  std::string base_url;  ///< `http://host:port`
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds request_timeout{3000};  ///< write plus read, per attempt
  int max_attempts = 3;                             ///< for calls that are safe to repeat
  std::chrono::milliseconds backoff{20};            ///< before the 2nd attempt; doubles, with jitter
  int breaker_failures = 5;                         ///< consecutive failures that open the circuit
  std::chrono::milliseconds breaker_open_for{1000};
  std::chrono::seconds max_idle{20};  ///< pooled connections idle longer are closed, not reused
  std::size_t max_response_bytes = 8 * 1024 * 1024;         ///< body; larger answers are kBadResponse
  std::size_t max_response_header_bytes = 64 * 1024;
};

/// Why a call got no response.
enum class CallError {
  kUnavailable,  ///< could not connect, or the connection broke
  kTimeout,      ///< connecting or answering took too long
  kCircuitOpen,  ///< refused without trying: the dependency has been failing
  kBadResponse,  ///< what came back was not HTTP
};
std::string_view Describe(CallError error);

/// A client for one dependency. Thread-safe. Each thread keeps its own pool of keep-alive
/// connections, so calls never share a socket and never wait for each other. Every call carries
/// the current request's X-Request-Id and a W3C traceparent.
class Client {
 public:
  /// Throws std::invalid_argument when base_url is not `http://host:port`.
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Sends `request` (its target is a path on base_url). With `safe_to_repeat`, transport failures
  /// and 502/503/504 answers are retried with backoff up to max_attempts. Any HTTP answer is a
  /// response, errors included; 5xx answers and transport failures count against the breaker.
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
