#include "product_cache.h"

namespace shop::products {

std::optional<Product> ProductCache::Find(std::int64_t id) {
  if (!trusted_.load(std::memory_order_acquire)) return std::nullopt;
  const std::uint64_t now = VersionOf(id);
  Shard& shard = ShardOf(id);
  std::lock_guard lock(shard.mu);
  auto it = shard.products.find(id);
  if (it == shard.products.end()) return std::nullopt;
  if (it->second.version != now) {  // written since, here or by another instance
    shard.products.erase(it);
    return std::nullopt;
  }
  return it->second.product;
}

ProductCache::Ticket ProductCache::BeginLoad(std::int64_t id) {
  return Ticket{id, VersionOf(id)};
}

void ProductCache::Keep(const Ticket& ticket, const Product& product) {
  // Written meanwhile: what was read may be old. (A write that bumps right after this check makes
  // the entry's version stale, so Find drops it.)
  if (!trusted_.load(std::memory_order_acquire) || VersionOf(ticket.id) != ticket.version) return;
  Shard& shard = ShardOf(ticket.id);
  std::lock_guard lock(shard.mu);
  if (shard.products.size() >= kMaxPerShard) shard.products.clear();
  shard.products.insert_or_assign(ticket.id, Entry{product, ticket.version});
}

void ProductCache::Invalidate(std::int64_t id) {
  counters_.Bump(static_cast<std::uint64_t>(id));
  Shard& shard = ShardOf(id);
  std::lock_guard lock(shard.mu);
  shard.products.erase(id);
}

void ProductCache::SetTrusted(bool trusted) {
  trusted_.store(trusted, std::memory_order_release);
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    shard.products.clear();
  }
}

}  // namespace shop::products
