#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "shop/products/api.h"
#include "shop/sql/change_counters.h"

namespace shop::products {

/// Products by id, kept in memory in front of products.db: GET /products/{id} is the hottest read
/// and without it every call pays for a SQLite read transaction (file locks included).
/// Correct with several writers, in this process or in other instances sharing the file: every
/// write bumps the product's change counter (sql::ChangeCounters, shared memory) after it
/// commits; an entry is served only while the counter still has the value it was read under, and a
/// load that raced with a write is not kept. Sharded, so readers on different products do not
/// contend; no lock is global.
/// Instances on other machines (PostgreSQL) cannot share memory: their writes reach the counters
/// through LISTEN/NOTIFY instead (sql::Database::Listen), a few milliseconds after they commit, and
/// while that channel is down the cache serves nothing (SetTrusted).
class ProductCache {
 public:
  /// `counters` must outlive the cache.
  explicit ProductCache(sql::ChangeCounters& counters) : counters_(counters) {}

  /// A load in progress; pass it back to Keep.
  struct Ticket {
    std::int64_t id;
    std::uint64_t version;
  };

  std::optional<Product> Find(std::int64_t id);
  /// Call before reading the product from the database.
  Ticket BeginLoad(std::int64_t id);
  /// Keeps what was read unless the product was written since BeginLoad.
  void Keep(const Ticket& ticket, const Product& product);
  /// Call after a write to `id` has committed.
  void Invalidate(std::int64_t id);
  /// false: serve and keep nothing (changes elsewhere may go unseen); true: cache again. Either way
  /// every entry and every load in progress is forgotten.
  void SetTrusted(bool trusted);

 private:
  static constexpr std::size_t kShards = 64;
  static constexpr std::size_t kMaxPerShard = 4096;
  struct Entry {
    Product product;
    std::uint64_t version;  // the change counter it was read under
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::int64_t, Entry> products;
  };
  Shard& ShardOf(std::int64_t id) { return shards_[static_cast<std::uint64_t>(id) % kShards]; }
  /// The product's version now: its change counter plus the epoch. Both only grow, so an equal sum
  /// means neither moved.
  std::uint64_t VersionOf(std::int64_t id) const {
    return counters_.Get(static_cast<std::uint64_t>(id)) + epoch_.load(std::memory_order_acquire);
  }

  sql::ChangeCounters& counters_;
  std::atomic<std::uint64_t> epoch_{0};  // moves on every SetTrusted
  std::atomic<bool> trusted_{true};
  std::array<Shard, kShards> shards_;
};

}  // namespace shop::products
