#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "shop/products/api.h"

namespace shop::testing {

/// An in-memory products::Api with the real reservation semantics (all or nothing, idempotent by
/// order_ref, releases leave a tombstone), thread-safe, with switches to make it unreachable and
/// counters of the calls it got. Only what orders uses is implemented for real.
class FakeProducts final : public products::Api {
 public:
  /// Adds a product and returns its id.
  std::int64_t Add(std::int64_t price_cents, std::int64_t stock);
  void SetPrice(std::int64_t id, std::int64_t price_cents);
  void SetStock(std::int64_t id, std::int64_t stock);
  std::int64_t Stock(std::int64_t id) const;
  /// Units currently held by reservations that were not released.
  std::int64_t Held(std::int64_t id) const;

  /// While set, Reserve answers kUnavailable without touching anything.
  std::atomic<bool> reserve_unavailable{false};
  /// While set, Reserve takes the stock but then answers kUnavailable (a reply lost on the way back).
  std::atomic<bool> reserve_lost_reply{false};
  /// While set, Release answers kUnavailable without touching anything.
  std::atomic<bool> release_unavailable{false};
  /// Called (without the lock) after a Reserve took its stock and before it answers.
  std::function<void(std::string_view order_ref)> after_reserve;

  std::atomic<int> reserve_calls{0};
  std::atomic<int> release_calls{0};
  /// Releases that actually gave stock back.
  std::atomic<int> effective_releases{0};

  std::expected<products::Product, products::Error> GetProduct(std::int64_t id) override;
  std::expected<Page<products::Product>, products::Error> ListProducts(const PageRequest& page) override;
  std::expected<products::Product, products::Error> CreateProduct(const Principal& caller,
                                                                  const products::NewProduct& product) override;
  std::expected<products::Product, products::Error> UpdateProduct(const Principal& caller, std::int64_t id,
                                                                  const products::ProductPatch& patch) override;
  using products::Api::Reserve;
  std::expected<std::vector<products::ReservedLine>, products::Error> Reserve(
      std::string_view order_ref, std::optional<std::int64_t> order_id,
      const std::vector<products::ReserveLine>& lines) override;
  /// The order id each reference was reserved for.
  std::map<std::string, std::optional<std::int64_t>, std::less<>> OrderIds() const;
  std::expected<void, products::Error> Release(std::string_view order_ref) override;

 private:
  mutable std::mutex mu_;
  std::int64_t next_id_ = 1;
  std::map<std::int64_t, products::Product> products_;
  std::map<std::string, std::vector<products::ReservedLine>, std::less<>> reservations_;
  std::set<std::string, std::less<>> released_;
  std::map<std::string, std::optional<std::int64_t>, std::less<>> order_ids_;
};

}  // namespace shop::testing
