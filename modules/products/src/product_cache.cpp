#include "product_cache.h"

namespace shop::products {

std::optional<Product> ProductCache::Find(std::int64_t id) {
  Shard& shard = ShardOf(id);
  std::lock_guard lock(shard.mu);
  auto it = shard.products.find(id);
  if (it == shard.products.end()) return std::nullopt;
  return it->second;
}

ProductCache::Ticket ProductCache::BeginLoad(std::int64_t id) {
  Shard& shard = ShardOf(id);
  std::lock_guard lock(shard.mu);
  return Ticket{id, shard.version};
}

void ProductCache::Keep(const Ticket& ticket, const Product& product) {
  Shard& shard = ShardOf(ticket.id);
  std::lock_guard lock(shard.mu);
  if (shard.version != ticket.version) return;  // written meanwhile: what we read may be old
  if (shard.products.size() >= kMaxPerShard) shard.products.clear();
  shard.products.insert_or_assign(ticket.id, product);
}

void ProductCache::Invalidate(std::int64_t id) {
  Shard& shard = ShardOf(id);
  std::lock_guard lock(shard.mu);
  ++shard.version;
  shard.products.erase(id);
}

}  // namespace shop::products
