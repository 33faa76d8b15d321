#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shop/orders/api.h"
#include "shop/sql/database.h"

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
  std::int64_t order_id = 0;  ///< kReplayOrder: the order made; kClaimed: the id allocated to the new saga
  std::string error_code;
  std::string error_detail;
};

/// The caller's idempotency key and the fingerprint of the request it was sent with.
struct KeyRef {
  std::int64_t user_id = 0;
  std::string key;
  std::string fingerprint;
};

/// A saga run as its log keeps it: all a compensation may rely on after a restart.
struct SagaRef {
  std::string saga_id;            ///< the order reference
  std::optional<std::int64_t> order_id;  ///< null only for runs logged before order ids were allocated up front
};

/// A saga run whose steps must be undone, from `step` (the last one that may have had an effect) back.
struct SagaToCompensate {
  SagaRef ref;
  std::string step;
};

/// Everything SQL of the orders module. Every method is one transaction on the calling thread's
/// connection; failures of the database itself throw sql::Error.
class Store {
 public:
  explicit Store(sql::Database& db) : db_(db) {}

  /// Opens a group commit on the calling thread's connection: the methods called until the
  /// group's Commit() are each a savepoint of one transaction (sql::GroupTransaction).
  sql::GroupTransaction Group() { return sql::GroupTransaction(db_.ThisThread()); }
  /// The calling thread's connection, for a group opened later (std::optional::emplace).
  sql::Connection& ThisConnection() { return db_.ThisThread(); }

  /// Claims `key` (when given) and, when the claim succeeds, starts saga `saga` in the log as
  /// 'running' at `first_step`, allocating its order id (returned in the claim), all together.
  KeyClaim BeginPlacement(const std::optional<KeyRef>& key, std::string_view saga_id, std::string_view saga,
                          std::string_view first_step, std::int64_t now);
  /// Logs that a running saga is about to run `step` (write-ahead). False when it is no longer
  /// running (given up as abandoned meanwhile).
  bool AdvanceSaga(std::string_view saga_id, std::string_view step, std::int64_t now);

  /// The saga's last step: records the confirmed order under its allocated id, writes its
  /// order_placed event, closes the saga at `step` and settles `key` on the order, all at once.
  /// nullopt (and nothing written) when the saga is no longer running because it was given up as
  /// abandoned meanwhile.
  std::optional<Order> RecordOrder(const SagaRef& saga, std::string_view step, std::int64_t user_id,
                                   const std::vector<OrderLine>& lines, const std::optional<KeyRef>& key,
                                   std::int64_t now);

  /// Closes a saga whose step was refused with nothing to undo, and settles `key` on the error.
  void RecordRefusal(std::string_view saga_id, const std::optional<KeyRef>& key, std::string_view error_code,
                     std::string_view error_detail, std::int64_t now);

  /// Marks a running saga as compensating, at `step` (the last step that may have had an effect).
  void StartCompensating(std::string_view saga_id, std::string_view step, std::string_view reason, std::int64_t now);
  /// Counts one compensation attempt; when `compensated`, the saga is done.
  void RecordCompensation(std::string_view saga_id, bool compensated, std::int64_t now);
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
  /// Cancels a confirmed order and writes its order_cancelled event, together (the stock comes back
  /// when products consumes it). nullopt when there is no such order.
  std::optional<CancelResult> CancelOrder(std::int64_t id, std::int64_t now);

  /// Turns sagas still running that were last touched before `running_before` into compensating
  /// (their request was lost) and returns every saga that is compensating.
  std::vector<SagaToCompensate> TakeSagasToCompensate(std::int64_t running_before, std::int64_t now);
  /// How many sagas are compensating.
  int CountCompensating();
  /// Drops every 'in_progress' key: at start-up their requests died with the previous process.
  void ForgetUnfinishedKeys();

 private:
  sql::Database& db_;
};

}  // namespace shop::orders
