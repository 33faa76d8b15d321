#include <algorithm>
#include <string>

#include "shop/core/time.h"
#include "shop/core/text.h"
#include "shop/orders/events.h"
#include "shop/platform/log.h"
#include "shop/products/events.h"
#include "shop/products/products.h"
#include "product_cache.h"
#include "store.h"

namespace shop::products {
namespace {

constexpr std::size_t kMaxSkuLength = 64;
constexpr std::size_t kMaxNameLength = 200;  // code points, after trimming
constexpr std::size_t kMaxOrderRefLength = 255;
constexpr std::int64_t kMaxPriceCents = 100'000'000;
constexpr std::int64_t kMaxStock = 1'000'000'000;

Error Invalid(std::string_view field, std::string_view problem) {
  std::string detail(field);
  detail += ": ";
  detail += problem;
  return Error(Errc::kValidationFailed, std::move(detail));
}

std::optional<Error> CheckSku(std::string_view sku) {
  auto allowed = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  if (sku.empty() || sku.size() > kMaxSkuLength || !std::ranges::all_of(sku, allowed)) {
    return Invalid("sku", "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'");
  }
  return std::nullopt;
}

/// The name as stored: trimmed of whitespace, 1..200 code points, none of them a control character.
std::expected<std::string, Error> NormaliseName(std::string_view name) {
  auto trimmed = text::DecodeTrimmed(name);
  if (!trimmed) return std::unexpected(Invalid("name", "must be valid UTF-8"));
  if (std::ranges::any_of(trimmed->code_points, [](const text::CodePoint& c) { return text::IsControl(c.value); })) {
    return std::unexpected(Invalid("name", "must not contain control characters"));
  }
  if (trimmed->code_points.empty() || trimmed->code_points.size() > kMaxNameLength) {
    return std::unexpected(Invalid("name", "must be 1 to 200 characters after trimming"));
  }
  return std::move(trimmed->bytes);
}

std::optional<Error> CheckPrice(std::int64_t price_cents) {
  if (price_cents < 0 || price_cents > kMaxPriceCents) return Invalid("price_cents", "must be from 0 to 100000000");
  return std::nullopt;
}

std::optional<Error> CheckStock(std::int64_t stock) {
  if (stock < 0 || stock > kMaxStock) return Invalid("stock", "must be from 0 to 1000000000");
  return std::nullopt;
}

std::optional<Error> CheckOrderRef(std::string_view order_ref) {
  if (order_ref.empty() || order_ref.size() > kMaxOrderRefLength) {
    return Invalid("order_ref", "must be 1 to 255 bytes");
  }
  return std::nullopt;
}

/// At least one line, every quantity positive, no product twice.
std::optional<Error> CheckLines(const std::vector<ReserveLine>& lines) {
  if (lines.empty()) return Invalid("lines", "at least one line is required");
  std::vector<std::int64_t> ids;
  ids.reserve(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].quantity <= 0) return Invalid("lines[" + std::to_string(i) + "].quantity", "must be positive");
    ids.push_back(lines[i].product_id);
  }
  std::ranges::sort(ids);
  if (auto dup = std::ranges::adjacent_find(ids); dup != ids.end()) {
    return Invalid("lines", "product " + std::to_string(*dup) + " appears more than once");
  }
  return std::nullopt;
}

std::string Now() { return FormatRfc3339(UnixNow()); }

/// The durable name of the consumer that gives a cancelled order's stock back.
constexpr std::string_view kStockReleaseConsumer = "products-stock-release";

class ServiceImpl final : public Service {
 public:
  using Api::Reserve;
  explicit ServiceImpl(sql::Database& db)
      : db_(db),
        store_(db),
        counters_(sql::ChangeCounters::Open(db.dialect() == sql::Dialect::kPostgres || db.path().empty() ||
                                                    db.path().starts_with(":memory:") ||
                                                    db.path().starts_with("file::memory:")
                                                ? std::string()
                                                : db.path() + "-changes")),
        cache_(*counters_) {
    if (db.dialect() == sql::Dialect::kPostgres) {
      // Other instances' writes reach this cache as notifications; until the first session listens,
      // and whenever it is lost, the cache serves nothing.
      cache_.SetTrusted(false);
      listening_ = db.Listen(
          std::string(Store::kChangesChannel),
          [this](std::string_view payload) {
            for (std::int64_t id : Store::ReadAnnouncement(payload)) counters_->Bump(static_cast<std::uint64_t>(id));
          },
          [this](bool listening) { cache_.SetTrusted(listening); });
    }
  }

  std::expected<Product, Error> GetProduct(std::int64_t id) override {
    if (auto cached = cache_.Find(id)) return std::move(*cached);
    const ProductCache::Ticket ticket = cache_.BeginLoad(id);
    auto product = store_.FindProduct(id);
    if (!product) return NoSuchProduct(id);
    cache_.Keep(ticket, *product);
    return std::move(*product);
  }

  std::expected<Page<Product>, Error> ListProducts(const PageRequest& page) override {
    if (page.limit < 1 || page.limit > PageRequest::kMaxLimit) {
      return std::unexpected(Invalid("limit", "must be from 1 to 100"));
    }
    if (page.after && *page.after < 0) return std::unexpected(Invalid("after", "must be a non-negative id"));
    Page<Product> result;
    // One more than asked for tells whether another page follows.
    result.items = store_.ListProducts(page.after.value_or(0), page.limit + 1);
    if (result.items.size() > static_cast<std::size_t>(page.limit)) {
      result.items.pop_back();
      result.next_after = result.items.back().id;
    }
    return result;
  }

  std::expected<Product, Error> CreateProduct(const Principal& caller, const NewProduct& product) override {
    if (!caller.IsAdmin()) return Fail(Errc::kForbidden, "only an admin may add products");
    if (auto invalid = CheckSku(product.sku)) return std::unexpected(std::move(*invalid));
    auto name = NormaliseName(product.name);
    if (!name) return std::unexpected(std::move(name.error()));
    if (auto invalid = CheckPrice(product.price_cents)) return std::unexpected(std::move(*invalid));
    if (auto invalid = CheckStock(product.stock)) return std::unexpected(std::move(*invalid));

    NewProduct clean{product.sku, std::move(*name), product.price_cents, product.stock};
    std::string created_at = Now();
    sql::Transaction tx = store_.BeginWrite();
    auto id = store_.InsertProduct(clean, created_at);
    if (!id) return Fail(Errc::kSkuTaken, "sku: another product has sku " + clean.sku);
    Product created{.id = *id,
                    .sku = std::move(clean.sku),
                    .name = std::move(clean.name),
                    .price_cents = clean.price_cents,
                    .stock = clean.stock,
                    .created_at = std::move(created_at)};
    store_.AddEvent(ProductCreatedEvent(created));
    tx.Commit();
    return created;
  }

  std::expected<Product, Error> UpdateProduct(const Principal& caller, std::int64_t id,
                                              const ProductPatch& patch) override {
    if (!caller.IsAdmin()) return Fail(Errc::kForbidden, "only an admin may change products");
    if (!patch.name && !patch.price_cents && !patch.stock) {
      return std::unexpected(Invalid("patch", "at least one of name, price_cents and stock is required"));
    }
    ProductPatch clean;
    if (patch.name) {
      auto name = NormaliseName(*patch.name);
      if (!name) return std::unexpected(std::move(name.error()));
      clean.name = std::move(*name);
    }
    if (patch.price_cents) {
      if (auto invalid = CheckPrice(*patch.price_cents)) return std::unexpected(std::move(*invalid));
      clean.price_cents = patch.price_cents;
    }
    if (patch.stock) {
      if (auto invalid = CheckStock(*patch.stock)) return std::unexpected(std::move(*invalid));
      clean.stock = patch.stock;
    }
    sql::Transaction tx = store_.BeginWrite();
    const std::optional<Store::StockLevel> before = store_.FindStock(id);
    auto product = store_.UpdateProduct(id, clean);
    if (!product) return NoSuchProduct(id);
    store_.AddEvent(ProductUpdatedEvent(*product));
    if (before && before->stock != product->stock) {
      store_.AddEvent(StockChangedEvent(id, product->stock, std::nullopt));
    }
    store_.AnnounceChanged(std::span(&id, 1));
    tx.Commit();
    cache_.Invalidate(id);
    return std::move(*product);
  }

  std::expected<std::vector<ReservedLine>, Error> Reserve(std::string_view order_ref,
                                                          std::optional<std::int64_t> order_id,
                                                          const std::vector<ReserveLine>& lines) override {
    return Retrying([&] { return ReserveOnce(order_ref, order_id, lines); });
  }

  /// Reserve's transaction. Throws a retryable sql::Error when a concurrent transaction committed a
  /// reservation for `order_ref` after this one looked (PostgreSQL; SQLite serialises writers).
  std::expected<std::vector<ReservedLine>, Error> ReserveOnce(std::string_view order_ref,
                                                              std::optional<std::int64_t> order_id,
                                                              const std::vector<ReserveLine>& lines) {
    if (auto invalid = CheckOrderRef(order_ref)) return std::unexpected(std::move(*invalid));
    sql::Transaction tx = store_.BeginWrite();
    if (auto existing = store_.FindReservation(order_ref)) {
      if (existing->state == Store::ReservationState::kReleased) {
        return Fail(Errc::kReservationReleased, "order reference " + std::string(order_ref) + " was released");
      }
      return store_.ReservationLines(order_ref);  // a repeat: what the first call took, and nothing more
    }
    if (auto invalid = CheckLines(lines)) return std::unexpected(std::move(*invalid));
    if (order_id && store_.FindReservationOfOrder(*order_id)) {
      return std::unexpected(Invalid("order_id", "another reservation is for order " + std::to_string(*order_id)));
    }

    // Every product must exist before any stock is looked at, so an unknown product always wins.
    std::vector<Store::StockLevel> levels;
    levels.reserve(lines.size());
    for (const ReserveLine& line : lines) {
      auto level = store_.FindStock(line.product_id);
      if (!level) return Fail(Errc::kUnknownProduct, "product " + std::to_string(line.product_id) + " does not exist");
      levels.push_back(*level);
    }
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (levels[i].stock < lines[i].quantity) return NotEnoughStock(lines[i], levels[i].stock);
    }

    // Rows are taken in product id order, whatever the order of the lines: two reservations then
    // never wait for each other's rows in a cycle (PostgreSQL locks each row it changes until commit).
    std::vector<std::size_t> by_product(lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) by_product[i] = i;
    std::ranges::stable_sort(by_product, {}, [&](std::size_t i) { return lines[i].product_id; });
    std::vector<std::int64_t> changed;
    changed.reserve(lines.size());
    for (std::size_t i : by_product) {
      // The check above read without locking the row: TakeStock checks again under its lock
      // (UPDATE .. WHERE stock >= n), and on failure the rollback keeps it all or nothing.
      const std::optional<std::int64_t> left = store_.TakeStock(lines[i].product_id, lines[i].quantity, levels[i]);
      if (!left) return NotEnoughStock(lines[i], store_.FindStock(lines[i].product_id).value_or(levels[i]).stock);
      store_.AddEvent(StockChangedEvent(lines[i].product_id, *left, order_id));
      changed.push_back(lines[i].product_id);
    }
    std::vector<ReservedLine> reserved;
    reserved.reserve(lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      reserved.push_back(ReservedLine{lines[i].product_id, lines[i].quantity, levels[i].price_cents});
    }
    store_.AnnounceChanged(changed);
    const std::string now = Now();
    if (!store_.InsertReservation(order_ref, order_id, Store::ReservationState::kReserved, now)) {
      throw ConcurrentReservation(order_ref);  // rolls back the stock taken; the next attempt sees it
    }
    for (std::size_t i = 0; i < reserved.size(); ++i) {
      store_.InsertReservationLine(order_ref, static_cast<std::int64_t>(i) + 1, reserved[i]);
    }
    tx.Commit();
    for (const ReservedLine& line : reserved) cache_.Invalidate(line.product_id);
    return reserved;
  }

  /// All the reservations in one transaction of this thread's connection (a savepoint each): one
  /// commit for the batch; one that met a conflict (sql::Error::retryable()) is made again on its
  /// own after that commit, as Reserve would (up to 3 attempts). The cache forgets the products after
  /// that commit, as Reserve does after its own: before it, another thread could cache the stock the
  /// batch is about to change.
  std::vector<std::expected<std::vector<ReservedLine>, Error>> ReserveMany(
      std::span<const ReserveRequest> requests) override {
    std::vector<std::expected<std::vector<ReservedLine>, Error>> results;
    results.reserve(requests.size());
    std::vector<std::size_t> again;  // met a conflict another attempt may not meet: each alone, after the batch
    try {
      sql::GroupTransaction group(db_.ThisThread());
      // The batch's rows first, all in id order: its reservations, one after the other, would take
      // them in the order of the requests, and another instance's batch in another order; on
      // PostgreSQL two such batches can each hold a row the other waits for (a deadlock, found after
      // deadlock_timeout and broken by failing one of them).
      std::vector<std::int64_t> ids;
      for (const ReserveRequest& request : requests) {
        for (const ReserveLine& line : request.lines) ids.push_back(line.product_id);
      }
      store_.LockStock(ids);
      for (std::size_t i = 0; i < requests.size(); ++i) {
        const ReserveRequest& request = requests[i];
        try {
          // One attempt here: trying again inside the batch, which keeps its other rows locked,
          // would meet the same conflict.
          results.push_back(ReserveOnce(request.order_ref, request.order_id, request.lines));
        } catch (const sql::Error& e) {
          if (e.retryable()) again.push_back(i);
          results.push_back(std::unexpected(Error(Errc::kUnavailable, e.what())));
        }
      }
      group.Commit();
    } catch (const sql::Error& e) {
      // Nothing of the batch took effect (PostgreSQL: any error that aborted the group, the
      // connection lost among them): each reservation gets its own transaction.
      results.clear();
      again.clear();
      for (const ReserveRequest& request : requests) {
        results.push_back(ReserveAlone(request));
      }
    }
    for (std::size_t i : again) results[i] = ReserveAlone(requests[i]);
    for (const ReserveRequest& request : requests) {
      for (const ReserveLine& line : request.lines) cache_.Invalidate(line.product_id);
    }
    return results;
  }

  /// Runs `attempt` (one transaction) again, up to 3 times in all, when the database aborted it to
  /// break a deadlock or a serialization conflict, or it met a concurrent commit it could not see
  /// (sql::Error::retryable()); rethrows anything else, and the last retryable failure.
  template <class F>
  static auto Retrying(F attempt) -> decltype(attempt()) {
    for (int tries = 1;; ++tries) {
      try {
        return attempt();
      } catch (const sql::Error& e) {
        if (!e.retryable() || tries == 3) throw;
      }
    }
  }

  static sql::Error ConcurrentReservation(std::string_view order_ref) {
    return sql::Error(0, "a reservation for " + std::string(order_ref) + " was committed concurrently", "40001");
  }

  /// Reserve alone, a failure of the database reported as kUnavailable.
  std::expected<std::vector<ReservedLine>, Error> ReserveAlone(const ReserveRequest& request) {
    try {
      return Reserve(request.order_ref, request.order_id, request.lines);
    } catch (const sql::Error& e) {
      return std::unexpected(Error(Errc::kUnavailable, e.what()));
    }
  }

  std::expected<void, Error> Release(std::string_view order_ref) override {
    return Retrying([&] { return ReleaseOnce(order_ref); });
  }

  std::expected<void, Error> ReleaseOnce(std::string_view order_ref) {
    if (auto invalid = CheckOrderRef(order_ref)) return std::unexpected(std::move(*invalid));
    sql::Transaction tx = store_.BeginWrite();
    auto reservation = store_.FindReservation(order_ref);
    std::vector<std::int64_t> changed;
    if (!reservation) {
      // A tombstone: a Reserve that arrives after this (a late or retried call) takes nothing.
      if (!store_.InsertReservation(order_ref, std::nullopt, Store::ReservationState::kReleased, Now())) {
        throw ConcurrentReservation(order_ref);
      }
    } else {
      changed = GiveBack(*reservation);
    }
    store_.AnnounceChanged(changed);
    tx.Commit();
    for (std::int64_t id : changed) cache_.Invalidate(id);
    return {};
  }

  std::vector<events::Subscription> Consumers() override {
    return {events::Subscription{
        .consumer = std::string(kStockReleaseConsumer),
        .type = std::string(orders::kOrderCancelled),
        .handle = [this](const events::Event& event) { ApplyOrderCancelled(event); },
        .set_aside =
            [this](const events::Event& event, std::string_view error, int attempts) {
              events::SetAside(db_, kStockReleaseConsumer, event, error, attempts);
            },
    }};
  }

 private:
  /// Inside a write transaction: returns what `reservation` holds, once (a released one gives
  /// nothing), announcing each line's new stock. The ids of the products changed.
  std::vector<std::int64_t> GiveBack(const Store::Reservation& reservation) {
    if (reservation.state == Store::ReservationState::kReleased) return {};
    // Released first, and only by the transaction that finds it reserved under the row's lock: the
    // state was read without a lock (PostgreSQL, READ COMMITTED), and two releases must not both
    // give the stock back.
    if (!store_.MarkReleased(reservation.order_ref, Now())) return {};
    std::vector<ReservedLine> lines = store_.ReservationLines(reservation.order_ref);
    std::ranges::stable_sort(lines, {}, &ReservedLine::product_id);  // rows locked in id order, as Reserve does
    std::vector<std::int64_t> changed;
    for (const ReservedLine& line : lines) {
      const std::int64_t stock = store_.ReturnStock(line.product_id, line.quantity);
      store_.AddEvent(StockChangedEvent(line.product_id, stock, reservation.order_id));
      changed.push_back(line.product_id);
    }
    return changed;
  }

  /// The consumer of order_cancelled: gives the order's stock back, once whatever the number of
  /// deliveries (the inbox row and the stock commit together). Throws when it cannot now (the event
  /// comes again) or cannot ever (unreadable data: set aside after the attempts).
  void ApplyOrderCancelled(const events::Event& event) {
    const std::optional<orders::OrderCancelled> cancelled = orders::ReadOrderCancelled(event);
    if (!cancelled) throw std::invalid_argument("order_cancelled data lacks order_id, user_id or items");
    sql::Transaction tx = store_.BeginWrite();
    if (!events::ClaimInInbox(db_.ThisThread(), kStockReleaseConsumer, event.id)) return;  // applied before
    std::vector<std::int64_t> changed;
    if (auto reservation = store_.FindReservationOfOrder(cancelled->order_id)) {
      changed = GiveBack(*reservation);
    } else {
      // Reservations made before they recorded their order id cannot be matched; nothing is taken twice.
      log::Write(log::Level::kWarn, "cancelled order has no reservation here",
                 {{"order_id", static_cast<long long>(cancelled->order_id)}, {"event_id", event.id}});
    }
    store_.AnnounceChanged(changed);
    tx.Commit();
    for (std::int64_t id : changed) cache_.Invalidate(id);
  }

  static std::unexpected<Error> NoSuchProduct(std::int64_t id) {
    return Fail(Errc::kNotFound, "product " + std::to_string(id) + " does not exist");
  }

  static std::unexpected<Error> NotEnoughStock(const ReserveLine& line, std::int64_t available) {
    return Fail(Errc::kInsufficientStock, "product " + std::to_string(line.product_id) + " has " +
                                              std::to_string(available) + " in stock, " +
                                              std::to_string(line.quantity) + " requested");
  }

  sql::Database& db_;
  Store store_;
  std::unique_ptr<sql::ChangeCounters> counters_;  // shared with other instances on the same file
  ProductCache cache_;
  std::unique_ptr<sql::Listening> listening_;  // PostgreSQL: other instances' changes; stopped first
};

}  // namespace

std::unique_ptr<Service> MakeService(sql::Database& db) { return std::make_unique<ServiceImpl>(db); }

}  // namespace shop::products
