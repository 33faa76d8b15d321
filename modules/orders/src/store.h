#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shop/orders/api.h"
#include "shop/sqlite/database.h"

namespace shop::orders {

/// An order with the reservation reference it holds in products.
struct StoredOrder {
  Order order;
  std::string order_ref;
};

/// What BeginPlacement found under the request's idempotency key.
struct KeyClaim {
  enum class Kind {
    kClaimed,      ///< the request may go ahead (no key, or the key is now 'in_progress' for it)
    kReplayOrder,  ///< done before with the same lines: `order_id` is the order it made
    kReplayError,  ///< done before with the same lines: `error_code`/`error_detail` is what it got
    kReused,       ///< the key was used with different lines
    kInProgress,   ///< the first request with this key (and these lines) is still running
  };
  Kind kind = Kind::kClaimed;
  std::int64_t order_id = 0;
  std::string error_code;
  std::string error_detail;
};

/// The caller's idempotency key and the fingerprint of the request it was sent with.
struct KeyRef {
  std::int64_t user_id = 0;
  std::string key;
  std::string fingerprint;
};

/// Everything SQL of the orders module. Every method is one transaction on the calling thread's
/// connection; failures of the database itself throw sqlite::Error.
class Store {
 public:
  explicit Store(sqlite::Database& db) : db_(db) {}

  /// Claims `key` (when given) and logs the saga of `order_ref` as 'reserving', together. The saga
  /// is logged only when the result is kClaimed.
  KeyClaim BeginPlacement(const std::optional<KeyRef>& key, std::string_view order_ref, std::int64_t now);

  /// Records the confirmed order, closes its saga and settles `key` on it, all at once. nullopt
  /// (and nothing written) when the saga is no longer 'reserving' because its reservation was
  /// given up as abandoned meanwhile.
  std::optional<Order> RecordOrder(std::int64_t user_id, std::string_view order_ref,
                                   const std::vector<OrderLine>& lines, const std::optional<KeyRef>& key,
                                   std::int64_t now);

  /// Closes a saga whose reservation was refused (nothing held) and settles `key` on the error.
  void RecordRefusal(std::string_view order_ref, const std::optional<KeyRef>& key, std::string_view error_code,
                     std::string_view error_detail, std::int64_t now);

  /// Marks a 'reserving' saga as owing a release.
  void MarkReleasePending(std::string_view order_ref, std::string_view reason, std::int64_t now);
  /// Counts one release attempt; when `released`, the saga is done.
  void RecordReleaseAttempt(std::string_view order_ref, bool released, std::int64_t now);
  /// Forgets `key` if it is still 'in_progress', so that the client may try again.
  void ForgetKey(const KeyRef& key);

  /// The order with its lines, whoever owns it.
  std::optional<StoredOrder> FindOrder(std::int64_t id);
  /// `user_id`'s orders with ids below `before_id`, newest first, at most `limit`, with their lines.
  std::vector<Order> ListOrders(std::int64_t user_id, std::int64_t before_id, int limit);

  struct CancelResult {
    StoredOrder stored;
    bool changed = false;  ///< false when the order was already cancelled
  };
  /// Cancels a confirmed order and logs its release as pending, together. nullopt when there is no such order.
  std::optional<CancelResult> CancelOrder(std::int64_t id, std::int64_t now);

  /// Turns sagas still 'reserving' that were last touched before `reserving_before` into 'release_pending'
  /// and returns the references of every saga owing a release.
  std::vector<std::string> TakePendingReleases(std::int64_t reserving_before, std::int64_t now);
  /// How many sagas owe a release.
  int CountPendingReleases();
  /// Drops every 'in_progress' key: at start-up their requests died with the previous process.
  void ForgetUnfinishedKeys();

 private:
  sqlite::Database& db_;
};

}  // namespace shop::orders
