#include "shop/platform/rate_limiter.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

namespace shop {
namespace {

static_assert(sizeof(std::size_t) == 8, "the shard index takes bits 32 and up of the key hash");
static_assert(crypto_shorthash_BYTES == 8 && crypto_shorthash_KEYBYTES == 16);

constexpr std::int64_t kUnitsPerToken = 1'000'000'000;  // fixed point: 10^-9 token
constexpr std::size_t kMaxShards = 64;
// Fewer, larger shards for small capacities: least-recently-used within a shard of a handful of
// clients would be close to random.
constexpr std::size_t kMinClientsPerShard = 64;
constexpr int kEvictionScan = 16;  // least recently used buckets looked at for a full one
// RFC 9111 §1.2.2: the largest delta-seconds worth representing.
constexpr double kMaxRetryAfterSeconds = 2147483648.0;

// A client key with its hash, computed once: it picks the shard and finds the bucket.
struct HashedKey {
  std::string_view key;
  std::size_t hash;
};

// SipHash-2-4 under a key drawn per limiter, so that clients (who choose their peer addresses, within
// limits) cannot choose keys that collide in one shard or one hash chain.
std::size_t KeyedHash(const unsigned char* key, std::string_view text) {
  std::array<unsigned char, crypto_shorthash_BYTES> out;
  crypto_shorthash(out.data(), reinterpret_cast<const unsigned char*>(text.data()), text.size(), key);
  std::uint64_t hash;
  std::memcpy(&hash, out.data(), sizeof hash);
  return hash;
}

// The table's hasher: transparent, so a lookup with a HashedKey neither hashes again nor builds a
// std::string. Not noexcept on purpose: libstdc++ then keeps each node's hash in the node (as it does
// for std::hash<std::string>), so chains compare stored hashes and erasing never rehashes a string.
struct TableHash {
  using is_transparent = void;
  const unsigned char* hash_key;
  std::size_t operator()(const std::string& key) const { return KeyedHash(hash_key, key); }
  std::size_t operator()(const HashedKey& key) const { return key.hash; }
};

struct TableEq {
  using is_transparent = void;
  bool operator()(const std::string& a, const std::string& b) const noexcept { return a == b; }
  bool operator()(const HashedKey& a, const std::string& b) const noexcept { return a.key == b; }
  bool operator()(const std::string& a, const HashedKey& b) const noexcept { return a == b.key; }
};

struct Bucket;
using Node = std::pair<const std::string, Bucket>;

struct Bucket {
  std::int64_t tokens;   // in units of 10^-9 token
  std::int64_t last_ns;  // the latest arrival seen, steady_clock nanoseconds
  Node* newer;           // least-recently-used list of the shard
  Node* older;
};

using Table = std::unordered_map<std::string, Bucket, TableHash, TableEq>;

// The limits of one decision, in the bucket's units. A rate in tokens per second is also a rate in
// units (10^-9 token) per nanosecond.
struct UnitLimits {
  double units_per_ns;
  std::int64_t burst_units;
};

bool IsFull(const Bucket& bucket, std::int64_t now_ns, const UnitLimits& limits) {
  if (bucket.tokens >= limits.burst_units) return true;
  return now_ns > bucket.last_ns && static_cast<double>(now_ns - bucket.last_ns) * limits.units_per_ns >=
                                        static_cast<double>(limits.burst_units - bucket.tokens);
}

void Refill(Bucket& bucket, std::int64_t now_ns, const UnitLimits& limits) {
  if (now_ns > bucket.last_ns) {
    const double gained = static_cast<double>(now_ns - bucket.last_ns) * limits.units_per_ns;
    // Compared as doubles first: a long idle time times a high rate does not fit an int64.
    if (gained >= static_cast<double>(limits.burst_units - bucket.tokens)) {
      bucket.tokens = limits.burst_units;
      bucket.last_ns = now_ns;
    } else {
      // Only the time that made whole units is used up; the rest carries over. Otherwise, below one
      // unit per nanosecond (1 token/s), a client asking every few nanoseconds would never refill.
      const auto whole = static_cast<std::int64_t>(gained);
      bucket.tokens += whole;
      const auto used_ns = static_cast<std::int64_t>(std::ceil(static_cast<double>(whole) / limits.units_per_ns));
      bucket.last_ns = std::min(now_ns, bucket.last_ns + used_ns);
    }
  }
  bucket.tokens = std::min(bucket.tokens, limits.burst_units);  // the burst may have been lowered
}

// Time until the bucket holds one token, from `now_ns`, counting the refill not yet credited.
std::chrono::seconds RetryAfter(const Bucket& bucket, std::int64_t now_ns, const UnitLimits& limits) {
  const double wait_ns = static_cast<double>(kUnitsPerToken - bucket.tokens) / limits.units_per_ns -
                         static_cast<double>(now_ns - bucket.last_ns);
  const double seconds = std::ceil(wait_ns / 1e9);
  return std::chrono::seconds(static_cast<std::int64_t>(std::clamp(seconds, 1.0, kMaxRetryAfterSeconds)));
}

void Validate(const RateLimiter::Limits& limits) {
  if (!std::isfinite(limits.rate_per_second) || limits.rate_per_second < 0 ||
      limits.rate_per_second > RateLimiter::kMaxRate) {
    throw std::invalid_argument("rate limiter: rate_per_second must be within [0, 1e9]");
  }
  if (limits.burst < 1 || limits.burst > RateLimiter::kMaxBurst) {
    throw std::invalid_argument("rate limiter: burst must be within [1, 1e9]");
  }
}

}  // namespace

// alignas: shards are locked from different cores; each mutex on its own cache line.
struct alignas(64) RateLimiter::Shard {
  std::mutex mu;
  Table table;
  Node* newest = nullptr;
  Node* oldest = nullptr;
  std::size_t capacity = 0;
  std::atomic<std::size_t> size{0};  // written under mu, read by size() without it
  std::atomic<std::uint64_t> evicted_not_full{0};

  void Unlink(Node* node) {
    Bucket& b = node->second;
    (b.newer ? b.newer->second.older : newest) = b.older;
    (b.older ? b.older->second.newer : oldest) = b.newer;
    b.newer = b.older = nullptr;
  }

  void LinkNewest(Node* node) {
    node->second.older = newest;
    node->second.newer = nullptr;
    (newest ? newest->second.newer : oldest) = node;
    newest = node;
  }

  void Touch(Node* node) {
    if (node != newest) {
      Unlink(node);
      LinkNewest(node);
    }
  }

  // Starts tracking `key` with a full bucket, forgetting another client first if the shard is full.
  Node* Insert(const HashedKey& key, std::int64_t now_ns, const UnitLimits& limits) {
    const Bucket fresh{.tokens = limits.burst_units, .last_ns = now_ns, .newer = nullptr, .older = nullptr};
    Node* node = nullptr;
    if (table.size() < capacity) {
      node = &*table.emplace(std::string(key.key), fresh).first;
      size.store(table.size(), std::memory_order_relaxed);
    } else {
      Node* victim = nullptr;
      Node* candidate = oldest;
      for (int i = 0; i < kEvictionScan && candidate != nullptr; ++i, candidate = candidate->second.newer) {
        if (IsFull(candidate->second, now_ns, limits)) {
          victim = candidate;
          break;
        }
      }
      if (victim == nullptr) {
        victim = oldest;
        evicted_not_full.fetch_add(1, std::memory_order_relaxed);
      }
      Unlink(victim);
      // The victim's node (and its string's buffer) is reused for the new client.
      auto handle = table.extract(victim->first);
      handle.key().assign(key.key);
      handle.mapped() = fresh;
      node = &*table.insert(std::move(handle)).position;
    }
    LinkNewest(node);
    return node;
  }
};

RateLimiter::RateLimiter(Limits limits, std::size_t capacity) {
  if (capacity == 0) throw std::invalid_argument("rate limiter: capacity must be at least 1");
  SetLimits(limits);
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  crypto_shorthash_keygen(hash_key_.data());
  const std::size_t shards = std::clamp<std::size_t>(std::bit_floor(capacity / kMinClientsPerShard), 1, kMaxShards);
  shard_mask_ = shards - 1;
  shards_ = std::make_unique<Shard[]>(shards);
  for (std::size_t i = 0; i < shards; ++i) {
    Shard& shard = shards_[i];
    shard.capacity = capacity / shards + (i < capacity % shards ? 1 : 0);
    shard.table = Table(shard.capacity, TableHash{hash_key_.data()});  // sized once: no rehash under the lock
  }
}

RateLimiter::~RateLimiter() = default;

void RateLimiter::SetLimits(Limits limits) {
  Validate(limits);
  std::lock_guard lock(limits_write_mu_);
  const std::uint64_t seq = limits_seq_.load(std::memory_order_relaxed);
  limits_seq_.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  rate_.store(limits.rate_per_second, std::memory_order_relaxed);
  burst_.store(limits.burst, std::memory_order_relaxed);
  limits_seq_.store(seq + 2, std::memory_order_release);
}

RateLimiter::Limits RateLimiter::limits() const {
  for (;;) {
    const std::uint64_t seq = limits_seq_.load(std::memory_order_acquire);
    if (seq % 2 == 0) {
      const Limits limits{.rate_per_second = rate_.load(std::memory_order_relaxed),
                          .burst = burst_.load(std::memory_order_relaxed)};
      std::atomic_thread_fence(std::memory_order_acquire);
      if (limits_seq_.load(std::memory_order_relaxed) == seq) return limits;
    }
    std::this_thread::yield();  // a writer is between its two increments (rare: limits change seldom)
  }
}

std::size_t RateLimiter::ShardOf(std::size_t hash) const { return (hash >> 32) & shard_mask_; }

RateLimiter::Decision RateLimiter::Allow(std::string_view client, std::chrono::steady_clock::time_point now) {
  // Off: one atomic load, no shard touched.
  if (rate_.load(std::memory_order_relaxed) == 0) return {};
  const Limits current = limits();
  if (current.rate_per_second == 0) return {};
  const UnitLimits limits{.units_per_ns = current.rate_per_second, .burst_units = current.burst * kUnitsPerToken};
  const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();

  const HashedKey key{.key = client, .hash = KeyedHash(hash_key_.data(), client)};
  Shard& shard = shards_[ShardOf(key.hash)];
  std::lock_guard lock(shard.mu);
  Node* node = nullptr;
  if (auto it = shard.table.find(key); it != shard.table.end()) {
    node = &*it;
    Refill(node->second, now_ns, limits);
    shard.Touch(node);
  } else {
    node = shard.Insert(key, now_ns, limits);
  }
  Bucket& bucket = node->second;
  if (bucket.tokens >= kUnitsPerToken) {
    bucket.tokens -= kUnitsPerToken;
    return {.allowed = true, .retry_after = std::chrono::seconds(0)};
  }
  return {.allowed = false, .retry_after = RetryAfter(bucket, now_ns, limits)};
}

std::size_t RateLimiter::size() const {
  std::size_t total = 0;
  for (std::size_t i = 0; i <= shard_mask_; ++i) total += shards_[i].size.load(std::memory_order_relaxed);
  return total;
}

std::uint64_t RateLimiter::evicted_not_full() const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= shard_mask_; ++i) total += shards_[i].evicted_not_full.load(std::memory_order_relaxed);
  return total;
}

}  // namespace shop
