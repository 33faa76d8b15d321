#pragma once
// VerifiedTokenCache: what a Verifier already proved about a token, so that a client's next requests
// with the same token skip the Ed25519 signature check (≈50 µs of CPU, 85% of an order's instructions
// before this cache; see bench/README.md "Token verification cache").
//
// Security properties (tests/auth/token_cache_test.cpp checks each):
// - An entry is found by SipHash-2-4 of the whole token under a key drawn per cache (so clients cannot
//   choose tokens that crowd one shard), and is used only when the stored token equals the presented
//   one byte for byte (compared in constant time): a different token, tampered by one bit or not, never
//   uses another's entry; it misses and is verified in full.
// - Only tokens that passed every check are stored, with their result; nothing about a refused token is.
// - An entry is used only while now < the token's `exp`: a token that expires while cached is refused.
// - Clear() (Verifier::SetKeys calls it) drops every entry and bumps the generation, so a result
//   computed under the old key set while Clear runs is not stored afterwards.
// - At most `capacity` entries (per shard capacity / kShards); a full shard drops its least recently
//   used entry. A full cache costs full verifications, never a wrong answer.
// - No global lock: kShards shards, each with its own mutex, held for a lookup or an insert only.
#include <sodium.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace shop::auth {

template <class Result>
class VerifiedTokenCache {
 public:
  static constexpr std::size_t kShards = 16;

  /// `capacity`: most entries held (rounded up to a multiple of kShards, at least one per shard).
  explicit VerifiedTokenCache(std::size_t capacity) : per_shard_((capacity + kShards - 1) / kShards) {
    if (per_shard_ == 0) per_shard_ = 1;
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    crypto_shorthash_keygen(key_.data());
  }

  /// The generation to pass to Insert for a verification starting now.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  /// The cached result for exactly `token`, if it is held, of the current generation and not expired
  /// at `now` (Unix seconds).
  std::optional<Result> Find(std::string_view token, std::int64_t now) {
    const std::uint64_t hash = Hash(token);
    Shard& shard = shards_[hash % kShards];
    const std::uint64_t generation = this->generation();
    std::lock_guard lock(shard.mu);
    auto it = shard.index.find(hash);
    if (it == shard.index.end()) {
      ++shard.misses;
      return std::nullopt;
    }
    Entry& entry = *it->second;
    if (entry.generation != generation || !SameToken(entry.token, token)) {
      ++shard.misses;
      return std::nullopt;
    }
    if (entry.expires_at <= now) {
      shard.lru.erase(it->second);
      shard.index.erase(it);
      ++shard.misses;
      return std::nullopt;
    }
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    ++shard.hits;
    return entry.result;
  }

  /// Stores `result` for `token` until `expires_at` (Unix seconds), unless the cache was cleared
  /// since `generation` was read.
  void Insert(std::string_view token, std::int64_t expires_at, std::uint64_t generation, Result result) {
    const std::uint64_t hash = Hash(token);
    Shard& shard = shards_[hash % kShards];
    std::lock_guard lock(shard.mu);
    if (generation != this->generation()) return;
    if (auto it = shard.index.find(hash); it != shard.index.end()) {
      // The same token again (two threads verified it at once), or a 64-bit collision: the newer wins.
      shard.lru.erase(it->second);
      shard.index.erase(it);
    }
    if (shard.index.size() >= per_shard_) {
      shard.index.erase(shard.lru.back().hash);
      shard.lru.pop_back();
      evictions_.fetch_add(1, std::memory_order_relaxed);
    }
    shard.lru.push_front(Entry{hash, std::string(token), expires_at, generation, std::move(result)});
    shard.index.emplace(hash, shard.lru.begin());
  }

  /// Drops every entry; results of verifications begun before this call are not stored afterwards.
  void Clear() {
    generation_.fetch_add(1, std::memory_order_acq_rel);
    for (Shard& shard : shards_) {
      std::lock_guard lock(shard.mu);
      shard.index.clear();
      shard.lru.clear();
    }
  }

  struct Counts {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::size_t size = 0;
  };
  /// Lookups answered and not answered so far, and the entries held now.
  Counts counts() const {
    Counts c;
    for (const Shard& shard : shards_) {
      std::lock_guard lock(shard.mu);
      c.hits += shard.hits;
      c.misses += shard.misses;
      c.size += shard.index.size();
    }
    return c;
  }
  std::size_t capacity() const { return per_shard_ * kShards; }
  std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::uint64_t hash;
    std::string token;
    std::int64_t expires_at;
    std::uint64_t generation;
    Result result;
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Entry> lru;  // most recently used first
    std::unordered_map<std::uint64_t, typename std::list<Entry>::iterator> index;
    std::uint64_t hits = 0;    // counted here, under the shard's lock, so no counter is shared by all threads
    std::uint64_t misses = 0;
  };

  std::uint64_t Hash(std::string_view token) const {
    std::uint64_t out = 0;
    crypto_shorthash(reinterpret_cast<unsigned char*>(&out), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), key_.data());
    return out;
  }
  static bool SameToken(const std::string& stored, std::string_view token) {
    return stored.size() == token.size() && sodium_memcmp(stored.data(), token.data(), token.size()) == 0;
  }

  std::size_t per_shard_;
  std::array<unsigned char, crypto_shorthash_KEYBYTES> key_{};
  std::atomic<std::uint64_t> generation_{1};
  std::atomic<std::uint64_t> evictions_{0};
  std::array<Shard, kShards> shards_;
};

}  // namespace shop::auth
