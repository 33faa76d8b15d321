#include "shop/http_client/circuit_breaker.h"

#include "shop/platform/log.h"

namespace shop::http {

CircuitBreaker::CircuitBreaker(std::string name, int failure_threshold, std::chrono::milliseconds open_for)
    : name_(std::move(name)),
      failure_threshold_(failure_threshold),
      open_for_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(open_for).count()) {}

std::int64_t CircuitBreaker::Now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

bool CircuitBreaker::Allow() {
  const std::int64_t until = open_until_ns_.load(std::memory_order_acquire);
  if (until == 0) return true;
  if (Now() < until) return false;
  bool expected = false;
  return probing_.compare_exchange_strong(expected, true);  // one probe at a time
}

void CircuitBreaker::RecordSuccess() {
  consecutive_failures_.store(0, std::memory_order_relaxed);
  if (open_until_ns_.exchange(0) != 0) {
    log::Write(log::Level::kInfo, "circuit closed", {{"dependency", name_}});
  }
  probing_.store(false);
}

void CircuitBreaker::RecordFailure() { RecordFailure(failure_threshold_); }

void CircuitBreaker::RecordFailure(int failure_threshold) {
  const int failures = consecutive_failures_.fetch_add(1) + 1;
  const bool was_probe = probing_.exchange(false);
  if (was_probe || failures >= failure_threshold) {
    const bool was_closed = open_until_ns_.exchange(Now() + open_for_ns_) == 0;
    if (was_closed) log::Write(log::Level::kWarn, "circuit opened", {{"dependency", name_}, {"failures", failures}});
  }
}

CircuitBreaker::State CircuitBreaker::state() const {
  const std::int64_t until = open_until_ns_.load();
  if (until == 0) return State::kClosed;
  return Now() < until ? State::kOpen : State::kHalfOpen;
}

}  // namespace shop::http
