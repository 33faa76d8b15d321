#include "shop/platform/rate_limiter.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using shop::RateLimiter;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// An arbitrary fixed origin: every test passes its own times, none reads the clock.
const Clock::time_point t0 = Clock::time_point(std::chrono::hours(1000));

// Allows in a row at `now` until the first refusal; returns how many were allowed.
int AllowedInARow(RateLimiter& limiter, std::string_view client, Clock::time_point now, int limit = 10'000'000) {
  int allowed = 0;
  while (allowed < limit && limiter.Allow(client, now).allowed) ++allowed;
  return allowed;
}

std::string ClientName(int i) { return "client-" + std::to_string(i); }

}  // namespace

TEST_CASE("a new client gets its burst at once, then is refused") {
  RateLimiter limiter({.rate_per_second = 1, .burst = 5});
  for (int i = 0; i < 5; ++i) {
    const auto decision = limiter.Allow("alice", t0);
    CHECK(decision.allowed);
    CHECK(decision.retry_after == seconds(0));
  }
  const auto refused = limiter.Allow("alice", t0);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after == seconds(1));
  CHECK(limiter.size() == 1);
}

TEST_CASE("tokens come back at the rate, up to the burst") {
  RateLimiter limiter({.rate_per_second = 2, .burst = 4});
  CHECK(AllowedInARow(limiter, "alice", t0) == 4);
  CHECK(AllowedInARow(limiter, "alice", t0 + milliseconds(499)) == 0);
  CHECK(AllowedInARow(limiter, "alice", t0 + milliseconds(500)) == 1);
  CHECK(AllowedInARow(limiter, "alice", t0 + milliseconds(1500)) == 2);
  CHECK(AllowedInARow(limiter, "alice", t0 + seconds(100)) == 4);  // never more than the burst
}

TEST_CASE("fractional rates refill exactly, however often the client asks") {
  RateLimiter limiter({.rate_per_second = 0.1, .burst = 1});
  CHECK(AllowedInARow(limiter, "alice", t0) == 1);
  // Each refusal refills what the time since the last one made; fractions of the smallest unit carry.
  for (auto at : {seconds(1), seconds(5), seconds(7)}) CHECK(AllowedInARow(limiter, "alice", t0 + at) == 0);
  CHECK(AllowedInARow(limiter, "alice", t0 + std::chrono::nanoseconds(9'999'999'999)) == 0);
  CHECK(AllowedInARow(limiter, "alice", t0 + seconds(10)) == 1);
  CHECK(AllowedInARow(limiter, "alice", t0 + seconds(10) + std::chrono::nanoseconds(1)) == 0);
}

TEST_CASE("Retry-After is the time until one token, rounded up to whole seconds, at least 1") {
  SUBCASE("0.5 per second: 2 s") {
    RateLimiter limiter({.rate_per_second = 0.5, .burst = 1});
    CHECK(limiter.Allow("a", t0).allowed);
    const auto refused = limiter.Allow("a", t0);
    CHECK_FALSE(refused.allowed);
    CHECK(refused.retry_after == seconds(2));
    CHECK(limiter.Allow("a", t0 + milliseconds(500)).retry_after == seconds(2));  // 1.5 s left
    CHECK(limiter.Allow("a", t0 + milliseconds(1000)).retry_after == seconds(1));
    CHECK(limiter.Allow("a", t0 + milliseconds(2000)).allowed);
  }
  SUBCASE("0.25 per second, 1.5 s after: 2.5 s left, so 3 s") {
    RateLimiter limiter({.rate_per_second = 0.25, .burst = 1});
    CHECK(limiter.Allow("a", t0).allowed);
    CHECK(limiter.Allow("a", t0 + milliseconds(1500)).retry_after == seconds(3));
  }
  SUBCASE("a fast rate still says at least 1 s") {
    RateLimiter limiter({.rate_per_second = 1000, .burst = 1});
    CHECK(limiter.Allow("a", t0).allowed);
    const auto refused = limiter.Allow("a", t0);
    CHECK_FALSE(refused.allowed);
    CHECK(refused.retry_after == seconds(1));
  }
  SUBCASE("a very slow rate is capped, not overflowed") {
    RateLimiter limiter({.rate_per_second = 1e-300, .burst = 1});
    CHECK(limiter.Allow("a", t0).allowed);
    CHECK(limiter.Allow("a", t0).retry_after == seconds(2147483648));
  }
}

TEST_CASE("rate 0 is off: everything is allowed and nothing is tracked") {
  RateLimiter limiter({.rate_per_second = 0, .burst = 1});
  for (int i = 0; i < 1000; ++i) {
    const auto decision = limiter.Allow("alice", t0);
    CHECK(decision.allowed);
    CHECK(decision.retry_after == seconds(0));
  }
  CHECK(limiter.size() == 0);
}

TEST_CASE("SetLimits applies to the very next decision and keeps buckets") {
  RateLimiter limiter({.rate_per_second = 1, .burst = 2});
  CHECK(AllowedInARow(limiter, "alice", t0) == 2);

  limiter.SetLimits({.rate_per_second = 0, .burst = 2});
  CHECK(AllowedInARow(limiter, "alice", t0, 100) == 100);

  // Back on: the bucket is where it was (empty), and a larger burst is reached by refilling.
  limiter.SetLimits({.rate_per_second = 1, .burst = 10});
  CHECK_FALSE(limiter.Allow("alice", t0).allowed);
  CHECK(AllowedInARow(limiter, "alice", t0 + seconds(60)) == 10);

  // A smaller burst caps what a full bucket holds at once.
  limiter.SetLimits({.rate_per_second = 1, .burst = 3});
  CHECK(AllowedInARow(limiter, "alice", t0 + seconds(120)) == 3);

  // A faster rate refills faster from then on.
  limiter.SetLimits({.rate_per_second = 100, .burst = 3});
  CHECK(AllowedInARow(limiter, "alice", t0 + seconds(120) + milliseconds(20)) == 2);

  const auto now = limiter.limits();
  CHECK(now.rate_per_second == 100);
  CHECK(now.burst == 3);
}

TEST_CASE("invalid limits and capacity are refused and change nothing") {
  CHECK_THROWS_AS(RateLimiter({.rate_per_second = 1, .burst = 1}, 0), std::invalid_argument);
  CHECK_THROWS_AS(RateLimiter({.rate_per_second = -1, .burst = 1}), std::invalid_argument);
  RateLimiter limiter({.rate_per_second = 1, .burst = 1});
  CHECK_THROWS_AS(limiter.SetLimits({.rate_per_second = std::numeric_limits<double>::quiet_NaN(), .burst = 1}),
                  std::invalid_argument);
  CHECK_THROWS_AS(limiter.SetLimits({.rate_per_second = std::numeric_limits<double>::infinity(), .burst = 1}),
                  std::invalid_argument);
  CHECK_THROWS_AS(limiter.SetLimits({.rate_per_second = 2e9, .burst = 1}), std::invalid_argument);
  CHECK_THROWS_AS(limiter.SetLimits({.rate_per_second = 1, .burst = 0}), std::invalid_argument);
  CHECK_THROWS_AS(limiter.SetLimits({.rate_per_second = 1, .burst = RateLimiter::kMaxBurst + 1}),
                  std::invalid_argument);
  CHECK(limiter.limits().rate_per_second == 1);
  CHECK(limiter.limits().burst == 1);
  // The largest values work without overflow.
  limiter.SetLimits({.rate_per_second = RateLimiter::kMaxRate, .burst = RateLimiter::kMaxBurst});
  CHECK(limiter.Allow("a", t0).allowed);
  CHECK(limiter.Allow("a", t0 + std::chrono::hours(24 * 365 * 100)).allowed);
}

TEST_CASE("clients are independent") {
  RateLimiter limiter({.rate_per_second = 1, .burst = 3});
  CHECK(AllowedInARow(limiter, "alice", t0) == 3);
  CHECK(AllowedInARow(limiter, "bob", t0) == 3);
  CHECK(AllowedInARow(limiter, "203.0.113.7", t0) == 3);
  CHECK(AllowedInARow(limiter, "", t0) == 3);
  CHECK(limiter.size() == 4);
}

TEST_CASE("time running backwards across threads refills nothing") {
  RateLimiter limiter({.rate_per_second = 1, .burst = 1});
  CHECK(limiter.Allow("a", t0 + seconds(10)).allowed);
  CHECK_FALSE(limiter.Allow("a", t0).allowed);
  CHECK_FALSE(limiter.Allow("a", t0 + seconds(10)).allowed);
  CHECK(limiter.Allow("a", t0 + seconds(11)).allowed);
}

TEST_CASE("a full shard forgets a full bucket before the least recently used one") {
  // Capacity 3: one shard, so the order of eviction is exact.
  RateLimiter limiter({.rate_per_second = 1, .burst = 2}, 3);
  CHECK(AllowedInARow(limiter, "a", t0) == 2);  // 0 tokens
  CHECK(limiter.Allow("b", t0).allowed);        // 1 token
  CHECK(AllowedInARow(limiter, "c", t0) == 2);  // 0 tokens
  // One second later b is full again, a and c hold 1 token; a is the least recently used.
  CHECK(limiter.Allow("d", t0 + seconds(1)).allowed);
  CHECK(limiter.size() == 3);
  CHECK(limiter.evicted_not_full() == 0);
  CHECK(AllowedInARow(limiter, "a", t0 + seconds(1)) == 1);  // a kept its bucket
  CHECK(AllowedInARow(limiter, "c", t0 + seconds(1)) == 1);  // so did c
}

TEST_CASE("with no full bucket, a full shard forgets the least recently used, in its favour") {
  RateLimiter limiter({.rate_per_second = 1, .burst = 2}, 3);
  CHECK(AllowedInARow(limiter, "a", t0) == 2);
  CHECK(AllowedInARow(limiter, "b", t0) == 2);
  CHECK(AllowedInARow(limiter, "c", t0) == 2);
  CHECK(limiter.Allow("d", t0).allowed);  // a is forgotten
  CHECK(limiter.evicted_not_full() == 1);
  CHECK(limiter.size() == 3);
  CHECK(AllowedInARow(limiter, "c", t0) == 0);  // c kept its (empty) bucket
  CHECK(AllowedInARow(limiter, "a", t0) == 2);  // a starts again with a full burst (b is forgotten for it)
  CHECK(limiter.evicted_not_full() == 2);
  CHECK(AllowedInARow(limiter, "c", t0) == 0);
}

TEST_CASE("200,000 distinct clients stay within capacity and an active client keeps its limit") {
  constexpr std::size_t kCapacity = 100'000;
  RateLimiter limiter({.rate_per_second = 1, .burst = 5}, kCapacity);
  CHECK(AllowedInARow(limiter, "hot", t0) == 5);

  // Time stands still, so no bucket is ever full again: every eviction is of a bucket that is not full.
  // The hot client asks again every 64 new clients, far more often than its shard (1,562 clients)
  // fills with newer ones, so it is never the least recently used of its shard, never forgotten,
  // and refused every time.
  int hot_allowed = 0;
  for (int i = 0; i < 200'000; ++i) {
    if (!limiter.Allow(ClientName(i), t0).allowed) FAIL("a new client was refused: " << ClientName(i));
    if (i % 64 == 0 && limiter.Allow("hot", t0).allowed) ++hot_allowed;
    if (i % 10'000 == 0) CHECK(limiter.size() <= kCapacity);
  }
  CHECK(hot_allowed == 0);
  CHECK(limiter.size() == kCapacity);
  // 200,001 clients seen, 100,000 kept: each of the others' buckets was forgotten before it was full.
  CHECK(limiter.evicted_not_full() == 200'001 - kCapacity);

  // An idle client is forgotten under the same pressure, and only then starts again with its burst.
  RateLimiter idle_case({.rate_per_second = 1, .burst = 5}, kCapacity);
  CHECK(AllowedInARow(idle_case, "idle", t0) == 5);
  for (int i = 0; i < 200'000; ++i) idle_case.Allow(ClientName(i), t0);
  CHECK(idle_case.size() == kCapacity);
  CHECK(AllowedInARow(idle_case, "idle", t0) == 5);
}

TEST_CASE("buckets that are full again are forgotten first, and that costs nobody anything") {
  constexpr std::size_t kCapacity = 100'000;
  RateLimiter limiter({.rate_per_second = 1, .burst = 5}, kCapacity);
  for (int i = 0; i < 100'000; ++i) limiter.Allow(ClientName(i), t0);
  CHECK(AllowedInARow(limiter, "hot", t0 + seconds(10)) == 5);
  // 10 s later the first 100,000 buckets are full again. 50,000 new clients (about 780 a shard of
  // 1,562) make room by forgetting only those; the hot client, active, keeps its empty bucket.
  const std::uint64_t before = limiter.evicted_not_full();
  for (int i = 100'000; i < 150'000; ++i) {
    CHECK(limiter.Allow(ClientName(i), t0 + seconds(10)).allowed);
    if (i % 64 == 0) CHECK_FALSE(limiter.Allow("hot", t0 + seconds(10)).allowed);
  }
  CHECK(limiter.size() <= kCapacity);
  CHECK(limiter.evicted_not_full() == before);
}

TEST_CASE("concurrent requests of one client never get more than burst plus rate times elapsed") {
  constexpr double kRate = 1000;  // tokens per second: 0.1 token per 100 us step
  constexpr std::int64_t kBurst = 100;
  constexpr int kThreads = 4;
  constexpr int kCallsPerThread = 20'000;
  constexpr auto kStep = std::chrono::microseconds(100);
  RateLimiter limiter({.rate_per_second = kRate, .burst = kBurst});

  // Each thread walks its own clock from t0 in 100 us steps; across threads the times interleave in
  // whatever order the scheduler makes, so the limiter also sees times going backwards.
  std::atomic<std::int64_t> allowed{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) {
      }
      std::int64_t mine = 0;
      for (int i = 0; i < kCallsPerThread; ++i) {
        if (limiter.Allow("shared", t0 + i * kStep).allowed) ++mine;
      }
      allowed += mine;
    });
  }
  go = true;
  for (auto& thread : threads) thread.join();

  const auto last = t0 + (kCallsPerThread - 1) * kStep;
  const double elapsed = std::chrono::duration<double>(last - t0).count();  // 1.9999 s
  const double bound = static_cast<double>(kBurst) + kRate * elapsed;       // 2099.9
  CHECK(static_cast<double>(allowed.load()) <= bound);
  // Nothing lost either: after the threads, exactly the rest of the tokens is there. Demand was far
  // above supply, so the bucket was never full while refilling and every token was spent or is left.
  const std::int64_t total = allowed.load() + AllowedInARow(limiter, "shared", last);
  CHECK(total == 2099);
}

TEST_CASE("limits set from another thread are always read as the pair that was set") {
  RateLimiter limiter({.rate_per_second = 1, .burst = 1});
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      const std::int64_t n = 1 + i % 1000;
      limiter.SetLimits({.rate_per_second = static_cast<double>(n), .burst = n});
    }
  });
  int mixed = 0;
  for (int i = 0; i < 200'000; ++i) {
    const auto limits = limiter.limits();
    if (limits.rate_per_second != static_cast<double>(limits.burst)) ++mixed;
    limiter.Allow("a", t0 + std::chrono::microseconds(i));
  }
  stop = true;
  writer.join();
  CHECK(mixed == 0);
}
