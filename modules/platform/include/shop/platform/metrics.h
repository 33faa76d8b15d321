#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace shop::metrics {

/// Appends a metric family's `# HELP` and `# TYPE` lines (Prometheus text exposition format 0.0.4)
/// to `out`; `type` is counter, gauge or histogram. For every family any process renders.
void Header(std::string& out, std::string_view name, std::string_view type, std::string_view help);

/// Request counts by method, route and status, latency histograms by method and route, requests in
/// flight, and process figures, rendered in the Prometheus text exposition format 0.0.4.
/// Recording is lock-free (relaxed atomics); routes are registered before serving starts.
class HttpMetrics {
 public:
  using RouteId = std::size_t;

  HttpMetrics(std::string service, std::string version);

  /// Registers a label pair; call before any thread records. Returns the id to record with.
  RouteId RegisterRoute(std::string_view method, std::string_view route);

  void Record(RouteId route, int status, double seconds);
  void AddInFlight(int delta) { in_flight_.fetch_add(delta, std::memory_order_relaxed); }

  /// The whole exposition, process figures included.
  std::string Render() const;

 private:
  static constexpr std::array<double, 14> kBuckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                   0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};
  struct Route {
    std::string method;
    std::string route;
    std::array<std::atomic<std::uint64_t>, 600> by_status{};
    std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> buckets{};  // last: +Inf only
    std::atomic<std::uint64_t> sum_micros{0};
  };

  std::string service_;
  std::string version_;
  std::deque<Route> routes_;  // deque: stable addresses while registering
  std::atomic<std::int64_t> in_flight_{0};
};

}  // namespace shop::metrics
