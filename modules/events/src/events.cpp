#include "shop/events/events.h"

#include <pthread.h>

#include <map>
#include <memory>
#include <utility>

#include <boost/json.hpp>

#include "shop/core/random.h"
#include "shop/core/time.h"
#include "shop/platform/log.h"

namespace shop::events {


Event MakeEvent(std::string_view service, std::string type, std::string data_json) {
  return Event{.id = TimeOrderedId(),
               .source = "/shop/" + std::string(service),
               .type = std::move(type),
               .time = FormatRfc3339Millis(std::chrono::system_clock::now()),
               .data = std::move(data_json)};
}

std::string ToCloudEventJson(const Event& event) {
  // data is already JSON text: spliced in, not re-encoded.
  auto text = [](std::string_view s) { return boost::json::serialize(boost::json::value(s)); };
  return R"({"specversion":"1.0","id":)" + text(event.id) + R"(,"source":)" + text(event.source) +
         R"(,"type":)" + text(event.type) + R"(,"time":)" + text(event.time) +
         R"(,"datacontenttype":"application/json","data":)" + event.data + "}";
}

std::optional<Event> FromCloudEventJson(std::string_view json) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(json, ec);
  const boost::json::object* o = ec ? nullptr : parsed.if_object();
  if (!o) return std::nullopt;
  auto text = [&](std::string_view key) -> std::optional<std::string> {
    const boost::json::value* v = o->if_contains(key);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
  };
  const auto version = text("specversion");
  const boost::json::value* data = o->if_contains("data");
  Event e;
  auto id = text("id"), source = text("source"), type = text("type");
  if (!version || *version != "1.0" || !id || !source || !type || !data || !data->is_object()) return std::nullopt;
  e.id = std::move(*id);
  e.source = std::move(*source);
  e.type = std::move(*type);
  e.time = text("time").value_or("");
  e.data = boost::json::serialize(*data);
  return e;
}

namespace {

/// The connection on this thread that wrote to an outbox in its current (or last) transaction: a
/// commit listener wakes the relay only for commits that added events, not for every commit.
thread_local const sql::Connection* t_outbox_written = nullptr;

}  // namespace

/// The relays of one database, woken together by one commit listener: a commit that added events
/// wakes every destination's relay (AddToOutbox marks the connection; the listener clears the mark).
class Relay::WakeGroup {
 public:
  /// The group of `db`, made (with its listener) for its first relay.
  static std::shared_ptr<WakeGroup> For(sql::Database& db) {
    static std::mutex groups_mu;
    static std::map<sql::Database*, std::weak_ptr<WakeGroup>> groups;
    std::lock_guard lock(groups_mu);
    std::weak_ptr<WakeGroup>& slot = groups[&db];
    std::shared_ptr<WakeGroup> group = slot.lock();
    if (!group) {
      group = std::make_shared<WakeGroup>(db);
      slot = group;
    }
    return group;
  }

  explicit WakeGroup(sql::Database& db) : db_(db) {
    listener_ = db_.AddCommitListener([this] {
      if (t_outbox_written == nullptr || t_outbox_written != &db_.ThisThread()) return;
      t_outbox_written = nullptr;
      std::lock_guard lock(mu_);
      for (Relay* relay : relays_) relay->Notify();
    });
  }
  ~WakeGroup() { db_.RemoveCommitListener(listener_); }

  void Add(Relay* relay) {
    std::lock_guard lock(mu_);
    relays_.push_back(relay);
  }
  void Remove(Relay* relay) {
    std::lock_guard lock(mu_);
    std::erase(relays_, relay);
  }

 private:
  sql::Database& db_;
  std::uint64_t listener_ = 0;
  std::mutex mu_;
  std::vector<Relay*> relays_;
};

namespace {

void InsertIntoOutbox(sql::Connection& conn, const Event& event) {
  conn.Prepare("INSERT INTO outbox (id, source, type, time, data) VALUES (?, ?, ?, ?, ?)")
      .Bind(1, event.id)
      .Bind(2, event.source)
      .Bind(3, event.type)
      .Bind(4, event.time)
      .Bind(5, event.data)
      .Step();
}

}  // namespace

void AddToOutbox(sql::Connection& conn, const Event& event) {
  if (conn.dialect() == sql::Dialect::kPostgres) {
    // A relay reads `seq > cursor`, so rows must become visible in seq order. On PostgreSQL
    // concurrent transactions draw seq from the identity sequence and commit in any order: the
    // outbox's writers take turns on a transaction-level advisory lock, from their first outbox row
    // to their commit (a lock is released after the commit is visible), so seq order is commit
    // order. The rows are written last, just before commit, so that this lock is the last one a
    // transaction takes: one holding it never waits for a row lock, and no cycle of waits can pass
    // through it. SQLite has one writer at a time anyway.
    conn.DeferToCommit([event](sql::Connection& c) {
      c.Prepare("SELECT pg_advisory_xact_lock(hashtext('shop.outbox'))").Step();
      InsertIntoOutbox(c, event);
    });
  } else {
    InsertIntoOutbox(conn, event);
  }
  t_outbox_written = &conn;
}

bool ClaimInInbox(sql::Connection& conn, std::string_view consumer, std::string_view event_id) {
  auto insert = conn.Prepare("INSERT INTO inbox (consumer, event_id, applied_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING");
  const std::string now = FormatRfc3339(UnixNow());
  insert.Bind(1, consumer).Bind(2, event_id).Bind(3, now).Step();
  return conn.Changes() == 1;
}

Relay::Relay(sql::Database& db, Publisher& publisher, Options options)
    : db_(db), publisher_(publisher), options_(std::move(options)) {
  sql::Connection& conn = db_.ThisThread();
  // A new destination starts at the beginning of what the outbox retains: consumers are idempotent.
  const std::string now = FormatRfc3339(UnixNow());
  conn.Prepare("INSERT INTO outbox_cursors (destination, last_seq, updated_at) VALUES (?, 0, ?) ON CONFLICT DO NOTHING")
      .Bind(1, options_.destination)
      .Bind(2, now)
      .Step();
  {
    auto st = conn.Prepare("SELECT last_seq FROM outbox_cursors WHERE destination = ?");
    st.Bind(1, options_.destination);
    st.Step();
    last_seq_ = saved_seq_ = st.Int(0);
  }
  // Events a previous process left behind go out at once, not after the first poll.
  notified_ = true;
  thread_ = std::thread([this] { Run(); });
  // Named so that profiles and per-thread CPU accounting (bench/) can tell the relays apart.
  pthread_setname_np(thread_.native_handle(), "outbox-relay");
  // Woken by commits that added events, on any thread, with the database's other relays.
  wake_group_ = WakeGroup::For(db_);
  wake_group_->Add(this);
}

Relay::~Relay() {
  wake_group_->Remove(this);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Relay::Retire(sql::Database& db, std::string_view destination) {
  db.ThisThread().Prepare("DELETE FROM outbox_cursors WHERE destination = ?").Bind(1, destination).Step();
}

void Relay::Notify() {
  {
    std::lock_guard lock(mu_);
    // Already due for a pass (maybe gathering commits for min_pass_interval): waking it again would
    // only cost a context switch, a futex call per commit under load.
    if (std::exchange(notified_, true)) return;
  }
  wake_.notify_one();
}

Relay::Stats Relay::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

bool Relay::WaitDrained(std::chrono::milliseconds timeout) {
  Notify();
  std::unique_lock lock(mu_);
  // A pass that started after this call (so it saw every commit made before it) and left nothing.
  const std::uint64_t after = passes_started_;
  return drained_.wait_for(lock, timeout,
                           [this, after] { return passes_done_ > after && stats_.backlog == 0 && !notified_; });
}

bool Relay::PublishBatch(bool& full) {
  sql::Connection& conn = db_.ThisThread();
  struct Row {
    std::int64_t seq;
    Event event;
  };
  std::vector<Row> rows;
  {
    auto select = conn.Prepare("SELECT seq, id, source, type, time, data FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?");
    select.Bind(1, last_seq_).Bind(2, options_.batch);
    while (select.Step()) {
      rows.push_back({select.Int(0), Event{select.Text(1), select.Text(2), select.Text(3), select.Text(4), select.Text(5)}});
    }
  }
  full = rows.size() == static_cast<std::size_t>(options_.batch);
  bool ok = true;
  std::uint64_t published = 0;
  for (const Row& row : rows) {
    if (!publisher_.Publish(row.event)) {
      ok = false;
      break;
    }
    last_seq_ = row.seq;
    ++published;
  }
  std::lock_guard lock(mu_);
  stats_.published += published;
  if (!ok) {
    ++stats_.publish_failures;
    stats_.publisher_up = false;
  } else if (!rows.empty()) {
    stats_.publisher_up = true;
  }
  return ok;
}

void Relay::SaveCursor() {
  if (last_seq_ == saved_seq_) return;
  const std::string now = FormatRfc3339(UnixNow());
  db_.ThisThread()
      // Never backwards: instances of a service sharing a database each run a relay on one cursor.
      .Prepare("UPDATE outbox_cursors SET last_seq = CASE WHEN last_seq < ?1 THEN ?1 ELSE last_seq END, "
               "updated_at = ?2 WHERE destination = ?3")
      .Bind(1, last_seq_)
      .Bind(2, now)
      .Bind(3, options_.destination)
      .Step();
  saved_seq_ = last_seq_;
}

void Relay::Run() {
  auto last_prune = std::chrono::steady_clock::now() - options_.retention;
  auto last_save = std::chrono::steady_clock::now();
  auto last_pass_start = std::chrono::steady_clock::time_point{};
  bool ok = true;
  while (true) {
    bool stopping = false;
    {
      std::unique_lock lock(mu_);
      // While a cursor move is unsaved, wake up in time to save it.
      auto wait = ok ? options_.poll_every : options_.retry_after_failure;
      if (last_seq_ != saved_seq_) wait = std::min(wait, options_.save_cursor_every);
      wake_.wait_for(lock, wait, [this] { return notified_ || stopping_; });
      // Woken soon after the last pass: gather the commits of the rest of the interval into one pass.
      const auto next_pass = last_pass_start + options_.min_pass_interval;
      if (!stopping_ && std::chrono::steady_clock::now() < next_pass) {
        wake_.wait_until(lock, next_pass, [this] { return stopping_; });
      }
      last_pass_start = std::chrono::steady_clock::now();
      stopping = stopping_;
      notified_ = false;
      ++passes_started_;
    }
    try {
      if (stopping) {
        SaveCursor();
        return;
      }
      bool full = false;
      ok = PublishBatch(full);
      // The cursor is saved at most every save_cursor_every, not per batch: one write for many
      // events under load. A crash before the save publishes those events again on restart (at
      // least once): the broker drops a repeat by its id (Nats-Msg-Id), consumers by their inbox.
      if (std::chrono::steady_clock::now() - last_save >= options_.save_cursor_every) {
        SaveCursor();
        last_save = std::chrono::steady_clock::now();
      }
      std::int64_t backlog = 0;
      std::int64_t oldest_ms = 0;
      if (!ok || full) {
        // Only then is there anything left: counted for the metrics.
        auto count = db_.ThisThread().Prepare(
            db_.dialect() == sql::Dialect::kPostgres
                ? "SELECT count(*), coalesce(CAST(extract(epoch FROM now() - min(time)::timestamptz) * 1000 AS BIGINT), 0) "
                  "FROM outbox WHERE seq > ?"
                : "SELECT count(*), coalesce(CAST((julianday('now') - julianday(min(time))) * 86400000 AS INTEGER), 0) "
                  "FROM outbox WHERE seq > ?");
        count.Bind(1, last_seq_);
        count.Step();
        backlog = count.Int(0);
        oldest_ms = count.Int(1);
      }
      if (std::chrono::steady_clock::now() - last_prune > std::chrono::minutes(1)) {
        SaveCursor();
        sql::Connection& conn = db_.ThisThread();
        const std::string outbox_before = FormatRfc3339(UnixNow() - options_.retention.count());
        const std::string inbox_before = FormatRfc3339(UnixNow() - options_.inbox_retention.count());
        // Only what every destination has passed (as saved), and only after the retention. The
        // newest row stays, so that the next rowid is above every seq a cursor has seen.
        conn.Prepare(
                "DELETE FROM outbox WHERE seq <= (SELECT coalesce(min(last_seq), 0) FROM outbox_cursors) "
                "AND seq < (SELECT max(seq) FROM outbox) AND time < ?")
            .Bind(1, outbox_before)
            .Step();
        conn.Prepare("DELETE FROM inbox WHERE applied_at < ?")
            .Bind(1, inbox_before)
            .Step();
        last_prune = std::chrono::steady_clock::now();
      }
      std::lock_guard lock(mu_);
      stats_.backlog = backlog;
      stats_.oldest_backlog_seconds = static_cast<double>(oldest_ms) / 1000.0;
      passes_done_ = passes_started_;
      // More than one batch waiting: go on at once.
      if (ok && backlog > 0) notified_ = true;
    } catch (const std::exception& e) {
      log::Write(log::Level::kError, "outbox relay failed",
                 {{"destination", options_.destination}, {"error", e.what()}});
      ok = false;
      if (stopping) return;
    }
    drained_.notify_all();
  }
}

void SetAside(sql::Database& db, std::string_view consumer, const Event& event, std::string_view error,
              int attempts) {
  const std::string now = FormatRfc3339(UnixNow());
  db.ThisThread()
      .Prepare(
          "INSERT INTO dead_letters (consumer, event_id, type, payload, error, attempts, set_aside_at) "
          "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
      .Bind(1, consumer)
      .Bind(2, event.id)
      .Bind(3, event.type)
      .Bind(4, event.data)
      .Bind(5, error)
      .Bind(6, attempts)
      .Bind(7, now)
      .Step();
}

void InProcessBus::Subscribe(Subscription subscription) {
  std::lock_guard lock(mu_);
  std::string type = subscription.type;
  subscriptions_.emplace(std::move(type), Entry{std::move(subscription), {}, 0});
}

bool InProcessBus::Publish(const Event& event) {
  // One event at a time across every relay of the process: handlers see events one by one.
  std::unique_lock lock(mu_);
  auto [begin, end] = subscriptions_.equal_range(event.type);
  for (auto it = begin; it != end; ++it) {
    Entry& entry = it->second;
    const Subscription& sub = entry.subscription;
    if (entry.failing_event != event.id) {
      entry.failing_event.clear();
      entry.failures = 0;
    }
    const bool repeat = entry.failures > 0;
    try {
      sub.handle(event);
      entry.failing_event.clear();
      entry.failures = 0;
      std::lock_guard stats_lock(stats_mu_);
      ++stats_.consumed;
      if (repeat) ++stats_.redelivered;
      continue;
    } catch (const std::exception& e) {
      entry.failing_event = event.id;
      ++entry.failures;
      {
        std::lock_guard stats_lock(stats_mu_);
        ++stats_.failed;
        if (repeat) ++stats_.redelivered;
      }
      if (entry.failures < sub.max_attempts) {
        log::Write(log::Level::kWarn, "event not applied; will retry",
                   {{"consumer", sub.consumer}, {"event_id", event.id}, {"type", event.type},
                    {"attempt", entry.failures}, {"error", e.what()}});
        return false;
      }
      log::Write(log::Level::kError, "event set aside",
                 {{"consumer", sub.consumer}, {"event_id", event.id}, {"type", event.type},
                  {"attempts", entry.failures}, {"error", e.what()}});
      try {
        if (sub.set_aside) sub.set_aside(event, e.what(), entry.failures);
      } catch (const std::exception& aside_error) {
        log::Write(log::Level::kError, "event not set aside; will retry",
                   {{"consumer", sub.consumer}, {"event_id", event.id}, {"error", aside_error.what()}});
        return false;
      }
      entry.failing_event.clear();
      entry.failures = 0;
      std::lock_guard stats_lock(stats_mu_);
      ++stats_.set_aside;
    }
  }
  return true;
}

ConsumerStats InProcessBus::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

}  // namespace shop::events
