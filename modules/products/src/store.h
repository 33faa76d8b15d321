#pragma once

#include <cstdint>
#include <optional>
#include <span>
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
  /// Inside a write transaction: locks the rows of products `ids` (any order, repeats allowed) until
  /// it ends, one after the other in ascending id order (PostgreSQL `SELECT .. ORDER BY id FOR
  /// UPDATE`: its LockRows step takes them in the sorted order). Transactions that take their product
  /// rows in id order never wait for each other in a cycle. SQLite: nothing (a write transaction
  /// holds the database's one write lock from BEGIN IMMEDIATE). Unknown ids are skipped.
  void LockStock(std::span<const std::int64_t> ids);
  /// Takes `quantity` units if that many are in stock: the stock left, or nullopt (and nothing taken).
  /// `seen`: the level FindStock gave earlier in the same write transaction. On SQLite, whose write
  /// transactions hold the database's one write lock from BEGIN IMMEDIATE, nobody can have changed it
  /// since, so the stock left is computed, not read again; on PostgreSQL it is read under the row lock.
  std::optional<std::int64_t> TakeStock(std::int64_t product_id, std::int64_t quantity, const StockLevel& seen);
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
  /// False, writing nothing, when a reservation for `order_ref` (or for `order_id`) exists already:
  /// one committed meanwhile by a concurrent transaction, which a read before could not see.
  [[nodiscard]] bool InsertReservation(std::string_view order_ref, std::optional<std::int64_t> order_id, ReservationState state,
                         std::string_view now);
  void InsertReservationLine(std::string_view order_ref, std::int64_t line_no, const ReservedLine& line);
  /// Moves a reserved reservation to released: false when it was not reserved (already released, by
  /// this call's transaction or, having waited for its lock, by a concurrent one).
  bool MarkReleased(std::string_view order_ref, std::string_view now);

  /// Writes `event` to the outbox, inside the write transaction that makes its change.
  void AddEvent(const events::Event& event);

  /// The channel on which product changes are announced to other instances' caches.
  static constexpr std::string_view kChangesChannel = "shop_products_changed";
  /// Inside the write transaction that changes products `ids`: announces them on kChangesChannel
  /// when it commits (PostgreSQL NOTIFY, payload the ids in decimal, comma-separated; SQLite: nothing,
  /// instances on one file share change counters instead).
  void AnnounceChanged(std::span<const std::int64_t> ids);
  /// The ids of an announcement's payload (unreadable parts are skipped).
  static std::vector<std::int64_t> ReadAnnouncement(std::string_view payload);

 private:
  sql::Database& db_;
};

}  // namespace shop::products
