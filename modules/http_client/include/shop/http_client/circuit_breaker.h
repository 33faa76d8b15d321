#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace shop::http {

/// Fails calls fast while a dependency is down. Closed: calls pass. After `failure_threshold`
/// consecutive failures it opens: calls are refused for `open_for`. Then one probe call is let
/// through (half-open): success closes it, failure opens it again. Lock-free.
class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  CircuitBreaker(std::string name, int failure_threshold, std::chrono::milliseconds open_for);

  /// True when a call may go ahead now. A true in half-open state reserves the single probe.
  bool Allow();
  void RecordSuccess();
  /// Counts a failure against the threshold given at construction.
  void RecordFailure();
  /// Counts a failure against `failure_threshold` (the hot `client.breaker.failures` setting).
  void RecordFailure(int failure_threshold);
  State state() const;

 private:
  using Clock = std::chrono::steady_clock;
  static std::int64_t Now();

  std::string name_;
  int failure_threshold_;
  std::int64_t open_for_ns_;
  std::atomic<int> consecutive_failures_{0};
  std::atomic<std::int64_t> open_until_ns_{0};  // 0: closed
  std::atomic<bool> probing_{false};
};

}  // namespace shop::http
