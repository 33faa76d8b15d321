// The transactional outbox, its relay, the inbox and CloudEvents JSON, on a real SQLite file.
#include "shop/events/events.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "shop/sql/migrations.h"
#include "temp_dir.h"

namespace shop::events::testing {
shop::sql::Migrations EmbeddedMigrations();
}

namespace {

using namespace shop::events;
using shop::sql::Database;
using shop::sql::Transaction;

/// A module's schema: one table of its own, plus the event tables every module gets
/// (migrations/shared/002_events.sql, embedded for this test as for the modules).
std::array<shop::sql::Migration, 3> Schema() {
  return {shop::sql::Migration{1, "001_things.sql", "CREATE TABLE things(id INTEGER PRIMARY KEY, name TEXT);"},
          shop::events::testing::EmbeddedMigrations().sqlite[0], shop::events::testing::EmbeddedMigrations().sqlite[1]};
}

/// Events the destination has not accepted yet.
constexpr const char* kUnpublished =
    "SELECT count(*) FROM outbox WHERE seq > (SELECT last_seq FROM outbox_cursors WHERE destination = 'jetstream')";

/// Records what it was given; refuses while `down`.
class RecordingPublisher final : public Publisher {
 public:
  bool Publish(const Event& event) override {
    std::lock_guard lock(mu);
    if (down) return false;
    seen.push_back(event);
    return true;
  }
  std::vector<Event> Seen() {
    std::lock_guard lock(mu);
    return seen;
  }
  std::mutex mu;
  bool down = false;
  std::vector<Event> seen;
};

/// Adds a thing and its event in one transaction; commits unless `rollback`.
void AddThing(Database& db, int id, bool rollback = false) {
  auto& conn = db.ThisThread();
  Transaction tx(conn, Transaction::Kind::kWrite);
  conn.Prepare("INSERT INTO things(id, name) VALUES (?, 'x')").Bind(1, id).Step();
  AddToOutbox(conn, MakeEvent("things", "shop.things.thing_added.v1", R"({"id":)" + std::to_string(id) + "}"));
  if (!rollback) tx.Commit();
}

std::int64_t Count(Database& db, const char* sql) {
  auto stmt = db.ThisThread().Prepare(sql);
  REQUIRE(stmt.Step());
  return stmt.Int(0);
}

TEST_CASE("events commit with their change and are published in order, once; a rolled back change has none") {
  shop::testing::TempDir dir;
  auto schema = Schema();
  auto db = Database::Open({(dir.path() / "m.db").string()}, schema);
  RecordingPublisher publisher;
  Relay relay(*db, publisher);
  for (int i = 1; i <= 20; ++i) AddThing(*db, i, /*rollback=*/i % 5 == 0);
  relay.Notify();
  REQUIRE(relay.WaitDrained(std::chrono::seconds(5)));
  const auto seen = publisher.Seen();
  REQUIRE(seen.size() == 16);
  std::vector<std::string> data;
  for (const Event& e : seen) data.push_back(e.data);
  CHECK(data.front() == R"({"id":1})");
  CHECK(data.back() == R"({"id":19})");
  CHECK(std::ranges::is_sorted(seen, {}, [](const Event& e) { return std::stoi(e.data.substr(6)); }));
  CHECK(relay.stats().published == 16);
  // The cursor's position is written at most every save_cursor_every, and when the relay stops.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (Count(*db, kUnpublished) != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  CHECK(Count(*db, kUnpublished) == 0);
}

TEST_CASE("a relay that stops saves its cursor: a new one publishes nothing again") {
  shop::testing::TempDir dir;
  auto schema = Schema();
  auto db = Database::Open({(dir.path() / "m.db").string()}, schema);
  RecordingPublisher publisher;
  for (int i = 1; i <= 5; ++i) AddThing(*db, i);
  {
    Relay relay(*db, publisher, {.destination = "jetstream", .save_cursor_every = std::chrono::hours(1)});
    REQUIRE(relay.WaitDrained(std::chrono::seconds(5)));
  }
  CHECK(Count(*db, kUnpublished) == 0);
  Relay again(*db, publisher);
  AddThing(*db, 6);
  REQUIRE(again.WaitDrained(std::chrono::seconds(5)));
  const auto seen = publisher.Seen();
  REQUIRE(seen.size() == 6);
  CHECK(seen.back().data == R"({"id":6})");
}

TEST_CASE("a publisher that is down keeps events in the outbox; they go out in order once it is back") {
  shop::testing::TempDir dir;
  auto schema = Schema();
  auto db = Database::Open({(dir.path() / "m.db").string()}, schema);
  RecordingPublisher publisher;
  publisher.down = true;
  {
    Relay relay(*db, publisher, {.poll_every = std::chrono::milliseconds(20), .retry_after_failure = std::chrono::milliseconds(5)});
    for (int i = 1; i <= 3; ++i) AddThing(*db, i);
    relay.Notify();
    CHECK_FALSE(relay.WaitDrained(std::chrono::milliseconds(200)));
    CHECK(relay.stats().publish_failures > 0);
    CHECK_FALSE(relay.stats().publisher_up);
  }
  // A new relay (a restarted process) finds them still there.
  CHECK(Count(*db, kUnpublished) == 3);
  {
    std::lock_guard lock(publisher.mu);
    publisher.down = false;
  }
  Relay relay(*db, publisher);
  REQUIRE(relay.WaitDrained(std::chrono::seconds(5)));
  const auto seen = publisher.Seen();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].data == R"({"id":1})");
  CHECK(seen[2].data == R"({"id":3})");
}

TEST_CASE("each destination has its own cursor: one that is down holds up neither the other nor pruning") {
  shop::testing::TempDir dir;
  auto schema = Schema();
  auto db = Database::Open({(dir.path() / "m.db").string()}, schema);
  RecordingPublisher local, broker;
  broker.down = true;
  Relay to_local(*db, local, {.destination = "in_process", .poll_every = std::chrono::milliseconds(20)});
  {
    Relay to_broker(*db, broker,
                    {.destination = "jetstream", .poll_every = std::chrono::milliseconds(20),
                     .retry_after_failure = std::chrono::milliseconds(5)});
    for (int i = 1; i <= 4; ++i) AddThing(*db, i);
    REQUIRE(to_local.WaitDrained(std::chrono::seconds(5)));
    CHECK(local.Seen().size() == 4);
    CHECK_FALSE(to_broker.WaitDrained(std::chrono::milliseconds(100)));
    {
      std::lock_guard lock(broker.mu);
      broker.down = false;
    }
    REQUIRE(to_broker.WaitDrained(std::chrono::seconds(5)));
    CHECK(broker.Seen().size() == 4);
  }
  CHECK(local.Seen().size() == 4);  // the broker's recovery sent the local destination nothing again
  // A retired destination no longer counts; the one left decides what may be pruned.
  Relay::Retire(*db, "jetstream");
  CHECK(Count(*db, "SELECT count(*) FROM outbox_cursors") == 1);
}

TEST_CASE("the relay prunes what every destination passed after the retention, and inbox ids after theirs") {
  shop::testing::TempDir dir;
  auto schema = Schema();
  auto db = Database::Open({(dir.path() / "m.db").string()}, schema);
  auto& conn = db->ThisThread();
  conn.Exec(
      "INSERT INTO inbox (consumer, event_id, applied_at) VALUES ('c', 'old', '2000-01-01T00:00:00Z'), "
      "('c', 'new', '2999-01-01T00:00:00Z');"
      "INSERT INTO outbox (id, source, type, time, data) VALUES ('e-old', '/shop/x', 't', '2000-01-01T00:00:00Z', '{}');");
  AddThing(*db, 1);  // an event of now: published, but kept for the retention
  RecordingPublisher publisher;
  {
    Relay relay(*db, publisher);
    REQUIRE(relay.WaitDrained(std::chrono::seconds(5)));
  }
  CHECK(publisher.Seen().size() == 2);
  CHECK(Count(*db, "SELECT count(*) FROM outbox") == 1);
  CHECK(Count(*db, "SELECT count(*) FROM outbox WHERE id = 'e-old'") == 0);
  CHECK(Count(*db, "SELECT count(*) FROM inbox") == 1);
  CHECK(Count(*db, "SELECT count(*) FROM inbox WHERE event_id = 'new'") == 1);
}

TEST_CASE("a commit wakes the relay: no poll needed") {
  shop::testing::TempDir dir;
  auto schema = Schema();
  auto db = Database::Open({(dir.path() / "m.db").string()}, schema);
  RecordingPublisher publisher;
  // A poll so slow that only the commit can explain a prompt publication.
  Relay relay(*db, publisher, {.poll_every = std::chrono::hours(1)});
  AddThing(*db, 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (publisher.Seen().empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  CHECK(publisher.Seen().size() == 1);
}

TEST_CASE("a commit that adds events wakes every destination's relay, not only the first") {
  shop::testing::TempDir dir;
  auto schema = Schema();
  auto db = Database::Open({(dir.path() / "m.db").string()}, schema);
  RecordingPublisher local, broker;
  // Polls so slow that only the commit can explain a prompt publication.
  Relay to_local(*db, local, {.destination = "in_process", .poll_every = std::chrono::hours(1)});
  Relay to_broker(*db, broker, {.destination = "jetstream", .poll_every = std::chrono::hours(1)});
  AddThing(*db, 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((local.Seen().empty() || broker.Seen().empty()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  CHECK(local.Seen().size() == 1);
  CHECK(broker.Seen().size() == 1);
}

TEST_CASE("the inbox makes a second delivery change nothing") {
  shop::testing::TempDir dir;
  auto schema = Schema();
  auto db = Database::Open({(dir.path() / "m.db").string()}, schema);
  auto& conn = db->ThisThread();
  auto apply = [&](const std::string& event_id) {
    Transaction tx(conn, Transaction::Kind::kWrite);
    if (!ClaimInInbox(conn, "stock", event_id)) return false;
    conn.Prepare("INSERT INTO things(name) VALUES (?)").Bind(1, event_id).Step();
    tx.Commit();
    return true;
  };
  CHECK(apply("e1"));
  CHECK_FALSE(apply("e1"));
  CHECK(apply("e2"));
  CHECK(Count(*db, "SELECT count(*) FROM things") == 2);
  // Another consumer has its own record of what it applied.
  Transaction tx(conn, Transaction::Kind::kWrite);
  CHECK(ClaimInInbox(conn, "search", "e1"));
}

TEST_CASE("CloudEvents JSON round-trips, and readers ignore what they do not know") {
  const Event e = MakeEvent("orders", "shop.orders.order_cancelled.v1", R"({"order_id":7,"items":[]})");
  CHECK(e.id.size() == 32);
  CHECK(e.source == "/shop/orders");
  const std::string json = ToCloudEventJson(e);
  CHECK(json.find(R"("specversion":"1.0")") != std::string::npos);
  CHECK(json.find(R"("datacontenttype":"application/json")") != std::string::npos);
  auto back = FromCloudEventJson(json);
  REQUIRE(back.has_value());
  CHECK(back->id == e.id);
  CHECK(back->type == e.type);
  CHECK(back->time == e.time);
  CHECK(back->data == e.data);
  auto newer = FromCloudEventJson(
      R"({"specversion":"1.0","id":"a","source":"/shop/x","type":"t","time":"2026-01-01T00:00:00Z","traceparent":"00-x","data":{"k":1,"new":2}})");
  REQUIRE(newer.has_value());
  CHECK(newer->data == R"({"k":1,"new":2})");
  CHECK_FALSE(FromCloudEventJson(R"({"specversion":"0.3","id":"a","source":"s","type":"t","data":{}})"));
  CHECK_FALSE(FromCloudEventJson(R"({"specversion":"1.0","source":"s","type":"t","data":{}})"));
  CHECK_FALSE(FromCloudEventJson("not json"));
}

TEST_CASE("the in-process bus accepts an event once every subscription of its type applied it") {
  InProcessBus bus;
  int applied = 0;
  bool healthy = false;
  bus.Subscribe({.consumer = "one", .type = "a", .handle = [&](const Event&) { ++applied; }, .set_aside = {}});
  bus.Subscribe({.consumer = "two",
                 .type = "a",
                 .handle = [&](const Event&) { if (!healthy) throw std::runtime_error("not now"); },
                 .set_aside = {}});
  Event e{.id = "1", .source = "/shop/x", .type = "a", .time = "", .data = "{}"};
  CHECK_FALSE(bus.Publish(e));
  healthy = true;
  CHECK(bus.Publish(e));
  CHECK(applied == 2);  // the first subscription saw it twice: its inbox makes that harmless
  CHECK(bus.stats().consumed == 3);
  CHECK(bus.stats().failed == 1);
  CHECK(bus.stats().redelivered == 1);
  e.type = "nobody-listens";
  CHECK(bus.Publish(e));
}

TEST_CASE("the in-process bus sets a poison event aside after max_attempts and lets the next through") {
  InProcessBus bus;
  std::vector<std::string> applied;
  std::vector<std::pair<std::string, int>> aside;
  bus.Subscribe({.consumer = "c",
                 .type = "a",
                 .handle =
                     [&](const Event& e) {
                       if (e.data == "{\"poison\":true}") throw std::runtime_error("cannot apply");
                       applied.push_back(e.id);
                     },
                 .set_aside = [&](const Event& e, std::string_view, int attempts) { aside.emplace_back(e.id, attempts); },
                 .max_attempts = 3});
  Event poison{.id = "p", .source = "/shop/x", .type = "a", .time = "", .data = "{\"poison\":true}"};
  CHECK_FALSE(bus.Publish(poison));
  CHECK_FALSE(bus.Publish(poison));
  CHECK(bus.Publish(poison));  // third failure: set aside, accepted
  REQUIRE(aside.size() == 1);
  CHECK(aside[0] == std::pair<std::string, int>{"p", 3});
  CHECK(bus.Publish(Event{.id = "n", .source = "/shop/x", .type = "a", .time = "", .data = "{}"}));
  CHECK(applied == std::vector<std::string>{"n"});
  CHECK(bus.stats().set_aside == 1);
}

TEST_CASE("SetAside keeps the first record of an event") {
  shop::testing::TempDir dir;
  const auto schema = Schema();
  auto db = Database::Open({(dir.path() / "m.db").string()}, schema);
  Event e{.id = "x1", .source = "/shop/orders", .type = "t", .time = "", .data = "not json"};
  SetAside(*db, "c", e, "first", 5);
  SetAside(*db, "c", e, "second", 6);
  auto st = db->ThisThread().Prepare("SELECT error, attempts, payload FROM dead_letters WHERE consumer = 'c'");
  REQUIRE(st.Step());
  CHECK(st.Text(0) == "first");
  CHECK(st.Int(1) == 5);
  CHECK(st.Text(2) == "not json");
  CHECK_FALSE(st.Step());
}

}  // namespace
