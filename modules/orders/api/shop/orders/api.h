#pragma once

#include <cstdint>
#include <exception>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "shop/core/error.h"
#include "shop/core/page.h"
#include "shop/core/principal.h"

namespace shop::orders {

enum class Errc {
  kValidationFailed,       ///< input breaks a rule of the API (detail says which)
  kNotFound,               ///< no such order, or not visible to this caller
  kUnknownProduct,         ///< a line names a product that does not exist
  kInsufficientStock,      ///< some line cannot be filled; no stock was taken
  kIdempotencyKeyReused,   ///< the key was used before with a different body
  kRequestInProgress,      ///< the first request with this key is still being handled
  kDependencyUnavailable,  ///< a module this one needs is down or timed out
};
using Error = Failure<Errc>;

enum class Status { kConfirmed, kCancelled };

struct OrderLine {
  std::int64_t product_id = 0;
  std::int64_t quantity = 0;
  std::int64_t unit_price_cents = 0;  ///< the product's price when the order was placed
};

struct Order {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  Status status = Status::kConfirmed;
  std::vector<OrderLine> items;
  std::int64_t total_cents = 0;
  std::string created_at;  ///< RFC 3339 UTC
};

struct NewOrderLine {
  std::int64_t product_id = 0;
  std::int64_t quantity = 0;
};

struct NewOrder {
  std::vector<NewOrderLine> items;
  /// Optional Idempotency-Key: the same key from the same user replays the first outcome.
  std::optional<std::string> idempotency_key;
};

/// One placement of a PlaceOrders call: PlaceOrder's arguments.
struct PlaceOrderCall {
  Principal caller;
  NewOrder order;
};

/// What PlaceOrder would have given one call of PlaceOrders: its result, or (set instead) the
/// exception it would have thrown, a failure of the module itself.
struct PlaceOrderOutcome {
  std::expected<Order, Error> result = std::unexpected(Error(Errc::kDependencyUnavailable));
  std::exception_ptr failure;
};

/// The orders module: placing, listing and cancelling orders.
class Api {
 public:
  virtual ~Api() = default;

  /// Places an order for `caller` as a saga: reserve all lines in products, record the order,
  /// and give the stock back if the order cannot be recorded.
  virtual std::expected<Order, Error> PlaceOrder(const Principal& caller, const NewOrder& order) = 0;

  /// PlaceOrder for each call, as if the calls ran one after another in this order, with the same
  /// outcomes; one per call, in order. An implementation may run them together (group commit: each
  /// saga step for all of them, one commit per database per step), so that none is durable before
  /// the step's commit. Throws only when none of them took effect. This default places them one by
  /// one.
  virtual std::vector<PlaceOrderOutcome> PlaceOrders(std::span<const PlaceOrderCall> calls) {
    std::vector<PlaceOrderOutcome> outcomes(calls.size());
    for (std::size_t i = 0; i < calls.size(); ++i) {
      try {
        outcomes[i].result = PlaceOrder(calls[i].caller, calls[i].order);
      } catch (...) {
        outcomes[i].failure = std::current_exception();
      }
    }
    return outcomes;
  }

  /// The caller's own orders, newest first, with ids below `page.after`.
  virtual std::expected<Page<Order>, Error> ListOrders(const Principal& caller, const PageRequest& page) = 0;

  /// The order, if the caller owns it or is an admin; kNotFound otherwise.
  virtual std::expected<Order, Error> GetOrder(const Principal& caller, std::int64_t id) = 0;

  /// Cancels the order and gives its stock back, once. Cancelling a cancelled order returns it unchanged.
  virtual std::expected<Order, Error> CancelOrder(const Principal& caller, std::int64_t id) = 0;
};

constexpr std::string_view StatusName(Status s) { return s == Status::kConfirmed ? "confirmed" : "cancelled"; }

}  // namespace shop::orders
