#include <algorithm>
#include <array>
#include <exception>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "shop/core/random.h"
#include "shop/core/time.h"
#include "shop/orders/orders.h"
#include "shop/platform/log.h"
#include "store.h"

namespace shop::orders {
namespace {

constexpr std::size_t kMaxLines = 100;
constexpr std::int64_t kMaxQuantity = 1000;
constexpr std::size_t kMaxKeyLength = 255;
/// A saga still 'reserving' after this long is taken to have lost its request (the process crashed
/// in between, or products never answered) and its reservation is given back.
constexpr std::int64_t kAbandonReservingAfterSeconds = 60;
constexpr std::int64_t kEverything = std::numeric_limits<std::int64_t>::max();

std::string LineField(std::size_t index, std::string_view field) {
  return "items[" + std::to_string(index) + "]." + std::string(field);
}

std::optional<Error> Validate(const NewOrder& order) {
  if (order.items.empty() || order.items.size() > kMaxLines) {
    return Error(Errc::kValidationFailed, "items: must have 1..100 lines");
  }
  std::unordered_map<std::int64_t, std::size_t> first_line;
  for (std::size_t i = 0; i < order.items.size(); ++i) {
    const NewOrderLine& line = order.items[i];
    if (line.product_id <= 0) {
      return Error(Errc::kValidationFailed, LineField(i, "product_id") + ": must be a positive id");
    }
    if (line.quantity < 1 || line.quantity > kMaxQuantity) {
      return Error(Errc::kValidationFailed, LineField(i, "quantity") + ": must be 1..1000");
    }
    auto [it, inserted] = first_line.emplace(line.product_id, i);
    if (!inserted) {
      return Error(Errc::kValidationFailed, LineField(i, "product_id") + ": product " +
                                                std::to_string(line.product_id) + " is already on line " +
                                                std::to_string(it->second) + "; a product may appear at most once");
    }
  }
  if (const auto& key = order.idempotency_key) {
    bool printable = std::ranges::all_of(*key, [](char c) { return c >= 0x20 && c <= 0x7e; });
    if (key->empty() || key->size() > kMaxKeyLength || !printable) {
      return Error(Errc::kValidationFailed, "Idempotency-Key: must be 1..255 printable ASCII characters");
    }
  }
  return std::nullopt;
}

/// The request as the idempotency key remembers it: the lines in order, e.g. "12x1,7x3".
std::string Fingerprint(const std::vector<NewOrderLine>& lines) {
  std::string text;
  for (const NewOrderLine& line : lines) {
    if (!text.empty()) text += ',';
    text += std::to_string(line.product_id);
    text += 'x';
    text += std::to_string(line.quantity);
  }
  return text;
}

/// The refusals an idempotency key records and replays, by their stored name.
constexpr std::array<std::pair<Errc, std::string_view>, 3> kRecordedRefusals{{
    {Errc::kValidationFailed, "validation_failed"},
    {Errc::kUnknownProduct, "unknown_product"},
    {Errc::kInsufficientStock, "insufficient_stock"},
}};

std::string_view RefusalName(Errc code) {
  for (const auto& [c, name] : kRecordedRefusals) {
    if (c == code) return name;
  }
  throw std::logic_error("not a recorded refusal");
}

Errc RefusalFromName(std::string_view name) {
  for (const auto& [code, n] : kRecordedRefusals) {
    if (n == name) return code;
  }
  throw std::runtime_error("idempotency key holds an unknown error code: " + std::string(name));
}

/// True when products reserved exactly the lines asked for.
bool ReservedAsAsked(const std::vector<products::ReservedLine>& reserved, const std::vector<NewOrderLine>& asked) {
  if (reserved.size() != asked.size()) return false;
  for (std::size_t i = 0; i < asked.size(); ++i) {
    if (reserved[i].product_id != asked[i].product_id || reserved[i].quantity != asked[i].quantity ||
        reserved[i].unit_price_cents < 0) {
      return false;
    }
  }
  return true;
}

Error NotFound() { return Error(Errc::kNotFound, "no such order"); }

class OrdersService final : public Service {
 public:
  OrdersService(sqlite::Database& db, products::Api& products) : store_(db), products_(products) {}

  /// Start-up: requests that were running died with the previous process, so their keys are
  /// dropped and every reservation they may have made is given back.
  void Recover() {
    store_.ForgetUnfinishedKeys();
    RetryReleases(kEverything);
  }

  std::expected<Order, Error> PlaceOrder(const Principal& caller, const NewOrder& order) override {
    if (auto invalid = Validate(order)) return std::unexpected(std::move(*invalid));
    std::optional<KeyRef> key;
    if (order.idempotency_key) key = KeyRef{caller.user_id, *order.idempotency_key, Fingerprint(order.items)};

    const std::string order_ref = RandomHex(16);
    KeyClaim claim = store_.BeginPlacement(key, order_ref, UnixNow());
    switch (claim.kind) {
      case KeyClaim::Kind::kClaimed:
        break;
      case KeyClaim::Kind::kReplayOrder: {
        std::optional<StoredOrder> stored = store_.FindOrder(claim.order_id);
        if (!stored) throw std::runtime_error("idempotency key names a missing order");
        return std::move(stored->order);
      }
      case KeyClaim::Kind::kReplayError:
        return Fail(RefusalFromName(claim.error_code), std::move(claim.error_detail));
      case KeyClaim::Kind::kReused:
        return Fail(Errc::kIdempotencyKeyReused, "Idempotency-Key was already used with a different request");
      case KeyClaim::Kind::kInProgress:
        return Fail(Errc::kRequestInProgress, "the first request with this Idempotency-Key is still being handled");
    }

    try {
      return RunSaga(caller, order, key, order_ref);
    } catch (...) {
      if (key) ForgetKey(*key);
      throw;
    }
  }

  std::expected<Page<Order>, Error> ListOrders(const Principal& caller, const PageRequest& page) override {
    if (page.limit < 1 || page.limit > PageRequest::kMaxLimit) {
      return Fail(Errc::kValidationFailed, "limit: must be 1..100");
    }
    Page<Order> result;
    result.items = store_.ListOrders(caller.user_id, page.after.value_or(kEverything), page.limit + 1);
    if (result.items.size() > static_cast<std::size_t>(page.limit)) {
      result.items.pop_back();
      result.next_after = result.items.back().id;
    }
    return result;
  }

  std::expected<Order, Error> GetOrder(const Principal& caller, std::int64_t id) override {
    std::optional<StoredOrder> stored = store_.FindOrder(id);
    if (!stored || !caller.MayAccess(stored->order.user_id)) return std::unexpected(NotFound());
    return std::move(stored->order);
  }

  std::expected<Order, Error> CancelOrder(const Principal& caller, std::int64_t id) override {
    std::optional<StoredOrder> stored = store_.FindOrder(id);
    if (!stored || !caller.MayAccess(stored->order.user_id)) return std::unexpected(NotFound());
    if (stored->order.status == Status::kCancelled) return std::move(stored->order);

    std::optional<Store::CancelResult> cancelled = store_.CancelOrder(id, UnixNow());
    if (!cancelled) return std::unexpected(NotFound());
    // Only the cancel that changed the status releases; if products is down the release stays
    // pending in the saga log and RetryPendingReleases gives the stock back later.
    if (cancelled->changed) ReleaseStock(cancelled->stored.order_ref);
    return std::move(cancelled->stored.order);
  }

  int RetryPendingReleases() override { return RetryReleases(UnixNow() - kAbandonReservingAfterSeconds); }

 private:
  std::expected<Order, Error> RunSaga(const Principal& caller, const NewOrder& order, const std::optional<KeyRef>& key,
                                      const std::string& order_ref) {
    std::vector<products::ReserveLine> lines;
    lines.reserve(order.items.size());
    for (const NewOrderLine& line : order.items) lines.push_back({line.product_id, line.quantity});

    std::expected<std::vector<products::ReservedLine>, products::Error> reserved =
        std::unexpected(products::Error(products::Errc::kUnavailable));
    try {
      reserved = products_.Reserve(order_ref, lines);
    } catch (const std::exception& e) {
      reserved = std::unexpected(products::Error(products::Errc::kUnavailable, e.what()));
    }

    if (!reserved) {
      const products::Error& error = reserved.error();
      switch (error.code) {
        case products::Errc::kUnknownProduct:
          return Refuse(order_ref, key, Errc::kUnknownProduct,
                        error.detail.empty() ? "an item names a product that does not exist" : error.detail);
        case products::Errc::kInsufficientStock:
          return Refuse(order_ref, key, Errc::kInsufficientStock,
                        error.detail.empty() ? "not enough stock for every item; nothing was taken" : error.detail);
        case products::Errc::kValidationFailed:
          return Refuse(order_ref, key, Errc::kValidationFailed, error.detail);
        default:
          // The reservation may or may not have happened: give it back either way.
          log::Write(log::Level::kWarn, "reserve failed", {{"order_ref", order_ref}, {"error", error.detail}});
          return GiveBack(order_ref, key, "reserve outcome unknown",
                          "could not reserve stock: products is unavailable; no order was placed",
                          "could not reserve stock: products is unavailable; no order was placed");
      }
    }
    if (!ReservedAsAsked(*reserved, order.items)) {
      log::Write(log::Level::kError, "reservation does not match the order", {{"order_ref", order_ref}});
      return GiveBack(order_ref, key, "reservation does not match the order",
                      "products answered the reservation wrongly; no stock was taken",
                      "products answered the reservation wrongly; its stock will be given back");
    }

    std::vector<OrderLine> items;
    items.reserve(reserved->size());
    for (const products::ReservedLine& line : *reserved) {
      items.push_back({line.product_id, line.quantity, line.unit_price_cents});
    }
    std::optional<Order> recorded;
    try {
      recorded = store_.RecordOrder(caller.user_id, order_ref, items, key, UnixNow());
    } catch (const std::exception& e) {
      log::Write(log::Level::kError, "order not recorded", {{"order_ref", order_ref}, {"error", e.what()}});
      return GiveBack(order_ref, key, "order not recorded", "the order could not be recorded; no stock was taken",
                      "the order could not be recorded; its stock will be given back");
    }
    if (!recorded) {
      // RetryPendingReleases gave the reservation up as abandoned while products was answering.
      return GiveBack(order_ref, key, "abandoned while reserving",
                      "placing the order took too long; no stock was taken",
                      "placing the order took too long; its stock will be given back");
    }
    return std::move(*recorded);
  }

  /// Products refused the reservation, so nothing is held: close the saga and let the key replay the refusal.
  std::expected<Order, Error> Refuse(const std::string& order_ref, const std::optional<KeyRef>& key, Errc code,
                                     std::string detail) {
    store_.RecordRefusal(order_ref, key, RefusalName(code), detail, UnixNow());
    return Fail(code, std::move(detail));
  }

  /// Compensates a reservation that may be held: logs the release as owed, tries it once now (it is
  /// retried later if products does not confirm it), and frees the key so the client may try again.
  std::expected<Order, Error> GiveBack(const std::string& order_ref, const std::optional<KeyRef>& key,
                                       std::string_view reason, std::string_view detail_if_released,
                                       std::string_view detail_if_pending) {
    try {
      store_.MarkReleasePending(order_ref, reason, UnixNow());
    } catch (const std::exception& e) {
      // The saga stays 'reserving' and is given back once it counts as abandoned.
      log::Write(log::Level::kError, "saga not updated", {{"order_ref", order_ref}, {"error", e.what()}});
    }
    const bool released = ReleaseStock(order_ref);
    if (key) ForgetKey(*key);
    return Fail(Errc::kDependencyUnavailable, std::string(released ? detail_if_released : detail_if_pending));
  }

  /// Asks products once to give back what `order_ref` holds and records the attempt; true when it did.
  bool ReleaseStock(const std::string& order_ref) {
    bool released = false;
    try {
      auto result = products_.Release(order_ref);
      released = result.has_value();
      if (!result) {
        log::Write(log::Level::kWarn, "release failed; will retry",
                   {{"order_ref", order_ref}, {"error", result.error().detail}});
      }
    } catch (const std::exception& e) {
      log::Write(log::Level::kWarn, "release failed; will retry", {{"order_ref", order_ref}, {"error", e.what()}});
    }
    try {
      store_.RecordReleaseAttempt(order_ref, released, UnixNow());
    } catch (const std::exception& e) {
      // Still 'release_pending': the next retry releases again, which products treats as a no-op.
      log::Write(log::Level::kError, "saga not updated", {{"order_ref", order_ref}, {"error", e.what()}});
    }
    return released;
  }

  /// Best effort: a key left 'in_progress' only blocks its client until the next start.
  void ForgetKey(const KeyRef& key) {
    try {
      store_.ForgetKey(key);
    } catch (const std::exception& e) {
      log::Write(log::Level::kError, "idempotency key not freed", {{"error", e.what()}});
    }
  }

  int RetryReleases(std::int64_t reserving_before) {
    for (const std::string& order_ref : store_.TakePendingReleases(reserving_before, UnixNow())) {
      ReleaseStock(order_ref);
    }
    return store_.CountPendingReleases();
  }

  Store store_;
  products::Api& products_;
};

}  // namespace

std::unique_ptr<Service> MakeService(sqlite::Database& db, products::Api& products) {
  auto service = std::make_unique<OrdersService>(db, products);
  service->Recover();
  return service;
}

}  // namespace shop::orders
