#include "fake_products.h"

namespace shop::testing {

using products::Errc;

std::int64_t FakeProducts::Add(std::int64_t price_cents, std::int64_t stock) {
  std::lock_guard lock(mu_);
  const std::int64_t id = next_id_++;
  products_[id] = products::Product{id,    "sku-" + std::to_string(id), "product " + std::to_string(id), price_cents,
                                    stock, "2026-01-01T00:00:00Z"};
  return id;
}

void FakeProducts::SetPrice(std::int64_t id, std::int64_t price_cents) {
  std::lock_guard lock(mu_);
  products_.at(id).price_cents = price_cents;
}

void FakeProducts::SetStock(std::int64_t id, std::int64_t stock) {
  std::lock_guard lock(mu_);
  products_.at(id).stock = stock;
}

std::int64_t FakeProducts::Stock(std::int64_t id) const {
  std::lock_guard lock(mu_);
  return products_.at(id).stock;
}

std::int64_t FakeProducts::Held(std::int64_t id) const {
  std::lock_guard lock(mu_);
  std::int64_t held = 0;
  for (const auto& [ref, lines] : reservations_) {
    if (released_.contains(ref)) continue;
    for (const auto& line : lines) {
      if (line.product_id == id) held += line.quantity;
    }
  }
  return held;
}

std::expected<products::Product, products::Error> FakeProducts::GetProduct(std::int64_t id) {
  std::lock_guard lock(mu_);
  auto it = products_.find(id);
  if (it == products_.end()) return Fail(Errc::kNotFound);
  return it->second;
}

std::expected<Page<products::Product>, products::Error> FakeProducts::ListProducts(const PageRequest&) {
  return Fail(Errc::kUnavailable, "not implemented by the fake");
}

std::expected<products::Product, products::Error> FakeProducts::CreateProduct(const Principal&,
                                                                              const products::NewProduct&) {
  return Fail(Errc::kUnavailable, "not implemented by the fake");
}

std::expected<products::Product, products::Error> FakeProducts::UpdateProduct(const Principal&, std::int64_t,
                                                                              const products::ProductPatch&) {
  return Fail(Errc::kUnavailable, "not implemented by the fake");
}

std::map<std::string, std::optional<std::int64_t>, std::less<>> FakeProducts::OrderIds() const {
  std::lock_guard lock(mu_);
  return order_ids_;
}

std::expected<std::vector<products::ReservedLine>, products::Error> FakeProducts::Reserve(
    std::string_view order_ref, std::optional<std::int64_t> order_id, const std::vector<products::ReserveLine>& lines) {
  ++reserve_calls;
  if (reserve_unavailable) return Fail(Errc::kUnavailable, "products is down (fake)");
  std::vector<products::ReservedLine> reserved;
  {
    std::lock_guard lock(mu_);
    if (released_.contains(order_ref)) return Fail(Errc::kReservationReleased, "already released");
    if (auto it = reservations_.find(order_ref); it != reservations_.end()) return it->second;
    if (lines.empty()) return Fail(Errc::kValidationFailed, "lines: must not be empty");
    for (const auto& line : lines) {
      if (line.quantity <= 0) return Fail(Errc::kValidationFailed, "lines[].quantity: must be positive");
      auto it = products_.find(line.product_id);
      if (it == products_.end()) {
        return Fail(Errc::kUnknownProduct, "product " + std::to_string(line.product_id) + " does not exist");
      }
      if (it->second.stock < line.quantity) {
        return Fail(Errc::kInsufficientStock, "product " + std::to_string(line.product_id) + " has too little stock");
      }
    }
    for (const auto& line : lines) {
      products::Product& p = products_.at(line.product_id);
      p.stock -= line.quantity;
      reserved.push_back({line.product_id, line.quantity, p.price_cents});
    }
    reservations_.emplace(std::string(order_ref), reserved);
    order_ids_.emplace(std::string(order_ref), order_id);
  }
  if (after_reserve) after_reserve(order_ref);
  if (reserve_lost_reply) return Fail(Errc::kUnavailable, "reply lost (fake)");
  return reserved;
}

std::expected<void, products::Error> FakeProducts::Release(std::string_view order_ref) {
  ++release_calls;
  if (release_unavailable) return Fail(Errc::kUnavailable, "products is down (fake)");
  std::lock_guard lock(mu_);
  if (!released_.emplace(order_ref).second) return {};
  if (auto it = reservations_.find(order_ref); it != reservations_.end()) {
    for (const auto& line : it->second) products_.at(line.product_id).stock += line.quantity;
    ++effective_releases;
  }
  return {};
}

}  // namespace shop::testing
