// The in-process service beyond the contract: concurrent writers and durability.

#include <doctest/doctest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <exception>
#include <latch>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "products_testing.h"

namespace {

using shop::products::Api;
using shop::products::Errc;
using shop::products::NewProduct;
using shop::products::Product;
using shop::products::testing::Detail;
using shop::products::testing::InProcessService;
using shop::products::testing::kAdmin;
using shop::products::testing::Outcome;

Product Create(Api& api, std::string sku, std::int64_t stock) {
  auto product = api.CreateProduct(kAdmin, NewProduct{std::move(sku), "Widget", 100, stock});
  REQUIRE_MESSAGE(product.has_value(), Detail(product));
  return *product;
}

std::int64_t StockOf(Api& api, std::int64_t id) {
  auto product = api.GetProduct(id);
  REQUIRE(product.has_value());
  return product->stock;
}

/// A distinct order reference per (a, b); built by appending (GCC 12 warns falsely on `"x" + to_string(n)`).
std::string Ref(std::string_view prefix, int a, int b) {
  std::string ref(prefix);
  ref += std::to_string(a);
  ref += '-';
  ref += std::to_string(b);
  return ref;
}

/// Runs `body(thread_index)` on `threads` threads that start together; returns how many threads
/// ended with an exception (and reports the first).
template <class Body>
int RunTogether(int threads, Body body) {
  std::latch start(threads);
  std::mutex mu;
  int exceptions = 0;
  std::string first_error;
  std::vector<std::jthread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      try {
        body(t);
      } catch (const std::exception& e) {
        std::lock_guard lock(mu);
        if (exceptions++ == 0) first_error = e.what();
      }
    });
  }
  workers.clear();  // joins
  if (exceptions != 0) MESSAGE("a worker threw: " << first_error);
  return exceptions;
}

}  // namespace

TEST_CASE("products service: concurrent reservations never oversell") {
  InProcessService service;
  Api& api = service.api();
  constexpr std::int64_t kStock = 200;
  const Product product = Create(api, "HOT", kStock);

  constexpr int kThreads = 8;
  constexpr int kAttemptsPerThread = 40;  // 320 attempts at one unit each for 200 units
  std::atomic<int> reserved{0};
  std::atomic<int> refused{0};
  std::atomic<int> unexpected{0};
  std::atomic<std::int64_t> lowest_seen{product.stock};

  const int exceptions = RunTogether(kThreads, [&](int t) {
    for (int i = 0; i < kAttemptsPerThread; ++i) {
      auto lines = api.Reserve(Ref("t", t, i), {{product.id, 1}});
      if (lines) {
        ++reserved;
      } else if (lines.error().code == Errc::kInsufficientStock) {
        ++refused;
      } else {
        ++unexpected;
      }
      auto now = api.GetProduct(product.id);
      if (now) {
        std::int64_t seen = lowest_seen.load();
        while (now->stock < seen && !lowest_seen.compare_exchange_weak(seen, now->stock)) {
        }
      }
    }
  });

  CHECK(exceptions == 0);
  CHECK(unexpected.load() == 0);
  CHECK(reserved.load() == kStock);
  CHECK(refused.load() == kThreads * kAttemptsPerThread - kStock);
  CHECK(lowest_seen.load() >= 0);
  CHECK(StockOf(api, product.id) == 0);
}

TEST_CASE("products service: concurrent reserves and releases keep every unit accounted for") {
  InProcessService service;
  Api& api = service.api();
  const Product a = Create(api, "A", 40);
  const Product b = Create(api, "B", 30);

  // Each reference is reserved by one thread and released by another at the same time, as a saga
  // that gives up may release before its reservation lands. Whichever comes first, once both are
  // done the reference holds nothing, so all stock must be back.
  constexpr int kPairs = 4;
  constexpr int kRefsPerPair = 30;
  std::atomic<int> reserved{0};
  std::atomic<int> released_first{0};
  std::atomic<int> unexpected{0};
  const int exceptions = RunTogether(kPairs * 2, [&](int t) {
    const int pair = t / 2;
    const bool reserver = t % 2 == 0;
    for (int i = 0; i < kRefsPerPair; ++i) {
      const std::string ref = Ref("p", pair, i);
      if (reserver) {
        auto lines = api.Reserve(ref, {{a.id, 1 + i % 3}, {b.id, 1}});
        if (lines) {
          ++reserved;
        } else if (lines.error().code == Errc::kReservationReleased) {
          ++released_first;
        } else if (lines.error().code != Errc::kInsufficientStock) {
          ++unexpected;
        }
      } else if (!api.Release(ref)) {
        ++unexpected;
      }
    }
  });

  CHECK(exceptions == 0);
  CHECK(unexpected.load() == 0);
  MESSAGE("reserved first: " << reserved.load() << ", released first: " << released_first.load());
  CHECK(StockOf(api, a.id) == 40);
  CHECK(StockOf(api, b.id) == 30);
  for (int pair = 0; pair < kPairs; ++pair) {
    CHECK(Outcome(api.Reserve(Ref("p", pair, 0), {{a.id, 1}})) == "reservation_released");
  }
}

TEST_CASE("products service: concurrent creates of one sku make one product") {
  InProcessService service;
  Api& api = service.api();
  std::atomic<int> created{0};
  std::atomic<int> taken{0};
  const int exceptions = RunTogether(8, [&](int) {
    auto product = api.CreateProduct(kAdmin, NewProduct{"SAME", "Widget", 1, 1});
    if (product) {
      ++created;
    } else if (product.error().code == Errc::kSkuTaken) {
      ++taken;
    }
  });
  CHECK(exceptions == 0);
  CHECK(created.load() == 1);
  CHECK(taken.load() == 7);
}

TEST_CASE("products service: everything survives reopening the database") {
  InProcessService service;
  const Product a = Create(service.api(), "KEEP", 10);
  const Product b = Create(service.api(), "GONE", 10);
  REQUIRE(Outcome(service.api().Reserve("held", {{a.id, 3}, {b.id, 1}})) == "ok");
  REQUIRE(Outcome(service.api().Reserve("returned", {{a.id, 2}})) == "ok");
  REQUIRE(Outcome(service.api().Release("returned")) == "ok");
  REQUIRE(Outcome(service.api().Release("never-reserved")) == "ok");

  service.Reopen();
  Api& api = service.api();

  auto kept = api.GetProduct(a.id);
  REQUIRE(Outcome(kept) == "ok");
  CHECK(kept->sku == "KEEP");
  CHECK(kept->created_at == a.created_at);
  CHECK(kept->stock == 7);
  CHECK(StockOf(api, b.id) == 9);

  auto held = api.Reserve("held", {{a.id, 3}, {b.id, 1}});
  REQUIRE(Outcome(held) == "ok");
  CHECK(held->size() == 2);
  CHECK(StockOf(api, a.id) == 7);
  CHECK(Outcome(api.Reserve("returned", {{a.id, 1}})) == "reservation_released");
  CHECK(Outcome(api.Reserve("never-reserved", {{a.id, 1}})) == "reservation_released");

  REQUIRE(Outcome(api.Release("held")) == "ok");
  CHECK(StockOf(api, a.id) == 10);
  CHECK(StockOf(api, b.id) == 10);

  auto more = Create(api, "NEW", 1);
  CHECK(more.id > b.id);
  CHECK(Outcome(api.CreateProduct(kAdmin, NewProduct{"KEEP", "Again", 1, 1})) == "sku_taken");
}

TEST_CASE("products service: the schema enforces what the service checks") {
  // A second line of defence: even a write that bypassed the service could not make stock negative
  // or a price out of range.
  InProcessService service;
  const Product a = Create(service.api(), "A", 1);
  auto& conn = service.db().ThisThread();
  auto set_stock = conn.Prepare("UPDATE products SET stock = ? WHERE id = ?");
  CHECK(set_stock.Bind(1, -1).Bind(2, a.id).TryStep() == shop::sql::StepResult::kConstraint);
  auto set_price = conn.Prepare("UPDATE products SET price_cents = ? WHERE id = ?");
  CHECK(set_price.Bind(1, 100'000'001).Bind(2, a.id).TryStep() == shop::sql::StepResult::kConstraint);
  auto bad_state = conn.Prepare(
      "INSERT INTO reservations(order_ref, state, created_at, updated_at) VALUES ('x', 'lost', 'now', 'now')");
  CHECK(bad_state.TryStep() == shop::sql::StepResult::kConstraint);
}

TEST_CASE("products service: reads never see a product older than the last write that returned") {
  // GetProduct is served from a cache; writers (updates, reservations, releases) run beside readers
  // that keep the cache warm. After each write returns, a read must show it.
  InProcessService service;
  Api& api = service.api();
  const Product product = Create(api, "cache-1", 1'000'000);
  std::atomic<bool> done{false};
  std::atomic<int> stale{0};
  std::vector<std::jthread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done) (void)api.GetProduct(product.id);
    });
  }
  std::int64_t stock = product.stock;
  for (int i = 1; i <= 300; ++i) {
    REQUIRE(api.UpdateProduct(kAdmin, product.id, {.price_cents = i}).has_value());
    if (api.GetProduct(product.id)->price_cents != i) ++stale;
    REQUIRE(api.Reserve(Ref("cache-", i, 0), {{product.id, 2}}).has_value());
    stock -= 2;
    if (StockOf(api, product.id) != stock) ++stale;
    if (i % 3 == 0) {
      REQUIRE(api.Release(Ref("cache-", i, 0)).has_value());
      stock += 2;
      if (StockOf(api, product.id) != stock) ++stale;
    }
  }
  done = true;
  readers.clear();
  CHECK(stale == 0);
}

TEST_CASE("products service: two instances on one database each come to see the other's writes") {
  // SQLite: instances on one file share change counters, so at once. PostgreSQL: by LISTEN/NOTIFY,
  // a moment after the commit; polled here with a deadline.
  InProcessService a;
  InProcessService b(a, 2);
  const Product product = Create(a.api(), "two-instances", 100);
  auto seen_by_b = [&](auto expected) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      auto read = b.api().GetProduct(product.id);
      REQUIRE(read.has_value());
      if (expected(*read)) return true;
      std::this_thread::yield();
    }
    return false;
  };
  REQUIRE(seen_by_b([](const Product& p) { return p.price_cents == 100; }));  // b has it cached now
  REQUIRE(a.api().UpdateProduct(kAdmin, product.id, {.price_cents = 250}).has_value());
  CHECK(seen_by_b([](const Product& p) { return p.price_cents == 250; }));
  REQUIRE(a.api().Reserve("two-instances-1", {{product.id, 30}}).has_value());
  CHECK(seen_by_b([](const Product& p) { return p.stock == 70; }));
  REQUIRE(b.api().Release("two-instances-1").has_value());
  CHECK(StockOf(b.api(), product.id) == 100);  // its own write: at once
  CHECK(StockOf(a.api(), product.id) >= 70);   // a's view: 70 until it hears, then 100
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (StockOf(a.api(), product.id) != 100 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  CHECK(StockOf(a.api(), product.id) == 100);
}

TEST_CASE("products service: ReserveMany answers each request as Reserve would, in one commit") {
  InProcessService service;
  Api& api = service.api();
  const Product a = Create(api, "A-1", 10);
  const Product b = Create(api, "B-1", 3);
  CHECK(StockOf(api, a.id) == 10);  // cached now: the batch must not leave it stale

  std::thread::id self = std::this_thread::get_id();
  std::atomic<int> commits_here{0};
  const auto listener = service.db().AddCommitListener([&] {
    if (std::this_thread::get_id() == self) ++commits_here;
  });
  const std::vector<shop::products::ReserveRequest> requests = {
      {"r1", 1, {{a.id, 4}}},
      {"r2", 2, {{b.id, 5}}},             // more than there is
      {"r3", 3, {{a.id, 1}, {999999, 1}}},  // an unknown product: all or nothing
      {"r1", 1, {{a.id, 4}}},             // a repeat of r1: what it took, nothing more
      {"r4", 4, {{a.id, 6}, {b.id, 3}}},  // exactly what is left
      {"r5", 5, {{a.id, 1}}},             // nothing left
  };
  auto results = api.ReserveMany(requests);
  service.db().RemoveCommitListener(listener);

  REQUIRE(results.size() == requests.size());
  REQUIRE(results[0].has_value());
  CHECK((*results[0])[0].quantity == 4);
  CHECK((*results[0])[0].unit_price_cents == 100);
  REQUIRE_FALSE(results[1].has_value());
  CHECK(results[1].error().code == Errc::kInsufficientStock);
  REQUIRE_FALSE(results[2].has_value());
  CHECK(results[2].error().code == Errc::kUnknownProduct);
  REQUIRE(results[3].has_value());
  CHECK((*results[3])[0].quantity == 4);
  REQUIRE(results[4].has_value());
  CHECK(results[4]->size() == 2);
  REQUIRE_FALSE(results[5].has_value());
  CHECK(results[5].error().code == Errc::kInsufficientStock);
  CHECK(commits_here.load() == 1);
  CHECK(StockOf(api, a.id) == 0);
  CHECK(StockOf(api, b.id) == 0);
  // Each reservation stands on its own: releasing one gives back its units only.
  REQUIRE(api.Release("r1").has_value());
  CHECK(StockOf(api, a.id) == 4);
}

TEST_CASE("products service: batches on two instances, their rows asked for in opposite orders, all reserve") {
  // Each round, both instances reserve the same four products in one batch each, one in the order
  // 1..4 and the other 4..1 (one reservation per product). Taken one after the other, those rows
  // would deadlock on PostgreSQL; taken in id order first, the batches queue.
  InProcessService a;
  InProcessService b(a, 2);
  constexpr int kRounds = 20;
  constexpr std::int64_t kStock = 1000;
  std::vector<Product> products;
  for (int i = 0; i < 4; ++i) products.push_back(Create(a.api(), Ref("OPPOSITE-", i, 0), kStock));
  std::atomic<int> failed{0};
  std::string first_failure;
  std::mutex mu;
  std::barrier round(2);
  const int exceptions = RunTogether(2, [&](int t) {
    Api& api = t == 0 ? a.api() : b.api();
    for (int r = 0; r < kRounds; ++r) {
      std::vector<shop::products::ReserveRequest> batch;
      for (int i = 0; i < 4; ++i) {
        const Product& p = products[static_cast<std::size_t>(t == 0 ? i : 3 - i)];
        batch.push_back({Ref(t == 0 ? "asc-" : "desc-", r, i), std::nullopt, {{p.id, 1}}});
      }
      round.arrive_and_wait();
      for (const auto& result : api.ReserveMany(batch)) {
        if (result) continue;
        std::lock_guard lock(mu);
        if (failed++ == 0) first_failure = Outcome(result) + ": " + Detail(result);
      }
    }
  });
  CHECK(exceptions == 0);
  CHECK_MESSAGE(failed.load() == 0, first_failure);
  InProcessService fresh(a, 3);  // no cache yet: what the database holds
  for (const Product& p : products) CHECK(StockOf(fresh.api(), p.id) == kStock - 2 * kRounds);
}

TEST_CASE("products service: a batch locks its product rows in id order before it changes any (PostgreSQL)") {
  if (!shop::testing::OnPostgres()) {
    MESSAGE("PostgreSQL only: a SQLite write transaction holds the database's one write lock");
    return;
  }
  InProcessService service;
  const Product low = Create(service.api(), "ORDER-LOW", 10);
  const Product high = Create(service.api(), "ORDER-HIGH", 10);
  // `holder` keeps the lower id locked; the batch asks for the higher one first.
  auto holder_db = shop::sql::Database::Open({.path = service.location()}, shop::products::EmbeddedMigrations());
  auto probe_db = shop::sql::Database::Open({.path = service.location()}, shop::products::EmbeddedMigrations());
  shop::sql::Connection& holder = holder_db->ThisThread();
  shop::sql::Connection& probe = probe_db->ThisThread();
  std::optional<shop::sql::Transaction> held(std::in_place, holder, shop::sql::Transaction::Kind::kWrite);
  REQUIRE(holder.Prepare("SELECT id FROM products WHERE id = ? FOR UPDATE").Bind(1, low.id).Step());

  std::vector<std::expected<std::vector<shop::products::ReservedLine>, shop::products::Error>> results;
  std::jthread batch([&] {
    results = service.api().ReserveMany(std::vector<shop::products::ReserveRequest>{
        {"first-high", std::nullopt, {{high.id, 1}}}, {"then-low", std::nullopt, {{low.id, 1}}}});
  });
  // Until the batch waits for a lock (the row `holder` has), polled with a deadline.
  auto waiting = [&] {
    auto stmt = probe.Prepare(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
    stmt.Step();
    return stmt.Int(0);
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (waiting() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  REQUIRE(waiting() == 1);
  // While it waits, the higher id is not locked yet: another transaction takes it without waiting.
  {
    shop::sql::Transaction probing(probe, shop::sql::Transaction::Kind::kWrite);
    auto stmt = probe.Prepare("SELECT id FROM products WHERE id = ? FOR UPDATE NOWAIT");
    stmt.Bind(1, high.id);
    bool locked_here = false;
    CHECK_NOTHROW(locked_here = stmt.Step());
    CHECK(locked_here);
  }  // rolled back
  held->Commit();
  batch.join();
  REQUIRE(results.size() == 2);
  CHECK(Outcome(results[0]) == "ok");
  CHECK(Outcome(results[1]) == "ok");
  CHECK(StockOf(service.api(), low.id) == 9);
  CHECK(StockOf(service.api(), high.id) == 9);
}
