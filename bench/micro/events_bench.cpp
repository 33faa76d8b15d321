// Micro-benchmarks: what the transactional outbox adds to the write transaction of a placed order.
//
//   Outbox/OrderTx/NoEvents         BEGIN IMMEDIATE; an orders row and 2 order_items rows (the statements of
//                                   orders' Store::RecordOrder); COMMIT
//   Outbox/OrderTx/WithEvents       the same plus events::AddToOutbox of an order_placed event and 2 stock_changed
//                                   events, each built as the modules build them (orders::OrderPlacedEvent,
//                                   products::StockChangedEvent: JSON data, a random id, the time)
//   Outbox/OrderTx/WithEventsAndRelay  WithEvents with a live events::Relay on the database (its publisher accepts
//                                   every event, as the in-process bus does for types nobody consumes): the
//                                   committing thread now wakes the relay after each commit, and the relay's reads
//                                   and cursor writes share the file. Counter relay_cpu_us: the relay thread's CPU
//                                   per order, from /proc/self/task/TID/schedstat, after the relay drained.
//
// In the running shop the stock_changed events are written by products in its Reserve transaction, on
// products.db; here all three go into one transaction, so the rows and the JSON are the same but there is one
// commit instead of two. CPU time is the benchmark thread's own (Google Benchmark's default), so the relay's
// work shows only in relay_cpu_us. Each run of a case writes a fresh file in TMPDIR opened as the orders module
// opens its database: sql::Database::Open (WAL, synchronous=NORMAL, the commit hook that checkpoints at
// 1,000 pages) with orders::EmbeddedMigrations(), i.e. its tables plus the shared event tables
// (migrations/shared/002_events.sql, 003_outbox_cursors.sql).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "shop/core/time.h"
#include "shop/events/events.h"
#include "shop/orders/events.h"
#include "shop/orders/orders.h"
#include "shop/platform/log.h"
#include "shop/products/events.h"
#include "shop/sql/database.h"

namespace {

namespace fs = std::filesystem;
using namespace shop;

fs::path g_tmp;
int g_files = 0;

/// Accepts every event: the relay's publishing side costs nothing here, only its database work.
class AcceptAll final : public events::Publisher {
 public:
  bool Publish(const events::Event& event) override {
    benchmark::DoNotOptimize(event.id.data());
    return true;
  }
};

/// A fresh database file, opened as the orders module opens orders.db; removed with its WAL at the end.
class OrdersFile {
 public:
  OrdersFile() : path_(g_tmp / ("orders-" + std::to_string(++g_files) + ".db")) {
    db_ = sql::Database::Open({path_.string()}, orders::EmbeddedMigrations());
  }
  ~OrdersFile() {
    db_.reset();
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path_.string() + suffix, ec);
  }
  sql::Database& db() { return *db_; }

 private:
  fs::path path_;
  std::unique_ptr<sql::Database> db_;
};

/// Nanoseconds the thread named `comm` of this process has run on a CPU (first field of schedstat), or
/// nullopt when there is no such thread.
std::optional<std::int64_t> ThreadCpuNs(std::string_view comm) {
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/self/task", ec)) {
    std::ifstream name(task.path() / "comm");
    std::string line;
    if (!std::getline(name, line) || line != comm) continue;
    std::ifstream schedstat(task.path() / "schedstat");
    std::int64_t ns = 0;
    if (schedstat >> ns) return ns;
  }
  return std::nullopt;
}

/// One placed order's write transaction: the order, its 2 lines and, when `with_events`, its events.
void PlaceOrder(sql::Connection& conn, std::int64_t n, bool with_events) {
  orders::Order order;
  order.user_id = 1 + n % 1000;
  order.items = {{.product_id = 1 + n % 997, .quantity = 1, .unit_price_cents = 1234},
                 {.product_id = 1 + (n + 500) % 997, .quantity = 2, .unit_price_cents = 567}};
  for (const orders::OrderLine& line : order.items) order.total_cents += line.quantity * line.unit_price_cents;
  order.created_at = FormatRfc3339(UnixNow());
  const std::string order_ref = "bench-" + std::to_string(n);

  sql::Transaction tx(conn, sql::Transaction::Kind::kWrite);
  conn.Prepare(
          "INSERT INTO orders (id, user_id, status, total_cents, order_ref, created_at) VALUES (?, ?, 'confirmed', ?, ?, "
          "?)")
      .Bind(1, std::nullopt)
      .Bind(2, order.user_id)
      .Bind(3, order.total_cents)
      .Bind(4, order_ref)
      .Bind(5, order.created_at)
      .Step();
  order.id = conn.LastInsertRowId();
  std::int64_t line_no = 0;
  for (const orders::OrderLine& line : order.items) {
    conn.Prepare(
            "INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price_cents) VALUES (?, ?, ?, ?, "
            "?)")
        .Bind(1, order.id)
        .Bind(2, line_no++)
        .Bind(3, line.product_id)
        .Bind(4, line.quantity)
        .Bind(5, line.unit_price_cents)
        .Step();
  }
  if (with_events) {
    events::AddToOutbox(conn, orders::OrderPlacedEvent(order));
    for (const orders::OrderLine& line : order.items) {
      events::AddToOutbox(conn, products::StockChangedEvent(line.product_id, 1'000'000'000 - n, order.id));
    }
  }
  tx.Commit();
}

void BM_OrderTx(benchmark::State& state, bool with_events, bool with_relay) {
  OrdersFile file;
  AcceptAll publisher;
  std::unique_ptr<events::Relay> relay;
  std::optional<std::int64_t> relay_ns_before;
  if (with_relay) {
    relay = std::make_unique<events::Relay>(file.db(), publisher, events::Relay::Options{.destination = "bench"});
    relay_ns_before = ThreadCpuNs("outbox-relay");
  }
  sql::Connection& conn = file.db().ThisThread();
  std::int64_t n = 0;
  for (auto _ : state) PlaceOrder(conn, ++n, with_events);
  if (relay) {
    if (!relay->WaitDrained(std::chrono::seconds(30))) state.SkipWithError("the relay did not drain in 30 s");
    const std::optional<std::int64_t> relay_ns_after = ThreadCpuNs("outbox-relay");
    if (relay_ns_before && relay_ns_after) {
      state.counters["relay_cpu_us"] = benchmark::Counter(static_cast<double>(*relay_ns_after - *relay_ns_before) / 1e3,
                                                          benchmark::Counter::kAvgIterations);
    }
    state.counters["published"] = benchmark::Counter(static_cast<double>(relay->stats().published),
                                                     benchmark::Counter::kAvgIterations);
  }
}

BENCHMARK_CAPTURE(BM_OrderTx, NoEvents, false, false)->Name("Outbox/OrderTx/NoEvents")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_OrderTx, WithEvents, true, false)->Name("Outbox/OrderTx/WithEvents")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_OrderTx, WithEventsAndRelay, true, true)
    ->Name("Outbox/OrderTx/WithEventsAndRelay")
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  log::Configure("bench", log::Level::kWarn);
  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/shop-bench-events-XXXXXX";
  if (!::mkdtemp(pattern.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  g_tmp = pattern;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    fs::remove_all(g_tmp);
    return 2;
  }
  int rc = 0;
  try {
    benchmark::RunSpecifiedBenchmarks();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shop-bench-events: %s\n", e.what());
    rc = 1;
  }
  benchmark::Shutdown();
  std::error_code ec;
  fs::remove_all(g_tmp, ec);
  return rc;
}
