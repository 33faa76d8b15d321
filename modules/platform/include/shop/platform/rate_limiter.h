#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

namespace shop {

/// Per-client request rate limiting at the edge (PLATFORM.md, `edge.rate_limit.rps` and
/// `edge.rate_limit.burst`): one token bucket per client key (a token's `sub`, or a peer address).
///
/// Algorithm: the single-rate token bucket of RFC 2697 §3 (the committed bucket: rate CIR, size CBS),
/// refilled continuously rather than in 1/CIR steps. It makes the same decisions as the Generic Cell
/// Rate Algorithm (ITU-T I.371, the "virtual scheduling" form) with increment 1/rate and limit
/// (burst - 1)/rate. A client starts with a full bucket of `burst` tokens, each allowed request takes
/// one, and tokens come back at `rate_per_second` up to `burst`; so over any interval of length T a
/// client is allowed at most burst + rate * T requests. Tokens are counted in fixed point (10^-9
/// token): spending is exact, and a refill rounds down by less than 10^-9 token, never in the
/// client's favour.
///
/// Memory is bounded: at most `capacity` clients are tracked (about 100 bytes each, plus keys longer
/// than 15 bytes), each shard holding an equal share. Clients spread unevenly over shards, so some are
/// full before the whole is: with as many clients as capacity, about 1% of them are in full shards.
/// When a new client arrives and its shard is full, one bucket is forgotten: a full one if one of the
/// shard's 16 least recently used is full (that changes nothing: a new client starts full), else the
/// least recently used one. Forgetting a bucket that is not full can only be in that client's favour
/// (it starts again with `burst` tokens), by at most `burst` requests each time, and only once every
/// other client its shard tracks was seen after its own last request: a client that sends again
/// before that many others of its shard do (capacity/64 from a capacity of 4,096 up; capacity itself
/// below 128, one shard) is never forgotten, and whoever sends as that many other clients already has
/// a full bucket for each of them. evicted_not_full() counts these events.
///
/// Thread-safe. Clients are spread over up to 64 shards by a keyed hash (SipHash-2-4) of the key, each
/// shard with its own mutex and table; there is no global lock. Limits are read without a lock (a
/// sequence lock over atomics); with the rate at 0 a decision is one atomic load and touches no shard.
class RateLimiter {
 public:
  /// The configuration: `rate_per_second` requests (tokens) per second per client, 0 turning limiting
  /// off; `burst` the bucket size in requests. The defaults are PLATFORM.md's.
  struct Limits {
    double rate_per_second = 0;
    std::int64_t burst = 100;
  };

  /// One decision. `retry_after` is 0 when allowed; when refused, the time until the client's bucket
  /// holds one token, rounded up to whole seconds and at least 1 s (the HTTP `Retry-After` value).
  struct Decision {
    bool allowed = true;
    std::chrono::seconds retry_after{0};
  };

  static constexpr std::size_t kDefaultCapacity = 100'000;
  static constexpr double kMaxRate = 1e9;
  static constexpr std::int64_t kMaxBurst = 1'000'000'000;

  /// Starts with `limits` and no client tracked; at most `capacity` clients are tracked at once.
  /// Throws std::invalid_argument when `limits` are invalid (see SetLimits) or `capacity` is 0.
  explicit RateLimiter(Limits limits, std::size_t capacity = kDefaultCapacity);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  /// Replaces the limits; safe to call from any thread at any time, and every decision that starts
  /// after it returns uses the new limits (a decision under way uses the old or the new pair, never a
  /// mix). Buckets are kept: with a smaller burst a client holds at most the new burst; with a larger
  /// one it refills up to it. Requires a finite rate in [0, kMaxRate] (requests per second) and a burst
  /// in [1, kMaxBurst]; otherwise throws std::invalid_argument and nothing changes.
  void SetLimits(Limits limits);

  /// The limits in force: a pair that was set together.
  Limits limits() const;

  /// Decides one request of `client` arriving at `now`, and if allowed takes a token from its bucket.
  /// Calls may come from any thread and `now` may run slightly out of order across threads: time that
  /// appears to go backwards refills nothing. With the rate at 0 every request is allowed and nothing is
  /// tracked. Allocates, and so may throw std::bad_alloc, only when it starts tracking a client.
  Decision Allow(std::string_view client, std::chrono::steady_clock::time_point now);

  /// Clients tracked now (at most the capacity).
  std::size_t size() const;

  /// How many times a bucket that was not full was forgotten to make room: each of those let one
  /// client start again with a full burst.
  std::uint64_t evicted_not_full() const;

 private:
  struct Shard;

  std::size_t ShardOf(std::size_t hash) const;

  // Sequence lock (H.-J. Boehm, "Can seqlocks get along with programming language memory models?",
  // MSPC 2012): odd while a writer is between its two increments.
  std::atomic<std::uint64_t> limits_seq_{0};
  std::atomic<double> rate_{0};
  std::atomic<std::int64_t> burst_{1};
  std::mutex limits_write_mu_;

  std::array<unsigned char, 16> hash_key_{};  // SipHash-2-4 key of the client keys, drawn at construction
  std::size_t shard_mask_ = 0;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace shop
