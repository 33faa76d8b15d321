// Micro-benchmarks of shop::RateLimiter::Allow, the per-request cost of the edge's rate limit.
//
//   Off                     rate 0: the one atomic load every request pays while limiting is off
//   HotClient               one client over its limit (1,000/s, burst 100), asked every 1 us: one shard,
//                           one mutex, so with threads it also measures that mutex under contention
//   Distinct100k            100,000 clients in turn, all tracked (capacity 100,000): a cache miss per call
//   Churn400k               400,000 clients in turn over capacity 100,000: every call forgets the least
//                           recently used bucket of a shard and reuses its node
//   Limits                  limits(): the lock-free read of the limits every decision makes
//   SteadyClockNow          std::chrono::steady_clock::now(), which the caller pays for `now`
//
// Each case runs on 1 and 2 threads sharing one limiter (the machine this was written on has 2 cores).
// Time is synthetic (each thread advances its own clock by 1 us a call), so nothing but Allow is measured.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "shop/platform/rate_limiter.h"

namespace {

using shop::RateLimiter;
using Clock = std::chrono::steady_clock;

// 400,000 distinct client keys, shaped like IPv4 peer addresses (short enough for std::string's
// inline buffer).
const std::vector<std::string>& Keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    k.reserve(400'000);
    char buf[32];
    for (int i = 0; i < 400'000; ++i) {
      std::snprintf(buf, sizeof buf, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
      k.emplace_back(buf);
    }
    return k;
  }();
  return keys;
}

// Calls Allow for keys[0..n) in turn, each thread from its own offset and with its own clock.
void AllowOver(benchmark::State& state, RateLimiter& limiter, const std::vector<std::string>& keys, std::size_t n) {
  auto now = Clock::time_point(std::chrono::hours(1));
  std::size_t i = (static_cast<std::size_t>(state.thread_index()) * n) / static_cast<std::size_t>(state.threads());
  std::int64_t allowed = 0;
  for (auto _ : state) {
    const auto decision = limiter.Allow(keys[i], now);
    allowed += decision.allowed;
    benchmark::DoNotOptimize(decision);
    if (++i == n) i = 0;
    now += std::chrono::microseconds(1);
  }
  state.counters["allowed"] = benchmark::Counter(static_cast<double>(allowed) / static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kAvgThreads);
}

void BM_Off(benchmark::State& state) {
  static RateLimiter limiter({.rate_per_second = 0, .burst = 100});
  static const std::vector<std::string> key{"198.51.100.23"};
  AllowOver(state, limiter, key, 1);
}
BENCHMARK(BM_Off)->Name("Off")->Threads(1)->Threads(2)->UseRealTime();

void BM_HotClient(benchmark::State& state) {
  static RateLimiter limiter({.rate_per_second = 1000, .burst = 100});
  static const std::vector<std::string> key{"198.51.100.23"};
  AllowOver(state, limiter, key, 1);
}
BENCHMARK(BM_HotClient)->Name("HotClient")->Threads(1)->Threads(2)->UseRealTime();

void BM_Distinct100k(benchmark::State& state) {
  constexpr std::size_t kClients = 100'000;
  static RateLimiter& limiter = []() -> RateLimiter& {
    static RateLimiter l({.rate_per_second = 1000, .burst = 100}, kClients);
    for (std::size_t i = 0; i < kClients; ++i) l.Allow(Keys()[i], Clock::time_point(std::chrono::hours(1)));
    return l;
  }();
  AllowOver(state, limiter, Keys(), kClients);
  if (state.thread_index() == 0) state.counters["tracked"] = static_cast<double>(limiter.size());
}
BENCHMARK(BM_Distinct100k)->Name("Distinct100k")->Threads(1)->Threads(2)->UseRealTime();

void BM_Churn400k(benchmark::State& state) {
  constexpr std::size_t kClients = 400'000;
  static RateLimiter limiter({.rate_per_second = 1000, .burst = 100}, 100'000);
  AllowOver(state, limiter, Keys(), kClients);
  if (state.thread_index() == 0) state.counters["tracked"] = static_cast<double>(limiter.size());
}
BENCHMARK(BM_Churn400k)->Name("Churn400k")->Threads(1)->Threads(2)->UseRealTime();

void BM_Limits(benchmark::State& state) {
  static RateLimiter limiter({.rate_per_second = 1000, .burst = 100});
  for (auto _ : state) benchmark::DoNotOptimize(limiter.limits());
}
BENCHMARK(BM_Limits)->Name("Limits")->Threads(1)->Threads(2)->UseRealTime();

void BM_SteadyClockNow(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Clock::now());
}
BENCHMARK(BM_SteadyClockNow)->Name("SteadyClockNow");

}  // namespace

BENCHMARK_MAIN();
