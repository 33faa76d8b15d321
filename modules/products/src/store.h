#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "shop/events/events.h"
#include "shop/products/api.h"
#include "shop/sql/database.h"

namespace shop::products {

/// The products module's SQL, and nothing else: every statement runs on the calling thread's
/// connection and is prepared once per connection. Rules live in the service.
class Store {
 public:
  enum class ReservationState { kReserved, kReleased };

  /// What a reservation needs to know about one product.
  struct StockLevel {
    std::int64_t stock = 0;
    std::int64_t price_cents = 0;
  };

  explicit Store(sql::Database& db) : db_(db) {}

  /// A write transaction (BEGIN IMMEDIATE) on this thread's connection; rolled back unless committed.
  sql::Transaction BeginWrite();

  std::optional<Product> FindProduct(std::int64_t id);
  /// At most `limit` products with ids above `after`, by id ascending.
  std::vector<Product> ListProducts(std::int64_t after, int limit);
  /// The new product's id, or nullopt when the sku is taken.
  std::optional<std::int64_t> InsertProduct(const NewProduct& product, std::string_view created_at);
  /// The changed product, or nullopt when there is no product `id`.
  std::optional<Product> UpdateProduct(std::int64_t id, const ProductPatch& patch);

  std::optional<StockLevel> FindStock(std::int64_t product_id);
  /// Takes `quantity` units if that many are in stock: the stock left, or nullopt (and nothing taken).
  std::optional<std::int64_t> TakeStock(std::int64_t product_id, std::int64_t quantity);
  /// Puts `quantity` units back; the stock after.
  std::int64_t ReturnStock(std::int64_t product_id, std::int64_t quantity);

  struct Reservation {
    std::string order_ref;
    ReservationState state = ReservationState::kReserved;
    std::optional<std::int64_t> order_id;
  };
  std::optional<Reservation> FindReservation(std::string_view order_ref);
  std::optional<Reservation> FindReservationOfOrder(std::int64_t order_id);
  /// The lines held under `order_ref`, in the order they were reserved.
  std::vector<ReservedLine> ReservationLines(std::string_view order_ref);
  void InsertReservation(std::string_view order_ref, std::optional<std::int64_t> order_id, ReservationState state,
                         std::string_view now);
  void InsertReservationLine(std::string_view order_ref, std::int64_t line_no, const ReservedLine& line);
  void SetReservationState(std::string_view order_ref, ReservationState state, std::string_view now);

  /// Writes `event` to the outbox, inside the write transaction that makes its change.
  void AddEvent(const events::Event& event);

 private:
  sql::Database& db_;
};

}  // namespace shop::products
