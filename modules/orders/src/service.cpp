#include <algorithm>
#include <array>
#include <exception>
#include <limits>
#include <span>
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

/// What a saga step's action reports.
enum class StepOutcome {
  kDone,     ///< it happened: go on to the next step
  kRefused,  ///< it did not happen (a business refusal, nothing held): undo the earlier steps
  kUnknown,  ///< it may have happened (an outage, a lost reply): undo it too, with the earlier steps
};

/// One placement as it goes through the saga's steps.
struct Placement {
  std::size_t call;  ///< its index in PlaceOrders' calls
  const Principal& caller;
  const NewOrder& order;
  std::optional<KeyRef> key;
  SagaRef saga;
  StepOutcome outcome = StepOutcome::kDone;  ///< the outcome of the last step it ran
  std::vector<OrderLine> reserved;           ///< reserve_stock's result
  std::optional<Order> recorded;             ///< record_order's result
  std::optional<Error> failure;              ///< what the client is told when a step did not complete
  std::string detail_if_undone;              ///< the failure's detail instead, once the compensations confirmed
};

class OrdersService;

/// One step of a saga, declared once (kPlaceOrderSteps): what it does, and what undoes it. The
/// saga pattern: Garcia-Molina and Salem, "Sagas" (SIGMOD 1987); Richardson, Microservices Patterns,
/// ch. 4 (a compensatable step before the pivot, the pivot last).
struct SagaStep {
  /// Stored in the saga log; a step that may be in a log is never renamed.
  std::string_view name;
  /// Runs the step for every placement given, together where it can (one commit for all), and sets
  /// each one's `outcome`; a failure's detail goes to its `failure`.
  void (OrdersService::*run)(std::span<Placement* const>);
  /// Undoes the step from the log alone (it may run after a restart), idempotently; true once the
  /// undo is confirmed, false to be retried. Null for the pivot: the last step, a local transaction
  /// that commits with the log, has nothing to undo. A step with a compensation is logged before it
  /// runs, so a crash in the middle is undone.
  bool (OrdersService::*compensate)(const SagaRef&);
};

class OrdersService final : public Service {
 public:
  /// The steps of placing an order, declared once below the class.
  static const std::array<SagaStep, 2> kPlaceOrderSteps;
  static constexpr std::string_view kPlaceOrder = "place_order";

  OrdersService(sql::Database& db, products::Api& products) : store_(db), products_(products) {}

  /// Start-up: requests that were running died with the previous process, so their keys are
  /// dropped and every saga they left running is compensated.
  void Recover() {
    store_.ForgetUnfinishedKeys();
    CompensateSagas(kEverything);
  }

  std::expected<Order, Error> PlaceOrder(const Principal& caller, const NewOrder& order) override {
    const PlaceOrderCall call{caller, order};
    PlaceOrderOutcome outcome = std::move(PlaceOrders(std::span(&call, 1)).front());
    if (outcome.failure) std::rethrow_exception(outcome.failure);
    return std::move(outcome.result);
  }

  /// Group commit: every step runs for all the calls at once, with one commit per database per step
  /// (orders: begin, record; products: reserve) instead of one per call per step.
  std::vector<PlaceOrderOutcome> PlaceOrders(std::span<const PlaceOrderCall> calls) override {
    std::vector<PlaceOrderOutcome> outcomes(calls.size());
    std::vector<Placement> placements = BeginPlacements(calls, outcomes);
    std::vector<Placement*> running;
    running.reserve(placements.size());
    for (Placement& p : placements) running.push_back(&p);
    try {
      RunSaga(running, outcomes);
    } catch (...) {
      for (Placement& p : placements) {
        if (p.key) ForgetKey(*p.key);
      }
      throw;
    }
    return outcomes;
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

  /// Records the cancellation and its order_cancelled event together; products gives the stock back
  /// when it consumes the event (at once while it is up, or as soon as it is back). No call to
  /// products here: a cancel never waits for, or fails with, another service.
  std::expected<Order, Error> CancelOrder(const Principal& caller, std::int64_t id) override {
    std::optional<StoredOrder> stored = store_.FindOrder(id);
    if (!stored || !caller.MayAccess(stored->order.user_id)) return std::unexpected(NotFound());
    if (stored->order.status == Status::kCancelled) return std::move(stored->order);

    std::optional<Store::CancelResult> cancelled = store_.CancelOrder(id, UnixNow());
    if (!cancelled) return std::unexpected(NotFound());
    return std::move(cancelled->stored.order);
  }

  int CompensatePendingSagas() override { return CompensateSagas(UnixNow() - kAbandonReservingAfterSeconds); }

 private:
  /// Validates each call, claims its key and logs its saga as running, all in one commit; returns
  /// the placements that may go ahead. The others' outcomes (invalid, replayed, key in use) are set.
  std::vector<Placement> BeginPlacements(std::span<const PlaceOrderCall> calls,
                                         std::vector<PlaceOrderOutcome>& outcomes) {
    std::vector<Placement> placements;
    placements.reserve(calls.size());
    std::optional<sql::GroupTransaction> group;  // opened by the first valid call
    for (std::size_t i = 0; i < calls.size(); ++i) {
      const NewOrder& order = calls[i].order;
      std::expected<Order, Error>& result = outcomes[i].result;
      if (auto invalid = Validate(order)) {
        result = std::unexpected(std::move(*invalid));
        continue;
      }
      if (!group) group.emplace(store_.ThisConnection());
      try {
        BeginPlacement(calls[i], i, result, placements);
      } catch (const std::exception&) {
        // Its own unit was rolled back; the others stand, unless the whole transaction is gone (then
        // the commit below throws, and no call took effect).
        outcomes[i].failure = std::current_exception();
      }
    }
    if (group) group->Commit();
    return placements;
  }

  /// Claims the call's key and logs its saga as running, or sets its outcome when it may not go ahead.
  void BeginPlacement(const PlaceOrderCall& call, std::size_t i, std::expected<Order, Error>& result,
                      std::vector<Placement>& placements) {
    const NewOrder& order = call.order;
    std::optional<KeyRef> key;
    if (order.idempotency_key) key = KeyRef{call.caller.user_id, *order.idempotency_key, Fingerprint(order.items)};
    std::string saga_id = TimeOrderedId();
    KeyClaim claim = store_.BeginPlacement(key, saga_id, kPlaceOrder, kPlaceOrderSteps[0].name, UnixNow());
    switch (claim.kind) {
      case KeyClaim::Kind::kClaimed:
        placements.push_back(Placement{
            i, call.caller, order, std::move(key), SagaRef{std::move(saga_id), claim.order_id}, {}, {}, {}, {}, {}});
        break;
      case KeyClaim::Kind::kReplayOrder: {
        std::optional<StoredOrder> stored = store_.FindOrder(claim.order_id);
        if (!stored) throw std::runtime_error("idempotency key names a missing order");
        result = std::move(stored->order);
        break;
      }
      case KeyClaim::Kind::kReplayError:
        result = std::unexpected(Error(RefusalFromName(claim.error_code), std::move(claim.error_detail)));
        break;
      case KeyClaim::Kind::kReused:
        result = std::unexpected(
            Error(Errc::kIdempotencyKeyReused, "Idempotency-Key was already used with a different request"));
        break;
      case KeyClaim::Kind::kInProgress:
        result = std::unexpected(
            Error(Errc::kRequestInProgress, "the first request with this Idempotency-Key is still being handled"));
        break;
    }
  }

  /// Runs the steps in order, each for every placement still going. When one does not complete for
  /// a placement, its steps that may have had an effect are compensated at once, synchronously: the
  /// client is still waiting for its answer, and the stock of an order that was never placed should
  /// not stay held for the length of an event round trip. (Cancelling a placed order is different:
  /// that travels as an event.)
  void RunSaga(std::vector<Placement*>& running, std::vector<PlaceOrderOutcome>& outcomes) {
    std::vector<Placement*> refused;
    for (std::size_t i = 0; i < kPlaceOrderSteps.size() && !running.empty(); ++i) {
      const SagaStep& step = kPlaceOrderSteps[i];
      std::vector<Placement*> going;
      going.reserve(running.size());
      for (Placement* p : running) {
        if (i > 0 && step.compensate && !store_.AdvanceSaga(p->saga.saga_id, step.name, UnixNow())) {
          p->failure =
              Error(Errc::kDependencyUnavailable, "placing the order took too long; its stock will be given back");
          outcomes[p->call].result = Compensate(*p, i - 1, "abandoned while running");
          continue;
        }
        going.push_back(p);
      }
      if (!going.empty()) (this->*step.run)(going);
      running.clear();
      for (Placement* p : going) {
        if (p->outcome == StepOutcome::kDone) {
          running.push_back(p);
        } else if (p->outcome == StepOutcome::kRefused && i == 0) {
          refused.push_back(p);  // nothing is held: the saga ends here and the key replays the refusal
        } else {
          const std::size_t last_effect = p->outcome == StepOutcome::kUnknown ? i : i - 1;
          outcomes[p->call].result = Compensate(*p, last_effect, step.name);
        }
      }
    }
    for (Placement* p : running) outcomes[p->call].result = std::move(*p->recorded);
    RecordRefusals(refused, outcomes);
  }

  /// Ends the sagas of placements refused at their first step, in one commit.
  void RecordRefusals(std::span<Placement* const> refused, std::vector<PlaceOrderOutcome>& outcomes) {
    if (refused.empty()) return;
    try {
      auto group = store_.Group();
      for (Placement* p : refused) {
        store_.RecordRefusal(p->saga.saga_id, p->key, RefusalName(p->failure->code), p->failure->detail, UnixNow());
      }
      group.Commit();
      for (Placement* p : refused) outcomes[p->call].result = std::unexpected(std::move(*p->failure));
    } catch (...) {
      for (Placement* p : refused) {
        if (p->key) ForgetKey(*p->key);
        outcomes[p->call].failure = std::current_exception();
      }
    }
  }

  /// Undoes steps `last` down to the first, logging the saga as compensating first so that an undo
  /// that is not confirmed now is retried (CompensateSagas); frees the key so the client may retry.
  std::unexpected<Error> Compensate(Placement& p, std::size_t last, std::string_view reason) {
    try {
      store_.StartCompensating(p.saga.saga_id, kPlaceOrderSteps[last].name, reason, UnixNow());
    } catch (const std::exception& e) {
      // The saga stays 'running' and is compensated once it counts as abandoned.
      log::Write(log::Level::kError, "saga not updated", {{"saga_id", p.saga.saga_id}, {"error", e.what()}});
    }
    const bool undone = RunCompensations(p.saga, last);
    if (undone && !p.detail_if_undone.empty()) p.failure->detail = std::move(p.detail_if_undone);
    if (p.key) ForgetKey(*p.key);
    return std::unexpected(std::move(*p.failure));
  }

  /// Runs the compensations of steps `last` down to 0 and records the attempt; true when all confirmed.
  bool RunCompensations(const SagaRef& saga, std::size_t last) {
    bool compensated = true;
    for (std::size_t j = last + 1; j-- > 0;) {
      const SagaStep& step = kPlaceOrderSteps[j];
      if (step.compensate && !(this->*step.compensate)(saga)) compensated = false;
    }
    try {
      store_.RecordCompensation(saga.saga_id, compensated, UnixNow());
    } catch (const std::exception& e) {
      // Still 'compensating': the next retry runs the compensations again, which are idempotent.
      log::Write(log::Level::kError, "saga not updated", {{"saga_id", saga.saga_id}, {"error", e.what()}});
    }
    return compensated;
  }

  // --- the steps of kPlaceOrderSteps and their compensations ---

  /// Reserves every placement's lines in one call to products (ReserveMany: one commit there).
  void ReserveStock(std::span<Placement* const> placements) {
    std::vector<products::ReserveRequest> requests;
    requests.reserve(placements.size());
    for (const Placement* p : placements) {
      products::ReserveRequest& request = requests.emplace_back();
      request.order_ref = p->saga.saga_id;
      request.order_id = p->saga.order_id;
      request.lines.reserve(p->order.items.size());
      for (const NewOrderLine& line : p->order.items) request.lines.push_back({line.product_id, line.quantity});
    }
    std::vector<std::expected<std::vector<products::ReservedLine>, products::Error>> results;
    try {
      results = products_.ReserveMany(requests);
    } catch (const std::exception& e) {
      log::Write(log::Level::kWarn, "reserve failed", {{"error", e.what()}});
      results.clear();
    }
    if (results.size() != placements.size()) {
      results.assign(placements.size(), std::unexpected(products::Error(products::Errc::kUnavailable,
                                                                        "products did not answer every reservation")));
    }
    for (std::size_t i = 0; i < placements.size(); ++i) placements[i]->outcome = Reserved(*placements[i], results[i]);
  }

  /// reserve_stock's outcome for one placement, from what products answered.
  StepOutcome Reserved(Placement& p,
                       const std::expected<std::vector<products::ReservedLine>, products::Error>& reserved) {
    if (!reserved) {
      const products::Error& error = reserved.error();
      switch (error.code) {
        case products::Errc::kUnknownProduct:
          p.failure = Error(Errc::kUnknownProduct,
                            error.detail.empty() ? "an item names a product that does not exist" : error.detail);
          return StepOutcome::kRefused;
        case products::Errc::kInsufficientStock:
          p.failure = Error(Errc::kInsufficientStock,
                            error.detail.empty() ? "not enough stock for every item; nothing was taken" : error.detail);
          return StepOutcome::kRefused;
        case products::Errc::kValidationFailed:
          p.failure = Error(Errc::kValidationFailed, error.detail);
          return StepOutcome::kRefused;
        default:
          // The reservation may or may not have happened: give it back either way.
          log::Write(log::Level::kWarn, "reserve failed", {{"saga_id", p.saga.saga_id}, {"error", error.detail}});
          p.failure = Error(Errc::kDependencyUnavailable,
                            "could not reserve stock: products is unavailable; no order was placed");
          return StepOutcome::kUnknown;
      }
    }
    if (!ReservedAsAsked(*reserved, p.order.items)) {
      log::Write(log::Level::kError, "reservation does not match the order", {{"saga_id", p.saga.saga_id}});
      p.failure = Error(Errc::kDependencyUnavailable,
                        "products answered the reservation wrongly; its stock will be given back");
      p.detail_if_undone = "products answered the reservation wrongly; no stock was taken";
      return StepOutcome::kUnknown;
    }
    p.reserved.reserve(reserved->size());
    for (const products::ReservedLine& line : *reserved) {
      p.reserved.push_back({line.product_id, line.quantity, line.unit_price_cents});
    }
    return StepOutcome::kDone;
  }

  /// Asks products once to give back what the saga's reservation holds; true when it confirmed.
  bool ReleaseStock(const SagaRef& saga) {
    try {
      auto result = products_.Release(saga.saga_id);
      if (result) return true;
      log::Write(log::Level::kWarn, "release failed; will retry",
                 {{"saga_id", saga.saga_id}, {"error", result.error().detail}});
    } catch (const std::exception& e) {
      log::Write(log::Level::kWarn, "release failed; will retry", {{"saga_id", saga.saga_id}, {"error", e.what()}});
    }
    return false;
  }

  /// The pivot: each order, its order_placed event and the end of its saga commit together; all
  /// the placements' in one commit. When that commit fails, none was recorded.
  void RecordOrders(std::span<Placement* const> placements) {
    try {
      auto group = store_.Group();
      for (Placement* p : placements) p->outcome = RecordOrder(*p);
      group.Commit();
    } catch (const std::exception& e) {
      log::Write(log::Level::kError, "orders not recorded", {{"error", e.what()}});
      for (Placement* p : placements) {
        if (p->outcome != StepOutcome::kDone) continue;
        p->recorded.reset();
        NotRecorded(*p);
        p->outcome = StepOutcome::kRefused;  // rolled back: nothing of this step to undo
      }
    }
  }

  StepOutcome RecordOrder(Placement& p) {
    try {
      p.recorded =
          store_.RecordOrder(p.saga, kPlaceOrderSteps.back().name, p.caller.user_id, p.reserved, p.key, UnixNow());
    } catch (const std::exception& e) {
      log::Write(log::Level::kError, "order not recorded", {{"saga_id", p.saga.saga_id}, {"error", e.what()}});
      NotRecorded(p);
      return StepOutcome::kRefused;  // the transaction rolled back: nothing of this step to undo
    }
    if (!p.recorded) {
      // CompensateSagas gave the saga up as abandoned while products was answering.
      p.failure = Error(Errc::kDependencyUnavailable, "placing the order took too long; its stock will be given back");
      p.detail_if_undone = "placing the order took too long; no stock was taken";
      return StepOutcome::kRefused;
    }
    return StepOutcome::kDone;
  }

  static void NotRecorded(Placement& p) {
    p.failure = Error(Errc::kDependencyUnavailable, "the order could not be recorded; its stock will be given back");
    p.detail_if_undone = "the order could not be recorded; no stock was taken";
  }

  /// Best effort: a key left 'in_progress' only blocks its client until the next start.
  void ForgetKey(const KeyRef& key) {
    try {
      store_.ForgetKey(key);
    } catch (const std::exception& e) {
      log::Write(log::Level::kError, "idempotency key not freed", {{"error", e.what()}});
    }
  }

  /// Compensates every saga that is compensating, after turning those still running since before
  /// `running_before` into compensating; returns how many are left.
  int CompensateSagas(std::int64_t running_before) {
    for (const SagaToCompensate& saga : store_.TakeSagasToCompensate(running_before, UnixNow())) {
      auto step = std::ranges::find(kPlaceOrderSteps, saga.step, &SagaStep::name);
      if (step == kPlaceOrderSteps.end()) {
        log::Write(log::Level::kError, "saga log names an unknown step",
                   {{"saga_id", saga.ref.saga_id}, {"step", saga.step}});
        continue;
      }
      RunCompensations(saga.ref, static_cast<std::size_t>(step - kPlaceOrderSteps.begin()));
    }
    return store_.CountCompensating();
  }

  Store store_;
  products::Api& products_;
};

/// Placing an order: take the stock, then record the order (the pivot). A payment would be one
/// more line between them, with its refund as compensation; nothing else changes.
const std::array<SagaStep, 2> OrdersService::kPlaceOrderSteps{{
    {"reserve_stock", &OrdersService::ReserveStock, &OrdersService::ReleaseStock},
    {"record_order", &OrdersService::RecordOrders, nullptr},
}};

}  // namespace

std::unique_ptr<Service> MakeService(sql::Database& db, products::Api& products) {
  auto service = std::make_unique<OrdersService>(db, products);
  service->Recover();
  return service;
}

}  // namespace shop::orders
