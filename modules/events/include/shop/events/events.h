#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "shop/sql/database.h"

/// Domain events (PLATFORM.md "Events"): CloudEvents 1.0 in JSON structured mode, written to a
/// module's transactional outbox in the transaction that makes the change, and published after
/// commit by a relay, in order. Consumers record what they applied in an inbox, in the transaction
/// of the effect, so a second delivery changes nothing (at least once delivery, effect once).
namespace shop::events {

/// One event. `data` is the JSON object text of the event's data.
struct Event {
  std::string id;      ///< unique per event: 32 random hex digits
  std::string source;  ///< `/shop/<service>`
  std::string type;    ///< e.g. `shop.orders.order_cancelled.v1`; also the NATS subject
  std::string time;    ///< RFC 3339 UTC
  std::string data;    ///< a JSON object
};

/// A new event of `service` (users, products, orders) now, with a fresh id.
Event MakeEvent(std::string_view service, std::string type, std::string data_json);

/// The CloudEvents 1.0 structured-mode JSON of `event` (https://github.com/cloudevents/spec,
/// json-format.md): specversion, id, source, type, time, datacontenttype, data.
std::string ToCloudEventJson(const Event& event);
/// Reads a CloudEvents JSON object; fields it does not know are ignored (a tolerant reader).
/// nullopt when it is not JSON, not specversion 1.0, or lacks id, source, type or an object `data`.
std::optional<Event> FromCloudEventJson(std::string_view json);

// The tables (outbox, inbox, dead_letters) come with each module's migrations:
// migrations/shared/002_events.sql.

/// Writes `event` to the outbox on `conn`, which must be inside the write transaction that makes
/// the change the event announces: both commit, or neither. Throws sql::Error like any write.
void AddToOutbox(sql::Connection& conn, const Event& event);

/// Where a relay sends events. Publish returns true once the event is durably accepted (a
/// JetStream ack, or delivered in process); false leaves it in the outbox to be sent again.
class Publisher {
 public:
  virtual ~Publisher() = default;
  virtual bool Publish(const Event& event) = 0;
};

/// Publishes a module's outbox to one destination after commit, oldest first, one at a time (so in
/// order per module), and moves the destination's cursor (table outbox_cursors) past what was
/// accepted. Each destination has its own cursor, so one being down never holds up another. Rows
/// every destination has passed are pruned after `retention`. Woken by every commit on `db`
/// (Database::AddCommitListener) or Notify(); a poll every `poll_every` is the safety net (a commit
/// by another process on the same file, a publisher that was down). Thread-safe.
class Relay {
 public:
  struct Options {
    std::string destination = "jetstream";  ///< the cursor's name in outbox_cursors
    std::chrono::milliseconds poll_every{1000};
    std::chrono::milliseconds retry_after_failure{250};
    /// How often at most the cursor's position is written to outbox_cursors (and at stop): after a
    /// crash, what was published since is published again (at least once).
    std::chrono::milliseconds save_cursor_every{100};
    /// Least time between the starts of two passes: under load, one pass publishes the events of
    /// many commits instead of a thread wake-up and a read transaction per commit. A commit after a
    /// quiet spell is published at once; the added delay is at most this.
    std::chrono::milliseconds min_pass_interval{2};
    std::chrono::seconds retention{3600};
    /// How long the inbox (of this database's consumers) remembers an applied event: longer than
    /// any broker keeps events (JetStream stream SHOP_EVENTS: 7 days), so a replay applies nothing twice.
    std::chrono::seconds inbox_retention{std::chrono::hours(24 * 8)};
    int batch = 256;
  };
  struct Stats {
    std::uint64_t published = 0;
    std::uint64_t publish_failures = 0;
    std::int64_t backlog = 0;            ///< events not yet accepted, at the last look
    double oldest_backlog_seconds = 0;   ///< age of the oldest of them
    bool publisher_up = true;            ///< the last attempt was accepted (or none was needed)
  };

  Relay(sql::Database& db, Publisher& publisher, Options options);
  Relay(sql::Database& db, Publisher& publisher) : Relay(db, publisher, Options{}) {}
  /// Stops the relay's thread (after the event in flight).
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  /// Wakes the relay: call after a transaction that added events has committed.
  void Notify();
  /// Blocks until the outbox holds nothing this destination has not accepted, or `timeout` passes;
  /// true when drained.
  bool WaitDrained(std::chrono::milliseconds timeout);
  Stats stats() const;
  const std::string& destination() const { return options_.destination; }

  /// Forgets `destination`'s cursor on `db`, so it no longer holds back pruning: for a destination
  /// a process is no longer configured with (the single binary started without a NATS URL).
  static void Retire(sql::Database& db, std::string_view destination);

 private:
  void Run();
  /// Publishes one batch from the in-memory cursor; false when the publisher refused (then wait before
  /// trying again). `full`: the batch was as large as allowed, so more may wait.
  bool PublishBatch(bool& full);
  /// Writes the in-memory cursor to outbox_cursors when it moved.
  void SaveCursor();

  class WakeGroup;

  sql::Database& db_;
  Publisher& publisher_;
  Options options_;
  std::shared_ptr<WakeGroup> wake_group_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  bool notified_ = false;
  bool stopping_ = false;
  std::uint64_t passes_started_ = 0;  // guarded by mu_: WaitDrained waits for a pass begun after it
  std::uint64_t passes_done_ = 0;
  Stats stats_;
  std::int64_t last_seq_ = 0;   // the relay thread's: the last event accepted
  std::int64_t saved_seq_ = 0;  // the relay thread's: the last written to outbox_cursors
  std::thread thread_;
};

/// Records that `consumer` applied `event_id`, on `conn` inside the transaction of the effect.
/// True the first time; false when it was applied before (the caller then rolls back: nothing to do).
bool ClaimInInbox(sql::Connection& conn, std::string_view consumer, std::string_view event_id);

/// Records on `db` (the consumer's own database, table dead_letters) that `consumer` gave up on
/// `event` after `attempts` deliveries that failed with `error`. `event.data` is kept as received
/// (it may not be JSON when the message was unreadable). A second call for the same event keeps the
/// first record. Throws sql::Error.
void SetAside(sql::Database& db, std::string_view consumer, const Event& event, std::string_view error,
              int attempts);

/// A durable consumer's subscription to one event type (PLATFORM.md "Events": at least once
/// delivery, effect once).
struct Subscription {
  /// The durable name: unique per consuming module and purpose, [A-Za-z0-9_-], e.g.
  /// "products-stock-release". It survives restarts: a consumer that was down gets what it missed.
  std::string consumer;
  std::string type;  ///< the event type it takes, e.g. "shop.orders.order_cancelled.v1"
  /// Applies the event's effect idempotently: the effect and ClaimInInbox commit together, so a
  /// second delivery changes nothing. Throws when it could not apply it now: the event is delivered
  /// again later, up to `max_attempts` deliveries in all.
  std::function<void(const Event&)> handle;
  /// Records an event given up on: after `max_attempts` failed deliveries, or unreadable (not
  /// CloudEvents JSON: then `event` holds what is known, its data the raw body). Not delivered again.
  std::function<void(const Event& event, std::string_view error, int attempts)> set_aside;
  int max_attempts = 5;
};

/// What a process's consumers did since it started (exposed on /metrics).
struct ConsumerStats {
  std::uint64_t consumed = 0;     ///< deliveries handled successfully (first or repeated)
  std::uint64_t redelivered = 0;  ///< deliveries that were not the first of their event
  std::uint64_t failed = 0;       ///< deliveries whose handler threw
  std::uint64_t set_aside = 0;    ///< events given up on
};

/// Where consumers subscribe: the in-process bus (single binary) or JetStream (split layout).
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  /// Starts delivering events of `subscription.type` to it. Call before events flow.
  virtual void Subscribe(Subscription subscription) = 0;
  virtual ConsumerStats stats() const = 0;
};

/// The single binary's broker: Publish (on the relay's thread) hands the event to each subscription
/// of its type and accepts it once every one applied it or set it aside. A handler that throws makes
/// Publish return false, so the relay offers the event again after its retry pause (and later
/// events wait: order is kept); after `max_attempts` failed deliveries to a subscription the event
/// is set aside for it and the next events flow.
class InProcessBus final : public Publisher, public Subscriber {
 public:
  void Subscribe(Subscription subscription) override;
  bool Publish(const Event& event) override;
  ConsumerStats stats() const override;

 private:
  struct Entry {
    Subscription subscription;
    std::string failing_event;  // the id of the event that failed last, and how many times
    int failures = 0;
  };
  std::mutex mu_;  // held while a handler runs: one event at a time
  std::multimap<std::string, Entry, std::less<>> subscriptions_;
  mutable std::mutex stats_mu_;
  ConsumerStats stats_;
};

}  // namespace shop::events
